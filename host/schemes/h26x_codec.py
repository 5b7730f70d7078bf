"""The video codec of the "h264"/"h265" schemes: x264/x265 encoding and FFmpeg decoding through PyAV.

Owns the encoder settings (``CODECS``, ``PRESETS``), the coded frame size (``X265_MIN_SIDE``
padding), one encode at a given rate control (:func:`encode_stream`), the CRF bisection to a
symbol budget (:func:`bisect_crf`) and the decoding of a partly received byte stream with
FFmpeg's concealment and frame freezing (:func:`decode_stream`). Packetisation, the manifest
and the report are the scheme's (:mod:`.h26x`); the byte-stream parsing is :mod:`.h26x_bitstream`'s.

Encoding (uint8 T x H x W x 3 RGB in; an odd height or width is padded by repeating the last
row/column, since yuv420p needs even sizes, and so are frames x265 finds too small; the
decoder crops the padding off):

1. RGB -> yuv420p (FFmpeg's swscale, BT.601), encoded with libx264/libx265, one packet (access
   unit, AU) per frame: frame t has presentation index t; I (IDR) frames every ``gop`` frames
   (0 = only the first), no scene-cut I frames, closed GOPs, ``bframes`` B frames (-1 = the
   preset's choice), ``slices`` slices per frame, single-threaded so the bitstream is the same
   on every machine. x265 gets frames of at least 128 x 128 pixels (edge-replicated padding,
   see ``X265_MIN_SIDE``: this x265 build crashes or is not repeatable on smaller ones). SEI
   NAL units (x264/x265 write their settings as text, ~700 bytes) are removed: a decoder does
   not need them.
2. Rate control to a target CBR (``cbr``, complex channel symbols per real source value, net
   as in :mod:`.common`: every payload symbol sent, manifests included). The budget is
   ``cbr * 3*T*H*W`` symbols; with a fixed ``qp`` (1..51) the encoder uses that quantiser and
   the budget is only checked; with ``qp`` = 0 the CRF is found by bisection on [0, 51]
   (``crf_steps`` steps): the smallest CRF whose whole transmission (bitstream units with their
   CRC and LDPC parity, manifests) fits the budget. When even CRF 51 and QP 51 do not fit, the
   QP 51 stream is sent anyway and the context and the report say so (``budget_met`` False and
   a ``warning``): the baseline is never silently over budget.

Decoding (after the byte stream is rebuilt with a mask of the bytes that arrived and its
damaged NAL units dropped, see :mod:`.h26x_bitstream`):

2. Every AU with a NAL unit left becomes one packet, with its presentation index as pts, for
   FFmpeg's decoder (``h264``/``hevc``, one thread, its default error concealment). What FFmpeg
   does not output counts as lost: h264 conceals a missing frame's successors (frame-number
   gap) and outputs them; hevc flags frames that reference a lost frame as corrupt and, by
   default, drops them until the next IDR frame (``show_corrupt`` True outputs them instead,
   predicted from a grey reference). Decoder errors are caught and counted (``decode_errors``).
3. Frames FFmpeg did not output are frozen: the last decoded frame is repeated, leading ones
   take the first decoded frame; with nothing decodable, every frame is mid-grey (128) and
   ``report["failed"]`` is True.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

from .common import freeze_missing
from .h26x_bitstream import header_at, nal_type, segments, strip_nal_types

__all__ = ["CODECS", "PRESETS", "CRF_MAX", "QP_MAX", "X265_MIN_SIDE", "coded_size", "Stream", "encode_stream",
           "bisect_crf", "decode_stream"]

#: FFmpeg encoder, decoder, the encoder's private-parameter option, NAL type sets
CODECS = {
    "h264": {"encoder": "libx264", "decoder": "h264", "params": "x264-params",
             "sei": frozenset({6}), "vcl": frozenset(range(1, 6))},
    "h265": {"encoder": "libx265", "decoder": "hevc", "params": "x265-params",
             "sei": frozenset({39, 40}), "vcl": frozenset(range(0, 32))},
}
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
           "placebo")
CRF_MAX = 51.0
QP_MAX = 51
#: x265 4.2 (PyAV 18's wheel) misbehaves on small frames in CRF mode: it corrupts its heap and
#: aborts the process on frames 34 to 50 pixels wide, and its output varies from run to run
#: on some sizes below 128 pixels (seen on 16..128 x 2..640 pixel clips; 128 x 128 and larger
#: were stable). Frames are therefore padded (edge replication) to at least this many pixels
#: in each direction before x265 sees them; the decoder crops the padding off.
X265_MIN_SIDE = 128


def coded_size(codec: str, h: int, w: int) -> tuple[int, int]:
    """(height, width) the encoder codes for an h x w clip: even (yuv420p), and for x265 at
    least ``X265_MIN_SIDE``; the extra rows/columns repeat the last ones."""
    h, w = h + h % 2, w + w % 2
    if codec == "h265":
        h, w = max(h, X265_MIN_SIDE), max(w, X265_MIN_SIDE)
    return h, w


# -- encoding ----------------------------------------------------------------------------------

class Stream:
    """One encode: the Annex B stream without SEI, AU sizes and presentation indices."""

    def __init__(self, data: bytes, au_sizes: list[int], pts: list[int], nal_count: int, rc: tuple[str, float]):
        self.data, self.au_sizes, self.pts, self.nal_count, self.rc = data, au_sizes, pts, nal_count, rc


def encode_stream(frames: np.ndarray, codec: str, fps: float, rc: tuple[str, float], p: dict) -> Stream:
    """Encode ``frames`` (even-sized uint8 T x H x W x 3) with rate control ``rc`` = ("crf", x)
    or ("qp", n); ``p`` the scheme's parameters (gop, bframes, slices, preset)."""
    import av

    spec = CODECS[codec]
    t_count, h, w, _ = frames.shape
    try:
        cc = av.CodecContext.create(spec["encoder"], "w")
    except (av.error.FFmpegError, ValueError) as exc:
        raise RuntimeError(f"{codec}: FFmpeg encoder {spec['encoder']!r} is not available in this PyAV build "
                           f"(av {av.__version__}): {exc}") from exc
    rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
    cc.width, cc.height, cc.pix_fmt = w, h, "yuv420p"
    cc.framerate, cc.time_base = rate, 1 / rate
    cc.thread_count = 1
    gop = p["gop"] or t_count
    extra = [f"keyint={gop}", "scenecut=0", f"slices={p['slices']}"]
    if p["bframes"] >= 0:
        extra.append(f"bframes={p['bframes']}")
    if codec == "h265":
        extra += [f"min-keyint={gop}", "open-gop=0", "info=0", "log-level=error", "frame-threads=1", "pools=1"]
    opts = {"preset": p["preset"], spec["params"]: ":".join(extra)}
    opts[rc[0]] = f"{rc[1]:.3f}" if rc[0] == "crf" else str(int(rc[1]))
    cc.options = opts
    packets = []
    try:
        for t, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24").reformat(format="yuv420p")
            vf.pts = t
            packets += cc.encode(vf)
        packets += cc.encode(None)
    except av.error.FFmpegError as exc:
        raise RuntimeError(f"{spec['encoder']} failed on {t_count} frames of {h} x {w} pixels with {opts}: {exc}") \
            from exc
    out, sizes, pts, nals = bytearray(), [], [], 0
    for pkt in packets:
        au, kept = strip_nal_types(bytes(pkt), codec, spec["sei"])
        nals += kept
        if au:
            out += au
            sizes.append(len(au))
            pts.append(int(pkt.pts))
    if len(sizes) != t_count or sorted(pts) != list(range(t_count)):
        raise RuntimeError(f"{spec['encoder']} returned {len(sizes)} access units for {t_count} frames")
    return Stream(bytes(out), sizes, pts, nals, rc)


def bisect_crf(attempt, budget: float, steps: int):
    """(best trial, mode) of the rate control to ``budget`` symbols by CRF (encoding step 2).

    ``attempt(rc)`` encodes at ``rc`` = ("crf", x) or ("qp", n) and returns a trial whose
    index 3 is the symbols it sends. CRF 51 first; if it is over budget, QP 51 (mode
    "lowest-quality", the smaller of the two is kept); else ``steps`` bisection steps on
    [0, 51] keep the smallest CRF within budget, stopping once a trial uses 98 % of it (mode "crf")."""
    mode = "crf"
    best = attempt(("crf", CRF_MAX))
    if best[3] > budget:
        mode = "lowest-quality"
        floor = attempt(("qp", QP_MAX))
        best = floor if floor[3] < best[3] else best
    else:
        lo, hi = 0.0, CRF_MAX
        for _ in range(steps):
            if best[3] >= 0.98 * budget:
                break
            mid = (lo + hi) / 2
            cand = attempt(("crf", mid))
            if cand[3] <= budget:
                hi, best = mid, cand
            else:
                lo = mid
    return best, mode


# -- decoding ----------------------------------------------------------------------------------

def decode_stream(buf: np.ndarray, have: np.ndarray, au_sizes, au_pts, codec: str, t_count: int, h: int, w: int,
                  show_corrupt: bool = False) -> tuple[np.ndarray, dict]:
    """(uint8 t_count x h x w x 3 frames, counts) of the byte stream ``buf`` whose bytes ``have``
    arrived, AU sizes ``au_sizes`` in decode order with presentation indices ``au_pts``
    (decoding steps 1-3). Counts: done (set of decoded frame indices), kept_nals, au_dropped,
    decode_errors, corrupt, unplaced."""
    import av

    spec = CODECS[codec]
    eh, ew = coded_size(codec, h, w)
    dec = av.CodecContext.create(spec["decoder"], "r")
    dec.thread_count = 1
    if show_corrupt:
        dec.options = {"flags": "+output_corrupt", "flags2": "+showall"}
    kept_nals = au_dropped = decode_errors = 0
    decoded_frames = []

    def feed(packet):
        nonlocal decode_errors
        try:
            decoded_frames.extend(dec.decode(packet))
        except (av.error.FFmpegError, ValueError, MemoryError):
            decode_errors += 1

    off = 0
    for size_au, pts in zip(au_sizes, au_pts):
        lo, hi = off, off + size_au
        off = hi
        parts, vcl = [], False
        for s, e in segments(buf, lo, hi, have):
            if not have[s:e].all():
                continue
            hdr_at = header_at(buf, s)
            if hdr_at >= e or buf[hdr_at] & 0x80:       # empty NAL or forbidden_zero_bit set
                continue
            parts.append(buf[s:e].tobytes())
            kept_nals += 1
            vcl |= nal_type(codec, int(buf[hdr_at])) in spec["vcl"]
        if not vcl:
            au_dropped += 1
        if parts:
            packet = av.Packet(b"".join(parts))
            packet.pts = pts
            feed(packet)
    feed(None)
    out = np.empty((t_count, h, w, 3), np.uint8)
    done: set[int] = set()
    corrupt = unplaced = 0
    for f in decoded_frames:
        idx = f.pts
        if idx is None or not 0 <= idx < t_count or idx in done or (f.height, f.width) != (eh, ew):
            unplaced += 1
            continue
        try:
            out[idx] = f.to_ndarray(format="rgb24")[:h, :w]
        except (av.error.FFmpegError, ValueError):
            decode_errors += 1
            continue
        done.add(idx)
        corrupt += bool(getattr(f, "is_corrupt", False))
    freeze_missing(out, done)
    return out, {"done": done, "kept_nals": kept_nals, "au_dropped": au_dropped, "decode_errors": decode_errors,
                 "corrupt": corrupt, "unplaced": unplaced}
