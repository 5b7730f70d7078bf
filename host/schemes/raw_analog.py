"""Built-in scheme "raw-analog": pixels sent as analog symbols, the way DJSCC sends its latent.

A baseline that needs no model: what a deep JSCC encoder would output is replaced by the
(downscaled) pixels themselves, with the same transmit conventions, so the whole chain (service,
blocks, OFDM PHY, channel) can be exercised and measured without weights.

Encoder, per frame t (uint8 T x H x W x 3 in):

1. resize to ``height`` x ``width`` pixels (0 = keep the native size; area averaging), scale to
   [0, 1] float;
2. subtract the per-channel mean mu_t (3 values); read the residual in C order (row, column,
   channel), pad with one zero to an even count and pair neighbours into complex symbols
   z = r[0::2] + j r[1::2] (3*h*w/2 symbols);
3. normalise to unit average power per complex symbol (docs/architecture.md), as DJSCC's power
   normalisation layer does: x = z * s_t with s_t = 1 / sqrt(mean |z|^2) (s_t = 1 for a flat
   frame, which is then sent as zeros);
4. cut the frame's symbols into chunks of at most ``symbols_per_transmission``; every chunk is
   one transmission with two units: ``hdr`` (digital, 45 bytes, QPSK LDPC 648 R1/2 + CRC-32,
   see ``HEADER``) and ``pix`` (analog, the chunk). The header makes every transmission
   self-describing: the receiver needs no context to place it.

Decoder: every chunk whose header passed its CRC is placed at its frame and symbol offset; with
the encoder's context, a chunk whose header failed is placed by its sequence number, using
the frame's mean and scale from another chunk of the same frame. Received symbols are shrunk by
the LMMSE factor 1 / (1 + N0_k) with the receiver's per-symbol noise variance N0_k (``mmse``;
unit-power signal, N0 per complex symbol), then un-normalised, the mean added back, clipped to
[0, 1] and resized back to H x W (bilinear). Missing symbols take the estimate 0 (the frame's
mean colour); a frame of which nothing usable arrived repeats the nearest earlier frame (the
next one for leading frames; mid-grey when nothing arrived at all).

CBR (``cbr_net`` in the context and the report): transmitted complex symbols (analog chunks +
coded header symbols) / (3 * H * W * T), counted from what was built.

Transmissions have frame type ``FRAME_TYPE`` and sequence numbers seq0, seq0 + 1, ... (mod 2^16).
"""
from __future__ import annotations

import math
import struct

import numpy as np

from semcom_blocks.phy.snr import mean_db

from .base import Scheme

__all__ = ["SCHEMES", "NAME", "FRAME_TYPE", "HEADER", "DEFAULTS", "encode", "decode"]

NAME = "raw-analog"
FRAME_TYPE = 0x10
HEADER_VERSION = 1
#: version, T, H, W, h, w (uint16), frame index (uint16), transmission index, transmission
#: count, symbol offset within the frame (uint32), fps, mean R, G, B, scale (float32); big-endian
HEADER = struct.Struct(">BHHHHHHIIIfffff")
DEFAULTS = {
    "height": 32,                       # pixels sent per frame: height (0 = native)
    "width": 32,                        # pixels sent per frame: width (0 = native)
    "symbols_per_transmission": 4096,   # analog symbols per transmission (burst), at most
    "seq0": 0,                          # sequence number of the first transmission
    "mmse": True,                       # decoder: LMMSE shrinkage with the per-symbol N0
}


def _header_coder():
    from semcom_blocks.phy.fec import PayloadCoder

    return PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32")


def _check_params(p: dict) -> tuple[int, int, int, int]:
    h, w, spt, seq0 = (p["height"], p["width"], p["symbols_per_transmission"], p["seq0"])
    if not (0 <= h <= 4096 and 0 <= w <= 4096) or (h == 0) != (w == 0):
        raise ValueError("height and width must both be 0 (native size) or both in 1..4096")
    if not 16 <= spt <= 1 << 20:
        raise ValueError("symbols_per_transmission must be in 16..1048576")
    if not 0 <= seq0 < 1 << 16:
        raise ValueError("seq0 must be in 0..65535")
    return h, w, spt, seq0


def _geometry(num_frames: int, h: int, w: int, spt: int) -> tuple[int, int]:
    """(complex symbols per frame, chunks per frame)."""
    n = -(-3 * h * w // 2)
    return n, -(-n // spt)


def encode(frames: np.ndarray, params: dict):
    """(list of Transmission, context) for uint8 T x H x W x 3 ``frames``; see the module docstring."""
    from semcom_blocks.phy.frame import Transmission, Unit
    from semcom_models.video_io import check_frames, resize_frame

    frames = check_frames(frames)
    t_count, big_h, big_w, _ = frames.shape
    if max(t_count, big_h, big_w) > 0xFFFF:
        raise ValueError("raw-analog sends at most 65535 frames of at most 65535 x 65535 pixels")
    h, w, spt, seq0 = _check_params(params)
    h, w = (h, w) if h else (big_h, big_w)
    fps = float(params.get("fps", 25.0))
    n_sym, chunks = _geometry(t_count, h, w, spt)
    n_tx = t_count * chunks
    coder = _header_coder()
    small = np.stack([resize_frame(f, (h, w)) for f in frames]).astype(np.float32) / 255.0
    mean = small.mean(axis=(1, 2))                               # T x 3
    resid = (small - mean[:, None, None, :]).reshape(t_count, -1)
    if resid.shape[1] % 2:
        resid = np.pad(resid, ((0, 0), (0, 1)))
    z = resid[:, 0::2] + 1j * resid[:, 1::2]                     # T x n_sym
    power = np.mean(np.abs(z) ** 2, axis=1)
    scale = np.where(power > 0, 1.0 / np.sqrt(np.maximum(power, 1e-30)), 1.0).astype(np.float32)
    symbols = (z * scale[:, None]).astype(np.complex64)
    txs, sent = [], 0
    for t in range(t_count):
        for c in range(chunks):
            idx = t * chunks + c
            off = c * spt
            chunk = symbols[t, off:off + spt]
            hdr = HEADER.pack(HEADER_VERSION, t_count, big_h, big_w, h, w, t, idx, n_tx, off, fps,
                              *(float(m) for m in mean[t]), float(scale[t]))
            txs.append(Transmission([Unit("hdr", "digital", hdr, coder), Unit("pix", "analog", chunk)],
                                    seq=(seq0 + idx) % 65536, frame_type=FRAME_TYPE,
                                    meta={"scheme": NAME, "frame": t, "chunk": c}))
            sent += chunk.size + coder.n_symbols(HEADER.size)
    context = {"scheme": NAME, "num_frames": t_count, "height": big_h, "width": big_w, "tx_height": h,
               "tx_width": w, "fps": fps, "n_transmissions": n_tx, "symbols_per_frame": n_sym,
               "symbols_per_transmission": spt, "seq0": seq0, "frame_type": FRAME_TYPE,
               "symbols_sent": sent, "cbr_net": sent / (3 * big_h * big_w * t_count)}
    return txs, context


def _parse_header(unit) -> dict | None:
    if unit is None or not unit.get("crc_ok") or len(unit["data"]) != HEADER.size:
        return None
    f = HEADER.unpack(unit["data"])
    if f[0] != HEADER_VERSION:
        return None
    keys = ("num_frames", "height", "width", "tx_height", "tx_width", "frame", "index", "n_transmissions",
            "offset", "fps")
    hdr = dict(zip(keys, f[1:11]))
    hdr["mean"], hdr["scale"] = np.array(f[11:14], np.float32), float(f[14])
    if not (hdr["frame"] < hdr["num_frames"] and all(math.isfinite(x) for x in f[10:15])
            and min(hdr["num_frames"], hdr["height"], hdr["width"], hdr["tx_height"], hdr["tx_width"]) > 0):
        return None
    return hdr


def _unit(rx: dict, name: str, kind: str):
    for u in rx.get("units", []):
        if u.get("name") == name and u.get("kind") == kind:
            return u
    return None


def decode(received: list, context: dict, params: dict):
    """(uint8 T x H x W x 3 frames, report) from received transmission dicts; see the module docstring."""
    from semcom_host.schemes.common import freeze_missing
    from semcom_models.video_io import resize_frame

    mmse = bool(params.get("mmse", True))
    parsed = [(rx, _parse_header(_unit(rx, "hdr", "digital")), _unit(rx, "pix", "analog")) for rx in received]
    good = [hdr for _, hdr, _ in parsed if hdr is not None]
    geo_keys = ("num_frames", "height", "width", "tx_height", "tx_width")
    if good:
        geo = {k: good[0][k] for k in geo_keys}
        geo["fps"] = float(good[0]["fps"])
        geo["n_transmissions"] = good[0]["n_transmissions"]
    elif all(k in context for k in geo_keys):
        geo = {k: int(context[k]) for k in geo_keys}
        geo["fps"] = float(context.get("fps", 25.0))
        geo["n_transmissions"] = int(context.get("n_transmissions", 0))
    else:
        raise ValueError("raw-analog: no header arrived intact and no context was given: the video's "
                         "size is unknown")
    t_count, h, w = geo["num_frames"], geo["tx_height"], geo["tx_width"]
    n_sym = -(-3 * h * w // 2)
    stats: dict[int, tuple[np.ndarray, float]] = {}
    for hdr in good:
        stats.setdefault(hdr["frame"], (hdr["mean"], hdr["scale"]))
    spt = int(context.get("symbols_per_transmission", 0))
    chunks = -(-n_sym // spt) if spt else 0
    seq0 = int(context.get("seq0", 0))
    sym = np.zeros((t_count, n_sym), np.complex64)
    have = np.zeros((t_count, n_sym), bool)
    placed = unplaced = 0
    snr_db = []
    for rx, hdr, pix in parsed:
        snr_db.append(rx.get("snr_est_db"))
        if pix is None:
            unplaced += 1
            continue
        if hdr is not None:
            frame, off = hdr["frame"], hdr["offset"]
        elif chunks and rx.get("frame_type") == FRAME_TYPE:
            idx = (int(rx["seq"]) - seq0) % 65536
            frame, off = idx // chunks, (idx % chunks) * spt
        else:
            unplaced += 1
            continue
        data = np.asarray(pix["data"], np.complex64)
        if frame >= t_count or frame not in stats or off + data.size > n_sym:
            unplaced += 1
            continue
        if mmse and pix.get("noise_var") is not None and len(pix["noise_var"]) == data.size:
            data = data / (1.0 + np.asarray(pix["noise_var"], np.float32))
        sym[frame, off:off + data.size] = data
        have[frame, off:off + data.size] = True
        placed += 1
    out = np.empty((t_count, geo["height"], geo["width"], 3), np.uint8)
    missing = [t for t in range(t_count) if t not in stats]
    for t in range(t_count):
        if t not in stats:
            continue
        mean, scale = stats[t]
        z = sym[t] / np.float32(scale)
        resid = np.empty(2 * n_sym, np.float32)
        resid[0::2], resid[1::2] = z.real, z.imag
        img = resid[:3 * h * w].reshape(h, w, 3) + mean[None, None, :]
        small = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        out[t] = resize_frame(small, (geo["height"], geo["width"]))
    freeze_missing(out, stats)
    total = geo["n_transmissions"] or (t_count * chunks if chunks else None)
    cbr = None
    if total:
        hdr_syms = _header_coder().n_symbols(HEADER.size)
        cbr = (t_count * n_sym + total * hdr_syms) / (3 * geo["height"] * geo["width"] * t_count)
    report = {
        "scheme": NAME, "decoder": "raw-analog-lmmse" if mmse else "raw-analog-zf",
        "num_frames": t_count, "height": geo["height"], "width": geo["width"], "tx_height": h, "tx_width": w,
        "fps": geo["fps"], "transmissions_expected": total, "transmissions_received": len(received),
        "headers_ok": len(good), "headers_failed": len(received) - len(good), "chunks_placed": placed,
        "chunks_unplaced": unplaced, "symbol_coverage": float(have.mean()) if have.size else 0.0,
        "frames_concealed": len(missing),
        "snr_est_db": mean_db(snr_db), "cbr_net": cbr,
    }
    return out, report


#: this module's schemes, collected by the service's registry
SCHEMES = (Scheme(NAME, encode, decode, DEFAULTS,
                  "downscaled pixels as unit-power analog symbols (DJSCC-like baseline, no model)"),)
