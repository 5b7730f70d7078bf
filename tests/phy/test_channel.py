"""The numpy channel (semcom_blocks.phy.channel): SNR convention, impairments, profiles, seeds."""
from __future__ import annotations

import math

import numpy as np
import pytest

from semcom_blocks.phy.channel import (
    PROFILES,
    ChannelSim,
    PowerDelayProfile,
    apply_channel,
    fractional_interp,
    get_profile,
    noise_variance,
    profile_names,
    profile_taps,
    sos_fading,
)


def ofdm_qpsk(rng, n_symbols: int, fft_len: int = 64, n_used: int = 52):
    """(time samples, data symbols, used bins): QPSK on n_used bins around DC (DC empty),
    IFFT scaled by fft_len / sqrt(n_used) as the OFDM TX does."""
    half = n_used // 2
    bins = np.r_[1:half + 1, fft_len - (n_used - half):fft_len]
    data = ((2 * rng.integers(0, 2, (n_symbols, n_used)) - 1)
            + 1j * (2 * rng.integers(0, 2, (n_symbols, n_used)) - 1)) / np.sqrt(2)
    grid = np.zeros((n_symbols, fft_len), complex)
    grid[:, bins] = data
    x = fft_len / np.sqrt(n_used) * np.fft.ifft(grid, axis=1)
    return x, data, bins


def ofdm_rx(y, bins, fft_len: int = 64, n_used: int = 52):
    return np.sqrt(n_used) / fft_len * np.fft.fft(y.reshape(-1, fft_len), axis=1)[:, bins]


@pytest.mark.parametrize("snr_db, fft_len, n_used", [(0.0, 64, 52), (10.0, 64, 52),
                                                     (25.0, 64, 52), (10.0, 128, 100)])
def test_snr_convention_per_subcarrier(snr_db, fft_len, n_used):
    """Unit-power OFDM + noise_variance(snr) noise -> measured Es/N0 per subcarrier = snr."""
    rng = np.random.default_rng(1)
    x, data, bins = ofdm_qpsk(rng, 120_000 // n_used, fft_len, n_used)
    assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, rel=1e-9)
    sigma2 = noise_variance(snr_db, fft_len, n_used)
    assert sigma2 == pytest.approx(fft_len / (n_used * 10 ** (snr_db / 10)))
    # raw noise with that variance ...
    w = np.sqrt(sigma2 / 2) * (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape))
    rx = ofdm_rx((x + w).ravel(), bins, fft_len, n_used)
    measured = 10 * np.log10(1 / np.mean(np.abs(rx - data) ** 2))
    assert measured == pytest.approx(snr_db, abs=0.1)
    # ... and through ChannelSim (profile "none")
    y = ChannelSim(snr_db, fft_len=fft_len, n_used=n_used, seed=2)(x.ravel())
    rx = ofdm_rx(y, bins, fft_len, n_used)
    measured = 10 * np.log10(1 / np.mean(np.abs(rx - data) ** 2))
    assert measured == pytest.approx(snr_db, abs=0.1)


def test_noise_variance_values_and_signal_power():
    assert noise_variance(0.0) == pytest.approx(64 / 52)
    assert noise_variance(10.0, 64, 64) == pytest.approx(0.1)
    assert noise_variance(10.0, 64, 52, signal_power=2.0) == pytest.approx(2 * 64 / 520)
    assert noise_variance(math.inf) == 0.0


def test_noise_only_variance():
    sim = ChannelSim(7.0, seed=5)
    y = sim(np.zeros(200_000, np.complex64))
    assert y.dtype == np.complex64 and y.size == 200_000
    assert np.mean(np.abs(y) ** 2) == pytest.approx(noise_variance(7.0), rel=0.02)
    assert np.var(y.real) == pytest.approx(np.var(y.imag), rel=0.03)  # circular
    assert abs(np.mean(y[1:] * np.conj(y[:-1]))) < 0.01 * noise_variance(7.0)  # white


def test_no_noise_no_impairment_is_identity():
    x = np.exp(2j * np.pi * np.random.default_rng(0).random(500))
    np.testing.assert_allclose(ChannelSim()(x), x, atol=1e-12)


@pytest.mark.parametrize("cfo", [0.37, -1.25, 3.0])
def test_cfo_phase_slope(cfo):
    x = np.exp(2j * np.pi * np.random.default_rng(0).random(2000))
    y = ChannelSim(cfo=cfo, fft_len=64)(x)
    phase = np.unwrap(np.angle(y * np.conj(x)))
    slope, intercept = np.polyfit(np.arange(x.size), phase, 1)
    assert slope == pytest.approx(2 * np.pi * cfo / 64, rel=1e-9)
    assert intercept == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("ppm", [100.0, -100.0, 2000.0])
def test_sro_length_ratio_and_accuracy(ppm):
    n = 20_000
    f = 20 / 64  # a tone near the edge of the used band
    x = np.exp(2j * np.pi * f * np.arange(n))
    y = ChannelSim(sro_ppm=ppm)(x)
    ratio = 1 + ppm * 1e-6
    assert y.size == int(np.floor((n - 1) / ratio)) + 1
    assert y.size == pytest.approx(n / ratio, abs=1)
    ref = np.exp(2j * np.pi * f * np.arange(y.size) * ratio)  # waveform at m * (1 + ppm 1e-6)
    err = np.mean(np.abs(y[32:-32] - ref[32:-32]) ** 2)
    assert 10 * np.log10(err) < -60


def test_timing_offset_integer_and_fractional():
    x = np.exp(2j * np.pi * (5 / 64) * np.arange(1000))
    y = ChannelSim(timing_offset=3)(x)
    assert y.size == 1003
    np.testing.assert_allclose(y[:3], 0)
    np.testing.assert_allclose(y[3:], x, atol=1e-12)
    y = ChannelSim(timing_offset=2.5)(x)
    assert y.size == 1003
    ref = np.exp(2j * np.pi * (5 / 64) * (np.arange(y.size) - 2.5))
    assert np.max(np.abs(y[40:-40] - ref[40:-40])) < 1e-3


@pytest.mark.parametrize("profile, doppler_hz", [("none", 0.0), ("epa", 0.0), ("eva", 100.0)])
def test_empty_burst(profile, doppler_hz):
    sim = ChannelSim(10.0, profile=profile, doppler_hz=doppler_hz, sro_ppm=50.0, timing_offset=2.5, cfo=0.2)
    y = sim(np.zeros(0, np.complex64))
    assert y.dtype == np.complex64 and y.size == 3  # the leading samples of the timing offset


def test_fractional_interp_integer_positions_are_exact():
    x = np.random.default_rng(0).standard_normal(50) + 0j
    np.testing.assert_allclose(fractional_interp(x, np.arange(50.0)), x, atol=1e-12)


TABLED = {  # (delays, powers in dB) as in 3GPP TS 36.104 Annex B.2 / TR 38.901 Table 7.7.2
    "epa": ([0, 30, 70, 90, 110, 190, 410], [0, -1, -2, -3, -8, -17.2, -20.8]),
    "eva": ([0, 30, 150, 310, 370, 710, 1090, 1730, 2510],
            [0, -1.5, -1.4, -3.6, -0.6, -9.1, -7, -12, -16.9]),
    "etu": ([0, 50, 120, 200, 230, 500, 1600, 2300, 5000], [-1, -1, -1, 0, 0, 0, -3, -5, -7]),
}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles_normalised(name):
    prof = PROFILES[name]
    assert prof.powers().sum() == pytest.approx(1.0)
    assert len(prof.delays) == len(prof.powers_db)
    assert prof.source
    for mode in ("round", "sinc"):
        delays, powers = profile_taps(name, 20e6, delay_mode=mode)
        assert powers.sum() == pytest.approx(1.0) and np.all(delays >= 0)
    if name in TABLED:
        delays, powers_db = TABLED[name]
        np.testing.assert_array_equal(prof.delays_ns(), delays)
        np.testing.assert_array_equal(prof.powers_db, powers_db)
    if name.startswith("tdl"):
        assert len(prof.delays) in (23, 24) and prof.normalized
        assert prof.delays_ns(300.0) == pytest.approx(300.0 * np.asarray(prof.delays))


def test_tdl_first_and_strongest_taps():
    """Spot checks against TR 38.901 Table 7.7.2-1..3."""
    a, b, c = PROFILES["tdl-a"], PROFILES["tdl-b"], PROFILES["tdl-c"]
    assert (a.delays[1], a.powers_db[0], a.delays[-1], a.powers_db[-1]) == (0.3819, -13.4, 9.6586, -29.7)
    assert (b.delays[1], b.powers_db[1], b.delays[-1], b.powers_db[-1]) == (0.1072, -2.2, 4.7834, -11.3)
    assert (c.delays[5], c.powers_db[0], c.delays[-1], c.powers_db[-1]) == (0.6366, -4.4, 8.6523, -22.8)


def test_profile_taps_round_merges_paths():
    delays, powers = profile_taps("eva", 1e6)  # 0.03..2.51 us at 1 MS/s
    np.testing.assert_array_equal(delays, [0, 1, 2, 3])
    p = PROFILES["eva"].powers()
    np.testing.assert_allclose(powers, [p[:5].sum(), p[5:7].sum(), p[7], p[8]])
    delays, _ = profile_taps("etu", 20e6)
    np.testing.assert_array_equal(delays, [0, 1, 2, 4, 5, 10, 32, 46, 100])
    delays, _ = profile_taps("epa", 10e6, delay_mode="sinc")
    np.testing.assert_allclose(delays, np.array(TABLED["epa"][0]) * 1e-2)


@pytest.mark.parametrize("mode", ["round", "sinc"])
def test_block_fading_average_power_is_one(mode):
    sim = ChannelSim(profile="etu", sample_rate=10e6, delay_mode=mode, seed=4)
    energy = []
    for _ in range(3000):
        sim(np.ones(1))
        energy.append(np.sum(np.abs(sim.impulse_response()) ** 2))
    assert np.mean(energy) == pytest.approx(1.0, rel=0.05)
    # the taps are what the call applied
    x = np.random.default_rng(0).standard_normal(300) + 0j
    y = sim(x)
    np.testing.assert_allclose(y, np.convolve(x, sim.impulse_response()), atol=1e-12)
    assert y.size == x.size + sim.path_filters.shape[1] - 1


def test_doppler_fading_power_and_time_variation():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(100_000) + 1j * rng.standard_normal(100_000)) / np.sqrt(2)
    sim = ChannelSim(profile="eva", sample_rate=1e6, doppler_hz=500.0, seed=1)
    y = sim(x)  # 50 Doppler periods
    assert np.mean(np.abs(y) ** 2) == pytest.approx(1.0, rel=0.1)
    g = sim.last_path_gains
    assert g.shape == (4, y.size)
    assert np.mean(np.abs(g[:, 0] - g[:, 5000]) ** 2) > 0.01  # taps move within the burst
    # Clarke: unit power, autocorrelation J0(2 pi fD tau) (averaged over 8 independent paths)
    h = sos_fading(100_000, 200.0, 1e6, 8, np.random.default_rng(3))
    power = np.mean(np.abs(h) ** 2)
    assert power == pytest.approx(1.0, rel=0.08)

    def corr(lag):
        return np.mean(h[:, lag:] * np.conj(h[:, :-lag])).real / power

    assert corr(500) == pytest.approx(0.904, abs=0.05)  # J0(0.2 pi) = 0.904
    assert abs(corr(round(2.405 / (2 * np.pi * 200.0) * 1e6))) < 0.1  # first zero of J0


def test_seeded_reproducibility():
    x = np.exp(2j * np.pi * np.random.default_rng(0).random(3000))
    kw = dict(profile="tdl-c", sample_rate=20e6, doppler_hz=50.0, sro_ppm=20.0, cfo=0.1,
              timing_offset=1.5)
    a, b = ChannelSim(10.0, seed=11, **kw), ChannelSim(10.0, seed=11, **kw)
    ya1, ya2 = a(x), a(x)
    np.testing.assert_array_equal(ya1, b(x))
    np.testing.assert_array_equal(ya2, b(x))
    assert not np.allclose(ya1, ya2)  # each call a new realisation
    assert not np.allclose(ya1, ChannelSim(10.0, seed=12, **kw)(x))
    np.testing.assert_array_equal(apply_channel(x, 10.0, seed=11, **kw), ya1)
    # the fading stream does not depend on the SNR (common random numbers across a sweep)
    c, d = ChannelSim(5.0, seed=3, profile="eva"), ChannelSim(30.0, seed=3, profile="eva")
    c(x), d(x)
    np.testing.assert_array_equal(c.last_path_gains, d.last_path_gains)


def test_profile_names_and_lookup():
    assert profile_names()[0] == "none" and "tdl-a" in profile_names()
    assert get_profile("none") is None
    assert get_profile("ETU") is PROFILES["etu"]
    assert get_profile("TDL_B") is PROFILES["tdl-b"] and get_profile("tdlc") is PROFILES["tdl-c"]
    custom = PowerDelayProfile("two", (0.0, 1000.0), (0.0, -3.0), "test")
    assert get_profile(custom) is custom
    np.testing.assert_allclose(profile_taps(custom, 1e6)[0], [0, 1])


@pytest.mark.parametrize("kwargs, match", [
    (dict(snr_db=float("nan")), "snr_db"),
    (dict(snr_db=-math.inf), "snr_db"),
    (dict(snr_db="loud"), "snr_db"),
    (dict(profile="rayleigh"), "unknown channel profile"),
    (dict(profile=3), "profile"),
    (dict(sample_rate=-1e6), "sample_rate"),
    (dict(sample_rate=0), "sample_rate"),
    (dict(doppler_hz=-5.0), "doppler_hz"),
    (dict(doppler_hz=6e5), "doppler_hz"),
    (dict(sro_ppm=float("nan")), "sro_ppm"),
    (dict(sro_ppm=-2e6), "sro_ppm"),
    (dict(timing_offset=-1.0), "timing_offset"),
    (dict(cfo=float("inf")), "cfo"),
    (dict(fft_len=0), "fft_len"),
    (dict(n_used=65), "n_used"),
    (dict(signal_power=0.0), "signal_power"),
    (dict(delay_mode="linear", profile="epa"), "delay_mode"),
    (dict(delay_spread_ns=-1.0, profile="tdl-a"), "delay_spread_ns"),
    (dict(n_sinusoids=0), "n_sinusoids"),
    (dict(seed=-1), "seed"),
])
def test_bad_parameters_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChannelSim(**kwargs)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="snr_db"):
        noise_variance(float("nan"))
    with pytest.raises(ValueError, match="n_used"):
        noise_variance(10.0, 64, 0)
    with pytest.raises(ValueError, match="1-D"):
        ChannelSim()(np.zeros((2, 3), complex))
    with pytest.raises(ValueError, match="delay_spread_ns"):
        PROFILES["tdl-a"].delays_ns()
