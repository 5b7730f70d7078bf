"""Built-in schemes "h264" and "h265": the conventional separate-coding baseline.

The clip is compressed by a standard video encoder (x264 or x265 through PyAV/FFmpeg), the
bitstream is cut into CRC-protected LDPC codewords and sent through the same PHY as every
other scheme; the receiver decodes what arrived intact with FFmpeg and its error concealment.
This is the "H.264/H.265 + LDPC + QAM" curve of GVSC, LGVSC and VQ-DeepVSC: near-perfect
above the LDPC threshold, a cliff below it.

Encoder (uint8 T x H x W x 3 RGB in):

1. Encoding with x264/x265 (odd sizes and frames too small for x265 padded; SEI units removed)
   and 2. rate control to the target CBR (``cbr``; fixed ``qp``, or a CRF bisection; never
   silently over budget): :mod:`.h26x_codec`'s docstring states both.
3. Packetisation: the Annex B byte stream (AUs in decode order) is cut into units ``bs.0``,
   ``bs.1``, ... of ``P`` bytes each (the last may be shorter), P = the most whole bytes that,
   with the unit's CRC-32, fill one LDPC 648 codeword's information bits: 36 bytes at rate 1/2,
   50 at 2/3, 56 at 3/4, 63 at 5/6 (shortening takes care of the rest). Losing a codeword thus
   erases exactly its P bytes. The digital units use ``PayloadCoder("ldpc", 648, ldpc_rate,
   modulation, "crc32")``. Transmissions (bursts) carry the manifest unit and at most
   ``units_per_transmission`` bitstream units, in order; frame type ``FRAME_TYPES[name]``,
   sequence numbers seq0, seq0 + 1, ... (mod 2^16).
4. The manifest (:func:`.common.manifest_unit`, in every transmission) adds to the clip's
   geometry: ``L`` bitstream bytes, ``P`` bytes per unit, ``upt`` units per transmission,
   ``fec`` [LDPC rate, modulation], ``nal`` NAL units in the stream, ``au`` the AU sizes in
   bytes in decode order (unsigned LEB128 varints) and, when B frames reorder them, ``pts``
   the presentation index of each AU (varints). This replaces the timestamps a container or
   RTP would carry; it costs about one byte per frame plus a few dozen bytes.

Decoder (loss model: a unit whose CRC failed, or that is missing or of the wrong length, is an
erasure of its P bytes):

1. The byte stream is rebuilt with a mask of the bytes that arrived, and every NAL unit that
   lost a byte is dropped (:mod:`.h26x_bitstream` states the rule).
2. FFmpeg decodes the access units that kept a NAL unit, with its error concealment, and 3. the
   frames it did not output are frozen (mid-grey with nothing decodable, ``report["failed"]``):
   :mod:`.h26x_codec`'s docstring states both.

Report: frames_decoded, frames_frozen and frame_loss (frozen / T), frames_corrupt (output but
flagged corrupt by FFmpeg's concealment), units_expected, units_received, units_lost,
bytes_lost, nal_units, nal_units_dropped, access_units_dropped (no NAL unit left),
decode_errors, decoder ("ffmpeg-h264"/"ffmpeg-h265"), cbr_net and cbr_gross
(:func:`.common.cbr_figures` of the transmissions the manifest describes), cbr (= cbr_net,
the achieved figure), cbr_paper (the conventional figure: 8 L / (R log2 M) coded symbols of
the bitstream alone / source dimension), snr_est_db (:func:`.common.snr_estimate`), and from
the context when the receiver has it: cbr_target, budget_met, warning, crf, qp.

The PSNR / frame-loss against SNR measurement of docs/baselines.md is :mod:`semcom_host.experiments.cliff`.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .base import Scheme
from .common import (
    MANIFEST,
    cbr_figures,
    find_manifest,
    manifest_body,
    manifest_unit,
    snr_estimate,
    source_dim,
    symbols_sent,
    units_by_name,
)
from .h26x_codec import CODECS, PRESETS, QP_MAX, Stream, bisect_crf, coded_size, decode_stream, encode_stream

__all__ = ["NAMES", "FRAME_TYPES", "DEFAULTS", "CODECS", "UNIT", "unit_payload_bytes", "encode", "decode",
           "SCHEMES"]

NAMES = ("h264", "h265")
FRAME_TYPES = {"h264": 0x30, "h265": 0x31}
#: bitstream units are named UNIT.<index>
UNIT = "bs"
DEFAULTS = {
    "cbr": 0.01,                    # target net CBR: complex symbols sent / (3*T*H*W)
    "ldpc_rate": "1/2",             # LDPC 648 rate of the bitstream units: 1/2, 2/3, 3/4, 5/6
    "modulation": "qpsk",           # bitstream units' QAM: bpsk, qpsk, 16qam, 64qam
    "gop": 0,                       # frames from one IDR frame to the next (0 = only the first frame)
    "bframes": 0,                   # consecutive B frames (0 = low delay I/P; -1 = the preset's choice)
    "slices": 1,                    # slices per frame
    "preset": "medium",             # x264/x265 speed preset
    "qp": 0,                        # fixed quantiser 1..51 (0 = rate control to the target cbr by CRF)
    "crf_steps": 8,                 # CRF bisection steps (resolution 51 / 2^steps)
    "units_per_transmission": 64,   # bitstream units per transmission (burst), at most; + the manifest
    "seq0": 0,                      # sequence number of the first transmission
    "show_corrupt": False,          # decoder: output frames FFmpeg flags corrupt instead of freezing them
}
#: largest bitstream a manifest may announce (bytes): a bad context cannot make the receiver
#: allocate without bound
MAX_STREAM_BYTES = 1 << 30


# -- small helpers -----------------------------------------------------------------------------

def _coder(rate: str, modulation: str):
    from semcom_blocks.phy.fec import PayloadCoder

    return PayloadCoder("ldpc", 648, rate, modulation, "crc32")


def unit_payload_bytes(coder) -> int:
    """Bytes P per bitstream unit: the most whole bytes that, with the coder's CRC, fit the
    information bits of one codeword of its LDPC code (36 for 648 R1/2 + CRC-32)."""
    from semcom_blocks.phy.ldpc import get_ldpc

    return (get_ldpc(coder.n, coder.rate).k - coder.crc_bits) // 8


def _varints(values) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant group first, high bit = more."""
    out = bytearray()
    for v in values:
        v = int(v)
        if v < 0:
            raise ValueError("varints are unsigned")
        while True:
            byte, v = v & 0x7F, v >> 7
            out.append(byte | (0x80 if v else 0))
            if not v:
                break
    return bytes(out)


def _unvarints(data: bytes) -> list[int]:
    vals, cur, shift = [], 0, 0
    for byte in bytes(data):
        cur |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            vals.append(cur)
            cur, shift = 0, 0
        elif shift > 63:
            raise ValueError("varint too long")
    if shift:
        raise ValueError("truncated varint")
    return vals


# -- encoder -----------------------------------------------------------------------------------

def _check_params(p: dict) -> None:
    from semcom_blocks.phy.modulation import bits_per_symbol

    if not (isinstance(p["cbr"], (int, float)) and 0 < p["cbr"] <= 10):
        raise ValueError("cbr must be in (0, 10] complex symbols per real source value")
    if p["ldpc_rate"] not in ("1/2", "2/3", "3/4", "5/6"):
        raise ValueError("ldpc_rate must be one of 1/2, 2/3, 3/4, 5/6")
    bits_per_symbol(p["modulation"])
    checks = (("gop", 0, 1 << 16), ("bframes", -1, 16), ("slices", 1, 64), ("qp", 0, QP_MAX),
              ("crf_steps", 1, 20), ("units_per_transmission", 1, 254), ("seq0", 0, 65535))
    for key, lo, hi in checks:
        if not (isinstance(p[key], int) and lo <= p[key] <= hi):
            raise ValueError(f"{key} must be an integer in {lo}..{hi}, got {p[key]!r}")
    if p["preset"] not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}")


def _manifest(name: str, geo: tuple[int, int, int, float], stream_len: int, au_sizes, pts, nal_count: int,
              coder, upt: int):
    """The manifest unit (module docstring, item 4); ``au_sizes``/``pts`` as varint bytes."""
    t_count, h, w, fps = geo
    fields = {"L": int(stream_len), "P": unit_payload_bytes(coder), "upt": int(upt),
              "fec": [coder.rate, coder.modulation], "nal": int(nal_count), "au": au_sizes}
    if pts is not None:
        fields["pts"] = pts
    return manifest_unit(manifest_body(name, t_count, h, w, fps, **fields))


def _transmissions(name: str, data: bytes, manifest, coder, upt: int, seq0: int) -> list:
    """Transmissions: the manifest + at most ``upt`` units ``bs.<i>`` of P bytes each."""
    from semcom_blocks.phy.frame import Transmission, Unit

    size = unit_payload_bytes(coder)
    units = [Unit(f"{UNIT}.{i}", "digital", data[off:off + size], coder)
             for i, off in enumerate(range(0, len(data), size))]
    groups = [units[i:i + upt] for i in range(0, len(units), upt)] or [[]]
    return [Transmission([manifest, *g], seq=(seq0 + j) % 65536, frame_type=FRAME_TYPES[name],
                         meta={"scheme": name, "first_unit": j * upt, "units": len(g)})
            for j, g in enumerate(groups)]


def encode(frames: np.ndarray, params: dict, name: str = "h264"):
    """(list of Transmission, context) for uint8 T x H x W x 3 ``frames``; see the module docstring."""
    from semcom_models.video_io import check_frames

    if name not in CODECS:
        raise ValueError(f"unknown codec scheme {name!r}; choose from {NAMES}")
    p = {**DEFAULTS, **params}
    _check_params(p)
    frames = check_frames(frames)
    t_count, h, w, _ = frames.shape
    if max(t_count, h, w) > 8192:
        raise ValueError("h26x sends at most 8192 frames of at most 8192 x 8192 pixels")
    fps = float(p.get("fps", 25.0) or 25.0)
    if not 0 < fps < 1000:
        raise ValueError(f"fps must be in (0, 1000), got {fps}")
    ch, cw = coded_size(name, h, w)
    if (ch, cw) != (h, w):
        frames = np.pad(frames, ((0, 0), (0, ch - h), (0, cw - w), (0, 0)), mode="edge")
    coder = _coder(p["ldpc_rate"], p["modulation"])
    upt, seq0 = p["units_per_transmission"], p["seq0"]
    dim = source_dim(t_count, h, w)
    budget = p["cbr"] * dim
    geo = (t_count, h, w, fps)

    def build(stream: Stream):
        pts = None if stream.pts == list(range(t_count)) else _varints(stream.pts)
        man = _manifest(name, geo, len(stream.data), _varints(stream.au_sizes), pts, stream.nal_count, coder, upt)
        txs = _transmissions(name, stream.data, man, coder, upt, seq0)
        return txs, man, symbols_sent(txs)

    trials = []

    def attempt(rc):
        stream = encode_stream(frames, name, fps, rc, p)
        txs, man, sent = build(stream)
        trials.append({"rc": rc[0], "value": float(rc[1]), "bytes": len(stream.data), "symbols": sent})
        return stream, txs, man, sent

    warning = None
    if p["qp"]:
        best = attempt(("qp", p["qp"]))
        mode = "qp"
    else:
        best, mode = bisect_crf(attempt, budget, p["crf_steps"])
    stream, txs, man, sent = best
    budget_met = sent <= budget
    if not budget_met:
        what = f"QP {int(stream.rc[1])}" if mode == "qp" else f"the lowest quality ({stream.rc[0]} {stream.rc[1]:g})"
        warning = (f"{name}: {what} needs {sent} symbols (cbr {sent / dim:.4g}), over the budget of "
                   f"{int(budget)} (cbr {p['cbr']:g}); sent anyway")
    figs = cbr_figures(txs, t_count, h, w)
    k_bits = 8 * len(stream.data)
    r = float(Fraction(coder.rate))
    from semcom_blocks.phy.modulation import bits_per_symbol

    context = {
        "scheme": name, MANIFEST: _manifest_body(man), "encoder": CODECS[name]["encoder"],
        "num_frames": t_count, "height": h, "width": w, "fps": fps,
        "rate_control": mode, "crf": float(stream.rc[1]) if stream.rc[0] == "crf" else None,
        "qp": int(stream.rc[1]) if stream.rc[0] == "qp" else None, "trials": trials,
        "bitstream_bytes": len(stream.data), "nal_units": stream.nal_count, "units": -(-len(stream.data) //
                                                                                     unit_payload_bytes(coder)),
        "unit_bytes": unit_payload_bytes(coder), "n_transmissions": len(txs), "frame_type": FRAME_TYPES[name],
        "seq0": seq0, "cbr_target": float(p["cbr"]), "budget_symbols": float(budget), "budget_met": budget_met,
        "warning": warning, **figs, "cbr": figs["cbr_net"],
        "cbr_paper": k_bits / (r * bits_per_symbol(coder.modulation)) / dim,
    }
    return txs, context


def _manifest_body(unit) -> dict:
    import msgpack

    return msgpack.unpackb(unit.data, raw=False)


# -- decoder -----------------------------------------------------------------------------------

def _check_manifest(m: dict, name: str) -> dict:
    """Validated numbers of a manifest; ValueError when it does not describe a stream."""
    try:
        t_count, h, w, fps = int(m["T"]), int(m["H"]), int(m["W"]), float(m["fps"])
        length, size, upt, nal = int(m["L"]), int(m["P"]), int(m["upt"]), int(m["nal"])
        rate, modulation = (str(x) for x in m["fec"])
        au = _unvarints(m["au"])
        pts = _unvarints(m["pts"]) if m.get("pts") is not None else list(range(len(au)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{name}: malformed manifest ({exc})") from None
    if (sum(au) != length or len(au) != t_count or sorted(pts) != list(range(t_count)) or size < 1
            or not 1 <= upt <= 254 or not 1 <= length <= MAX_STREAM_BYTES):
        raise ValueError(f"{name}: manifest is inconsistent (AU sizes, frame count or unit size)")
    return {"T": t_count, "H": h, "W": w, "fps": fps, "L": length, "P": size, "upt": upt, "nal": nal,
            "rate": rate, "modulation": modulation, "au": au, "pts": pts}


def decode(received: list, context: dict, params: dict, name: str = "h264"):
    """(uint8 T x H x W x 3 frames, report) from received transmission dicts; see the module docstring.
    ValueError when no manifest arrived and ``context`` has none (the clip is unknown)."""
    if name not in CODECS:
        raise ValueError(f"unknown codec scheme {name!r}; choose from {NAMES}")
    context = context if isinstance(context, dict) else {}
    body, where = find_manifest(received, context, name)
    m = _check_manifest(body, name)
    t_count, h, w, length, size = m["T"], m["H"], m["W"], m["L"], m["P"]
    n_units = -(-length // size)
    units = units_by_name(received)
    buf = np.zeros(length, np.uint8)
    have = np.zeros(length, bool)
    got = malformed = 0
    for i in range(n_units):
        u = units.get(f"{UNIT}.{i}")
        if u is None:
            continue
        off = i * size
        want = min(size, length - off)
        data = u.get("data")
        if u.get("kind") != "digital" or not isinstance(data, (bytes, bytearray)) or len(data) != want:
            malformed += 1
            continue
        buf[off:off + want] = np.frombuffer(bytes(data), np.uint8)
        have[off:off + want] = True
        got += 1
    out, counts = decode_stream(buf, have, m["au"], m["pts"], name, t_count, h, w,
                                bool(params.get("show_corrupt", False)))
    done, kept_nals = counts["done"], counts["kept_nals"]
    au_dropped, decode_errors = counts["au_dropped"], counts["decode_errors"]
    corrupt, unplaced = counts["corrupt"], counts["unplaced"]
    coder = _coder(m["rate"], m["modulation"])
    man = _manifest(name, (t_count, h, w, m["fps"]), length, body["au"], body.get("pts"), m["nal"], coder, m["upt"])
    figs = cbr_figures(_transmissions(name, bytes(length), man, coder, m["upt"], 0), t_count, h, w)
    from semcom_blocks.phy.modulation import bits_per_symbol

    dim = source_dim(t_count, h, w)
    report = {
        "scheme": name, "decoder": f"ffmpeg-{name}", "failed": not done, "manifest_from": where,
        "num_frames": t_count, "height": h, "width": w, "fps": m["fps"],
        "frames_decoded": len(done), "frames_frozen": t_count - len(done),
        "frame_loss": (t_count - len(done)) / t_count, "frames_corrupt": corrupt, "frames_unplaced": unplaced,
        "transmissions_received": len(received), "units_expected": n_units, "units_received": got,
        "units_lost": n_units - got, "units_malformed": malformed, "bytes_lost": int(length - have.sum()),
        "bitstream_bytes": length, "nal_units": m["nal"], "nal_units_dropped": max(m["nal"] - kept_nals, 0),
        "access_units_dropped": au_dropped, "decode_errors": decode_errors,
        **figs, "cbr": figs["cbr_net"],
        "cbr_paper": 8 * length / (float(Fraction(coder.rate)) * bits_per_symbol(coder.modulation)) / dim,
        "snr_est_db": snr_estimate(received),
    }
    for key in ("cbr_target", "budget_met", "warning", "crf", "qp", "rate_control"):
        if key in context:
            report[key] = context[key]
    return out, report


# -- registration ------------------------------------------------------------------------------

def _bind(name: str):
    def enc(frames, params):
        return encode(frames, params, name)

    def dec(received, context, params):
        return decode(received, context, params, name)

    return enc, dec


def _description(name: str) -> str:
    codec = "H.264 (libx264)" if name == "h264" else "H.265 (libx265)"
    return (f"conventional baseline: {codec} at a target CBR, bitstream in CRC-protected "
            "LDPC 648 codewords + QAM, FFmpeg decoding with concealment and frame freezing")


#: the adaptive variants: the LDPC rate and modulation by the SNR the transmitter was told
ADAPTIVE_DEFAULTS = {**DEFAULTS, "snr_db": 10.0, "mcs_margin_db": 2.0}


def _bind_adaptive(codec: str):
    """(encoder, decoder) of ``<codec>-adaptive``: before encoding, ``ldpc_rate`` + ``modulation``
    become the most efficient MCS the fed-back ``snr_db`` clears by ``mcs_margin_db``
    (semcom_blocks.phy.mcs, from the measured FER curves), so the bitstream units keep their frame
    error rate near 1e-2 or below; the rate control then spends the same CBR budget at that
    efficiency (fewer bits, a coarser quantiser, when the channel is poor). The decoder is the
    codec's own: each unit's coding travels with it."""
    from semcom_blocks.phy.mcs import pick_mcs

    def enc(frames, params):
        p = dict(params)
        mcs = pick_mcs(float(p.pop("snr_db")), float(p.pop("mcs_margin_db")))
        p["ldpc_rate"], p["modulation"] = mcs.rate, mcs.modulation
        txs, ctx = encode(frames, p, codec)
        return txs, {**ctx, "link_adaptation": {"modulation": mcs.modulation, "ldpc_rate": mcs.rate,
                                                "threshold_db": mcs.esn0_db, "tx_snr_db": float(params["snr_db"])}}

    def dec(received, context, params):
        p = {k: v for k, v in params.items() if k not in ("snr_db", "mcs_margin_db")}
        frames, report = decode(received, context, p, codec)
        return frames, {**report, "scheme": f"{codec}-adaptive", "link_adaptation": context.get("link_adaptation")}

    return enc, dec


#: this module's schemes, collected by the service's registry
SCHEMES = tuple(Scheme(name, *_bind(name), DEFAULTS, _description(name)) for name in NAMES) + tuple(
    Scheme(f"{name}-adaptive", *_bind_adaptive(name), ADAPTIVE_DEFAULTS,
           _description(name) + "; LDPC rate and modulation chosen by the SNR fed back to the transmitter")
    for name in NAMES)
