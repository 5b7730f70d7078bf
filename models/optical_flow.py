"""Dense optical flow, backward warping and flow-based frame interpolation (OpenCV, no weights).

Conventions:
- Frames are uint8 H x W x 3 RGB; flow is computed on their grayscale (BT.601 luma).
- A flow field is float32 H x W x 2 in pixels, (dx, dy) with x to the right and y down.
  ``flow = compute_flow(a, b)`` means a(x) ~ b(x + flow(x)): the content at x in ``a`` is found
  at x + flow(x) in ``b`` (it moved by flow(x) from a to b).
- ``warp(img, flow)`` samples backwards: out(x) = img(x + flow(x)), bilinear, borders replicated.
  So ``warp(b, compute_flow(a, b))`` approximates ``a``.

Methods: ``"dis"`` (OpenCV's Dense Inverse Search, preset MEDIUM by default; Kroeger et al. 2016)
and ``"farneback"`` (polynomial expansion, Farneback 2003).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .video_io import check_image

METHODS = ("dis", "farneback")
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
# Farneback parameters: 5 pyramid levels halving the size, so motions of tens of pixels are found.
FARNEBACK = dict(pyr_scale=0.5, levels=5, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
# Occlusion-aware blending: luma error (0..255) at which an end's weight falls to 1/e.
OCCLUSION_SCALE = 10.0


def gray(image: np.ndarray) -> np.ndarray:
    """uint8 H x W x 3 RGB -> uint8 H x W luma."""
    return cv2.cvtColor(check_image(image), cv2.COLOR_RGB2GRAY)


def _as_gray(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x if x.ndim == 2 else gray(x)


def compute_flow(a: np.ndarray, b: np.ndarray, method: str = "dis", preset: str = "medium") -> np.ndarray:
    """Dense flow from frame ``a`` to frame ``b`` (float32 H x W x 2, pixels; see module note).

    a, b: uint8 H x W x 3 RGB frames of one size, or uint8 H x W grayscale.
    method: "dis" (preset "ultrafast", "fast" or "medium") or "farneback".
    """
    ga, gb = _as_gray(a), _as_gray(b)
    if ga.dtype != np.uint8 or gb.dtype != np.uint8 or ga.shape != gb.shape:
        raise ValueError(f"frames must be uint8 and of one size, got {ga.dtype} {ga.shape} and {gb.dtype} {gb.shape}")
    if method == "dis":
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; choose from {sorted(DIS_PRESETS)}")
        return cv2.DISOpticalFlow_create(DIS_PRESETS[preset]).calc(ga, gb, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(ga, gb, None, **FARNEBACK)
    raise ValueError(f"unknown flow method {method!r}; choose from {METHODS}")


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out(x) = image(x + flow(x)), bilinear, replicated borders, same dtype."""
    img = np.asarray(image)
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[:2] != img.shape[:2]:
        raise ValueError(f"flow must be H x W x 2 matching the image {img.shape[:2]}, got {flow.shape}")
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def interpolate_frames(a: np.ndarray, b: np.ndarray, taus: Sequence[float], method: str = "dis",
                       preset: str = "medium", occlusion: bool = False) -> np.ndarray:
    """Frames between ``a`` (time 0) and ``b`` (time 1) at fractional times ``taus`` in [0, 1].

    Flows are computed both ways (F_ab = flow a->b, F_ba = flow b->a) and assumed linear in
    time. The flows from the intermediate time t to the two ends are approximated as in Jiang
    et al. (Super SloMo, 2018):
        F_ta = -(1 - t) t F_ab + t^2 F_ba,    F_tb = (1 - t)^2 F_ab - t (1 - t) F_ba.
    Both ends are warped to t and blended with weights (1 - t) and t.

    With ``occlusion`` each end's weight is further multiplied by exp(-e / OCCLUSION_SCALE),
    where e is that end's own flow check at the pixel it supplies: the luma error (0..255, 5x5
    box-smoothed) between the end and the other end warped onto it (e.g. |a - warp(b, F_ab)|).
    This down-weights an end whose flow failed. It is off by default because it measured worse:
    on bikes.mp4 (320 x 136, keyframes every 8 frames within each shot, DIS) the in-between
    frames' PSNR fell from 24.7 dB to 24.0 dB; content that is occluded at the other end also
    fails the check, so the end that still shows it is the one down-weighted. Plain temporal
    blending gave the lowest error of the variants tried (forward-backward flow consistency
    and weighting by disagreement between the two warped ends were also worse).

    Returns uint8 len(taus) x H x W x 3.
    """
    a, b = check_image(a, "a"), check_image(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b differ in shape: {a.shape} vs {b.shape}")
    taus = np.asarray(taus, dtype=np.float64).ravel()
    if taus.size and (taus.min() < 0 or taus.max() > 1):
        raise ValueError(f"interpolation times must lie in [0, 1], got {taus}")
    ga, gb = gray(a), gray(b)
    f_ab = compute_flow(ga, gb, method, preset)
    f_ba = compute_flow(gb, ga, method, preset)
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    if occlusion:
        # Each end judged by the other: b sampled where a's content went is ~a where a's content
        # stays visible and the flow is right (err_a small), and the same for b.
        err_a = _luma_error(fa, warp(fb, f_ab))
        err_b = _luma_error(fb, warp(fa, f_ba))
    out = np.empty((taus.size,) + a.shape, dtype=np.uint8)
    for i, t in enumerate(taus):
        f_ta = -(1 - t) * t * f_ab + t * t * f_ba
        f_tb = (1 - t) ** 2 * f_ab - t * (1 - t) * f_ba
        wa_img, wb_img = warp(fa, f_ta), warp(fb, f_tb)
        w_a = np.full(a.shape[:2], 1.0 - t, dtype=np.float32)
        w_b = np.full(a.shape[:2], t, dtype=np.float32)
        if occlusion:
            w_a *= np.exp(-warp(err_a, f_ta) / OCCLUSION_SCALE)
            w_b *= np.exp(-warp(err_b, f_tb) / OCCLUSION_SCALE)
        total = w_a + w_b
        # Where both weights vanish (both ends unreliable), fall back to the temporal weights.
        bad = total < 1e-6
        w_a = np.where(bad, 1.0 - t, w_a) / np.where(bad, 1.0, total)
        w_b = np.where(bad, t, w_b) / np.where(bad, 1.0, total)
        blend = wa_img * w_a[..., None] + wb_img * w_b[..., None]
        out[i] = np.clip(blend + 0.5, 0, 255).astype(np.uint8)
    return out


def _luma_error(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Absolute luma difference of two float RGB images, smoothed by a 5x5 box (float32 H x W)."""
    d = np.abs((x - y) @ np.array([0.299, 0.587, 0.114], dtype=np.float32))
    return cv2.blur(d, (5, 5))


def predict_middle(prev: np.ndarray, nxt: np.ndarray, method: str = "dis", preset: str = "medium") -> np.ndarray:
    """Predict the frame halfway between ``prev`` and ``nxt`` (uint8 H x W x 3)."""
    return interpolate_frames(prev, nxt, [0.5], method, preset)[0]
