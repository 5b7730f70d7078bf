"""What large models this machine has, and whether each one loads and runs: `semcom models`.

:func:`inventory` lists every model gr-semcom knows by name (:data:`semcom_models.model_paths.
KNOWN_MODELS`): where it is looked for, the variable that sets it, and whether it was found.
:func:`check_model` loads one configured model on the chosen device and runs one tiny forward
pass (a 1-step, few-frame generation for the video models; one token for the VLMs; one pair for
the metrics), timing it and measuring the process's peak memory growth. Nothing is downloaded.
"""
from __future__ import annotations

import resource
import time
from typing import Callable

import numpy as np

__all__ = ["inventory", "check_model", "PROBES"]


def inventory() -> list[dict]:
    """One entry per known model: ``name``, ``description``, ``env`` (the variable that sets its
    path), ``folder`` (its usual folder name under $SEMCOM_MODEL_DIR), ``path`` (None when not
    found) and ``why`` (where it was looked for, when not found)."""
    from semcom_models import model_paths as mp

    out = []
    for name, known in mp.KNOWN_MODELS.items():
        entry = {"name": name, "description": known.description, "env": mp.env_var(name), "folder": known.folder}
        try:
            entry["path"], entry["why"] = str(mp.resolve_model_path(name)), None
        except mp.ModelNotFoundError as exc:
            entry["path"], entry["why"] = None, str(exc)
        out.append(entry)
    return out


def _frame(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _probe_vlm(name: str, device: str | None) -> str:
    from semcom_models.captioners import VLMCaptioner

    cap = VLMCaptioner.load(name, device=device, max_new_tokens=1)
    return f"caption of one frame: {cap.caption(_frame()[None])!r}"


def _probe_decoder(name: str, device: str | None) -> str:
    from semcom_models.decoders.base import Conditioning
    from semcom_models.decoders.registry import build_decoder

    dec = build_decoder(name, num_inference_steps=1, device=device)
    frames = dec.length_rule().at_least(1)
    keyframes = {0: _frame()}
    if dec.frame_slots == "first_last":     # Wan FLF2V's transformer takes exactly two image embeddings
        keyframes[frames - 1] = _frame(seed=1)
    cond = Conditioning(frames, 64, 64, caption="a test pattern", keyframes=keyframes)
    out = dec.decode(cond)
    return f"{out.frames.shape[0]} frames of 64 x 64 in one step"


def _probe_sd35(name: str, device: str | None) -> str:
    from semcom_models.decoders.sd35_controlnet import SD35ControlNetImageGenerator

    gen = SD35ControlNetImageGenerator(num_inference_steps=1, device=device)
    img = gen.generate(np.zeros((64, 64), np.uint8), "a test pattern", 0)
    return f"one {img.shape[0]} x {img.shape[1]} image in one step"


def _probe_clip(name: str, device: str | None) -> str:
    from semcom_host.eval.clip_score import load_clip

    sim = load_clip(device=device, cache=False).image_similarity(_frame(), _frame(seed=1))
    return f"image-image cosine {float(sim):.3f}"


def _probe_bertscore(name: str, device: str | None) -> str:
    from semcom_host.eval.text_metrics import load_bertscore

    f = load_bertscore(cache=False).score_one("a dog runs", ["a dog is running"]).f
    return f"BERTScore F1 {f:.3f}"


def _probe_perceptual(name: str, device: str | None) -> str:
    from semcom_host.eval import perceptual

    model = perceptual.load_dists(device=device) if name == "dists" else \
        perceptual.load_lpips(name.split("-", 1)[1], device=device)
    return f"distance {float(np.mean(model.distance(_frame(), _frame(seed=1)))):.3f}"


def _probe_annotators(name: str, device: str | None) -> str:
    from semcom_models.sketch import extract_sketch

    shapes = [extract_sketch(_frame(), method).shape for method in ("pidinet", "hed")]
    return f"PiDiNet and HED sketches of one frame: {shapes}"


#: model name -> probe(name, device) -> a one-line result; names without one are only located
PROBES: dict[str, Callable[[str, str | None], str]] = {
    **dict.fromkeys(("qwen2.5-vl", "qwen2-vl", "llava-onevision", "internvl3"), _probe_vlm),
    **dict.fromkeys(("ltx-video", "wan2.1-i2v", "wan2.1-flf2v", "wan2.1-vace", "cogvideox", "cogvideox-i2v", "svd"),
                    _probe_decoder),
    "sd3.5": _probe_sd35,
    "annotators": _probe_annotators,
    "clip": _probe_clip,
    "bertscore": _probe_bertscore,
    **dict.fromkeys(("lpips-alex", "lpips-vgg", "dists"), _probe_perceptual),
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def check_model(name: str, device: str | None = None) -> dict:
    """Load model ``name`` and run its probe: ``{"name", "ok", "seconds", "peak_rss_growth_mb",
    "result" or "error"}``; ``ok`` None when the model has no probe (only located)."""
    from semcom_models import model_paths as mp

    if name not in mp.KNOWN_MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(mp.KNOWN_MODELS)}")
    out: dict = {"name": name}
    probe = PROBES.get(name)
    if probe is None:
        out.update(ok=None, result="no probe: located only (see `semcom models list`)")
        return out
    before, t0 = _peak_rss_mb(), time.perf_counter()
    try:
        out.update(ok=True, result=probe(name, device))
    except Exception as exc:  # noqa: BLE001 - the report says what failed, the command's exit status too
        out.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["peak_rss_growth_mb"] = round(_peak_rss_mb() - before, 1)
    return out
