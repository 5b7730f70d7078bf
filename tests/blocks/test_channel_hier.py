"""The GNU Radio channel block (semcom_blocks.channel_hier.semcom_channel) in running flowgraphs.

Each flowgraph runs a finite vector source through the block into a vector sink, in a thread
with a deadline, so that a hang fails the test instead of stalling CI.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")

from helpers.flowgraph import run_flowgraph  # noqa: E402
from semcom_blocks.channel_hier import semcom_channel  # noqa: E402
from semcom_blocks.phy.channel import noise_variance  # noqa: E402

pytestmark = pytest.mark.gnuradio




@pytest.fixture(scope="module")
def white():
    """Unit-power complex white Gaussian samples."""
    rng = np.random.default_rng(0)
    n = 300_000
    return ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)


@pytest.mark.parametrize("snr_db, fft_len, n_used", [(0.0, 64, 52), (15.0, 64, 52), (5.0, 128, 100)])
def test_awgn_variance_matches_noise_variance(white, snr_db, fft_len, n_used):
    y = run_flowgraph(semcom_channel(snr_db=snr_db, fft_len=fft_len, n_used=n_used, seed=3), white)
    assert y.size == white.size  # sync all the way: nothing held back
    noise = y - white
    target = noise_variance(snr_db, fft_len, n_used)
    assert np.mean(np.abs(noise) ** 2) == pytest.approx(target, rel=0.05)
    assert np.var(noise.real) == pytest.approx(np.var(noise.imag), rel=0.05)


def test_set_snr_db_changes_noise():
    blk = semcom_channel(snr_db=0.0, seed=1)
    blk.set_snr_db(20.0)
    assert blk.snr_db() == 20.0 and blk.noise_var() == pytest.approx(noise_variance(20.0))
    y = run_flowgraph(blk, np.zeros(100_000, np.complex64))
    assert np.mean(np.abs(y) ** 2) == pytest.approx(noise_variance(20.0), rel=0.05)
    blk.set_snr_db(math.inf)
    assert blk.noise_var() == 0.0


@pytest.mark.parametrize("cfo", [0.37, -2.5])
def test_cfo_rotation_rate(cfo):
    n = 5000
    x = np.exp(2j * np.pi * np.random.default_rng(2).random(n)).astype(np.complex64)
    blk = semcom_channel(snr_db=math.inf, cfo_subcarriers=cfo, fft_len=64)
    y = run_flowgraph(blk, x)
    phase = np.unwrap(np.angle(y * np.conj(x)))
    slope, intercept = np.polyfit(np.arange(n), phase, 1)
    assert slope == pytest.approx(2 * np.pi * cfo / 64, rel=1e-4)
    assert abs(intercept) < 1e-3
    blk.set_cfo_subcarriers(0.1)
    assert blk.cfo_subcarriers() == 0.1


@pytest.mark.parametrize("profile", ["flat", "eva", "tdl-a"])
def test_multipath_mean_power_with_doppler(white, profile):
    """Taps with Doppler average to unit power over many Doppler periods (150 here)."""
    blk = semcom_channel(snr_db=math.inf, profile=profile, sample_rate=1e6, doppler_hz=500.0, seed=2)
    y = run_flowgraph(blk, white)
    assert y.size == white.size
    assert np.mean(np.abs(y) ** 2) == pytest.approx(1.0, rel=0.1)
    assert np.sum(blk.path_powers) == pytest.approx(1.0)


def test_multipath_impulse_response_uses_rounded_delays():
    """Block fading (no Doppler): an impulse comes out at the merged, rounded path delays."""
    blk = semcom_channel(snr_db=math.inf, profile="etu", sample_rate=1e6, seed=5)
    np.testing.assert_array_equal(blk.path_delays, [0, 1, 2, 5])
    x = np.zeros(64, np.complex64)
    x[0] = x[32] = 1
    y = run_flowgraph(blk, x)
    h = y[:32]
    assert np.all(np.abs(h[[0, 1, 2, 5]]) > 0) and np.all(np.abs(np.delete(h, [0, 1, 2, 5])) < 1e-4)
    np.testing.assert_allclose(y[32:], h, atol=1e-5)  # held constant without Doppler


@pytest.mark.parametrize("ppm", [200.0, -500.0])
def test_sro_length_and_alignment(white, ppm):
    x = white[:50_000]
    y = run_flowgraph(semcom_channel(snr_db=math.inf, sro_ppm=ppm), x)
    ratio = 1 + ppm * 1e-6
    assert abs(y.size - x.size / ratio) <= 8  # the resampler holds back its last few samples
    # output m is the input at m * ratio: aligned at the start (the resampler's 3-sample
    # advance is compensated), drifting by ppm afterwards
    head = slice(16, 200)
    assert np.mean(np.abs(y[head] - x[head]) ** 2) < 0.05
    m = 20_000
    lag = round(m * ratio) - m  # 4 and -10 samples

    def corr(k):
        return np.abs(np.vdot(x[m + k:m + k + 200], y[m:m + 200])) / 200

    assert corr(lag) > 0.8 and corr(lag - 2) < 0.3 and corr(lag + 2) < 0.3


def test_same_seed_same_output(white):
    x = white[:20_000]
    kw = dict(snr_db=10.0, profile="eva", sample_rate=1e6, doppler_hz=100.0, seed=9)
    a = run_flowgraph(semcom_channel(**kw), x)
    b = run_flowgraph(semcom_channel(**kw), x)
    np.testing.assert_array_equal(a, b)
    c = run_flowgraph(semcom_channel(**dict(kw, seed=10)), x)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("kwargs, match", [
    (dict(profile="rayleigh"), "unknown channel profile"),
    (dict(snr_db=float("nan")), "snr_db"),
    (dict(sample_rate=-1.0), "sample_rate"),
    (dict(doppler_hz=-1.0), "doppler_hz"),
    (dict(n_used=80), "n_used"),
    (dict(seed=-1), "seed"),
    (dict(sro_ppm=float("inf")), "sro_ppm"),
])
def test_bad_parameters_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        semcom_channel(**kwargs)
