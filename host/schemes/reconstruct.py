"""The receiver's last step: pick a video decoder for what arrived and rebuild the clip.

``decoder`` (a scheme parameter) chooses:

* ``"auto"`` (default): the first generative decoder of the scheme's preference list whose
  weights are configured locally (:func:`semcom_models.model_paths.resolve_model_path` finds
  them; nothing is downloaded), else the weight-free fallback for what arrived:
  keyframes (or a first frame) -> ``interpolating`` (optical flow, motion side information
  when sent); sketches only -> ``sketch-render`` (the received edge maps drawn as dark lines on
  white, nearest sketch per frame); text only -> ``none`` (mid-grey frames: without a generative
  model a caption cannot be drawn);
* a registered decoder name (``ltx-video``, ``wan2.1-vace``, ``sketch+ltx-video``, ...,
  :mod:`semcom_models.decoders.registry`), loaded from ``decoder_path`` or the configured path;
* ``"interpolating"`` / ``"repetition"``: the weight-free decoders, whatever is configured.

Built decoders are cached per process (a generative model loads once per service).
"""
from __future__ import annotations

import numpy as np

from semcom_models.decoders.base import Capability, Conditioning, DecodedVideo

from .common import cached

__all__ = ["WEIGHT_FREE", "reconstruct", "render_sketches"]

WEIGHT_FREE = ("interpolating", "repetition", "sketch-render", "none")


def _configured(name: str) -> bool:
    from semcom_models.model_paths import ModelNotFoundError, resolve_model_path

    base = name.split("+", 1)[-1]
    try:
        resolve_model_path(base)
    except (ModelNotFoundError, KeyError, ValueError):
        return False
    return True


def _build(name: str, path: str):
    from semcom_models.decoders.registry import build_decoder

    return cached(("decoder", name, path), lambda: build_decoder(name, path or None))


def render_sketches(sketches: dict[int, np.ndarray], num_frames: int, height: int, width: int) -> np.ndarray:
    """Sketches (uint8 h x w, 255 = edge) as frames: edges dark on white, each frame showing the
    nearest sketch in time (the earlier one on a tie), resized to height x width."""
    from semcom_models.video_io import resize_frame

    keys = np.array(sorted(sketches))
    drawn = {k: np.repeat((255 - resize_frame(sketches[k], (height, width)))[..., None], 3, axis=2)
             for k in keys}
    out = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        out[t] = drawn[int(keys[np.argmin(np.abs(keys - t))])]
    return out


def reconstruct(cond: Conditioning, params: dict, preferences: tuple[str, ...] = ()) -> tuple[np.ndarray, str, float]:
    """Rebuild ``cond``'s clip; returns (uint8 T x H x W x 3 frames, decoder name, seconds).

    ``preferences``: the generative decoders that fit the scheme, best first, tried by "auto".
    A decoder named explicitly must be able to use what arrived, else ValueError.
    """
    import time

    choice = str(params.get("decoder", "auto") or "auto")
    path = str(params.get("decoder_path", "") or "")
    cond.seed = int(params.get("seed", cond.seed))
    t0 = time.perf_counter()
    if choice == "auto":
        for name in preferences:
            if _configured(name):
                choice = name
                break
        else:
            choice = "interpolating" if cond.keyframes else ("sketch-render" if cond.sketches else "none")
    if choice == "none":
        frames = np.full((cond.num_frames, cond.height, cond.width, 3), 128, np.uint8)
        return frames, "none", time.perf_counter() - t0
    if choice == "sketch-render":
        if not cond.sketches:
            raise ValueError("decoder sketch-render needs sketches, and none arrived")
        return (render_sketches(cond.sketches, cond.num_frames, cond.height, cond.width), "sketch-render",
                time.perf_counter() - t0)
    if choice in ("interpolating", "repetition"):
        if not cond.keyframes:
            raise ValueError(f"decoder {choice} needs at least one frame, and none arrived")
        if choice == "repetition":
            cond.motion = None
    dec = _build(choice, path)
    caps = dec.capabilities
    usable = ((cond.caption and Capability.TEXT in caps) or (cond.keyframes and caps & (
        Capability.KEYFRAMES | Capability.FIRST_FRAME | Capability.FIRST_LAST)) or
        (cond.sketches and Capability.SKETCHES in caps))
    if not usable:
        raise ValueError(f"decoder {choice} ({caps}) cannot use what arrived")
    out: DecodedVideo = dec.decode(cond)
    return out.frames, choice, time.perf_counter() - t0
