"""The receiver's last step: pick a video decoder for what arrived and rebuild the clip.

``decoder`` (a scheme parameter) chooses:

* ``"auto"`` (default): a fallback chain. The scheme's generative decoders, best first, then the
  weight-free ones; each is skipped, with its reason, when its weights are not configured
  locally (:func:`semcom_models.model_paths.resolve_model_path`; nothing is downloaded), when it
  fails to load (a composite's component missing), when it cannot use what arrived (keyframe 0
  lost for an image-to-video model, no sketch for a sketch model, no text for a text-only
  one) or when it fails while generating. The weight-free end of the chain always produces a
  video: keyframes (or a first frame) -> ``interpolating`` (optical flow, each semantic segment's
  motion side information); sketches only -> ``sketch-render`` (the received edge maps drawn as
  dark lines on white, nearest sketch per frame); nothing usable -> ``none`` (mid-grey frames:
  without a generative model a caption cannot be drawn). A lost unit never raises.
* a registered decoder name (``ltx-video``, ``wan2.1-vace``, ``sketch+ltx-video``, ...,
  :mod:`semcom_models.decoders.registry`), loaded from ``decoder_path`` or the configured path:
  it must be able to use what arrived, else ValueError;
* ``"interpolating"`` / ``"repetition"``: the weight-free decoders, whatever is configured.

``decoder_preferences`` (a list of decoder names) go in front of the scheme's own in the "auto"
chain (a preset preferring a fast model still falls back when its weights are absent).
``decoder_options`` (a map) go to the generative decoder's constructor: num_inference_steps,
guidance_scale, negative_prompt, dtype, device, cpu_offload, gen_size, max_frames, ... (unknown
names are a ValueError listing the known ones); ``seed`` is every decoder's seed (GVSC's 7777).
Built decoders are cached per process (a generative model loads once per service).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from semcom_models.decoders.base import Capability, Conditioning

from .common import cached

__all__ = ["WEIGHT_FREE", "Reconstruction", "reconstruct", "render_sketches"]

WEIGHT_FREE = ("interpolating", "repetition", "sketch-render", "none")
log = logging.getLogger("semcom.reconstruct")


@dataclass
class Reconstruction:
    """The rebuilt clip: uint8 T x H x W x 3 ``frames``, the ``decoder`` that made them, wall
    ``seconds``, the ``chain`` tried in order (``{"name"}`` for the one used, ``{"name", "reason"}``
    for each skipped) and the decoder's ``notes`` (segments with their prompts, ...)."""

    frames: np.ndarray
    decoder: str
    seconds: float
    chain: list[dict] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def report(self, fps: float) -> dict:
        """The report fields of this reconstruction (``seconds_per_generated_second`` at ``fps``)."""
        n = self.frames.shape[0]
        return {"decoder": self.decoder, "decoder_chain": self.chain,
                "seconds_per_generated_second": self.seconds / (n / fps) if fps > 0 and n else None,
                "decoder_notes": {k: v for k, v in self.notes.items() if k != "fps"}}


def _configured(name: str, options: dict | None = None) -> bool:
    """Whether decoder ``name``'s weights are found locally (its ``model_name`` option names the
    checkpoint when given, e.g. a distilled variant)."""
    from semcom_models.model_paths import ModelNotFoundError, resolve_model_path

    base = (options or {}).get("model_name") or name.split("+", 1)[-1]
    try:
        resolve_model_path(base)
    except (ModelNotFoundError, KeyError, ValueError):
        return False
    return True


def _build(name: str, path: str, options: dict | None = None):
    from semcom_models.decoders.registry import build_decoder

    options = dict(options or {})
    key = ("decoder", name, path, repr(sorted(options.items())))
    return cached(key, lambda: build_decoder(name, path or None, **options))


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


def _unusable(dec, cond: Conditioning) -> str | None:
    """Why decoder ``dec`` cannot use what arrived in ``cond`` (None: it can)."""
    caps = dec.capabilities
    usable = ((cond.has_text and Capability.TEXT in caps) or (cond.keyframes and caps & (
        Capability.KEYFRAMES | Capability.FIRST_FRAME | Capability.FIRST_LAST)) or
        (cond.sketches and Capability.SKETCHES in caps))
    if not usable:
        return f"cannot use what arrived ({caps})"
    check = getattr(dec, "check", None)
    if check is not None:
        try:
            check(cond)
        except ValueError as exc:
            return str(exc)
    return None


def _options(params: dict, names) -> dict[str, dict]:
    """Decoder name -> the ``decoder_options`` it takes, for ``names``; ValueError (listing the
    known options) for an option none of them takes."""
    from semcom_models.decoders.registry import check_decoder_options, decoder_options

    opts = dict(params.get("decoder_options") or {})
    names = list(names)
    if not isinstance(params.get("decoder_options") or {}, dict):
        raise ValueError("decoder_options must be a map of decoder constructor options")
    taken = {n: set(decoder_options(n)) for n in names}
    unknown = sorted(set(opts) - set().union(*taken.values())) if names else sorted(opts)
    if unknown:
        if len(names) == 1:
            check_decoder_options(names[0], opts)  # raises, listing that decoder's options
        known = sorted(set().union(*taken.values()))
        raise ValueError(f"no decoder of {names} takes the options {unknown}; known: {', '.join(known)}")
    return {n: {k: v for k, v in opts.items() if k in taken[n]} for n in names}


def _weight_free(cond: Conditioning) -> tuple[str, np.ndarray | None]:
    """The end of the chain for what arrived: (name, frames or None to decode with it)."""
    if cond.keyframes:
        return "interpolating", None
    if cond.sketches:
        return "sketch-render", render_sketches(cond.sketches, cond.num_frames, cond.height, cond.width)
    return "none", np.full((cond.num_frames, cond.height, cond.width, 3), 128, np.uint8)


def reconstruct(cond: Conditioning, params: dict, preferences: tuple[str, ...] = ()) -> Reconstruction:
    """Rebuild ``cond``'s clip (see the module docstring).

    ``preferences``: the generative decoders that fit the scheme, best first, tried by "auto".
    A decoder named explicitly must be able to use what arrived, else ValueError.
    """
    choice = str(params.get("decoder", "auto") or "auto")
    path = str(params.get("decoder_path", "") or "")
    cond.seed = int(params.get("seed", cond.seed))
    t0 = time.perf_counter()
    chain: list[dict] = []
    if choice == "auto":
        preferred = [str(n) for n in (params.get("decoder_preferences") or [])]
        preferences = tuple(dict.fromkeys([*preferred, *preferences]))
        options = _options(params, preferences)
        for name in preferences:
            if not _configured(name, options[name]):
                chain.append({"name": name, "reason": "weights not configured (semcom models list)"})
                continue
            try:
                dec = _build(name, path, options[name])
            except Exception as exc:  # noqa: BLE001 - a missing component, a broken checkpoint
                chain.append({"name": name, "reason": f"could not load: {type(exc).__name__}: {exc}"})
                continue
            why = _unusable(dec, cond)
            if why:
                chain.append({"name": name, "reason": why})
                continue
            try:
                out = dec.decode(cond)
            except Exception as exc:  # noqa: BLE001 - fall back rather than lose the clip
                log.exception("decoder %s failed; falling back", name)
                chain.append({"name": name, "reason": f"failed: {type(exc).__name__}: {exc}"})
                continue
            chain.append({"name": name})
            return Reconstruction(out.frames, name, time.perf_counter() - t0, chain, out.notes)
        choice, frames = _weight_free(cond)
        if frames is not None:
            chain.append({"name": choice})
            return Reconstruction(frames, choice, time.perf_counter() - t0, chain)
        out = _build(choice, path).decode(cond)  # the weight-free end: the generative options are not its
        return Reconstruction(out.frames, choice, time.perf_counter() - t0, chain + [{"name": choice}], out.notes)
    if choice == "none":
        frames = np.full((cond.num_frames, cond.height, cond.width, 3), 128, np.uint8)
        return Reconstruction(frames, "none", time.perf_counter() - t0, chain + [{"name": "none"}])
    if choice == "sketch-render":
        if not cond.sketches:
            raise ValueError("decoder sketch-render needs sketches, and none arrived")
        frames = render_sketches(cond.sketches, cond.num_frames, cond.height, cond.width)
        return Reconstruction(frames, "sketch-render", time.perf_counter() - t0, chain + [{"name": "sketch-render"}])
    if choice in ("interpolating", "repetition"):
        if not cond.keyframes:
            raise ValueError(f"decoder {choice} needs at least one frame, and none arrived")
        if choice == "repetition":
            cond.motion = None
            cond.segments = [dataclasses.replace(s, motion=None) for s in cond.segments]
    dec = _build(choice, path, _options(params, [choice])[choice])
    why = _unusable(dec, cond)
    if why:
        raise ValueError(f"decoder {choice}: {why}")
    out = dec.decode(cond)
    return Reconstruction(out.frames, choice, time.perf_counter() - t0, chain + [{"name": choice}], out.notes)
