"""Radio front-end impairments (semcom_blocks.phy.impairments) and the named channel scenarios:
each impairment does what its docstring says, measured on the output of ChannelSim."""
from __future__ import annotations

import math

import numpy as np
import pytest

from semcom_blocks.phy.channel import (
    PROFILES,
    RADIO_BUNDLE,
    SCENARIOS,
    ChannelSim,
    channel_sim_kwargs,
    scenario_settings,
)
from semcom_blocks.phy.frame import FrameFormat, Transmission, Unit
from semcom_blocks.phy.impairments import (
    IMPAIRMENT_KEYS,
    Impairments,
    dc_offset_value,
    image_rejection_db,
    iq_coefficients,
    pa_compress,
    quantize,
    wiener_phase,
)

FS = 20e6


def cgauss(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)


@pytest.fixture(scope="module")
def burst():
    """One OFDM burst of the PHY (unit average power, nothing at DC)."""
    rng = np.random.default_rng(1)
    tx = Transmission([Unit("a", "analog", cgauss(4000, 2).astype(np.complex64)),
                       Unit("d", "digital", rng.integers(0, 256, 300, dtype=np.uint8).tobytes())])
    return FrameFormat().build(tx)


# -- DC offset ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dbc, phase", [(-17.0, 45.0), (-30.0, -120.0)])
def test_dc_offset_level_and_phase(dbc, phase):
    x = cgauss(1 << 20, 5)  # zero-mean: its own mean is at -63 dB
    y = ChannelSim(math.inf, dc_dbc=dbc, dc_phase_deg=phase)(x)
    dc = np.mean(y)
    assert 10 * np.log10(abs(dc) ** 2) == pytest.approx(dbc, abs=0.3)
    assert math.degrees(np.angle(dc)) == pytest.approx(phase, abs=3.0)
    np.testing.assert_allclose(y - x, dc_offset_value(dbc, phase), atol=1e-12)  # a constant
    assert dc_offset_value(-20.0, 0.0, 2.0) == pytest.approx(math.sqrt(0.02))  # relative to the signal power


# -- IQ imbalance -------------------------------------------------------------------------------------

@pytest.mark.parametrize("gain_db, phase_deg", [(0.5, 3.0), (-1.0, 0.0), (0.0, -5.0), (2.0, 10.0)])
def test_iq_imbalance_image_rejection_ratio(gain_db, phase_deg):
    n, k = 4096, 300  # a tone exactly on bin k: its image lands exactly on bin -k
    x = np.exp(2j * np.pi * k * np.arange(n) / n)
    y = ChannelSim(math.inf, iq_gain_db=gain_db, iq_phase_deg=phase_deg)(x)
    spec = np.abs(np.fft.fft(y)) ** 2
    measured = 10 * np.log10(spec[k] / spec[-k])
    assert measured == pytest.approx(image_rejection_db(gain_db, phase_deg), abs=0.05)
    # the model: I unchanged, Q scaled by g and leaking -sin(phi) of I
    g, phi = 10 ** (gain_db / 20), math.radians(phase_deg)
    np.testing.assert_allclose(y.real, x.real, atol=1e-12)
    np.testing.assert_allclose(y.imag, g * (math.cos(phi) * x.imag - math.sin(phi) * x.real), atol=1e-12)


def test_iq_imbalance_values():
    assert image_rejection_db(0.5, 3.0) == pytest.approx(28.2, abs=0.05)
    assert image_rejection_db(0.0, 0.0) == math.inf
    assert iq_coefficients(0.0, 0.0) == (1, 0)


# -- phase noise -------------------------------------------------------------------------------------

@pytest.mark.parametrize("linewidth", [1e3, 1e4])
def test_phase_noise_variance_grows_as_2_pi_linewidth_t(linewidth):
    rng = np.random.default_rng(3)
    n, trials = 2000, 1500
    phi = np.stack([wiener_phase(n, linewidth, FS, rng) for _ in range(trials)])
    t = np.arange(1, n + 1) / FS
    for i in (199, 999, 1999):  # 10, 50, 100 us
        assert np.var(phi[:, i]) == pytest.approx(2 * np.pi * linewidth * t[i], rel=0.12)
    # independent increments: the variance over any lag depends on the lag alone
    lag = 500
    inc = phi[:, 1500] - phi[:, 1000]
    assert np.var(inc) == pytest.approx(2 * np.pi * linewidth * lag / FS, rel=0.12)


def test_phase_noise_in_the_channel_rotates_only():
    x = cgauss(20_000, 6)
    y = ChannelSim(math.inf, sample_rate=FS, phase_noise_hz=1e4, seed=4)(x)
    np.testing.assert_allclose(np.abs(y), np.abs(x), rtol=1e-12)
    phi = np.unwrap(np.angle(y * np.conj(x)))
    # the rotation starts at 0 and wanders like the Wiener process it is: check its spread
    steps = np.diff(phi)
    assert abs(phi[0]) < 4 * np.sqrt(2 * np.pi * 1e4 / FS)  # one step from 0
    assert np.var(steps) == pytest.approx(2 * np.pi * 1e4 / FS, rel=0.05)


# -- PA --------------------------------------------------------------------------------------------------

def test_clipping_level_and_transparency_below_it(burst):
    y = ChannelSim(math.inf, clip=1.5)(burst)
    r, a = np.abs(burst), np.abs(y)
    assert a.max() == pytest.approx(1.5, rel=1e-6)  # clip x RMS, RMS = 1
    low = r < 1.5
    np.testing.assert_allclose(y[low], burst[low], rtol=1e-6, atol=1e-7)
    hi = ~low
    assert hi.any() and np.allclose(a[hi], 1.5, rtol=1e-6)
    np.testing.assert_allclose(np.angle(y[hi]), np.angle(burst[hi]), atol=1e-5)  # AM/AM only
    # the level follows the nominal signal power
    assert np.abs(pa_compress(2 * burst, 1.5 * 2)).max() == pytest.approx(3.0)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_rapp_model(p):
    r = np.linspace(0, 5, 501)
    out = np.abs(pa_compress(r.astype(complex), 1.0, p))
    assert np.all(out < 1.0) and np.all(np.diff(out) > 0)  # saturates, monotonic
    assert out[1] == pytest.approx(r[1], rel=1e-4)  # linear at small signal
    assert out[100] == pytest.approx(2 ** (-1 / (2 * p)), rel=1e-9)  # at |x| = A


# -- ADC ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [6, 8, 10, 12])
def test_quantization_snr_of_a_full_scale_sine(bits):
    n = 1 << 16
    full = 4.0
    x = full * (1 - 1e-9) * np.exp(2j * np.pi * 0.1234567 * np.arange(n))  # each axis a full-scale sine
    y = ChannelSim(math.inf, adc_bits=bits, adc_full_scale=full)(x)
    sqnr = 10 * np.log10(np.sum(np.abs(x) ** 2) / np.sum(np.abs(y - x) ** 2))
    assert sqnr == pytest.approx(6.02 * bits + 1.76, abs=0.3)
    assert np.unique(y.real).size <= 2 ** bits


def test_quantizer_levels_and_saturation():
    y = quantize(np.array([0.0, 0.3, -0.3, 10.0, -10.0 + 10j]), 3, 1.0)  # step 0.25
    np.testing.assert_allclose(y.real, [0.125, 0.375, -0.375, 0.875, -0.875])
    np.testing.assert_allclose(y.imag, [0.125, 0.125, 0.125, 0.125, 0.875])


# -- sample-rate offset ------------------------------------------------------------------------------------

@pytest.mark.parametrize("ppm", [20.0, 200.0, -100.0])
def test_sro_drift(ppm):
    """Two identical pulses 50,000 samples apart arrive (50,000 / (1 + ppm 1e-6)) apart."""
    n, first, gap = 60_000, 1000, 50_000
    pulse = np.hanning(33) * np.exp(0.7j * np.arange(33))
    x = np.zeros(n, complex)
    x[first:first + 33] += pulse
    x[first + gap:first + gap + 33] += pulse
    y = ChannelSim(math.inf, sro_ppm=ppm)(x)

    def centre(lo, hi):  # power centroid: a fractional position
        p = np.abs(y[lo:hi]) ** 2
        return lo + np.sum(np.arange(hi - lo) * p) / np.sum(p)

    a = centre(first - 100, first + 200)
    b = centre(first + gap - 100 - 20, first + gap + 200)
    ratio = 1 + ppm * 1e-6
    assert b - a == pytest.approx(gap / ratio, abs=0.05)
    assert a == pytest.approx((first + 16) / ratio, abs=0.05)


# -- composition, seeds, checks --------------------------------------------------------------------------

def test_everything_off_is_the_plain_channel(burst):
    a = ChannelSim(12.0, profile="epa", sample_rate=FS, cfo=0.3, seed=5)(burst)
    b = ChannelSim(12.0, profile="epa", sample_rate=FS, cfo=0.3, seed=5, dc_dbc=None, clip=None, adc_bits=None,
                   phase_noise_hz=0.0)(burst)
    np.testing.assert_array_equal(a, b)
    # the noise stream is still SeedSequence(seed).spawn(2)[1]'s (phase noise has a third stream)
    noise = np.random.default_rng(np.random.SeedSequence(5).spawn(2)[1]).standard_normal((2, burst.size))
    y = ChannelSim(10.0, seed=5)(burst)
    var = ChannelSim(10.0).noise_var
    np.testing.assert_allclose(y - burst, np.sqrt(var / 2) * (noise[0] + 1j * noise[1]), atol=1e-6)


def test_radio_bundle_seeded_and_complete(burst):
    kw = channel_sim_kwargs(scenario_settings("radio"))
    a, b = ChannelSim(15.0, seed=2, **kw)(burst), ChannelSim(15.0, seed=2, **kw)(burst)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, ChannelSim(15.0, seed=3, **kw)(burst))
    imp = Impairments.from_kwargs(**{k: v for k, v in kw.items() if k in IMPAIRMENT_KEYS})
    assert imp.has_tx and imp.has_rx and imp.dc_dbc == -20 and imp.adc_bits == 12


@pytest.mark.parametrize("kwargs, match", [
    (dict(clip=-1.0), "clip"),
    (dict(clip=float("nan")), "clip"),
    (dict(clip=1.5, rapp_p=0.0), "rapp_p"),
    (dict(rapp_p=2.0), "rapp_p needs clip"),
    (dict(phase_noise_hz=-1.0), "phase_noise_hz"),
    (dict(phase_noise_hz=float("inf")), "phase_noise_hz"),
    (dict(iq_gain_db=7.0), "iq_gain_db"),
    (dict(iq_phase_deg=45.0), "iq_phase_deg"),
    (dict(dc_dbc=3.0), "dc_dbc"),
    (dict(dc_dbc="loud"), "dc_dbc"),
    (dict(adc_bits=0.5), "adc_bits"),
    (dict(adc_bits=25), "adc_bits"),
    (dict(adc_bits=True), "adc_bits"),
    (dict(adc_bits=8, adc_full_scale=0.0), "adc_full_scale"),
])
def test_bad_impairments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Impairments(**kwargs)
    with pytest.raises(ValueError, match=match):
        ChannelSim(10.0, **kwargs)


def test_off_values_and_argument_errors():
    assert Impairments(clip=0, adc_bits=0, dc_dbc=-math.inf) == Impairments(clip=None, adc_bits=None, dc_dbc=None)
    assert not Impairments().has_tx and not Impairments().has_rx
    with pytest.raises(TypeError):
        ChannelSim(10.0, dc_dbm=-3.0)
    with pytest.raises(ValueError, match="not both"):
        ChannelSim(10.0, impairments=Impairments(), clip=1.5)
    with pytest.raises(ValueError, match="random generator"):
        Impairments(phase_noise_hz=10.0).rx(np.ones(4))


# -- scenarios --------------------------------------------------------------------------------------------

def test_every_scenario_builds_a_channel(burst):
    assert set(PROFILES) <= set(SCENARIOS) and {"awgn", "cfo", "multipath", "all", "radio"} <= set(SCENARIOS)
    for name in SCENARIOS:
        settings = scenario_settings(name)
        y = ChannelSim(20.0, seed=1, **channel_sim_kwargs(settings))(burst[:2000])
        assert np.all(np.isfinite(y))
        if name in PROFILES:
            assert settings["profile"] == name and settings["doppler_hz"] > 0
    radio = scenario_settings("radio", cfo=0.7)
    assert radio["cfo_subcarriers"] == 0.7 and radio["profile"] == "none"
    assert {k: radio[k] for k in RADIO_BUNDLE} == RADIO_BUNDLE
    assert RADIO_BUNDLE == {"dc_dbc": -20.0, "iq_gain_db": 0.5, "iq_phase_deg": 3.0, "phase_noise_hz": 1e3,
                            "clip": 1.5, "adc_bits": 12, "sro_ppm": 20.0}


def test_scenario_overrides_and_errors():
    s = scenario_settings("awgn", dc_dbc=-17.0, phase_noise_hz=None, sro_ppm=5)
    assert s["dc_dbc"] == -17.0 and "phase_noise_hz" not in s and s["sro_ppm"] == 5.0
    assert scenario_settings("radio", clip=2.0)["clip"] == 2.0
    with pytest.raises(ValueError, match="unknown channel"):
        scenario_settings("moon")
    with pytest.raises(ValueError, match="unknown channel settings"):
        scenario_settings("awgn", snr=3)
    with pytest.raises(ValueError, match="iq_phase_deg"):
        scenario_settings("awgn", iq_phase_deg=90)
