"""Full-reference image and video quality: PSNR, SSIM, MS-SSIM (the project's one implementation).

Inputs are uint8 RGB, either one frame H x W x 3 or a video T x H x W x 3 (both arguments the
same shape). Pixels are scaled to float32 [0, 1] and the metrics are computed by
``torchmetrics.functional`` with ``data_range=1.0``, one frame at a time in small batches.

Each metric returns per-frame values (a float64 array of length T, or a float for one frame);
``video_quality`` adds the means. A video's figure is the mean of its per-frame values, as the
papers report.

- PSNR (dB) = 10 log10(255^2 / MSE) on uint8 values, over all pixels and the 3 channels. Equal
  frames (MSE = 0) give ``PSNR_CAP_DB`` (100 dB) instead of infinity so that means stay finite.
- SSIM: torchmetrics' definition: 11-tap Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
  inputs reflect-padded by 5 pixels, the SSIM map averaged over every pixel and channel.
- MS-SSIM: Wang, Simoncelli and Bovik (2003) with their 5 scale weights ``MS_SSIM_BETAS``,
  Gaussian window as SSIM, negative contrast terms clamped at 0 (torchmetrics'
  ``normalize="relu"``). torchmetrics asks a side of at least ``ms_ssim_min_side(len(betas))``
  = 11 * (len(betas) - 1) ** 2 pixels: 176 for 5 scales (so 256 x 256 and 640 x 272 work),
  99 for 4, 44 for 3. Smaller frames raise ValueError unless fewer ``betas`` are given (e.g.
  ``MS_SSIM_BETAS[:3]``; values are then not comparable with 5-scale figures).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.functional.image import (
    multiscale_structural_similarity_index_measure,
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

PSNR_CAP_DB = 100.0
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_KERNEL = 11
SSIM_SIGMA = 1.5
# Frames per torch call: bounds memory (a 640 x 272 frame is ~2 MB as float32) and keeps speed.
_BATCH = 8


def check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Check two uint8 RGB frames or videos of one shape; return them (in the order given) as
    T x H x W x 3 and whether the input was a single frame."""
    p, t = np.asarray(a), np.asarray(b)
    if p.shape != t.shape:
        raise ValueError(f"the two videos differ in shape: {p.shape} vs {t.shape}")
    if p.dtype != np.uint8 or t.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {p.dtype} and {t.dtype}")
    if p.ndim not in (3, 4) or p.shape[-1] != 3 or 0 in p.shape:
        raise ValueError(f"expected H x W x 3 or T x H x W x 3 RGB, got {p.shape}")
    single = p.ndim == 3
    return (p[None], t[None], True) if single else (p, t, False)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 T x H x W x 3 (or H x W x 3) -> float32 N x 3 x H x W in [0, 1]."""
    a = np.asarray(frames)
    if a.ndim == 3:
        a = a[None]
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).float().div_(255.0)


def _per_frame(fn, pred: np.ndarray, target: np.ndarray):
    p, t, single = check_pair(pred, target)
    out = np.empty(len(p), dtype=np.float64)
    with torch.no_grad():
        for i in range(0, len(p), _BATCH):
            out[i:i + _BATCH] = fn(to_tensor(p[i:i + _BATCH]), to_tensor(t[i:i + _BATCH])).double().numpy()
    return float(out[0]) if single else out


def psnr(pred: np.ndarray, target: np.ndarray):
    """PSNR in dB per frame (capped at PSNR_CAP_DB for equal frames); float for one frame."""
    def fn(a, b):
        v = peak_signal_noise_ratio(a, b, data_range=1.0, reduction="none", dim=(1, 2, 3))
        return torch.nan_to_num(v, posinf=PSNR_CAP_DB).clamp(max=PSNR_CAP_DB)
    return _per_frame(fn, pred, target)


def ssim(pred: np.ndarray, target: np.ndarray):
    """SSIM per frame (1 = equal); float for one frame."""
    def fn(a, b):
        return structural_similarity_index_measure(a, b, sigma=SSIM_SIGMA, kernel_size=SSIM_KERNEL,
                                                   data_range=1.0, reduction="none")
    return _per_frame(fn, pred, target)


def ms_ssim_min_side(scales: int = len(MS_SSIM_BETAS)) -> int:
    """Smallest frame height and width (pixels) MS-SSIM accepts with ``scales`` scales."""
    return max(SSIM_KERNEL * max(1, scales - 1) ** 2, 2 ** scales)


def ms_ssim(pred: np.ndarray, target: np.ndarray, betas: tuple[float, ...] = MS_SSIM_BETAS):
    """MS-SSIM per frame (1 = equal); float for one frame. See the module note on frame sizes."""
    p, _, _ = check_pair(pred, target)
    need = ms_ssim_min_side(len(betas))
    if min(p.shape[1:3]) < need:
        raise ValueError(f"MS-SSIM with {len(betas)} scales needs frames of at least {need} x {need} "
                         f"pixels, got {p.shape[1]} x {p.shape[2]}; pass fewer betas "
                         f"(e.g. MS_SSIM_BETAS[:3] needs {ms_ssim_min_side(3)})")

    def fn(a, b):
        return multiscale_structural_similarity_index_measure(
            a, b, sigma=SSIM_SIGMA, kernel_size=SSIM_KERNEL, data_range=1.0, betas=tuple(betas),
            normalize="relu", reduction="none")
    return _per_frame(fn, pred, target)


@dataclass
class VideoQuality:
    """Per-frame PSNR (dB), SSIM and MS-SSIM (None where the frames are too small) and means."""

    psnr: np.ndarray
    ssim: np.ndarray
    ms_ssim: np.ndarray | None

    def summary(self) -> dict[str, float | None]:
        """Means over frames, as plain floats (JSON-ready)."""
        return {"psnr_db": float(np.mean(self.psnr)), "ssim": float(np.mean(self.ssim)),
                "ms_ssim": None if self.ms_ssim is None else float(np.mean(self.ms_ssim))}


def video_quality(pred: np.ndarray, target: np.ndarray, with_ms_ssim: bool = True) -> VideoQuality:
    """PSNR, SSIM and (when the frames are large enough, see module note) MS-SSIM per frame."""
    p, t, _ = check_pair(pred, target)
    ms = ms_ssim(p, t) if with_ms_ssim and min(p.shape[1:3]) >= ms_ssim_min_side() else None
    return VideoQuality(np.atleast_1d(psnr(p, t)), np.atleast_1d(ssim(p, t)), ms)
