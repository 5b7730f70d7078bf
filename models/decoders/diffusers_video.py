"""Common machinery of the diffusers video decoders (LTX-Video, Wan, CogVideoX, SVD).

:class:`DiffusersVideoDecoder` loads a pipeline from a local folder only, cuts the requested
video into segments the model supports (:mod:`semcom_models.segments`), generates each segment
with a seeded ``torch.Generator`` and joins them. Subclasses say which pipeline to load, which
frame counts and sizes it generates, and how to call it for one segment (:meth:`_generate`).

Conventions:

* Output frames are uint8 T x H x W x 3 at the conditioning's size. The model generates at
  ``gen_size`` (the conditioning's size rounded up to the model's multiple, a fixed native size,
  or the ``gen_size`` option) and its frames are resized back with bicubic interpolation.
* Segment n is generated with ``torch.Generator("cpu").manual_seed(cond.seed + n)``: the same
  conditioning and seed give the same video, on any device.
* Segment n's prompt is the caption of the semantic segment it overlaps most
  (:meth:`Conditioning.prompt_for`); with DSA the semantic segments' starts are generation
  boundaries, so each is generated on its own, at its own length.
* Consecutive segments share a frame. When the model takes a first frame and the next segment
  has no keyframe at its start, it starts from the last frame generated for the previous one.
* Keyframes are placed at the generated frame that becomes their output frame. A segment with a
  conditioned frame after its first is mapped back by resampling (ends kept); otherwise the
  first ``length`` generated frames are kept (motion at the model's own speed).
"""
from __future__ import annotations

import math
import os
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from semcom_models import model_paths
from semcom_models.decoders.base import Capability, Conditioning, VideoDecoder
from semcom_models.segments import LengthRule, Segment, fit_length, generated_index, plan_segments, stitch


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of uint8 frames: T x H x W x C video, H x W x C image or H x W map (sketch).
    Returns the input when it already has that size."""
    from PIL import Image

    frames = np.asarray(frames)
    if frames.ndim not in (2, 3, 4):
        raise ValueError(f"expected H x W, H x W x C or T x H x W x C, got shape {frames.shape}")
    hw = frames.shape[:2] if frames.ndim in (2, 3) else frames.shape[1:3]
    if hw == (height, width):
        return frames
    if frames.ndim == 4:
        return np.stack([resize_frames(f, height, width) for f in frames])
    return np.asarray(Image.fromarray(frames).resize((width, height), Image.BICUBIC))


def to_pil(image: np.ndarray, height: int, width: int) -> Any:
    """uint8 H x W x 3 (or H x W) -> PIL image of the given size."""
    from PIL import Image

    return Image.fromarray(resize_frames(np.ascontiguousarray(image), height, width))


def float_to_uint8(frames: Any) -> np.ndarray:
    """Frames in [0, 1] (numpy or torch, any float dtype) -> uint8 by rounding."""
    a = frames.detach().float().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames, dtype=np.float32)
    return np.clip(np.floor(a * 255.0 + 0.5), 0, 255).astype(np.uint8)


def round_up(n: int, multiple: int) -> int:
    return int(math.ceil(n / multiple) * multiple)


@dataclass
class SegmentJob:
    """What :meth:`DiffusersVideoDecoder._generate` gets for one segment.

    images: generated frame index -> PIL image at the generation size (keyframes, or the
      previous segment's last frame at index 0).
    sketches: generated frame index -> uint8 gen_h x gen_w edge map (255 = edge).
    """

    segment: Segment
    num_frames: int
    height: int
    width: int
    prompt: str
    fps: float
    images: dict[int, Any]
    sketches: dict[int, np.ndarray]
    generator: Any


class DiffusersVideoDecoder(VideoDecoder):
    """Base of the diffusers decoders. Subclasses set ``model_name`` (the default name looked up
    by :func:`~semcom_models.model_paths.resolve_model_path`), ``capabilities`` and implement
    :meth:`_load_pipeline`, :meth:`length_rule` and :meth:`_generate`.

    Options (all keyword): path (explicit model folder), model_name, config (model config file),
    num_inference_steps (50, GVSC's setting), guidance_scale (None: the pipeline's default),
    negative_prompt, device, dtype, cpu_offload (diffusers model CPU offload on a GPU machine),
    max_frames (cap on frames per pass), gen_size ((height, width) to generate at),
    pipeline_kwargs (extra keyword arguments for every pipeline call).
    """

    model_name: str = ""
    size_multiple: int = 16
    # Which frames of a segment the model can be given: "none" (text only: no keyframes, no
    # chaining), "first", "first_last" or "any". "first" and "first_last" models get segments cut
    # at the keyframes; "any" models get the keyframes where they fall.
    frame_slots: str = "first"

    def __init__(self, path: str | os.PathLike | None = None, *, model_name: str | None = None,
                 config: str | os.PathLike | None = None, num_inference_steps: int = 50,
                 guidance_scale: float | None = None, negative_prompt: str | None = None,
                 device: str | None = None, dtype: Any = None, cpu_offload: bool = False,
                 max_frames: int | None = None, gen_size: tuple[int, int] | None = None,
                 pipeline_kwargs: dict[str, Any] | None = None):
        name = model_name or self.model_name
        self.path = model_paths.resolve_model_path(name, path, config=config)
        self.device, self.dtype = model_paths.torch_device_dtype(device, dtype)
        self.num_inference_steps = num_inference_steps
        self.guidance_scale = guidance_scale
        self.negative_prompt = negative_prompt
        self.max_frames = max_frames
        self.gen_size = gen_size
        self.pipeline_kwargs = dict(pipeline_kwargs or {})
        self.pipe = self._load_pipeline(self.path)
        if cpu_offload:
            self.pipe.enable_model_cpu_offload()
        else:
            self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)

    # ---- what subclasses provide --------------------------------------------------------------
    @abstractmethod
    def _load_pipeline(self, path: os.PathLike) -> Any:
        """The diffusers pipeline at ``path`` (use :func:`model_paths.from_pretrained`)."""

    @abstractmethod
    def length_rule(self) -> LengthRule:
        """Frame counts one pipeline call generates (read from the loaded model's config)."""

    def native_size(self) -> tuple[int, int] | None:
        """A size the model must generate at (learned position embeddings), else None."""
        return None

    @abstractmethod
    def _generate(self, job: SegmentJob) -> np.ndarray:
        """Frames in [0, 1], job.num_frames x job.height x job.width x 3, for one segment."""

    def check(self, cond: Conditioning) -> None:
        """Raise ValueError for a conditioning this model cannot start from."""

    # ---- shared pipeline-call helpers -----------------------------------------------------------
    def _common_kwargs(self, job: SegmentJob) -> dict[str, Any]:
        kw: dict[str, Any] = dict(num_inference_steps=self.num_inference_steps, generator=job.generator,
                                  output_type="np", height=job.height, width=job.width, num_frames=job.num_frames)
        if self.guidance_scale is not None:
            kw["guidance_scale"] = self.guidance_scale
        kw.update(self.pipeline_kwargs)
        return kw

    def _text_kwargs(self, job: SegmentJob) -> dict[str, Any]:
        kw: dict[str, Any] = {"prompt": job.prompt}
        if self.negative_prompt is not None:
            kw["negative_prompt"] = self.negative_prompt
        return kw

    # ---- the decoding loop --------------------------------------------------------------------
    def generation_size(self, cond: Conditioning) -> tuple[int, int]:
        if self.gen_size is not None:
            h, w = self.gen_size
        else:
            native = self.native_size()
            h, w = native if native is not None else (cond.height, cond.width)
        m = self.size_multiple
        return max(m, round_up(h, m)), max(m, round_up(w, m))

    def plan(self, cond: Conditioning) -> list[Segment]:
        """The segments of ``cond``'s video: keyframes are boundaries where the model needs them, and
        with DSA so are the starts of the semantic segments (each generated at its own length, split
        where it exceeds the model's longest)."""
        bounds = set(cond.keyframes) if self.frame_slots in ("first", "first_last") else set()
        if cond.adaptation == "dsa":
            bounds |= {s.start for s in cond.segments}
        return plan_segments(cond.num_frames, self.length_rule(), sorted(bounds), self.max_frames)

    def _usable(self, local: dict[int, Any], length: int) -> dict[int, Any]:
        """The conditioning frames of a segment the model can take (by ``frame_slots``)."""
        slots = {"none": set(), "first": {0}, "first_last": {0, length - 1}}.get(self.frame_slots)
        return dict(local) if slots is None else {i: f for i, f in local.items() if i in slots}

    def _decode(self, cond: Conditioning) -> np.ndarray:
        import torch

        self.check(cond)
        gh, gw = self.generation_size(cond)
        segments = self.plan(cond)
        pieces: list[np.ndarray] = []
        calls: list[dict] = []
        prev_last: np.ndarray | None = None
        for n, seg in enumerate(segments):
            local_kf = {seg.local(i): f for i, f in sorted(cond.keyframes.items()) if seg.contains(i)}
            if 0 not in local_kf and prev_last is not None:
                local_kf[0] = prev_last
            local_kf = self._usable(local_kf, seg.length)
            local_sk = {}
            if Capability.SKETCHES in self.capabilities:
                local_sk = {seg.local(i): s for i, s in sorted(cond.sketches.items()) if seg.contains(i)}
            mode = "resample" if any(i > 0 for i in [*local_kf, *local_sk]) else "trim"

            def at(i: int) -> int:
                return generated_index(i, seg.length, seg.gen_frames) if mode == "resample" else i

            job = SegmentJob(
                segment=seg, num_frames=seg.gen_frames, height=gh, width=gw,
                prompt=cond.prompt_for(seg.start, seg.stop),
                fps=cond.fps, images={at(i): to_pil(f, gh, gw) for i, f in local_kf.items()},
                sketches={at(i): resize_frames(s, gh, gw) for i, s in local_sk.items()},
                generator=torch.Generator("cpu").manual_seed(int(cond.seed) + n))
            calls.append({"start": seg.start, "stop": seg.stop, "gen_frames": seg.gen_frames, "prompt": job.prompt,
                          "images_at": sorted(job.images), "sketches_at": sorted(job.sketches),
                          "seed": int(cond.seed) + n})
            with torch.inference_mode():
                frames = float_to_uint8(self._generate(job))
            if frames.shape != (seg.gen_frames, gh, gw, 3):
                raise RuntimeError(f"{self.name}: pipeline returned {frames.shape}, expected "
                                   f"{(seg.gen_frames, gh, gw, 3)}")
            piece = fit_length(frames, seg.length, mode)
            prev_last = piece[-1]
            pieces.append(piece)
        video = stitch(pieces, segments, cond.num_frames)
        notes = {"segments": calls, "gen_size": (gh, gw), "adaptation": cond.adaptation,
                 "num_inference_steps": self.num_inference_steps, "model_path": str(self.path)}
        return resize_frames(video, cond.height, cond.width), notes


def first_frame_required(name: str, cond: Conditioning) -> None:
    """ValueError unless ``cond`` has a keyframe at frame 0 (image-to-video models)."""
    if 0 not in cond.keyframes:
        raise ValueError(f"{name} generates from a first frame: give a keyframe at index 0 "
                         f"(got keyframes at {sorted(cond.keyframes)})")


__all__ = ["DiffusersVideoDecoder", "SegmentJob", "resize_frames", "to_pil", "float_to_uint8", "round_up",
           "first_frame_required"]
