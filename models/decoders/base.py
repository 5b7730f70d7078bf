"""The one interface every video decoder of a receiver implements.

A decoder turns what arrived (a caption, some frames, some sketches, motion side information)
into a video. Generative decoders (diffusion video models) and the weight-free interpolating
decoder all implement :class:`VideoDecoder`; a scheme asks ``decoder.capabilities`` what a
decoder can use and hands it a :class:`Conditioning`.

Frames (docs/architecture.md, "Conventions") are uint8 arrays, T x H x W x 3 for video, H x W x 3 for one
frame, H x W for a sketch (255 = edge). Frame indices count from 0 in the output video.
"""
from __future__ import annotations

import enum
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

# GVSC's published seed for its diffusion receiver.
DEFAULT_SEED = 7777


class Capability(enum.Flag):
    """What a decoder can condition on."""

    NONE = 0
    TEXT = enum.auto()            # a caption (per segment or for the whole clip)
    FIRST_FRAME = enum.auto()     # frame 0 given
    FIRST_LAST = enum.auto()      # frames 0 and T-1 given
    KEYFRAMES = enum.auto()       # frames at arbitrary indices given
    SKETCHES = enum.auto()        # edge maps at given indices
    MOTION = enum.auto()          # per-segment motion side information


#: how a decoder lays its generated segments over the semantic ones (LGVSC): "dsa" generates each
#: semantic segment at its own length (its boundaries are generation boundaries); "sfa" generates
#: fixed-length segments at the model's length and prompts each with the semantic segment it
#: overlaps most
ADAPTATIONS = ("dsa", "sfa")


@dataclass
class SemanticSegment:
    """A span the transmitter described on its own: output frames ``start .. stop - 1``, its
    caption (None: not sent, or lost) and its motion side information (None: not sent, or lost;
    keys as :func:`semcom_models.motion.motion_info`, pixels per frame)."""

    start: int
    stop: int
    caption: str | None = None
    motion: dict[str, float] | None = None


@dataclass
class Conditioning:
    """Everything a receiver may hand a decoder for one clip (or one segment of it).

    num_frames, height, width: the size of the video to produce (pixels, frames).
    fps: frames per second of the output, used by models that take a frame rate.
    caption: the clip's text description (GVSC), or None.
    segments: the semantic segments (LGVSC), in order, not overlapping; each with its own
      caption and motion. Empty: the clip is one segment described by ``caption``.
    adaptation: "dsa" or "sfa" (:data:`ADAPTATIONS`), for decoders that generate in segments.
    keyframes: frame index -> uint8 H x W x 3 frame.
    sketches: frame index -> uint8 H x W edge map (255 = edge).
    motion: clip-level motion side information, used where no segment has its own.
    seed: the seed of every random draw of the decoder.
    """

    num_frames: int
    height: int
    width: int
    fps: float = 8.0
    caption: str | None = None
    keyframes: dict[int, np.ndarray] = field(default_factory=dict)
    sketches: dict[int, np.ndarray] = field(default_factory=dict)
    motion: dict[str, float] | None = None
    seed: int = DEFAULT_SEED
    segments: list[SemanticSegment] = field(default_factory=list)
    adaptation: str = "dsa"

    @property
    def has_text(self) -> bool:
        """Whether any description arrived (the clip's or a segment's)."""
        return bool(self.caption) or any(s.caption for s in self.segments)

    def prompt_for(self, start: int, stop: int) -> str:
        """The text for generating frames ``start .. stop - 1``: the caption of the semantic segment
        that overlaps them most among those whose caption arrived, else the clip caption, else ""."""
        best, overlap = None, 0
        for seg in self.segments:
            n = min(stop, seg.stop) - max(start, seg.start)
            if seg.caption and n > overlap:
                best, overlap = seg.caption, n
        return best or self.caption or ""

    def motion_at(self, i: int) -> dict[str, float] | None:
        """Motion side information for frame ``i``: its semantic segment's, else the clip's."""
        for seg in self.segments:
            if seg.start <= i < seg.stop and seg.motion:
                return seg.motion
        return self.motion

    def validate(self) -> None:
        """Raise ValueError for a conditioning no decoder could use."""
        if self.num_frames < 1 or self.height < 1 or self.width < 1:
            raise ValueError(f"video size must be positive, got T={self.num_frames} "
                             f"H={self.height} W={self.width}")
        if self.adaptation not in ADAPTATIONS:
            raise ValueError(f"adaptation must be one of {ADAPTATIONS}, got {self.adaptation!r}")
        last = 0
        for seg in self.segments:
            if not (last <= seg.start < seg.stop <= self.num_frames):
                raise ValueError(f"semantic segments must be ordered, not overlapping, inside 0..{self.num_frames}: "
                                 f"got [{seg.start}, {seg.stop}) after frame {last}")
            last = seg.stop
        for kind, items, ndim in (("keyframe", self.keyframes, 3), ("sketch", self.sketches, 2)):
            for idx, img in items.items():
                if not 0 <= idx < self.num_frames:
                    raise ValueError(f"{kind} index {idx} outside 0..{self.num_frames - 1}")
                a = np.asarray(img)
                if a.dtype != np.uint8 or a.ndim != ndim or a.shape[:2] != (self.height, self.width):
                    want = (self.height, self.width) + ((3,) if ndim == 3 else ())
                    raise ValueError(f"{kind} {idx}: expected uint8 {want}, got {a.dtype} {a.shape}")


@dataclass
class DecodedVideo:
    """A decoder's output: uint8 T x H x W x 3 frames, the decoder's name, wall time (s)."""

    frames: np.ndarray
    decoder: str
    seconds: float
    notes: dict = field(default_factory=dict)

    @property
    def seconds_per_generated_second(self) -> float:
        """Wall seconds per second of output video at the conditioning's fps (latency figure)."""
        fps = self.notes.get("fps", 0.0)
        n = self.frames.shape[0]
        return self.seconds / (n / fps) if fps and n else float("nan")


class VideoDecoder(ABC):
    """Base class: subclasses set ``name`` and ``capabilities`` and implement ``_decode``."""

    name: str = "decoder"
    capabilities: Capability = Capability.NONE

    def decode(self, cond: Conditioning) -> DecodedVideo:
        """Validate ``cond``, run the decoder, time it and check the output shape."""
        cond.validate()
        t0 = time.perf_counter()
        result = self._decode(cond)
        seconds = time.perf_counter() - t0
        frames, notes = result if isinstance(result, tuple) else (result, {})
        frames = np.asarray(frames)
        want = (cond.num_frames, cond.height, cond.width, 3)
        if frames.dtype != np.uint8 or frames.shape != want:
            raise RuntimeError(f"{self.name} produced {frames.dtype} {frames.shape}, expected uint8 {want}")
        return DecodedVideo(frames, self.name, seconds, {"fps": cond.fps, **notes})

    @abstractmethod
    def _decode(self, cond: Conditioning) -> np.ndarray | tuple[np.ndarray, dict]:
        """Return uint8 T x H x W x 3 frames for ``cond`` (already validated), or (frames, notes):
        notes are what the decoder did (segments, prompts, ...), reported as
        :attr:`DecodedVideo.notes`. A decoder may be shared by threads: keep per-call state local."""
