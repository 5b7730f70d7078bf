"""SKEM keyframe selection with PSSS, the Prompt-based Semantic Similarity Score of LGVSC.

A multimodal LLM compares a frame with the latest keyframe in two rounds of one conversation:

1. it describes both frames;
2. asked whether the two frames show the same scene (with a "Semantic Focus" field saying what
   matters), it answers yes or no. The score is read from the next-token distribution:

       PSSS = P(No) - P(Yes)   in [-1, 1],

   where P(Yes) and P(No) are renormalized over the yes/no tokens only, each summing the
   probabilities of every spelling of the word that is a single token of the vocabulary
   (yes/Yes/YES, with and without a leading space). LGVSC's public code reads only the
   capitalised token ids while the prompt asks for lowercase; summing all spellings avoids that.

SKEM walks the video: frame 0 is a keyframe; each frame i is compared with the latest keyframe
and becomes a keyframe when PSSS > eta (0.35 by default); the last frame is always kept. Pairs
are scored in batches: the next ``batch_size`` frames are compared with the current keyframe at
once, the first that crosses eta becomes the new keyframe, and comparisons after it (made
against a keyframe that is no longer the latest) are discarded and redone. The keyframes chosen
are exactly those of the one-pair-at-a-time walk.

Frames are uint8 T x H x W x 3. Times are wall seconds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from semcom_models.vlm import VLM, Turn

DEFAULT_ETA = 0.35
DEFAULT_FOCUS = "the main objects and people, what they are doing, and the setting they are in"

ROUND1_PROMPT = ("The first image is frame A and the second image is frame B, both from one video. "
                 "Describe frame A and then frame B, one sentence each.")
ROUND2_PROMPT = ("Semantic Focus: {focus}.\n"
                 "Considering the Semantic Focus, do frame A and frame B show the same scene? "
                 "Answer with one word: yes or no.")


def answer_token_ids(tokenizer: Any, word: str) -> tuple[int, ...]:
    """Ids of every single-token spelling of ``word``: lower, Capitalised and UPPER case, each with
    and without a leading space. Spellings that take more than one token, or whose one token does
    not decode back to the word (an unknown-word token), are left out."""
    ids = set()
    for form in {word.lower(), word.capitalize(), word.upper()}:
        for s in (form, " " + form):
            enc = tokenizer.encode(s, add_special_tokens=False)
            if len(enc) == 1 and tokenizer.decode([enc[0]]).strip().lower() == word.lower():
                ids.add(int(enc[0]))
    return tuple(sorted(ids))


def psss_score(logits: np.ndarray, yes_ids: Sequence[int], no_ids: Sequence[int]) -> np.ndarray:
    """PSSS = P(No) - P(Yes) from next-token ``logits`` (vocab,) or (batch, vocab).

    The probabilities of the ids in each set are summed and renormalized over the union, so the
    softmax over the rest of the vocabulary cancels. Returns a float64 scalar array (or one per
    row) in [-1, 1]: positive when the model leans to "no" (a different scene).
    """
    z = np.asarray(logits, dtype=np.float64)
    yes = np.asarray(sorted(set(int(i) for i in yes_ids)), dtype=np.int64)
    no = np.asarray(sorted(set(int(i) for i in no_ids)), dtype=np.int64)
    if yes.size == 0 or no.size == 0:
        raise ValueError("both the yes and the no token sets must be non-empty")
    if np.intersect1d(yes, no).size:
        raise ValueError(f"token ids {np.intersect1d(yes, no).tolist()} are in both the yes and no sets")
    v = z.shape[-1]
    if max(yes.max(), no.max()) >= v or min(yes.min(), no.min()) < 0:
        raise ValueError(f"token ids outside the vocabulary of {v}")
    ly, ln = z[..., yes], z[..., no]
    m = np.maximum(ly.max(axis=-1), ln.max(axis=-1))[..., None]
    s_yes = np.exp(ly - m).sum(axis=-1)
    s_no = np.exp(ln - m).sum(axis=-1)
    return (s_no - s_yes) / (s_no + s_yes)


@dataclass
class SKEMResult:
    """What SKEM chose, with the fields of :class:`semcom_models.keyframes.KeyframeSelection`.

    keyframes: sorted keyframe indices (0 and T-1 among them); ``indices`` as int64.
    num_frames: T. method: "skem".
    pair_scores: (keyframe, frame) -> PSSS for every comparison that counted.
    scores: float64 per frame (length T), the PSSS of the frame against the keyframe it was
      compared with; NaN for frame 0, the last frame and frames never compared.
    seconds: scoring wall time; pairs_scored: pairs sent to the model, discarded speculative
      ones included; seconds_per_pair and seconds_per_frame are the ratios.
    """

    keyframes: list[int]
    num_frames: int
    pair_scores: dict[tuple[int, int], float] = field(default_factory=dict)
    seconds: float = 0.0
    pairs_scored: int = 0
    method: str = "skem"

    @property
    def indices(self) -> np.ndarray:
        return np.asarray(self.keyframes, dtype=np.int64)

    @property
    def scores(self) -> np.ndarray:
        out = np.full(self.num_frames, np.nan)
        for (_, j), s in self.pair_scores.items():
            out[j] = s
        return out

    @property
    def ratio(self) -> float:
        """Keyframes per frame."""
        return len(self.keyframes) / self.num_frames

    @property
    def seconds_per_pair(self) -> float:
        return self.seconds / self.pairs_scored if self.pairs_scored else float("nan")

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / self.num_frames


def select_keyframes(num_frames: int, score_pairs: Callable[[list[tuple[int, int]]], Sequence[float]],
                     eta: float = DEFAULT_ETA, batch_size: int = 4) -> SKEMResult:
    """SKEM's walk over frames 0..num_frames-1 with a pair scorer (see the module docstring).

    score_pairs: given [(keyframe, frame), ...] returns one PSSS per pair.
    A frame becomes a keyframe when its score against the latest keyframe exceeds ``eta``.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    t0 = time.perf_counter()
    keyframes = [0]
    scores: dict[tuple[int, int], float] = {}
    scored = 0
    i = 1
    while i < num_frames - 1:
        ref = keyframes[-1]
        batch = [(ref, j) for j in range(i, min(i + batch_size, num_frames - 1))]
        vals = [float(s) for s in score_pairs(batch)]
        if len(vals) != len(batch):
            raise RuntimeError(f"scorer returned {len(vals)} scores for {len(batch)} pairs")
        scored += len(batch)
        i = batch[-1][1] + 1
        for pair, s in zip(batch, vals):
            scores[pair] = s
            if s > eta:
                keyframes.append(pair[1])
                i = pair[1] + 1
                break
    if num_frames > 1:
        keyframes.append(num_frames - 1)
    return SKEMResult(keyframes, num_frames, scores, time.perf_counter() - t0, scored)


class PSSSScorer:
    """Scores frame pairs with a :class:`~semcom_models.vlm.VLM` (two rounds per pair, batched)."""

    def __init__(self, vlm: VLM, focus: str = DEFAULT_FOCUS, max_new_tokens: int = 64):
        self.vlm = vlm
        self.focus = focus
        self.max_new_tokens = max_new_tokens
        tok = vlm.tokenizer
        self.yes_ids = answer_token_ids(tok, "yes")
        self.no_ids = answer_token_ids(tok, "no")
        if not self.yes_ids or not self.no_ids:
            raise ValueError(f"{vlm.name}: 'yes' or 'no' is not a single token in any spelling")
        self.last_descriptions: list[str] = []

    def conversations(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                      descriptions: Sequence[str] | None = None) -> list[list[Turn]]:
        """Round-1 conversations, or round-2 ones when the round-1 ``descriptions`` are given."""
        convs = []
        for n, (a, b) in enumerate(pairs):
            conv = [Turn("user", ROUND1_PROMPT, [a, b])]
            if descriptions is not None:
                conv += [Turn("assistant", descriptions[n]), Turn("user", ROUND2_PROMPT.format(focus=self.focus))]
            convs.append(conv)
        return convs

    def score(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """PSSS of each (frame A, frame B) pair of uint8 H x W x 3 frames, as float64."""
        if not pairs:
            return np.zeros(0)
        descriptions = self.vlm.generate(self.conversations(pairs), max_new_tokens=self.max_new_tokens)
        self.last_descriptions = descriptions
        logits = self.vlm.next_token_logits(self.conversations(pairs, descriptions))
        return psss_score(logits, self.yes_ids, self.no_ids)


class SKEM:
    """Semantic keyframe selection by PSSS. ``select(frames)`` returns the keyframe indices."""

    def __init__(self, scorer: PSSSScorer, eta: float = DEFAULT_ETA, batch_size: int = 4):
        self.scorer = scorer
        self.eta = eta
        self.batch_size = batch_size
        self.last: SKEMResult | None = None

    @classmethod
    def load(cls, name: str = "qwen2.5-vl", path: str | None = None, *, eta: float = DEFAULT_ETA,
             batch_size: int = 4, focus: str = DEFAULT_FOCUS, max_new_tokens: int = 64,
             device: str | None = None, dtype: Any = None) -> "SKEM":
        """SKEM on the local VLM ``name`` (see :mod:`semcom_models.model_paths`)."""
        vlm = VLM.load(name, path, device=device, dtype=dtype)
        return cls(PSSSScorer(vlm, focus=focus, max_new_tokens=max_new_tokens), eta=eta, batch_size=batch_size)

    def run(self, frames: np.ndarray) -> SKEMResult:
        """Keyframes, all pair scores and timing for uint8 T x H x W x 3 ``frames``."""
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
            raise ValueError(f"frames must be uint8 T x H x W x 3, got {frames.dtype} {frames.shape}")

        def score_pairs(pairs: list[tuple[int, int]]) -> np.ndarray:
            return self.scorer.score([(frames[a], frames[b]) for a, b in pairs])

        self.last = select_keyframes(frames.shape[0], score_pairs, eta=self.eta, batch_size=self.batch_size)
        return self.last

    def select(self, frames: np.ndarray) -> list[int]:
        """Sorted keyframe indices of uint8 T x H x W x 3 ``frames`` (first and last included)."""
        return self.run(frames).keyframes
