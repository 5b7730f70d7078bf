"""Full-reference image and video quality: PSNR, SSIM, MS-SSIM (the project's one implementation).

Inputs are uint8 RGB, either one frame H x W x 3 or a video T x H x W x 3 (both arguments the
same shape). Each metric returns per-frame values (a float64 array of length T, or a float for
one frame); ``video_quality`` adds the means. A video's figure is the mean of its per-frame
values, as the papers report.

The definitions are torchmetrics' (``torchmetrics.functional.image``, version 1.x) with
``data_range=1.0`` on pixels scaled to [0, 1], as this module used to call them; the code here
is a vectorised reimplementation in plain torch (torchmetrics is not imported: its import alone
takes over a second). tests/models/test_metrics_fast.py holds it, on real clips and synthetic
pairs, within 1e-4 per frame (SSIM, MS-SSIM; 1e-4 dB for PSNR) of a float64 computation of the
same definitions, and of torchmetrics wherever torchmetrics' float32 result is itself within
5e-5 of that (all the synthetic pairs and 256 x 256 frames). Ours stays within ~1e-5 of float64;
float32 torchmetrics is up to 1.3e-4 off, biased low, on large flat areas (e.g. bbb_48f's sky
at 1280 x 720: its rounding makes small variances negative, which the clamp at 0 below turns
into a bias).

- PSNR (dB) = 10 log10(255^2 / MSE) on uint8 values, over all pixels and the 3 channels,
  computed exactly in integers. Equal frames (MSE = 0) give ``PSNR_CAP_DB`` (100 dB) instead of
  infinity so that means stay finite; no value exceeds the cap.
- SSIM: Gaussian window of ``SSIM_KERNEL`` = 11 taps (offsets -5..5), sigma ``SSIM_SIGMA`` =
  1.5, normalised to sum 1; K1 = 0.01, K2 = 0.03, so C1 = 1e-4 and C2 = 9e-4 on [0, 1] pixels.
  Each channel plane is reflect-padded by 5 pixels (``torch.nn.functional.pad`` mode "reflect":
  the edge pixel is not repeated) and filtered 'valid', so the SSIM map has the frame's size;
  the local variances are clamped at 0 (not the covariance); the map is averaged over every
  pixel of every channel, padded border included.
- MS-SSIM: Wang, Simoncelli and Bovik (2003) with their 5 scale weights ``MS_SSIM_BETAS``.
  At each scale the contrast-structure map cs = (2 sigma_xy + C2) / (sigma_x^2 + sigma_y^2 + C2)
  is computed as for SSIM and averaged over the map without its 5-pixel border (where the
  padding reaches); the last scale uses the SSIM mean (border included) instead. Each per-frame
  mean is clamped at 0 (torchmetrics' ``normalize="relu"``), and the result is
  prod_i value_i ** beta_i. Between scales both frames are 2 x 2 average-pooled (an odd last
  row or column is dropped). A side of at least ``ms_ssim_min_side(len(betas))``
  = 11 * (len(betas) - 1) ** 2 pixels is needed (torchmetrics' limit): 176 for 5 scales (so
  256 x 256 and 640 x 272 work), 99 for 4, 44 for 3. Smaller frames raise ValueError unless
  fewer ``betas`` are given (e.g. ``MS_SSIM_BETAS[:3]``; values are then not comparable with
  5-scale figures).
- SSIM needs frames of at least 6 pixels a side (the reflect padding); smaller raise ValueError.

Implementation (CPU, plain torch and numpy): a clip is cut into chunks of whole frames of about
``_CHUNK_VALUES`` = 2^21 values (frames x 3 x H x W; at least one frame), converted to float32
channel planes, x and y. Their SSIM work goes in groups of whole planes, or in row bands of one
plane when a plane is large, of about ``_BAND_VALUES`` = 2^18 padded values per map: the five
maps x, y, x^2, y^2, xy and their filtered copies, ~18 MiB of work buffers. Memory is thus
bounded whatever the clip length: about 2 x 4 x max(2^21, 3HW) bytes of float planes (16 MiB
for 256 x 256 or 640 x 360 frames; MS-SSIM adds its pooled planes, a third more), the two
padded planes of the group and the work buffers. The Gaussian filter is separable: 11 shifted
multiply-adds along the rows, then 11 along the columns ('valid'). The moments are taken of
pixels minus 0.5 (same SSIM in exact arithmetic, less float32 cancellation in E[x^2] - E[x]^2).
Maps are float32, as in torchmetrics; each map row is summed in float32 and the per-plane totals
in float64. SSIM and MS-SSIM share the full-resolution pass in ``video_quality``. PSNR sums the
squared uint8 differences exactly in int64 with numpy, ``_PSNR_FRAMES`` frames at a time.
Results do not depend on the chunk, group and band sizes beyond float64 rounding.

Threads: everything runs under ``torch.inference_mode`` with torch's current intra-op thread
count (``torch.get_num_threads()``; not changed here). On cores that other processes keep busy,
one thread (``OMP_NUM_THREADS=1`` or ``torch.set_num_threads(1)``) is faster and steadier, as
for any torch code made of many short operations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

PSNR_CAP_DB = 100.0
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_KERNEL = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
_PAD = SSIM_KERNEL // 2
# float32 values per filtered map in one group of planes or row band (see the module note).
_BAND_VALUES = 1 << 18
# channel-plane values (frames x 3 x H x W) converted to float32 at a time (at least one frame).
_CHUNK_VALUES = 1 << 21
# frames per PSNR step: int16/int32 temporaries of at most this many frames.
_PSNR_FRAMES = 8


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


def _owned(a: np.ndarray) -> np.ndarray:
    """``a`` contiguous and writable (a copy of a read-only view, e.g. a service request's buffer:
    torch does not take read-only memory)."""
    a = np.ascontiguousarray(a)
    return a if a.flags.writeable else a.copy()


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 T x H x W x 3 (or H x W x 3) -> float32 N x 3 x H x W in [0, 1]."""
    a = np.asarray(frames)
    if a.ndim == 3:
        a = a[None]
    return torch.from_numpy(_owned(a)).permute(0, 3, 1, 2).float().div_(255.0)


def _out(values: np.ndarray, single: bool):
    return float(values[0]) if single else values


# -- PSNR ---------------------------------------------------------------------------------------
def psnr(pred: np.ndarray, target: np.ndarray):
    """PSNR in dB per frame, 10 log10(255^2 / MSE) with the MSE over pixels and channels (capped at
    PSNR_CAP_DB, which equal frames get); float for one frame."""
    p, t, single = check_pair(pred, target)
    n = p[0].size
    out = np.empty(len(p), dtype=np.float64)
    for i in range(0, len(p), _PSNR_FRAMES):
        d = (p[i:i + _PSNR_FRAMES].astype(np.int32) - t[i:i + _PSNR_FRAMES]).reshape(-1, n)
        sse = np.einsum("fi,fi->f", d, d, dtype=np.int64)     # exact: at most 255^2 n per frame
        with np.errstate(divide="ignore"):
            out[i:i + len(d)] = 10.0 * np.log10(255.0 ** 2 * n / sse.astype(np.float64))
    return _out(np.minimum(out, PSNR_CAP_DB), single)


# -- SSIM core ----------------------------------------------------------------------------------
def _gauss_taps() -> list[float]:
    """The 11 normalised Gaussian taps (offsets -5..5, sigma 1.5), as torchmetrics builds them
    (float32 arithmetic), returned as Python floats."""
    d = torch.arange(-_PAD, _PAD + 1, dtype=torch.float32)
    g = torch.exp(-torch.pow(d / SSIM_SIGMA, 2) / 2)
    return (g / g.sum()).tolist()


_TAPS = _gauss_taps()
_C1 = (SSIM_K1 * 1.0) ** 2
_C2 = (SSIM_K2 * 1.0) ** 2
_CENTER = 0.5   # subtracted from the [0, 1] pixels before the local moments (see _band_sums)


def _blur_valid(s: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """'valid' 11 x 11 Gaussian filter of the last two axes of ``s`` (... x R+10 x C+10) as two
    1-D passes, through ``a`` (... x R+10 x C) into ``b`` (... x R x C), which it returns."""
    g, rows, cols = _TAPS, b.shape[-2], b.shape[-1]
    torch.mul(s[..., 0:cols], g[0], out=a)
    for k in range(1, SSIM_KERNEL):
        a.add_(s[..., k:k + cols], alpha=g[k])
    torch.mul(a[..., 0:rows, :], g[0], out=b)
    for k in range(1, SSIM_KERNEL):
        b.add_(a[..., k:k + rows, :], alpha=g[k])
    return b


def _band_sums(xp: torch.Tensor, yp: torch.Tensor, h: int, w: int, want_sim: bool,
               want_cs: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Per-plane float64 sums of the SSIM and cs maps of reflect-padded float32 planes
    ``xp``, ``yp`` (P x H+10 x W+10), in row bands of about ``_BAND_VALUES`` values per map.

    ``_CENTER`` = 0.5 is subtracted from both planes before the moments are taken (and added back
    to the local means): the same SSIM in exact arithmetic, with smaller float32 rounding in the
    variances E[x^2] - E[x]^2 of flat regions, where that rounding would bias the clamp at 0."""
    n_planes, wp, e = xp.shape[0], w + 2 * _PAD, 2 * _PAD
    band = min(h, max(1, _BAND_VALUES // (n_planes * wp) - e))
    sim = torch.zeros(n_planes, dtype=torch.float64) if want_sim else None
    cs = torch.zeros(n_planes, dtype=torch.float64) if want_cs else None
    # work buffers, reused by every band: the 5 padded maps, the row pass, the column pass, 3 more
    s_buf = torch.empty((5, n_planes, band + e, wp), dtype=torch.float32)
    a_buf = torch.empty((5, n_planes, band + e, w), dtype=torch.float32)
    b_buf = torch.empty((5, n_planes, band, w), dtype=torch.float32)
    t_buf = torch.empty((3, n_planes, band, w), dtype=torch.float32)
    for r0 in range(0, h, band):
        rows = min(band, h - r0)
        s, t = s_buf[:, :, :rows + e], t_buf[:, :, :rows]
        torch.sub(xp[:, r0:r0 + rows + e], _CENTER, out=s[0])
        torch.sub(yp[:, r0:r0 + rows + e], _CENTER, out=s[1])
        torch.mul(s[0], s[0], out=s[2])
        torch.mul(s[1], s[1], out=s[3])
        torch.mul(s[0], s[1], out=s[4])
        m = _blur_valid(s, a_buf[:, :, :rows + e], b_buf[:, :, :rows])
        dx, dy, e_xx, e_yy, e_xy = m[0], m[1], m[2], m[3], m[4]        # centred local moments
        var_x = e_xx.sub_(torch.mul(dx, dx, out=t[0])).clamp_(min=0.0)
        var_y = e_yy.sub_(torch.mul(dy, dy, out=t[1])).clamp_(min=0.0)
        upper = e_xy.sub_(torch.mul(dx, dy, out=t[2])).mul_(2.0).add_(_C2)   # 2 sigma_xy + C2
        lower = var_x.add_(var_y).add_(_C2)                                  # sigma_x^2 + sigma_y^2 + C2
        if want_cs:
            # rows r0..r0+rows-1 of the map; the cs mean leaves out 5 rows and columns a side
            a, b = max(r0, _PAD), min(r0 + rows, h - _PAD)
            if b > a:
                c = torch.div(upper[:, a - r0:b - r0, _PAD:w - _PAD], lower[:, a - r0:b - r0, _PAD:w - _PAD],
                              out=t[0, :, :b - a, :w - e])
                cs += c.sum(dim=2).sum(dim=1, dtype=torch.float64)   # rows in float32, then float64
        if want_sim:
            mu_x, mu_y = dx.add_(_CENTER), dy.add_(_CENTER)
            lum_den = torch.mul(mu_x, mu_x, out=t[0]).add_(torch.mul(mu_y, mu_y, out=t[1])).add_(_C1)
            lum_num = torch.mul(mu_x, mu_y, out=t[2]).mul_(2.0).add_(_C1)     # 2 mu_x mu_y + C1
            ssim_map = lum_num.mul_(upper).div_(lum_den.mul_(lower))
            sim += ssim_map.sum(dim=2).sum(dim=1, dtype=torch.float64)
    return sim, cs


def _pool2(x: torch.Tensor) -> torch.Tensor:
    """2 x 2 average pooling of float32 P x H x W planes (an odd last row or column dropped), summed
    in the order (top-left + top-right) + bottom-left + bottom-right, then times 1/4."""
    h2, w2 = x.shape[1] // 2, x.shape[2] // 2
    out = x[:, 0:2 * h2:2, 0:2 * w2:2] + x[:, 0:2 * h2:2, 1:2 * w2:2]
    out.add_(x[:, 1:2 * h2:2, 0:2 * w2:2]).add_(x[:, 1:2 * h2:2, 1:2 * w2:2])
    return out.mul_(0.25)


def _ssim_sums(x: torch.Tensor, y: torch.Tensor, want_sim: bool,
               want_cs: bool) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Per-plane sums of the SSIM map (all H x W positions; with ``want_sim``) and of the cs map
    without its 5-pixel border ((H-10) x (W-10) positions; with ``want_cs``), float64 tensors of
    length P (None where not wanted).

    ``x``, ``y``: float32 P x H x W in [0, 1]. The planes are padded and filtered in groups of
    whole planes with about ``_BAND_VALUES`` padded values each, a large plane alone in row bands."""
    n_planes, h, w = x.shape
    step = max(1, _BAND_VALUES // ((h + 2 * _PAD) * (w + 2 * _PAD)))
    sims, css = [], []
    for k in range(0, n_planes, step):
        xp = F.pad(x[k:k + step, None], (_PAD, _PAD, _PAD, _PAD), mode="reflect")[:, 0]
        yp = F.pad(y[k:k + step, None], (_PAD, _PAD, _PAD, _PAD), mode="reflect")[:, 0]
        sim, cs = _band_sums(xp, yp, h, w, want_sim, want_cs)
        sims.append(sim)
        css.append(cs)
    return (torch.cat(sims) if want_sim else None), (torch.cat(css) if want_cs else None)


def _planes(frames: np.ndarray) -> torch.Tensor:
    """uint8 T x H x W x 3 -> float32 3T x H x W channel planes in [0, 1] (plane k = frame k // 3,
    channel k % 3)."""
    t = torch.from_numpy(_owned(frames)).permute(0, 3, 1, 2)
    return t.reshape(-1, frames.shape[1], frames.shape[2]).float().div_(255.0)


def _check_ssim_size(p: np.ndarray) -> None:
    if min(p.shape[1:3]) <= _PAD:
        raise ValueError(f"SSIM needs frames of at least {_PAD + 1} x {_PAD + 1} pixels, "
                         f"got {p.shape[1]} x {p.shape[2]}")


def _ssim_and_ms(p: np.ndarray, t: np.ndarray, betas: tuple[float, ...] | None,
                 want_ssim: bool = True) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-frame SSIM (with ``want_ssim``) and MS-SSIM (when ``betas`` is given) of checked uint8
    T x H x W x 3 videos, sharing the full-resolution pass."""
    n_frames, h, w, _ = p.shape
    n_planes = 3 * n_frames
    scales = len(betas) if betas is not None else 0
    sim0 = np.zeros(n_planes)
    # per-scale per-plane sums: cs for scales 0..S-2, the SSIM mean at the last scale
    ms_sums = np.zeros((max(scales, 1), n_planes))
    sizes = [(h, w)]
    for _ in range(max(scales - 1, 0)):
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    fpc = max(1, _CHUNK_VALUES // (3 * h * w))        # frames per chunk
    with torch.inference_mode():
        for f0 in range(0, n_frames, fpc):
            x, y = _planes(p[f0:f0 + fpc]), _planes(t[f0:f0 + fpc])
            k0, k1 = 3 * f0, 3 * f0 + x.shape[0]
            if betas is None:
                sim0[k0:k1] = _ssim_sums(x, y, want_sim=True, want_cs=False)[0].numpy()
                continue
            for s in range(scales):
                last = s == scales - 1
                sim, cs = _ssim_sums(x, y, want_sim=last or (s == 0 and want_ssim), want_cs=not last)
                if s == 0 and want_ssim:
                    sim0[k0:k1] = sim.numpy()
                ms_sums[s, k0:k1] = (sim if last else cs).numpy()
                if not last:
                    x, y = _pool2(x), _pool2(y)
    ssim_v = sim0.reshape(n_frames, 3).sum(axis=1) / (3 * h * w) if want_ssim else None
    if betas is None:
        return ssim_v, None
    ms = np.ones(n_frames)
    for s, (hs, ws) in enumerate(sizes):
        count = hs * ws if s == scales - 1 else (hs - 2 * _PAD) * (ws - 2 * _PAD)
        v = np.maximum(ms_sums[s].reshape(n_frames, 3).sum(axis=1) / (3 * count), 0.0)
        ms *= v ** float(betas[s])
    return ssim_v, ms


def ssim(pred: np.ndarray, target: np.ndarray):
    """SSIM per frame (1 = equal); float for one frame. See the module note."""
    p, t, single = check_pair(pred, target)
    _check_ssim_size(p)
    v, _ = _ssim_and_ms(p, t, None)
    return _out(v, single)


def ms_ssim_min_side(scales: int = len(MS_SSIM_BETAS)) -> int:
    """Smallest frame height and width (pixels) MS-SSIM accepts with ``scales`` scales."""
    return max(SSIM_KERNEL * max(1, scales - 1) ** 2, 2 ** scales)


def _check_ms_size(p: np.ndarray, betas: tuple[float, ...]) -> None:
    if not betas:
        raise ValueError("MS-SSIM needs at least one scale weight in betas")
    need = ms_ssim_min_side(len(betas))
    if min(p.shape[1:3]) < need:
        raise ValueError(f"MS-SSIM with {len(betas)} scales needs frames of at least {need} x {need} "
                         f"pixels, got {p.shape[1]} x {p.shape[2]}; pass fewer betas "
                         f"(e.g. MS_SSIM_BETAS[:3] needs {ms_ssim_min_side(3)})")


def ms_ssim(pred: np.ndarray, target: np.ndarray, betas: tuple[float, ...] = MS_SSIM_BETAS):
    """MS-SSIM per frame (1 = equal); float for one frame. ``betas``: one weight per scale, finest
    first. See the module note on frame sizes."""
    p, t, single = check_pair(pred, target)
    betas = tuple(float(b) for b in betas)
    _check_ms_size(p, betas)
    _, v = _ssim_and_ms(p, t, betas, want_ssim=False)
    return _out(v, single)


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
    """PSNR, SSIM and (when the frames are large enough, see module note) MS-SSIM per frame; SSIM
    and MS-SSIM share their full-resolution pass."""
    p, t, _ = check_pair(pred, target)
    _check_ssim_size(p)
    use_ms = with_ms_ssim and min(p.shape[1:3]) >= ms_ssim_min_side()
    s, ms = _ssim_and_ms(p, t, MS_SSIM_BETAS if use_ms else None)
    return VideoQuality(np.atleast_1d(psnr(p, t)), s, ms)
