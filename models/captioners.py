"""Captioners: a text description per video segment, the semantic unit of the text schemes.

:class:`Captioner` is the interface: ``caption(frames, segment=None) -> str`` for the uint8
T x H x W x 3 frames of one segment; ``segment`` is that segment's (start, stop) frame range in
the whole clip (stop exclusive), which captioners that look captions up need.

* :class:`VLMCaptioner`: a local vision-language model (:class:`~semcom_models.vlm.VLM`), shown
  one frame (the middle one) or a few evenly spaced frames, greedy decoding.
* :class:`SidecarCaptioner`: captions written by a person or another tool, from a dict or a
  sidecar file.

Sidecar format (text, UTF-8): one segment per line, ``START-END: caption``, where START and END
are frame indices of the clip, START inclusive and END exclusive (like Python slices and
:class:`~semcom_models.segments.Segment`), e.g.::

    # frames 0..7, then 8..15
    0-8: a man in a bowler hat walks a dog along the beach
    8-16: the dog runs into the waves

Blank lines and lines starting with ``#`` are ignored. A file whose only line has no range is one
caption for the whole clip. A ``.json`` sidecar holds the same: an object mapping "START-END" to
the caption, or a single string for the whole clip. A segment gets the caption whose range
overlaps it most (the earliest on a tie).
"""
from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from semcom_models.vlm import VLM, Turn

DEFAULT_PROMPT = ("Describe this video in one or two sentences: the main objects and people, what they do, "
                  "the setting and the camera motion.")
DEFAULT_IMAGE_PROMPT = ("Describe this image in one or two sentences: the main objects and people, what they "
                        "do and the setting.")


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3 or frames.shape[0] < 1:
        raise ValueError(f"frames must be uint8 T x H x W x 3 (T >= 1), got {frames.dtype} {frames.shape}")
    return frames


class Captioner(ABC):
    """Text description of a segment of video."""

    name: str = "captioner"

    @abstractmethod
    def caption(self, frames: np.ndarray, segment: tuple[int, int] | None = None) -> str:
        """Caption of uint8 T x H x W x 3 ``frames``; ``segment``: their (start, stop) in the clip."""

    def caption_segments(self, video: np.ndarray, segments: Sequence[tuple[int, int]]) -> list[str]:
        """One caption per (start, stop) range of ``video`` (uint8 T x H x W x 3)."""
        return [self.caption(np.asarray(video)[s:e], (s, e)) for s, e in segments]


def pick_frames(num_frames: int, count: int) -> list[int]:
    """``count`` evenly spaced frame indices; one frame is the middle one."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if count == 1:
        return [(num_frames - 1) // 2]
    count = min(count, num_frames)
    return sorted({int(round(x)) for x in np.linspace(0, num_frames - 1, count)})


class VLMCaptioner(Captioner):
    """Captions from a local VLM: one frame (the middle) or ``num_frames`` evenly spaced frames."""

    name = "vlm"

    def __init__(self, vlm: VLM, prompt: str | None = None, max_new_tokens: int = 77, num_frames: int = 1):
        self.vlm = vlm
        self.num_frames = num_frames
        self.prompt = prompt or (DEFAULT_IMAGE_PROMPT if num_frames == 1 else DEFAULT_PROMPT)
        self.max_new_tokens = max_new_tokens

    @classmethod
    def load(cls, name: str = "qwen2.5-vl", path: str | os.PathLike | None = None, *, prompt: str | None = None,
             max_new_tokens: int = 77, num_frames: int = 1, device: str | None = None, dtype: Any = None
             ) -> "VLMCaptioner":
        """A captioner on the local VLM ``name`` (see :mod:`semcom_models.model_paths`)."""
        return cls(VLM.load(name, path, device=device, dtype=dtype), prompt, max_new_tokens, num_frames)

    def _conversation(self, frames: np.ndarray) -> list[Turn]:
        frames = _check_frames(frames)
        return [Turn("user", self.prompt, [frames[i] for i in pick_frames(frames.shape[0], self.num_frames)])]

    def caption(self, frames: np.ndarray, segment: tuple[int, int] | None = None) -> str:
        return self.vlm.generate([self._conversation(frames)], max_new_tokens=self.max_new_tokens)[0]

    def caption_segments(self, video: np.ndarray, segments: Sequence[tuple[int, int]]) -> list[str]:
        """All segments in one batch."""
        video = np.asarray(video)
        convs = [self._conversation(video[s:e]) for s, e in segments]
        return self.vlm.generate(convs, max_new_tokens=self.max_new_tokens)


_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")
WHOLE_CLIP = (0, -1)   # key of a caption for the whole clip


def _parse_range(text: str, where: str) -> tuple[int, int]:
    m = _RANGE.match(text)
    if not m:
        raise ValueError(f"{where}: expected 'START-END' frame range, got {text!r}")
    start, end = int(m.group(1)), int(m.group(2))
    if end <= start:
        raise ValueError(f"{where}: empty range {start}-{end} (END is exclusive)")
    return start, end


def parse_sidecar(text: str, json_format: bool = False, source: str = "sidecar") -> dict[tuple[int, int], str]:
    """Captions of a sidecar (see the module docstring) keyed by (start, stop)."""
    if json_format:
        data = json.loads(text)
        if isinstance(data, str):
            return {WHOLE_CLIP: data.strip()}
        if not isinstance(data, dict):
            raise ValueError(f"{source}: JSON sidecar must be an object or a string")
        return {_parse_range(k, f"{source} key {k!r}"): str(v).strip() for k, v in data.items()}
    out: dict[tuple[int, int], str] = {}
    lines = [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1)]
    lines = [(n, ln) for n, ln in lines if ln and not ln.startswith("#")]
    for n, ln in lines:
        head, sep, rest = ln.partition(":")
        if sep and _RANGE.match(head):
            key = _parse_range(head, f"{source}:{n}")
            if key in out:
                raise ValueError(f"{source}:{n}: range {key[0]}-{key[1]} given twice")
            out[key] = rest.strip()
        elif len(lines) == 1:
            out[WHOLE_CLIP] = ln
        else:
            raise ValueError(f"{source}:{n}: expected 'START-END: caption', got {ln!r}")
    return out


class SidecarCaptioner(Captioner):
    """Captions given by the user: {(start, stop): text}, a single text, or a sidecar file."""

    name = "sidecar"

    def __init__(self, captions: Mapping[tuple[int, int], str] | str):
        if isinstance(captions, str):
            captions = {WHOLE_CLIP: captions}
        if not captions:
            raise ValueError("no captions given")
        self.captions = {(int(s), int(e)): str(t) for (s, e), t in captions.items()}
        for s, e in self.captions:
            if (s, e) != WHOLE_CLIP and not 0 <= s < e:
                raise ValueError(f"bad caption range {s}-{e} (start inclusive, end exclusive)")
        if WHOLE_CLIP in self.captions and len(self.captions) > 1:
            raise ValueError("a whole-clip caption cannot be mixed with per-segment captions")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "SidecarCaptioner":
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"caption sidecar {p} does not exist")
        return cls(parse_sidecar(p.read_text(encoding="utf-8"), p.suffix.lower() == ".json", str(p)))

    def caption(self, frames: np.ndarray | None = None, segment: tuple[int, int] | None = None) -> str:
        if WHOLE_CLIP in self.captions:
            return self.captions[WHOLE_CLIP]
        if segment is None:
            if len(self.captions) == 1:
                return next(iter(self.captions.values()))
            raise ValueError("the sidecar has captions per segment: pass segment=(start, stop)")
        s, e = segment
        best, best_overlap = None, 0
        for (cs, ce), text in sorted(self.captions.items()):
            overlap = min(e, ce) - max(s, cs)
            if overlap > best_overlap:
                best, best_overlap = text, overlap
        if best is None:
            raise KeyError(f"no caption overlaps frames {s}..{e - 1}")
        return best
