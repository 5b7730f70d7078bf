"""A video as Qwen2-VL / Qwen2.5-VL see it: frame sampling, resizing to the patch grid, patches.

This is the video path of the Qwen2-VL processor (``Qwen2VLVideoProcessor`` and, for Qwen2.5-VL,
``Qwen2_5_VLProcessor``'s ``second_per_grid_ts``), written with numpy and PIL only: transformers'
own video processor imports torchvision, which this project does without.

Conventions and units:

* a :class:`Video` holds uint8 T x H x W x 3 (RGB) frames and ``fps``, the frames per second at
  which they were captured (the clip's rate); frame indices count from 0;
* sampling (:func:`sample_frame_indices`): ``num_frames`` frames, or ``sample_fps`` frames per
  second of video, taken at ``floor(k * T / n)``, k = 0..n-1 (transformers' uniform sampling);
  the rate of the sampled frames is ``sampled_fps = n / T * fps`` frames per second;
* every sampled frame is resized (PIL bicubic, as the image path) to H' x W', both multiples of
  ``patch_size * merge_size`` (28 pixels for Qwen), with ``min_pixels <= H' W' <= max_pixels``
  (:func:`smart_resize`); with ``max_video_tokens`` set, the per-frame budget is also capped at an
  even share of 90 % of that many tokens (qwen-vl-utils' total-pixel cap);
* pixel values are ``(x / 255 - mean) / std`` per channel, float32;
* frames are grouped ``temporal_patch_size`` (2) at a time: an odd count is padded by repeating
  the last frame. The grid is ``(t, h, w) = (n' / 2, H' / 14, W' / 14)`` patches, n' the padded
  count; ``pixel_values_videos`` is (t h w) x (3 * 2 * 14 * 14), rows ordered (t, h / 2, w / 2,
  2, 2) as transformers orders them, columns (channel, frame in the pair, row, column);
* the language model sees ``t * h * w / merge_size**2`` ``<|video_pad|>`` tokens, and for
  Qwen2.5-VL ``second_per_grid_ts = temporal_patch_size / sampled_fps`` seconds per temporal
  patch (its temporal position ids step by ``tokens_per_second`` times that).

Where this differs from transformers 5 (on purpose): a frame count ``num_frames`` is taken as
given (at most T) and padded to even, where transformers rounds it to a multiple of 2 and refuses
more than T; a video shorter than 2 frames is sampled as 1 frame (padded), where transformers
samples none; defaults without a ``video_preprocessor_config.json`` are qwen-vl-utils' video
limits (128 to 768 28 x 28 tiles per frame, 2 fps, total cap on), where transformers falls back
to the image limits with no total cap.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: the rate assumed for a video whose fps is not given (transformers' VideoMetadata assumes 24)
ASSUMED_VIDEO_FPS = 24.0
#: frames per second sampled from a video unless told otherwise (Qwen's and qwen-vl-utils' default)
DEFAULT_SAMPLE_FPS = 2.0
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Video:
    """One video of a chat turn: ``frames`` uint8 T x H x W x 3, captured at ``fps`` frames per
    second (None: :data:`ASSUMED_VIDEO_FPS`). ``num_frames`` (a count) or ``sample_fps`` (frames
    per second) choose the frames the model sees; neither: the adapter's default sampling rate."""

    frames: np.ndarray
    fps: float | None = None
    sample_fps: float | None = None
    num_frames: int | None = None

    def __post_init__(self) -> None:
        a = np.asarray(self.frames)
        if a.dtype != np.uint8 or a.ndim != 4 or a.shape[3] != 3 or a.shape[0] < 1:
            raise ValueError(f"video frames must be uint8 T x H x W x 3 (T >= 1), got {a.dtype} {a.shape}")
        object.__setattr__(self, "frames", a)
        for name in ("fps", "sample_fps"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number of frames per second, got {v!r}")
        if self.num_frames is not None and int(self.num_frames) < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.num_frames is not None and self.sample_fps is not None:
            raise ValueError("give num_frames or sample_fps, not both")


@dataclass(frozen=True)
class VideoOptions:
    """The video preprocessing parameters of a Qwen-VL checkpoint (pixels are counts of pixels per
    frame, ``min_frames``/``max_frames`` bound fps-based sampling, ``sample_fps`` in frames per
    second). ``max_video_tokens=None`` turns the total-pixel cap off."""

    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 128 * 28 * 28
    max_pixels: int = 768 * 28 * 28
    max_video_tokens: int | None = 128000
    min_frames: int = 4
    max_frames: int = 768
    sample_fps: float = DEFAULT_SAMPLE_FPS
    image_mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    image_std: tuple[float, float, float] = OPENAI_CLIP_STD

    @property
    def factor(self) -> int:
        """Side of one merged token in pixels (28 for Qwen)."""
        return self.patch_size * self.merge_size

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike | None, image_processor: Any = None) -> "VideoOptions":
        """The options of the checkpoint folder ``path``: its ``video_preprocessor_config.json``
        (or the ``video_processor`` entry of ``processor_config.json``) where it has one, the patch
        geometry and normalisation of ``image_processor`` otherwise, the class defaults for the rest."""
        kw: dict[str, Any] = {}
        if image_processor is not None:
            for name in ("patch_size", "merge_size", "temporal_patch_size"):
                if getattr(image_processor, name, None):
                    kw[name] = int(getattr(image_processor, name))
            for name in ("image_mean", "image_std"):
                v = getattr(image_processor, name, None)
                if v is not None and len(v) == 3:
                    kw[name] = tuple(float(x) for x in v)
        cfg = _video_config(Path(path)) if path is not None else {}
        size = cfg.get("size") or {}
        lo = cfg.get("min_pixels") or size.get("shortest_edge")
        hi = cfg.get("max_pixels") or size.get("longest_edge")
        if lo:
            kw["min_pixels"] = int(lo)
        if hi:
            kw["max_pixels"] = int(hi)
        for name in ("patch_size", "merge_size", "temporal_patch_size", "min_frames", "max_frames"):
            if cfg.get(name):
                kw[name] = int(cfg[name])
        if cfg.get("fps"):
            kw["sample_fps"] = float(cfg["fps"])
        if "max_video_tokens" in cfg:
            kw["max_video_tokens"] = cfg["max_video_tokens"]
        for name in ("image_mean", "image_std"):
            if cfg.get(name) and len(cfg[name]) == 3:
                kw[name] = tuple(float(x) for x in cfg[name])
        return cls(**kw)


def _video_config(folder: Path) -> dict:
    """The video processor entries of a checkpoint folder ({} when it has none)."""
    proc = folder / "processor_config.json"
    if proc.is_file():
        data = json.loads(proc.read_text(encoding="utf-8"))
        if isinstance(data.get("video_processor"), dict):
            return data["video_processor"]
    vid = folder / "video_preprocessor_config.json"
    if vid.is_file():
        return json.loads(vid.read_text(encoding="utf-8"))
    return {}


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56,
                 max_pixels: int = 28 * 28 * 1280) -> tuple[int, int]:
    """(height, width) in pixels near the given ones, both multiples of ``factor``, whose product
    lies in [min_pixels, max_pixels], aspect ratio kept as well as the rounding allows (each side
    rounded to the nearest multiple, half to even, then scaled down or up together if the area is
    out of range). ValueError for an aspect ratio over 200."""
    if min(height, width) < 1:
        raise ValueError(f"frame size must be positive, got {height} x {width}")
    if max(height, width) > 200 * min(height, width):
        raise ValueError(f"aspect ratio must be at most 200, got {height} x {width}")
    h = factor * round(height / factor)
    w = factor * round(width / factor)
    if h * w > max_pixels:
        scale = math.sqrt(height * width / max_pixels)         # shrink both sides by this, round down
        h = max(factor, factor * math.floor(height / scale / factor))
        w = max(factor, factor * math.floor(width / scale / factor))
    elif h * w < min_pixels:
        scale = math.sqrt(min_pixels / (height * width))       # grow both sides by this, round up
        h = factor * math.ceil(height * scale / factor)
        w = factor * math.ceil(width * scale / factor)
    return h, w


def sample_frame_indices(total: int, fps: float | None = None, *, sample_fps: float | None = None,
                         num_frames: int | None = None, min_frames: int = 4, max_frames: int = 768,
                         temporal_patch_size: int = 2) -> np.ndarray:
    """Indices (int64, increasing) of the frames of a ``total``-frame video captured at ``fps``
    frames per second (None: :data:`ASSUMED_VIDEO_FPS`) that the model sees.

    ``num_frames``: that many (at most ``total``). Else ``sample_fps`` frames per second of video
    (default :data:`DEFAULT_SAMPLE_FPS`): ``total / fps * sample_fps`` frames, raised to
    ``min_frames``, capped at ``max_frames`` and ``total``, rounded down to a multiple of
    ``temporal_patch_size`` (never below 1). Frame k of n is ``floor(k * total / n)``."""
    if total < 1:
        raise ValueError(f"a video needs at least one frame, got {total}")
    if num_frames is not None and sample_fps is not None:
        raise ValueError("give num_frames or sample_fps, not both")
    if num_frames is not None:
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        n = min(int(num_frames), total)
    else:
        rate = float(sample_fps if sample_fps is not None else DEFAULT_SAMPLE_FPS)
        src = float(fps if fps is not None else ASSUMED_VIDEO_FPS)
        tp = temporal_patch_size
        cap = (min(max_frames, total) // tp) * tp
        wanted = min(max(total / src * rate, min_frames), cap, total)
        n = max(1, int(math.floor(wanted / tp)) * tp)
    return (np.arange(n, dtype=np.int64) * total) // n


def frame_size(height: int, width: int, n_frames: int, opts: VideoOptions) -> tuple[int, int]:
    """(H', W') in pixels to which each of ``n_frames`` sampled frames of height x width is resized."""
    max_px = opts.max_pixels
    if opts.max_video_tokens:
        budget = int(opts.max_video_tokens * opts.factor * opts.factor * 0.9)   # pixels for the whole video
        max_px = max(min(max_px, budget * opts.temporal_patch_size // n_frames), int(opts.min_pixels * 1.05))
    return smart_resize(height, width, opts.factor, opts.min_pixels, max_px)


def video_grid(num_frames: int, height: int, width: int, opts: VideoOptions) -> tuple[int, int, int]:
    """(t, h, w) patch grid of ``num_frames`` sampled frames of height x width pixels."""
    hh, ww = frame_size(height, width, num_frames, opts)
    tp = opts.temporal_patch_size
    return -(-num_frames // tp), hh // opts.patch_size, ww // opts.patch_size


def video_token_count(grid: tuple[int, int, int], merge_size: int = 2) -> int:
    """``<|video_pad|>`` tokens of a video of patch grid (t, h, w): t h w / merge_size^2."""
    t, h, w = grid
    return t * h * w // (merge_size * merge_size)


@dataclass
class VideoPatches:
    """A preprocessed video: ``pixel_values`` float32 (t h w) x (C tp p p), ``grid`` (t, h, w),
    ``indices`` the frames sampled (before padding), ``sampled_fps`` their rate (frames per
    second), ``seconds_per_grid`` seconds of video per temporal patch, ``size`` (H', W')."""

    pixel_values: np.ndarray
    grid: tuple[int, int, int]
    indices: np.ndarray
    sampled_fps: float
    seconds_per_grid: float
    size: tuple[int, int]
    merge_size: int = field(default=2)

    @property
    def n_tokens(self) -> int:
        return video_token_count(self.grid, self.merge_size)


def resize_normalize(frames: np.ndarray, size: tuple[int, int], opts: VideoOptions) -> np.ndarray:
    """uint8 N x H x W x 3 frames resized (PIL bicubic) to size = (H', W') and normalised:
    float32 N x 3 x H' x W' of ``(x / 255 - mean) / std``."""
    from PIL import Image

    hh, ww = size
    out = np.empty((frames.shape[0], hh, ww, 3), np.uint8)
    for i, f in enumerate(frames):
        out[i] = f if f.shape[:2] == (hh, ww) else np.asarray(
            Image.fromarray(f).resize((ww, hh), Image.Resampling.BICUBIC))
    x = out.astype(np.float32) * np.float32(1.0 / 255.0)
    x = (x - np.asarray(opts.image_mean, np.float32)) / np.asarray(opts.image_std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def patchify(x: np.ndarray, opts: VideoOptions) -> tuple[np.ndarray, tuple[int, int, int]]:
    """N x C x H x W float32 frames (H, W multiples of patch_size * merge_size) into the flat
    (t h w) x (C tp p p) patches and the grid (t, h, w); N is padded to a multiple of
    ``temporal_patch_size`` by repeating the last frame."""
    n, c, hh, ww = x.shape
    p, m, tp = opts.patch_size, opts.merge_size, opts.temporal_patch_size
    if hh % (p * m) or ww % (p * m):
        raise ValueError(f"frame size {hh} x {ww} is not a multiple of {p * m}")
    if n % tp:
        x = np.concatenate([x, np.repeat(x[-1:], tp - n % tp, axis=0)])
    gt, gh, gw = x.shape[0] // tp, hh // p, ww // p
    # axes: (t, frame in group, C, h/m, row in merge, patch row, w/m, column in merge, patch column)
    x = x.reshape(gt, tp, c, gh // m, m, p, gw // m, m, p)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return np.ascontiguousarray(x.reshape(gt * gh * gw, c * tp * p * p)), (gt, gh, gw)


def preprocess_video(video: Video, opts: VideoOptions) -> VideoPatches:
    """Sample, resize, normalise and patchify ``video`` as the Qwen-VL video processor does."""
    frames = video.frames
    total, height, width = frames.shape[:3]
    sample_fps = video.sample_fps if video.sample_fps is not None or video.num_frames is not None \
        else opts.sample_fps
    idx = sample_frame_indices(total, video.fps, sample_fps=sample_fps, num_frames=video.num_frames,
                               min_frames=opts.min_frames, max_frames=opts.max_frames,
                               temporal_patch_size=opts.temporal_patch_size)
    size = frame_size(height, width, len(idx), opts)
    pixel, grid = patchify(resize_normalize(frames[idx], size, opts), opts)
    sampled_fps = len(idx) / total * float(video.fps if video.fps is not None else ASSUMED_VIDEO_FPS)
    return VideoPatches(pixel, grid, idx, sampled_fps, opts.temporal_patch_size / sampled_fps, size, opts.merge_size)
