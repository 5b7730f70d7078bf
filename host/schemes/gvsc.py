"""GVSC (generative video semantic communication): a description plus structure, fused by a
video generator at the receiver.

Four schemes, as in the paper:

================  ===========================================================================
gvsc-desc         Desc Only: the clip's description (text)
gvsc-first-frame  First Frame+Desc: text + the first frame by DJSCC (7,808 symbols at 256 x 256)
gvsc-sketch       Sketch+Desc: text + a sketch of the first frame by DJSCC (1,024 symbols)
gvsc-sketches     Sketches+Desc: text + a sketch of every frame by DJSCC (1,024 symbols each)
================  ===========================================================================

Text: UTF-8 through LTE turbo R = 1/3 + 4-QAM with CRC-32 (unit ``text``). Images: resized to
``image_size`` x ``image_size``, through the shipped attention DJSCC models (``djscc_first_frame``,
``djscc_sketch``; analog units ``ff.<chunk>`` and ``sk<frame>.<chunk>``), conditioned on the
transmitter's ``snr_db`` at the encoder and on the receiver's own SNR estimate at the decoder.
Sketches are edge maps (``sketcher``: "xdog" (default) or "canny", weight-free, or "pidinet" or
"hed", learned, with weights from the local annotators folder; semcom_models.sketch).

``gvsc-adaptive`` sends one of Desc Only, Sketch+Desc and First Frame+Desc, chosen by the SNR the
transmitter was given (``snr_db``: in `semcom run`, the receiver's estimate of a probe burst fed
back, never the channel model's setting) against ``adaptive_thresholds_db``; the choice travels in
the manifest and the report names it (``variant``).

Receiver (:mod:`.reconstruct`): a generative decoder when one is configured (preferences:
text -> ltx-video, cogvideox; first frame -> ltx-video, wan2.1-i2v, svd, cogvideox-i2v;
sketch -> sketch+ltx-video; sketches -> wan2.1-vace), else the weight-free fallback.

CBR (paper): (turbo-coded text symbols without CRC + DJSCC symbols) / (3 H W T), H x W the
clip's size as given; the paper counts the description as 3 x 8 x bytes / 2 4-QAM symbols.
"""
from __future__ import annotations

import numpy as np

from semcom_models.decoders.base import Conditioning, SemanticSegment

from . import common as C
from .base import family
from .reconstruct import reconstruct

__all__ = ["SCHEMES", "VARIANTS", "ADAPTIVE", "FRAME_TYPE", "adaptive_choice", "encode", "decode"]

FRAME_TYPE = 0x20
#: scheme name -> (what is sent besides the text, generative decoder preferences)
VARIANTS = {
    "gvsc-desc": ("none", ("ltx-video", "cogvideox")),
    "gvsc-first-frame": ("first_frame", ("ltx-video", "wan2.1-i2v", "svd", "cogvideox-i2v")),
    "gvsc-sketch": ("sketch", ("sketch+ltx-video", "sketch+wan2.1-i2v")),
    "gvsc-sketches": ("sketches", ("wan2.1-vace",)),
}
DEFAULTS = {**C.COMMON_DEFAULTS, "caption": "", "captions_file": "", "captioner": "", "captioner_path": "",
            "captioner_frames": 0, "captioner_fps": 0.0,
            "sketcher": "xdog"}
DESCRIPTIONS = {
    "gvsc-desc": "GVSC Desc Only: the clip's description, turbo R1/3 + 4-QAM",
    "gvsc-first-frame": "GVSC First Frame+Desc: description + first frame by attention DJSCC",
    "gvsc-sketch": "GVSC Sketch+Desc: description + a sketch of the first frame by DJSCC",
    "gvsc-sketches": "GVSC Sketches+Desc: description + a sketch of every frame by DJSCC",
}


def _sketch(frame: np.ndarray, method: str) -> np.ndarray:
    from semcom_models.sketch import extract_sketch

    return extract_sketch(frame, method)


def encode(frames: np.ndarray, params: dict, *, scheme: str):
    """(transmissions, context) for uint8 T x H x W x 3 ``frames`` (see the module docstring)."""
    from semcom_models.video_io import check_frames

    frames = check_frames(frames)
    snr = float(params["snr_db"])
    chosen = adaptive_choice(snr, params["adaptive_thresholds_db"]) if scheme == ADAPTIVE else scheme
    kind, _ = VARIANTS[chosen]
    t, h, w, _ = frames.shape
    size = int(params["image_size"])
    watch = C.Stopwatch()
    with watch("caption"):
        text = C.captions_for(params, [(0, t)], frames)[0]
    units = [C.text_unit("text", text)]
    analog = 0
    chunk = int(params["max_symbols_per_transmission"]) // 2   # analog symbols per unit (in the manifest)
    if kind == "first_frame":
        with watch("djscc_encode"):
            model = C.djscc_model("djscc_first_frame")
            sym = model.encode_frames(C.resize_frames(frames[:1], (size, size)), snr)[0]
        units += C.analog_chunks("ff", sym, chunk)
        analog += sym.size
    elif kind in ("sketch", "sketches"):
        idx = [0] if kind == "sketch" else list(range(t))
        with watch("sketch"):
            small = C.resize_frames(frames[idx], (size, size))
            sketches = np.stack([_sketch(f, str(params["sketcher"])) for f in small])
        with watch("djscc_encode"):
            sym = C.djscc_model("djscc_sketch").encode_frames(sketches, snr)
        for i, s in zip(idx, sym):
            units += C.analog_chunks(f"sk{i}", s, chunk)
        analog += sym.size
    man = C.manifest_body(scheme, t, h, w, float(params.get("fps", 25.0)), size=size, kind=kind, chunk=chunk)
    txs = C.pack_transmissions(units, C.manifest_unit(man), int(params["max_symbols_per_transmission"]), FRAME_TYPE,
                               int(params["seq0"]), scheme)
    text_bytes = len(text.encode("utf-8"))
    paper = (3 * 8 * text_bytes / 2 + analog) / C.source_dim(t, h, w)
    context = {"manifest": man, "variant": chosen, "tx_snr_db": snr,
               "caption": text, "n_transmissions": len(txs), "cbr_paper": paper,
               "stage_seconds": watch.seconds, **C.cbr_figures(txs, t, h, w)}
    return txs, context


def decode(received: list, context: dict, params: dict, *, scheme: str):
    """(uint8 T x H x W x 3 frames, report) from the received transmissions."""
    man, man_from = C.find_manifest(received, context, scheme)
    if scheme == ADAPTIVE:  # what the transmitter chose travels in the manifest
        chosen = next((n for n, (k, _) in VARIANTS.items() if k == man.get("kind")), "gvsc-desc")
    else:
        chosen = scheme
    kind, prefs = VARIANTS[chosen]
    t, h, w, size = int(man["T"]), int(man["H"]), int(man["W"]), int(man.get("size", 256))
    units = C.units_by_name(received)
    snr_est = C.snr_estimate(received)
    snr = snr_est if snr_est is not None else float(params["snr_db"])
    watch = C.Stopwatch()
    text = C.read_text(units, "text")
    cond = Conditioning(t, h, w, fps=float(man["fps"]), caption=text)
    arrived = {}
    spt = int(man.get("chunk") or int(params["max_symbols_per_transmission"]) // 2)
    if kind == "first_frame":
        model = C.djscc_model("djscc_first_frame")
        n = model.cfg.num_symbols(size, size)
        sym, frac = C.join_chunks(units, "ff", n, spt, bool(params["mmse"]))
        arrived["first_frame"] = frac
        if frac > 0:
            with watch("djscc_decode"):
                img = model.decode_symbols(sym, snr, (size, size))[0]
            cond.keyframes[0] = C.resize_frames(img[None], (h, w))[0]
    elif kind in ("sketch", "sketches"):
        model = C.djscc_model("djscc_sketch")
        n = model.cfg.num_symbols(size, size)
        idx = [0] if kind == "sketch" else list(range(t))
        got = []
        with watch("djscc_decode"):
            for i in idx:
                sym, frac = C.join_chunks(units, f"sk{i}", n, spt, bool(params["mmse"]))
                if frac > 0:
                    sk = model.decode_symbols(sym, snr, (size, size))[0]
                    cond.sketches[i] = C.resize_frames(sk[None], (h, w))[0]
                got.append(frac)
        arrived["sketches"] = float(np.mean(got))
    with watch("reconstruct"):
        rec = reconstruct(cond, params, prefs)
    frames = rec.frames
    report = {"scheme": scheme, "variant": chosen, **rec.report(cond.fps), "manifest_from": man_from,
              "caption_received": text,
              "segments": C.segment_report([SemanticSegment(0, t, text)], rec.notes),
              "caption_ok": text is not None, "arrived": arrived, "snr_est_db": snr_est,
              "stage_seconds": watch.seconds}
    return frames, C.copy_figures(report, context)


#: the adaptive scheme: one of the fixed variants by the SNR the transmitter was told (fed back)
ADAPTIVE = "gvsc-adaptive"
#: SNR thresholds (dB, Es/N0): Sketch+Desc from the first, First Frame+Desc from the second, Desc Only
#: below both. Measured (docs/schemes.md, "GVSC adaptive"; host/sweeps/gvsc_adaptive.yaml and
#: adaptive.yaml) with the weight-free receivers: the first frame is never worse than Desc Only
#: (whose receiver then shows grey) and a rendered sketch is worse than grey, so First Frame+Desc
#: is sent down to a reported -6 dB (below where the receiver detects bursts at all, and a lost
#: probe reads -5 dB); with a sketch-conditioned or text-to-video generative decoder give
#: Sketch+Desc and Desc Only their bands after measuring, e.g. [0, 6].
ADAPTIVE_THRESHOLDS_DB = [-6.0, -6.0]


def adaptive_choice(snr_db: float, thresholds_db) -> str:
    """The GVSC variant for an SNR (dB): gvsc-desc below ``thresholds_db[0]``, gvsc-sketch up to
    ``thresholds_db[1]``, gvsc-first-frame from there. ValueError for thresholds that are not two
    increasing numbers."""
    if not (isinstance(thresholds_db, (list, tuple)) and len(thresholds_db) == 2
            and all(isinstance(x, (int, float)) for x in thresholds_db) and thresholds_db[0] <= thresholds_db[1]):
        raise ValueError(f"adaptive_thresholds_db must be [sketch_from, first_frame_from] in dB, increasing; "
                         f"got {thresholds_db!r}")
    if snr_db >= thresholds_db[1]:
        return "gvsc-first-frame"
    return "gvsc-sketch" if snr_db >= thresholds_db[0] else "gvsc-desc"


#: this module's schemes, collected by the service's registry
SCHEMES = family(VARIANTS, encode, decode, DEFAULTS, DESCRIPTIONS) + family(
    (ADAPTIVE,), encode, decode, {**DEFAULTS, "adaptive_thresholds_db": list(ADAPTIVE_THRESHOLDS_DB)},
    {ADAPTIVE: "GVSC adaptive: Desc Only, Sketch+Desc or First Frame+Desc by the SNR fed back to the transmitter"})
