"""Motion side information from optical flow (LGVSC's per-segment motion hint).

``motion_info(frames)`` summarises the flow between consecutive frames of a segment in a flat
``dict[str, float]`` that fits :attr:`semcom_models.decoders.base.Conditioning.motion`:

- ``mean_px_per_frame``: mean flow magnitude over all pixels and frame pairs (pixels/frame).
- ``p90_px_per_frame``: 90th percentile of the flow magnitude (pixels/frame; taken over every
  second pixel of every second row).
- ``mean_dx``, ``mean_dy``: the mean flow vector (pixels/frame; +x right, +y down): where the
  content moves on average, e.g. the opposite of a camera pan.
- ``direction_deg``: angle of the mean vector, atan2(mean_dy, mean_dx) in degrees (0 = right,
  90 = down, in (-180, 180]).
- ``coherence``: |mean vector| / mean magnitude, 0..1 (1: everything moves the same way).
- ``width``, ``height``: the frame size the flow was measured at (pixels), so a receiver
  working at another size rescales the pixel figures (:func:`velocity`).
- ``num_frames``: frames in the segment.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .optical_flow import compute_flow, gray
from .video_io import check_frames

MOTION_KEYS = ("mean_px_per_frame", "p90_px_per_frame", "mean_dx", "mean_dy", "direction_deg",
               "coherence", "width", "height", "num_frames")


def motion_info(frames: np.ndarray, method: str = "dis", preset: str = "medium") -> dict[str, float]:
    """Motion summary of one segment (uint8 T x H x W x 3); all zeros but the sizes for T = 1."""
    frames = check_frames(frames)
    t, h, w, _ = frames.shape
    info = dict.fromkeys(MOTION_KEYS, 0.0)
    info.update(width=float(w), height=float(h), num_frames=float(t))
    if t < 2:
        return info
    grays = [gray(f) for f in frames]
    mags, sum_vec, sum_mag = [], np.zeros(2), 0.0
    for a, b in zip(grays[:-1], grays[1:]):
        flow = compute_flow(a, b, method, preset)
        mag = np.hypot(flow[..., 0], flow[..., 1])
        sum_mag += float(mag.mean())
        sum_vec += flow.reshape(-1, 2).mean(axis=0)
        mags.append(mag[::2, ::2].ravel())  # every 4th pixel bounds memory for the percentile
    mean_vec = sum_vec / (t - 1)
    mean_mag = sum_mag / (t - 1)
    info.update(mean_px_per_frame=mean_mag, p90_px_per_frame=float(np.percentile(np.concatenate(mags), 90)),
                mean_dx=float(mean_vec[0]), mean_dy=float(mean_vec[1]),
                direction_deg=float(np.degrees(np.arctan2(mean_vec[1], mean_vec[0]))),
                coherence=float(np.hypot(*mean_vec) / mean_mag) if mean_mag > 0 else 0.0)
    return info


def segment_motion(frames: np.ndarray, segments: Sequence[tuple[int, int]], method: str = "dis",
                   preset: str = "medium") -> list[dict[str, float]]:
    """:func:`motion_info` of each half-open frame range [start, stop) in ``segments``."""
    frames = check_frames(frames)
    out = []
    for start, stop in segments:
        if not 0 <= start < stop <= frames.shape[0]:
            raise ValueError(f"segment [{start}, {stop}) outside 0..{frames.shape[0]}")
        out.append(motion_info(frames[start:stop], method, preset))
    return out


def velocity(motion: dict[str, float], height: int, width: int) -> tuple[float, float]:
    """The mean flow vector (dx, dy) in pixels/frame at a frame size of height x width, scaled
    from the size the motion was measured at (``motion['width']``, ``motion['height']``; taken
    as the same size when absent)."""
    try:
        dx, dy = float(motion["mean_dx"]), float(motion["mean_dy"])
    except KeyError as exc:
        raise ValueError(f"motion information lacks {exc.args[0]!r} (keys: {sorted(motion)})") from None
    sx = width / motion["width"] if motion.get("width") else 1.0
    sy = height / motion["height"] if motion.get("height") else 1.0
    return dx * sx, dy * sy
