"""PSNR / SSIM / MS-SSIM against known values and an independent SSIM written here in numpy."""
import math

import cv2
import numpy as np
import pytest

from semcom_models.metrics import MS_SSIM_BETAS, PSNR_CAP_DB, ms_ssim, ms_ssim_min_side, psnr, ssim, video_quality


def _texture(h, w, seed=0):
    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.uniform(0, 1, (h, w, 3)).astype(np.float32), (0, 0), 2.0)
    x = (x - x.min()) / (x.max() - x.min())
    return (20 + 215 * x).astype(np.uint8)  # 20..235: +-10 noise never clips


def _noisy(img, amp, seed=1):
    """img + (+-amp) with random signs: MSE is exactly amp**2."""
    s = np.random.default_rng(seed).choice([-amp, amp], size=img.shape)
    return (img.astype(int) + s).astype(np.uint8)


def _ssim_reference(x, y):
    """Gaussian-window SSIM (11 taps, sigma 1.5, K1 0.01, K2 0.03, data range 1), inputs
    reflect-padded by 5, map averaged over pixels and channels."""
    x, y = x.astype(np.float64) / 255, y.astype(np.float64) / 255
    r = np.arange(11) - 5
    g = np.exp(-r ** 2 / (2 * 1.5 ** 2))
    g /= g.sum()

    def blur(a):
        a = np.pad(a, ((5, 5), (5, 5), (0, 0)), mode="reflect")
        a = sum(g[k] * a[k:k + a.shape[0] - 10] for k in range(11))
        return sum(g[k] * a[:, k:k + a.shape[1] - 10] for k in range(11))

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    m = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return m.mean()


def test_identical_frames():
    a = _texture(256, 256)
    assert psnr(a, a) == PSNR_CAP_DB
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)


def test_psnr_known_noise_single_and_video():
    a = _texture(40, 56)
    for amp in (1, 5, 10):
        assert psnr(_noisy(a, amp), a) == pytest.approx(10 * math.log10(255 ** 2 / amp ** 2), abs=1e-3)
    video = np.stack([a, a, a])
    noisy = np.stack([_noisy(a, 2), a, _noisy(a, 8)])
    per = psnr(noisy, video)
    assert per.shape == (3,)
    np.testing.assert_allclose(per, [10 * math.log10(255 ** 2 / 4), PSNR_CAP_DB,
                                     10 * math.log10(255 ** 2 / 64)], atol=1e-3)


def test_ssim_matches_independent_computation():
    a = _texture(64, 80, seed=3)
    for b in (_noisy(a, 10, seed=4), _texture(64, 80, seed=5), np.roll(a, 3, axis=1)):
        assert ssim(b, a) == pytest.approx(_ssim_reference(b, a), abs=1e-3)
    assert ssim(_noisy(a, 10), a) < ssim(_noisy(a, 2), a) < 1.0


def test_ms_ssim_sizes():
    a = _texture(256, 256)
    v = ms_ssim(_noisy(a, 10), a)
    assert 0.5 < v < 1.0
    small = _texture(64, 64)
    with pytest.raises(ValueError, match="at least 176"):
        ms_ssim(small, small)
    assert ms_ssim_min_side(3) == 44
    assert ms_ssim(small, small, betas=MS_SSIM_BETAS[:3]) == pytest.approx(1.0, abs=1e-6)


def test_video_quality_and_errors():
    a = _texture(48, 64)
    vq = video_quality(np.stack([_noisy(a, 4), a]), np.stack([a, a]))
    assert vq.ms_ssim is None  # 48 x 64 is too small for 5 scales
    s = vq.summary()
    assert s["psnr_db"] == pytest.approx((10 * math.log10(255 ** 2 / 16) + PSNR_CAP_DB) / 2, abs=1e-3)
    with pytest.raises(ValueError, match="shape"):
        psnr(a, a[:-1])
    with pytest.raises(ValueError, match="uint8"):
        ssim(a.astype(np.float32), a.astype(np.float32))
    with pytest.raises(ValueError, match="RGB"):
        psnr(a[..., 0], a[..., 0])
