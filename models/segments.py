"""Segment scheduler: split a video of any length into pieces a generative model can produce.

LGVSC's dynamic adapter idea. A video model generates only some frame counts (LTX-Video
8k+1, Wan 4k+1, CogVideoX 8k+1 up to 49, SVD exactly 14 or 25, ...) and only up to a maximum.
To produce T frames, :func:`plan_segments` cuts 0..T-1 into segments whose lengths the model
supports, or rounds each up to a supported count; :func:`fit_length` maps each generated clip
back to its segment's length and :func:`stitch` joins the segments into the video.

Conventions:

* Frame indices count from 0 in the output video. A :class:`Segment` covers output frames
  ``start .. stop - 1`` (``stop`` exclusive) and is generated as ``gen_frames`` frames.
* Consecutive segments share one frame: the last frame of one is the first of the next. This
  is what lets a decoder condition a segment on its predecessor's last frame (or on a keyframe at
  the boundary) and keep motion continuous. :func:`stitch` takes the shared frame from the later
  segment, the one conditioned on it.
* Keyframe indices given as ``boundaries`` become segment boundaries: segments then run from
  keyframe to keyframe, so a first-last-frame model is conditioned at both ends of each segment.
* Mapping a generated clip of G frames onto L output frames with ``mode="resample"`` keeps the
  first and last generated frames and picks evenly spaced frames between (output frame j is
  generated frame :func:`generated_index` (j)); ``mode="trim"`` keeps the first L frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True)
class LengthRule:
    """Frame counts a model can generate in one pass.

    Either ``fixed`` (an explicit set, e.g. SVD's (25,)), or every n with
    ``n % step == offset % step`` and ``minimum <= n <= maximum`` (``maximum`` None: unbounded).
    """

    step: int = 1
    offset: int = 0
    minimum: int = 1
    maximum: int | None = None
    fixed: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.fixed:
            if any(int(n) < 1 for n in self.fixed):
                raise ValueError(f"fixed frame counts must be >= 1, got {self.fixed}")
        else:
            if self.step < 1 or self.minimum < 1:
                raise ValueError(f"step and minimum must be >= 1, got step={self.step} min={self.minimum}")
            if self.maximum is not None and self._first_at_or_above(self.minimum) > self.maximum:
                raise ValueError(f"no frame count satisfies {self}")

    def _first_at_or_above(self, n: int) -> int:
        n = max(n, self.minimum)
        return n + (self.offset - n) % self.step

    def supports(self, n: int) -> bool:
        """Whether the model generates exactly ``n`` frames in one pass."""
        if self.fixed:
            return n in self.fixed
        return (n >= self.minimum and (n - self.offset) % self.step == 0
                and (self.maximum is None or n <= self.maximum))

    @property
    def longest(self) -> int | None:
        """The largest supported count (None when unbounded)."""
        if self.fixed:
            return max(self.fixed)
        if self.maximum is None:
            return None
        return self.maximum - (self.maximum - self.offset) % self.step

    def at_least(self, n: int) -> int:
        """The smallest supported count >= n; ValueError when n exceeds the longest."""
        if self.fixed:
            ok = [f for f in sorted(self.fixed) if f >= n]
            if not ok:
                raise ValueError(f"{n} frames exceed the longest supported clip ({max(self.fixed)})")
            return ok[0]
        m = self._first_at_or_above(n)
        if self.maximum is not None and m > self.maximum:
            raise ValueError(f"{n} frames exceed the longest supported clip ({self.longest})")
        return m


# Published frame-count rules (frames per generation pass).
MODEL_RULES: dict[str, LengthRule] = {
    "ltx-video": LengthRule(step=8, offset=1, minimum=9, maximum=257),   # 8k+1, up to 257
    "wan2.1": LengthRule(step=4, offset=1, minimum=5, maximum=81),       # 4k+1, 81 = 5 s at 16 fps
    "cogvideox": LengthRule(step=8, offset=1, minimum=9, maximum=49),    # 8k+1 up to 49 (v1.0)
    "cogvideox-i2v": LengthRule(fixed=(49,)),                            # learned positions: 49 only
    "cogvideox1.5": LengthRule(step=16, offset=1, minimum=17, maximum=161),  # 16k+1, k <= 10
    "svd": LengthRule(fixed=(14,)),                                      # img2vid
    "svd-xt": LengthRule(fixed=(25,)),                                   # img2vid-xt
    "opensora2": LengthRule(step=4, offset=1, minimum=5, maximum=129),   # 4k+1 up to 129
}


@dataclass(frozen=True)
class Segment:
    """Output frames ``start .. stop-1``, generated as ``gen_frames`` frames."""

    start: int
    stop: int
    gen_frames: int

    @property
    def length(self) -> int:
        """Number of output frames of the segment."""
        return self.stop - self.start

    def contains(self, index: int) -> bool:
        return self.start <= index < self.stop

    def local(self, index: int) -> int:
        """Output frame ``index`` as an index into this segment's output frames."""
        if not self.contains(index):
            raise ValueError(f"frame {index} is not in segment {self.start}..{self.stop - 1}")
        return index - self.start

    def generated_index(self, index: int) -> int:
        """The generated frame (0..gen_frames-1) that becomes output frame ``index`` (resample)."""
        return generated_index(self.local(index), self.length, self.gen_frames)


def resample_indices(src_len: int, dst_len: int) -> np.ndarray:
    """Indices into ``src_len`` frames giving ``dst_len`` evenly spaced frames, ends kept."""
    if src_len < 1 or dst_len < 1:
        raise ValueError(f"lengths must be >= 1, got {src_len} -> {dst_len}")
    if dst_len == 1:
        return np.zeros(1, dtype=np.int64)
    return np.floor(np.arange(dst_len) * (src_len - 1) / (dst_len - 1) + 0.5).astype(np.int64)


def generated_index(local_index: int, length: int, gen_frames: int) -> int:
    """Generated frame that :func:`fit_length` (resample) puts at ``local_index`` of ``length``."""
    return int(resample_indices(gen_frames, length)[local_index])


def _split_span(a: int, b: int, cap: int) -> list[tuple[int, int]]:
    """Cut the inclusive span a..b into near-equal pieces of at most ``cap`` frames sharing ends."""
    length = b - a + 1
    if length <= cap:
        return [(a, b)]
    if cap < 2:
        raise ValueError("segments that share a boundary frame need at least 2 frames each")
    n = math.ceil((length - 1) / (cap - 1))
    edges = [a + math.floor(i * (length - 1) / n + 0.5) for i in range(n + 1)]
    return list(zip(edges[:-1], edges[1:]))


def plan_segments(num_frames: int, rule: LengthRule, boundaries: Iterable[int] = (),
                  max_frames: int | None = None) -> list[Segment]:
    """Cut frames 0..num_frames-1 into segments the model can generate.

    boundaries: output frame indices that must start/end a segment (keyframes); indices outside
      the video are an error.
    max_frames: an extra cap on frames per pass (e.g. to bound memory), on top of ``rule``.
    Returns segments in order; consecutive ones share their boundary frame. A single-frame
    video is one segment of length 1.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    cuts = sorted({int(i) for i in boundaries})
    if cuts and (cuts[0] < 0 or cuts[-1] >= num_frames):
        raise ValueError(f"boundaries {cuts} outside 0..{num_frames - 1}")
    caps = [c for c in (rule.longest, max_frames) if c is not None]
    cap = min(caps) if caps else num_frames
    if cap < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    points = sorted({0, num_frames - 1, *cuts})
    spans = list(zip(points[:-1], points[1:])) or [(0, 0)]
    segments = []
    for a, b in spans:
        for s, e in _split_span(a, b, cap):
            length = e - s + 1
            segments.append(Segment(s, e + 1, rule.at_least(length)))
    return segments


def fit_length(frames: np.ndarray, length: int, mode: str = "resample") -> np.ndarray:
    """Map generated ``frames`` (G x ...) onto ``length`` output frames.

    mode "resample": evenly spaced frames, first and last kept (frames repeat when G < length).
    mode "trim": the first ``length`` frames (G must be >= length).
    """
    frames = np.asarray(frames)
    g = frames.shape[0]
    if mode == "resample":
        return frames[resample_indices(g, length)]
    if mode == "trim":
        if g < length:
            raise ValueError(f"cannot trim {g} generated frames to {length}")
        return frames[:length]
    raise ValueError(f"mode must be 'resample' or 'trim', got {mode!r}")


def stitch(pieces: Sequence[np.ndarray], segments: Sequence[Segment], num_frames: int) -> np.ndarray:
    """Join per-segment frames (each ``segment.length`` x ...) into ``num_frames`` x ... frames.

    A frame shared by two segments is taken from the later one. Every output frame must be
    covered by some segment.
    """
    if len(pieces) != len(segments) or not pieces:
        raise ValueError(f"{len(pieces)} pieces for {len(segments)} segments")
    first = np.asarray(pieces[0])
    out = np.empty((num_frames,) + first.shape[1:], dtype=first.dtype)
    covered = np.zeros(num_frames, dtype=bool)
    for piece, seg in zip(pieces, segments):
        piece = np.asarray(piece)
        if piece.shape[0] != seg.length:
            raise ValueError(f"segment {seg.start}..{seg.stop - 1} needs {seg.length} frames, got {piece.shape[0]}")
        out[seg.start:seg.stop] = piece
        covered[seg.start:seg.stop] = True
    if not covered.all():
        raise ValueError(f"frames {np.flatnonzero(~covered).tolist()} are not covered by any segment")
    return out


def keyframes_in(segment: Segment, keyframes: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """The keyframes inside ``segment``, keyed by their index local to the segment."""
    return {segment.local(i): f for i, f in sorted(keyframes.items()) if segment.contains(i)}
