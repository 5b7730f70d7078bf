"""Decoders by name: what each can condition on, and building one from local weights.

``build_decoder(name, path=None, **opts)`` returns a ready :class:`VideoDecoder`; ``path`` is the
model folder (for ``opensora``, the repository checkout), else it is resolved by
:mod:`semcom_models.model_paths`. ``opts`` go to the decoder's constructor (num_inference_steps,
guidance_scale, device, dtype, ...).

``"sketch+<name>"`` is SD3.5 + ControlNet feeding decoder ``<name>`` (which must take a first
frame): ``build_decoder("sketch+ltx-video", sketch_opts={...}, **ltx_opts)``, where
``sketch_opts`` go to :class:`SD35ControlNetImageGenerator` (base_path, controlnet_path, ...).

Other modules add their decoders with :func:`register_decoder`.
"""
from __future__ import annotations

import inspect
import os
from typing import Any

from semcom_models.decoders.base import Capability, VideoDecoder
from semcom_models.decoders.cogvideox import CogVideoXDecoder, CogVideoXImageToVideoDecoder
from semcom_models.decoders.interpolating import FrameRepetitionDecoder, InterpolatingDecoder
from semcom_models.decoders.ltx import LTXVideoDecoder
from semcom_models.decoders.opensora import OpenSoraDecoder
from semcom_models.decoders.sd35_controlnet import SD35ControlNetImageGenerator, SketchThenAnimateDecoder
from semcom_models.decoders.svd import SVDDecoder
from semcom_models.decoders.wan import WanFirstLastDecoder, WanImageToVideoDecoder, WanVACEDecoder

SKETCH_PREFIX = "sketch+"

_REGISTRY: dict[str, type[VideoDecoder]] = {
    # weight-free: optical-flow interpolation between keyframes, and its frame-repetition baseline
    "interpolating": InterpolatingDecoder,
    "repetition": FrameRepetitionDecoder,
    "ltx-video": LTXVideoDecoder,
    "wan2.1-i2v": WanImageToVideoDecoder,
    "wan2.1-flf2v": WanFirstLastDecoder,
    "wan2.1-vace": WanVACEDecoder,
    "cogvideox": CogVideoXDecoder,
    "cogvideox-i2v": CogVideoXImageToVideoDecoder,
    "svd": SVDDecoder,
    "opensora": OpenSoraDecoder,
}


def register_decoder(name: str, cls: type[VideoDecoder]) -> None:
    """Make ``cls`` buildable as ``name`` (its constructor takes the model path first, or nothing)."""
    if not (isinstance(cls, type) and issubclass(cls, VideoDecoder)):
        raise TypeError(f"{cls!r} is not a VideoDecoder subclass")
    if name.startswith(SKETCH_PREFIX):
        raise ValueError(f"names starting with {SKETCH_PREFIX!r} are reserved for sketch-then-animate")
    _REGISTRY[name] = cls


def decoder_names() -> list[str]:
    """Registered decoder names (``sketch+<name>`` composites not listed)."""
    return sorted(_REGISTRY)


def decoder_class(name: str) -> type[VideoDecoder]:
    """The class registered as ``name``; KeyError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown decoder {name!r}; known: {', '.join(decoder_names())} "
                       f"(and {SKETCH_PREFIX}<name> for those taking a first frame)") from None


def capabilities(name: str) -> Capability:
    """What decoder ``name`` (or ``sketch+<name>``) can condition on, without loading it."""
    if name.startswith(SKETCH_PREFIX):
        inner = capabilities(name[len(SKETCH_PREFIX):])
        if Capability.FIRST_FRAME not in inner:
            raise ValueError(f"{name}: {name[len(SKETCH_PREFIX):]} cannot start from a frame")
        return inner | Capability.SKETCHES
    return decoder_class(name).capabilities


def list_decoders() -> dict[str, Capability]:
    """Every registered decoder with its capabilities."""
    return {n: capabilities(n) for n in decoder_names()}


def decoder_options(name: str) -> list[str]:
    """The keyword options decoder ``name``'s constructor takes (``sketch+<name>``: its inner
    decoder's plus ``sketch_opts``), without loading anything."""
    if name.startswith(SKETCH_PREFIX):
        return sorted({*decoder_options(name[len(SKETCH_PREFIX):]), "sketch_opts"})
    names: set[str] = set()
    for klass in decoder_class(name).__mro__:  # a constructor passing **kwargs on takes its bases' options too
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters
        names |= {n for n, p in params.items() if n not in ("self", "path")
                  and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break
    return sorted(names)


def check_decoder_options(name: str, opts: dict) -> dict:
    """``opts`` if decoder ``name`` takes every one of them; ValueError listing the known ones."""
    if not isinstance(opts, dict):
        raise ValueError(f"decoder options must be a map, got {type(opts).__name__}")
    known = decoder_options(name)
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise ValueError(f"decoder {name} has no options {unknown}; known: {', '.join(known) or 'none'}")
    return dict(opts)


def build_decoder(name: str, path: str | os.PathLike | None = None, **opts: Any) -> VideoDecoder:
    """A decoder ready to ``decode``; weights are loaded from local folders only."""
    if name.startswith(SKETCH_PREFIX):
        capabilities(name)   # validates the inner decoder before anything loads
        sketch_opts = dict(opts.pop("sketch_opts", None) or {})
        video = build_decoder(name[len(SKETCH_PREFIX):], path, **opts)
        return SketchThenAnimateDecoder(SD35ControlNetImageGenerator(**sketch_opts), video)
    cls = decoder_class(name)
    return cls(path, **opts) if path is not None else cls(**opts)
