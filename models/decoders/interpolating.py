"""Weight-free receivers: flow-based keyframe interpolation and frame repetition (the baseline).

Both rebuild a video from the keyframes in a :class:`Conditioning` (frame index -> uint8
H x W x 3); captions and sketches are ignored. :func:`default_decoder` is the receiver used
when no generative model is configured.
"""
from __future__ import annotations

import numpy as np

from ..motion import velocity
from ..optical_flow import interpolate_frames, warp
from .base import Capability, Conditioning, VideoDecoder


def _sorted_keyframes(cond: Conditioning, name: str) -> list[int]:
    if not cond.keyframes:
        raise ValueError(f"{name} needs at least one keyframe in Conditioning.keyframes")
    return sorted(cond.keyframes)


def translate(frame: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Shift a frame's content by (dx, dy) pixels (+x right, +y down), borders replicated."""
    flow = np.empty(frame.shape[:2] + (2,), dtype=np.float32)
    flow[..., 0], flow[..., 1] = -dx, -dy
    return warp(frame, flow)


class InterpolatingDecoder(VideoDecoder):
    """Fill the frames between keyframes by optical-flow interpolation.

    Between two consecutive keyframes at indices k0 < k1, frame i gets
    ``interpolate_frames(key[k0], key[k1], (i - k0) / (k1 - k0))`` (bidirectional flow, linear
    in time; see :mod:`semcom_models.optical_flow`). Outside the first and last keyframes:

    - with motion side information (``mean_dx``/``mean_dy``, see :mod:`semcom_models.motion`) of
      the semantic segment extrapolated into (:meth:`Conditioning.motion_at`: its own, else the
      clip's), the nearest keyframe is translated by that mean flow vector times the distance in
      frames (a global pan, the simplest use of LGVSC's hint; rescaled when the motion was
      measured at another frame size);
    - without it (or with motion information lacking those two keys), the nearest keyframe is
      held.

    So with only the first frame and motion, the video is that frame panning at the measured
    mean velocity.
    """

    name = "interpolating"
    capabilities = Capability.KEYFRAMES | Capability.FIRST_LAST | Capability.FIRST_FRAME | Capability.MOTION

    def __init__(self, method: str = "dis", preset: str = "medium", occlusion: bool = False):
        self.method, self.preset, self.occlusion = method, preset, occlusion

    def _decode(self, cond: Conditioning) -> np.ndarray:
        keys = _sorted_keyframes(cond, self.name)
        out = np.empty((cond.num_frames, cond.height, cond.width, 3), dtype=np.uint8)
        for k in keys:
            out[k] = cond.keyframes[k]
        for k0, k1 in zip(keys[:-1], keys[1:]):
            if k1 - k0 > 1:
                taus = (np.arange(k0 + 1, k1) - k0) / (k1 - k0)
                out[k0 + 1:k1] = interpolate_frames(cond.keyframes[k0], cond.keyframes[k1], taus,
                                                    self.method, self.preset, self.occlusion)
        motion_used = []
        for lo, hi, k in ((0, keys[0], keys[0]), (keys[-1] + 1, cond.num_frames, keys[-1])):
            if hi <= lo:
                continue
            motion = cond.motion_at(lo if k < lo else hi - 1)  # the segment being extrapolated into
            v = velocity(motion, cond.height, cond.width) if motion and {"mean_dx", "mean_dy"} <= motion.keys() \
                else None
            if v is not None:
                motion_used.append([lo, hi])
            key = cond.keyframes[k]
            for i in range(lo, hi):
                out[i] = key if v is None else translate(key, v[0] * (i - k), v[1] * (i - k))
        # notes: the [start, stop) spans extrapolated with motion side information
        return out, {"motion_used": motion_used}


class FrameRepetitionDecoder(VideoDecoder):
    """Baseline: every frame copies the nearest keyframe at or before it (frames before the
    first keyframe copy the first keyframe)."""

    name = "repetition"
    capabilities = Capability.KEYFRAMES | Capability.FIRST_LAST | Capability.FIRST_FRAME

    def _decode(self, cond: Conditioning) -> np.ndarray:
        keys = np.array(_sorted_keyframes(cond, self.name))
        src = keys[np.clip(np.searchsorted(keys, np.arange(cond.num_frames), side="right") - 1, 0, None)]
        return np.stack([cond.keyframes[int(k)] for k in src])


def default_decoder() -> InterpolatingDecoder:
    """The receiver used when no generative model is configured: flow interpolation (DIS)."""
    return InterpolatingDecoder()
