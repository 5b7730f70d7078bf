"""Captioners: a text description per video segment, the semantic unit of the text schemes.

:class:`Captioner` is the interface: ``caption(frames, segment=None) -> str`` for the uint8
T x H x W x 3 frames of one segment; ``segment`` is that segment's (start, stop) frame range in
the whole clip (stop exclusive), which captioners that look captions up need.

* :class:`VLMCaptioner`: a local vision-language model (:class:`~semcom_models.vlm.VLM`), greedy
  decoding, shown the segment as one video (``mode="video"``, the default where the model takes
  videos: Qwen2-VL, Qwen2.5-VL; frames sampled at ``sample_fps`` frames per second of the clip,
  or ``num_frames`` of them, see :mod:`semcom_models.vlm_video`), as a few evenly spaced frames
  given as separate images (``mode="images"``, the default for the other VLMs), or as its
  middle frame (``mode="frame"``).
* :func:`recaption`: several sampled captions of one video (the receiver-side captions whose
  BERTScores GVSC averages), deterministic given a seed.
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

from semcom_models.vlm import VLM, Turn, Video

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


MODES = ("video", "images", "frame")
#: evenly spaced frames shown as images in mode "images" unless num_frames says otherwise
DEFAULT_IMAGE_COUNT = 4


class VLMCaptioner(Captioner):
    """Captions from a local VLM, greedy decoding; all segments of a clip in one batch.

    ``mode``:

    * ``"video"`` (default where ``vlm.supports_video``): the segment's frames as one video;
      ``num_frames`` frames evenly spaced, else ``sample_fps`` frames per second of video (None:
      the checkpoint's default, 2), of a clip captured at ``video_fps`` frames per second (None:
      24, as transformers assumes; pass ``fps=`` to :meth:`caption` per call). The model's patch
      grid, the padding to an even count and the token count are :mod:`semcom_models.vlm_video`'s.
    * ``"images"`` (default otherwise): ``num_frames`` (default 4) evenly spaced frames
      (:func:`pick_frames`), each a separate image;
    * ``"frame"``: the middle frame.

    ``prompt`` defaults to :data:`DEFAULT_PROMPT`, or :data:`DEFAULT_IMAGE_PROMPT` for one frame."""

    name = "vlm"

    def __init__(self, vlm: VLM, prompt: str | None = None, max_new_tokens: int = 77, num_frames: int | None = None,
                 *, mode: str | None = None, sample_fps: float | None = None, video_fps: float | None = None):
        if mode is None:
            mode = "video" if vlm.supports_video else ("frame" if num_frames == 1 else "images")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "video" and not vlm.supports_video:
            raise ValueError(f"{vlm.name} takes no videos: use mode='images' or 'frame'")
        if num_frames is not None and num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        if num_frames is not None and sample_fps is not None:
            raise ValueError("give num_frames or sample_fps, not both")
        self.vlm = vlm
        self.mode = mode
        self.num_frames = num_frames
        self.sample_fps = sample_fps
        self.video_fps = video_fps
        one = mode == "frame" or (mode == "images" and num_frames == 1)
        self.prompt = prompt or (DEFAULT_IMAGE_PROMPT if one else DEFAULT_PROMPT)
        self.max_new_tokens = max_new_tokens

    @classmethod
    def load(cls, name: str = "qwen2.5-vl", path: str | os.PathLike | None = None, *, prompt: str | None = None,
             max_new_tokens: int = 77, num_frames: int | None = None, mode: str | None = None,
             sample_fps: float | None = None, video_fps: float | None = None, device: str | None = None,
             dtype: Any = None) -> "VLMCaptioner":
        """A captioner on the local VLM ``name`` (see :mod:`semcom_models.model_paths`)."""
        return cls(VLM.load(name, path, device=device, dtype=dtype), prompt, max_new_tokens, num_frames, mode=mode,
                   sample_fps=sample_fps, video_fps=video_fps)

    def conversation(self, frames: np.ndarray, fps: float | None = None) -> list[Turn]:
        """The one-turn conversation that asks for the caption of uint8 T x H x W x 3 ``frames``
        (``fps``: their frames per second, default ``video_fps``)."""
        frames = _check_frames(frames)
        if self.mode == "video":
            video = Video(frames, fps if fps is not None else self.video_fps, sample_fps=self.sample_fps,
                          num_frames=self.num_frames)
            return [Turn("user", self.prompt, videos=[video])]
        count = 1 if self.mode == "frame" else (self.num_frames or DEFAULT_IMAGE_COUNT)
        return [Turn("user", self.prompt, [frames[i] for i in pick_frames(frames.shape[0], count)])]

    def caption(self, frames: np.ndarray, segment: tuple[int, int] | None = None, *, fps: float | None = None) -> str:
        return self.vlm.generate([self.conversation(frames, fps)], max_new_tokens=self.max_new_tokens)[0]

    def caption_segments(self, video: np.ndarray, segments: Sequence[tuple[int, int]], *,
                         fps: float | None = None) -> list[str]:
        """One caption per (start, stop) range of ``video``, all in one batch; ``fps``: the
        clip's frames per second (default ``video_fps``)."""
        video = np.asarray(video)
        convs = [self.conversation(video[s:e], fps) for s, e in segments]
        return self.vlm.generate(convs, max_new_tokens=self.max_new_tokens)


#: sampling of :func:`recaption` (softmax temperature, nucleus mass)
RECAPTION_TEMPERATURE = 0.7
RECAPTION_TOP_P = 0.9


def recaption(captioner: VLMCaptioner, frames: np.ndarray, samples: int = 3, *, seed: int = 0,
              temperature: float = RECAPTION_TEMPERATURE, top_p: float | None = RECAPTION_TOP_P,
              fps: float | None = None, max_new_tokens: int | None = None) -> list[str]:
    """``samples`` captions (3 by default, as GVSC averages BERTScore over three) of the uint8
    T x H x W x 3 ``frames`` seen as ``captioner`` sees them (its mode, prompt and sampling of
    frames; ``fps``: their frames per second), for an evaluator to average a text metric over.

    Caption k is sampled (``temperature``, ``top_p``) with torch seeded by ``seed + k``, one
    generation each: the list is a function of the frames and ``seed`` (on one device and dtype),
    caption k does not depend on how many are asked for, and the global random state is left as
    it was. ``max_new_tokens`` defaults to the captioner's."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    conv = captioner.conversation(frames, fps)
    n = captioner.max_new_tokens if max_new_tokens is None else max_new_tokens
    return [captioner.vlm.generate([conv], max_new_tokens=n, do_sample=True, temperature=temperature, top_p=top_p,
                                   seed=seed + k)[0] for k in range(samples)]


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
