"""DJSCC-RGB baseline: every frame by attention deep JSCC, no semantics.

Each frame, resized to ``image_size`` x ``image_size``, goes through the shipped ``djscc_rgb``
model (1,152 complex symbols per 256 x 256 frame, CBR 0.00586 per frame: GVSC's First
Frame+Desc budget) as analog units ``f<frame>.<chunk>``; the receiver decodes each with its own
SNR estimate. A frame of which nothing arrived repeats the nearest earlier one (the next one for
leading frames; mid-grey when nothing arrived at all).

CBR (paper): DJSCC symbols / (3 H W T).
"""
from __future__ import annotations

import numpy as np

from . import common as C
from .base import Scheme

__all__ = ["SCHEMES", "NAME", "FRAME_TYPE", "encode", "decode"]

NAME = "djscc-rgb"
FRAME_TYPE = 0x23
DEFAULTS = dict(C.COMMON_DEFAULTS)


def encode(frames: np.ndarray, params: dict):
    from semcom_models.video_io import check_frames

    frames = check_frames(frames)
    t, h, w, _ = frames.shape
    size, spt = int(params["image_size"]), int(params["max_symbols_per_transmission"])
    watch = C.Stopwatch()
    with watch("djscc_encode"):
        sym = C.djscc_model("djscc_rgb").encode_frames(C.resize_frames(frames, (size, size)), float(params["snr_db"]))
    units = [u for i, s in enumerate(sym) for u in C.analog_chunks(f"f{i}", s, spt // 2)]
    fps = float(params.get("fps", 25.0))
    man = C.manifest_body(NAME, t, h, w, fps, size=size, chunk=spt // 2)
    txs = C.pack_transmissions(units, C.manifest_unit(man), spt, FRAME_TYPE, int(params["seq0"]), NAME)
    context = {"manifest": man,
               "n_transmissions": len(txs), "cbr_paper": sym.size / C.source_dim(t, h, w),
               "stage_seconds": watch.seconds, **C.cbr_figures(txs, t, h, w)}
    return txs, context


def decode(received: list, context: dict, params: dict):
    man, man_from = C.find_manifest(received, context, NAME)
    t, h, w, size = int(man["T"]), int(man["H"]), int(man["W"]), int(man.get("size", 256))
    units = C.units_by_name(received)
    snr_est = C.snr_estimate(received)
    snr = snr_est if snr_est is not None else float(params["snr_db"])
    model = C.djscc_model("djscc_rgb")
    n = model.cfg.num_symbols(size, size)
    spt = int(man.get("chunk") or int(params["max_symbols_per_transmission"]) // 2)
    watch = C.Stopwatch()
    have, syms = [], []
    for i in range(t):
        sym, frac = C.join_chunks(units, f"f{i}", n, spt, bool(params["mmse"]))
        if frac > 0:
            have.append(i)
            syms.append(sym)
    frames = np.full((t, h, w, 3), 128, np.uint8)
    if have:
        with watch("djscc_decode"):
            imgs = model.decode_symbols(np.stack(syms), snr, (size, size))
            frames[have] = C.resize_frames(imgs, (h, w))
    C.freeze_missing(frames, have)
    report = {"scheme": NAME, "decoder": "djscc", "manifest_from": man_from, "frames_received": len(have),
              "frames_concealed": t - len(have), "snr_est_db": snr_est, "stage_seconds": watch.seconds}
    return frames, C.copy_figures(report, context)


#: this module's schemes, collected by the service's registry
SCHEMES = (Scheme(NAME, encode, decode, DEFAULTS, "DJSCC-RGB baseline: every frame by attention deep JSCC (analog)"),)
