"""LGVSC: keyframes and per-segment captions; a video model rebuilds segments of any length.

Three schemes, as in the paper's comparison:

============  ================================================================================
lgvsc-text    Text-Only: a caption per segment (segments of ``interval`` frames)
lgvsc-skim    SKIM+SFA: keyframes every ``interval`` frames (first and last kept; or ``keyframes``
              of them evenly spread when > 0), a caption and
              motion side information per segment; fixed-length segment adaptation
lgvsc-skem    SKEM+DSA: keyframes where a local vision-language model's PSSS score exceeds
              ``eta`` (semcom_models.psss; ``vlm`` names the model, loaded from local weights
              only), captions and motion per segment; dynamic segment adaptation
============  ================================================================================

Segment i runs from keyframe k_i to k_(i+1) (exclusive; the last one to the end of the clip).
Keyframes go by the attention DJSCC first-frame model in place of NTSCC (whose code has no
license and whose weights exist for 10 dB only): analog units ``kf<frame>.<chunk>``; captions
(unit ``cap<i>``) by turbo R1/3 + 4-QAM as GVSC's text; motion (unit ``mo<i>``, digital, QPSK
LDPC 648 R1/2) = semcom_models.motion.motion_info of the segment at ``image_size``: mean flow
vector and magnitude (pixels/frame), 5 float32.

Receiver (:mod:`.reconstruct`): the decoder gets the semantic segments the transmitter chose,
each with its own caption and motion (``Conditioning.segments``), and the keyframes that arrived.
A generative decoder (fallback chain: wan2.1-vace, ltx-video, wan2.1-flf2v, then optical-flow
interpolation) prompts each generated segment with its semantic segment's caption; with DSA
(SKEM) each semantic segment is generated at its own length (the model's nearest supported
count, split past its longest), with SFA (SKIM, Text-Only) at the model's fixed lengths, each
prompted by the semantic segment it overlaps most. The interpolating decoder extrapolates past
the outer keyframes with the motion of the segment it extrapolates into. The report lists each
semantic segment with its caption and, for a generative decoder, the prompts and frame counts
passed to the model.

CBR (paper): (3 x 8 x caption bytes / 2 + keyframe DJSCC symbols) / (3 H W T).
"""
from __future__ import annotations

import struct

import numpy as np

from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.frame import Unit
from semcom_models.decoders.base import Conditioning, SemanticSegment

from . import common as C
from .base import family
from .reconstruct import reconstruct

__all__ = ["SCHEMES", "VARIANTS", "FRAME_TYPE", "encode", "decode"]

FRAME_TYPE = 0x21
VARIANTS = {
    "lgvsc-text": ("text", ("ltx-video", "cogvideox")),
    "lgvsc-skim": ("skim", ("wan2.1-vace", "ltx-video", "wan2.1-flf2v")),
    "lgvsc-skem": ("skem", ("wan2.1-vace", "ltx-video", "wan2.1-flf2v")),
}
DEFAULTS = {**C.COMMON_DEFAULTS, "caption": "", "captions_file": "", "captioner": "", "captioner_path": "",
            "captioner_frames": 0, "captioner_fps": 0.0,
            "interval": 8, "keyframes": 0, "vlm": "qwen2.5-vl", "vlm_path": "", "eta": 0.35, "motion": True}
DESCRIPTIONS = {
    "lgvsc-text": "LGVSC Text-Only: a caption per segment",
    "lgvsc-skim": "LGVSC SKIM+SFA: fixed-interval keyframes by DJSCC + captions + motion per segment",
    "lgvsc-skem": "LGVSC SKEM+DSA: VLM-selected keyframes (PSSS) by DJSCC + captions + motion per segment",
}
MOTION = struct.Struct(">5f")   # mean_dx, mean_dy, mean_px_per_frame, width, height


def _keyframes(kind: str, frames: np.ndarray, params: dict) -> list[int]:
    from semcom_models.keyframes import select_skim

    t = frames.shape[0]
    if kind == "skim" and int(params["keyframes"]) > 0:  # a count (the paper's 3-4 per clip), evenly spread
        from semcom_models.keyframes import uniform_indices

        return [int(i) for i in uniform_indices(t, int(params["keyframes"]))]
    if kind in ("text", "skim"):
        return [int(i) for i in select_skim(t, int(params["interval"])).indices]
    from semcom_models.psss import SKEM

    name, path, eta = str(params["vlm"]), params["vlm_path"] or None, float(params["eta"])
    skem = C.cached(("skem", name, path, eta), lambda: SKEM.load(name, path, eta=eta))
    return sorted(int(i) for i in skem.select(frames))


def segments_of(keys: list[int], num_frames: int) -> list[tuple[int, int]]:
    """[k_i, k_(i+1)) for consecutive keyframes; the last segment ends at the clip's end."""
    bounds = sorted(set(keys) - {num_frames - 1}) or [0]
    return [(a, b) for a, b in zip(bounds, bounds[1:] + [num_frames])]


def encode(frames: np.ndarray, params: dict, *, scheme: str):
    from semcom_models.motion import motion_info
    from semcom_models.video_io import check_frames

    frames = check_frames(frames)
    kind, _ = VARIANTS[scheme]
    t, h, w, _ = frames.shape
    size, snr = int(params["image_size"]), float(params["snr_db"])
    spt = int(params["max_symbols_per_transmission"])
    watch = C.Stopwatch()
    with watch("keyframes"):
        keys = _keyframes(kind, frames, params)
    segs = segments_of(keys, t)
    with watch("caption"):
        captions = C.captions_for(params, segs, frames)
    units = [C.text_unit(f"cap{i}", c) for i, c in enumerate(captions)]
    analog = 0
    small = None
    if kind != "text":
        small = C.resize_frames(frames, (size, size))
        with watch("djscc_encode"):
            sym = C.djscc_model("djscc_first_frame").encode_frames(small[keys], snr)
        for k, s in zip(keys, sym):
            units += C.analog_chunks(f"kf{k}", s, spt // 2)
        analog = sym.size
        if params["motion"]:
            coder = PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc16")
            with watch("motion"):
                for i, (a, b) in enumerate(segs):
                    m = motion_info(small[a:b])
                    units.append(Unit(f"mo{i}", "digital", MOTION.pack(m["mean_dx"], m["mean_dy"],
                                                                          m["mean_px_per_frame"], size, size), coder))
    fps = float(params.get("fps", 25.0))
    man = C.manifest_body(scheme, t, h, w, fps, size=size, kind=kind, keys=keys if kind != "text" else [],
                          segs=[list(s) for s in segs], chunk=spt // 2)
    txs = C.pack_transmissions(units, C.manifest_unit(man), spt, FRAME_TYPE, int(params["seq0"]), scheme)
    text_bytes = sum(len(c.encode("utf-8")) for c in captions)
    context = {"manifest": man,
               "captions": captions, "n_transmissions": len(txs),
               "cbr_paper": (3 * 8 * text_bytes / 2 + analog) / C.source_dim(t, h, w),
               "stage_seconds": watch.seconds, **C.cbr_figures(txs, t, h, w)}
    return txs, context


def decode(received: list, context: dict, params: dict, *, scheme: str):
    kind, prefs = VARIANTS[scheme]
    man, man_from = C.find_manifest(received, context, scheme)
    t, h, w, size = int(man["T"]), int(man["H"]), int(man["W"]), int(man.get("size", 256))
    segs = [tuple(int(x) for x in s) for s in man.get("segs", [])]
    keys = [int(k) for k in man.get("keys", []) if 0 <= int(k) < t]
    units = C.units_by_name(received)
    snr_est = C.snr_estimate(received)
    snr = snr_est if snr_est is not None else float(params["snr_db"])
    watch = C.Stopwatch()
    captions = [C.read_text(units, f"cap{i}") for i in range(len(segs))]
    motions = [_motion(units.get(f"mo{i}")) for i in range(len(segs))]
    cond = Conditioning(t, h, w, fps=float(man["fps"]), adaptation="dsa" if kind == "skem" else "sfa",
                        segments=[SemanticSegment(a, b, c, m) for (a, b), c, m in zip(segs, captions, motions)])
    got = []
    if keys:
        model = C.djscc_model("djscc_first_frame")
        n = model.cfg.num_symbols(size, size)
        spt = int(man.get("chunk") or int(params["max_symbols_per_transmission"]) // 2)
        with watch("djscc_decode"):
            for k in keys:
                sym, frac = C.join_chunks(units, f"kf{k}", n, spt, bool(params["mmse"]))
                got.append(frac)
                if frac > 0:
                    img = model.decode_symbols(sym, snr, (size, size))[0]
                    cond.keyframes[k] = C.resize_frames(img[None], (h, w))[0]
    with watch("reconstruct"):
        rec = reconstruct(cond, params, prefs)
    report = {"scheme": scheme, **rec.report(cond.fps), "manifest_from": man_from,
              "adaptation": {"text": "fixed", "skim": "SFA (fixed-length)", "skem": "DSA (dynamic)"}[kind],
              "keyframes": keys, "keyframes_arrived": sorted(cond.keyframes), "captions_received": captions,
              "captions_ok": sum(c is not None for c in captions),
              "segments": C.segment_report(cond.segments, rec.notes),
              "motion_received": sum(m is not None for m in motions),
              "arrived": {"keyframes": float(np.mean(got)) if got else None}, "snr_est_db": snr_est,
              "stage_seconds": watch.seconds}
    return rec.frames, C.copy_figures(report, context)


def _motion(unit) -> dict | None:
    """A segment's motion side information from its unit (None: not sent, or lost)."""
    if unit is None or len(unit["data"]) != MOTION.size:
        return None
    dx, dy, mag, mw, mh = MOTION.unpack(bytes(unit["data"]))
    return {"mean_dx": dx, "mean_dy": dy, "mean_px_per_frame": mag, "width": mw, "height": mh}


#: this module's schemes, collected by the service's registry
SCHEMES = family(VARIANTS, encode, decode, DEFAULTS, DESCRIPTIONS)
