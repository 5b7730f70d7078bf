"""Keyframe selection: SKIM (fixed interval) and AKEI (VQ-DeepVSC's importance-driven top-M).

Frames are uint8 T x H x W x 3; frame indices count from 0. Every selector returns a
:class:`KeyframeSelection` whose indices are sorted, unique, and always hold the first and the
last frame (the receiver interpolates between keyframes and needs both ends).

AKEI (adaptive keyframe extraction, VQ-DeepVSC): a frame is important when it cannot be
predicted from its two neighbours. Its score is 1 - SSIM(predicted, actual), the prediction being
the optical-flow interpolation halfway between frames t-1 and t+1
(:func:`semcom_models.optical_flow.predict_middle`); with an LPIPS model the score is the LPIPS
distance instead. The M highest-scoring frames become keyframes, M following the channel SNR
through a fitted polynomial (:class:`KeyframeRatioPolynomial`). anchors.md records that a public
attempt at SNR-adaptive keyframe counts found every adaptive setting worse than uniform
keyframes: measure the (SNR, best ratio) pairs on the actual link before trusting the fit.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .metrics import ssim, to_tensor
from .optical_flow import predict_middle
from .video_io import check_frames


@dataclass
class KeyframeSelection:
    """Which frames a selector kept.

    indices: int64, sorted, unique keyframe indices (0 and T-1 always among them).
    num_frames: T, the length of the video selected from.
    method: the selector's name ("skim", "akei").
    scores: float64 per-frame importance (length T; NaN where undefined), or None.
    seconds_per_frame: wall time of the selection divided by T (extraction latency, s/frame).
    """

    indices: np.ndarray
    num_frames: int
    method: str
    scores: np.ndarray | None = None
    seconds_per_frame: float = 0.0

    @property
    def ratio(self) -> float:
        """Keyframes per frame (0..1)."""
        return len(self.indices) / self.num_frames


def _ends(num_frames: int) -> set[int]:
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return {0, num_frames - 1}


def select_skim(num_frames: int, interval: int) -> KeyframeSelection:
    """SKIM: every ``interval``-th frame from 0, plus the last frame."""
    t0 = time.perf_counter()
    if interval < 1:
        raise ValueError(f"interval must be >= 1, got {interval}")
    idx = np.array(sorted(set(range(0, num_frames, interval)) | _ends(num_frames)), dtype=np.int64)
    return KeyframeSelection(idx, num_frames, "skim", None, (time.perf_counter() - t0) / num_frames)


def num_keyframes_for_ratio(ratio: float, num_frames: int) -> int:
    """M = round(ratio * T), at least min(2, T) (first and last) and at most T."""
    if not 0 < ratio <= 1:
        raise ValueError(f"keyframe ratio must be in (0, 1], got {ratio}")
    return int(min(num_frames, max(min(2, num_frames), round(ratio * num_frames))))


def uniform_indices(num_frames: int, count: int) -> np.ndarray:
    """``count`` (>= 2, <= T) indices spread evenly over 0..T-1, both ends included."""
    count = int(min(num_frames, max(2, count)))
    return np.unique(np.linspace(0, num_frames - 1, count).round().astype(np.int64))


def select_top(scores: np.ndarray, num_keyframes: int, always=()) -> np.ndarray:
    """Indices of the first, the last, the frames in ``always``, and the highest-scoring other
    frames: ``num_keyframes`` in all (or more if the forced ones are more). NaN scores rank
    lowest; ties go to the earlier frame."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size < 1:
        raise ValueError(f"scores must be a non-empty 1-D array, got shape {s.shape}")
    if num_keyframes < 1:
        raise ValueError(f"num_keyframes must be >= 1, got {num_keyframes}")
    keep = _ends(s.size) | {int(i) for i in always}
    if min(keep) < 0 or max(keep) >= s.size:
        raise ValueError(f"forced keyframes must lie in 0..{s.size - 1}")
    ranked = np.argsort(-np.nan_to_num(s, nan=-np.inf), kind="stable")
    for i in ranked:
        if len(keep) >= num_keyframes:
            break
        keep.add(int(i))
    return np.array(sorted(keep), dtype=np.int64)


LpipsModel = Callable[..., object]


def akei_scores(frames: np.ndarray, method: str = "dis", metric: str = "ssim",
                lpips_model: LpipsModel | None = None) -> np.ndarray:
    """Per-frame importance (float64, length T): NaN for the first and last frame, which have
    no two neighbours (and are kept anyway); otherwise 1 - SSIM (0 = perfectly predictable, up
    to 2) or, with metric="lpips", the LPIPS distance between the flow prediction from the two
    neighbours and the frame.

    method: optical flow ("dis" or "farneback").
    lpips_model: needed for metric="lpips": a callable (pred, target) -> distances, taking
    float32 N x 3 x H x W tensors in [-1, 1] (the ``lpips`` package's convention) and returning
    N values. No LPIPS model ships with the project.
    """
    frames = check_frames(frames)
    if metric not in ("ssim", "lpips"):
        raise ValueError(f"unknown AKEI metric {metric!r}; choose 'ssim' or 'lpips'")
    if metric == "lpips" and lpips_model is None:
        raise ValueError("metric='lpips' needs an LPIPS model (lpips_model=...); none is bundled, "
                         "use metric='ssim'")
    t = frames.shape[0]
    scores = np.full(t, np.nan)
    if t < 3:
        return scores
    pred = np.stack([predict_middle(frames[i - 1], frames[i + 1], method) for i in range(1, t - 1)])
    if metric == "ssim":
        scores[1:-1] = 1.0 - ssim(pred, frames[1:-1])
    else:
        with torch.no_grad():
            d = lpips_model(to_tensor(pred) * 2 - 1, to_tensor(frames[1:-1]) * 2 - 1)
        scores[1:-1] = np.asarray(torch.as_tensor(d).detach().cpu(), dtype=np.float64).reshape(-1)
    return scores


def select_akei(frames: np.ndarray, num_keyframes: int | None = None, ratio: float | None = None,
                method: str = "dis", metric: str = "ssim", lpips_model: LpipsModel | None = None,
                uniform_share: float = 0.0) -> KeyframeSelection:
    """AKEI: score every frame (:func:`akei_scores`) and keep the top ``num_keyframes`` (or
    round(ratio * T)), first and last always included. Give exactly one of the two.

    uniform_share: 0 (default) is the paper's plain top-M. Top-M spends keyframes on runs of
    adjacent frames in fast motion and leaves long calm stretches empty; with a share s > 0,
    round(s * M) keyframes are first spread evenly over the clip (:func:`uniform_indices`) and
    the rest go to the highest scores. On bikes.mp4 (M = 12, 25, 50) plain top-M lost 0.6 to
    6.7 dB of PSNR against M evenly spread keyframes; s = 0.75 was within 0.7 dB of them in PSNR
    and 0.03-0.04 better in SSIM (docs/semantics.md)."""
    if not 0 <= uniform_share <= 1:
        raise ValueError(f"uniform_share must be in [0, 1], got {uniform_share}")
    frames = check_frames(frames)
    if (num_keyframes is None) == (ratio is None):
        raise ValueError("give exactly one of num_keyframes and ratio")
    t0 = time.perf_counter()
    n = frames.shape[0]
    m = num_keyframes if num_keyframes is not None else num_keyframes_for_ratio(ratio, n)
    scores = akei_scores(frames, method, metric, lpips_model)
    base = uniform_indices(n, round(uniform_share * m)) if uniform_share > 0 else ()
    idx = select_top(scores, m, base)
    return KeyframeSelection(idx, n, "akei", scores, (time.perf_counter() - t0) / n)


@dataclass
class KeyframeRatioPolynomial:
    """VQ-DeepVSC's SNR -> keyframe ratio map: ratio(s) = sum_k coeffs[k] * s**k, s in dB,
    clipped to [min_ratio, 1].

    coeffs: ascending powers of the SNR in dB (coeffs[0] is the constant term).
    """

    coeffs: np.ndarray
    min_ratio: float = 0.02

    def __call__(self, snr_db):
        """Keyframe ratio (float, or array for an array of SNRs in dB), clipped to [min_ratio, 1]."""
        s = np.asarray(snr_db, dtype=np.float64)
        r = np.clip(np.polynomial.polynomial.polyval(s, np.asarray(self.coeffs, dtype=np.float64)),
                    self.min_ratio, 1.0)
        return float(r) if r.ndim == 0 else r

    def num_keyframes(self, snr_db: float, num_frames: int) -> int:
        """M for a video of ``num_frames`` frames at ``snr_db`` (see num_keyframes_for_ratio)."""
        return num_keyframes_for_ratio(self(snr_db), num_frames)

    @classmethod
    def fit(cls, snr_db, best_ratio, degree: int = 2, penalty: str = "l2", lam: float = 1e-3,
            min_ratio: float = 0.02, iterations: int = 20000, tol: float = 1e-10) -> KeyframeRatioPolynomial:
        """Least-squares fit of measured (SNR in dB, best keyframe ratio) pairs.

        The powers s, s^2, ..., s^degree are standardised (zero mean, unit variance over the
        data) and the fit minimises, with n pairs and standardised coefficients b:
          penalty="l2" (ridge, closed form):        (1/n) ||y - b0 - X b||^2 + lam ||b||^2
          penalty="l1" (lasso, coordinate descent): (1/2n) ||y - b0 - X b||^2 + lam ||b||_1
        The constant term is never penalised. The result is mapped back to raw powers of the SNR.
        """
        s = np.asarray(snr_db, dtype=np.float64).ravel()
        y = np.asarray(best_ratio, dtype=np.float64).ravel()
        if s.shape != y.shape:
            raise ValueError(f"snr_db and best_ratio differ in length: {s.size} vs {y.size}")
        if degree < 1 or np.unique(s).size < degree + 1:
            raise ValueError(f"a degree-{degree} fit needs at least {degree + 1} distinct SNRs, got "
                             f"{np.unique(s).size}")
        if lam < 0 or penalty not in ("l1", "l2"):
            raise ValueError(f"need lam >= 0 and penalty 'l1' or 'l2', got {lam}, {penalty!r}")
        x = s[:, None] ** np.arange(1, degree + 1)
        mu, sd = x.mean(axis=0), x.std(axis=0)
        z = (x - mu) / sd
        yc = y - y.mean()
        n = s.size
        if penalty == "l2":
            b = np.linalg.solve(z.T @ z + n * lam * np.eye(degree), z.T @ yc)
        else:
            b = _lasso_cd(z, yc, lam, iterations, tol)
        raw = b / sd
        coeffs = np.concatenate([[y.mean() - raw @ mu], raw])
        return cls(coeffs, min_ratio)


def _lasso_cd(z: np.ndarray, y: np.ndarray, lam: float, iterations: int, tol: float) -> np.ndarray:
    """Cyclic coordinate descent for (1/2n)||y - z b||^2 + lam ||b||_1, z standardised, y centred."""
    n, p = z.shape
    b = np.zeros(p)
    r = y.copy()
    for _ in range(iterations):
        biggest = 0.0
        for j in range(p):
            rho = z[:, j] @ r / n + b[j]  # z_j'z_j / n == 1
            new = np.sign(rho) * max(abs(rho) - lam, 0.0)
            if new != b[j]:
                r -= z[:, j] * (new - b[j])
                biggest = max(biggest, abs(new - b[j]))
                b[j] = new
        if biggest < tol:
            break
    return b
