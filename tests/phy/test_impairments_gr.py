"""The radio impairments in the GNU Radio channel block (semcom_blocks.channel_hier.semcom_channel):
the same models as ChannelSim's, in a running flowgraph, the phase noise continuous across work
calls, and the named scenarios accepted as block arguments."""
from __future__ import annotations

import math

import numpy as np
import pytest

gr = pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio (python3-gnuradio)")

from helpers.flowgraph import run_flowgraph  # noqa: E402
from semcom_blocks.channel_hier import semcom_channel  # noqa: E402
from semcom_blocks.phy.channel import SCENARIOS, scenario_settings  # noqa: E402
from semcom_blocks.phy.frame import FrameFormat  # noqa: E402
from semcom_blocks.phy.impairments import dc_offset_value, image_rejection_db  # noqa: E402
from semcom_blocks.phy.receiver import BurstReceiver  # noqa: E402

pytestmark = pytest.mark.gnuradio

FS = 20e6



def cgauss(n, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)


def test_dc_iq_clip_and_adc_in_the_block():
    x = cgauss(200_000, 1)
    y = run_flowgraph(semcom_channel(snr_db=math.inf, dc_dbc=-20.0, dc_phase_deg=30.0), x)
    np.testing.assert_allclose(y - x, dc_offset_value(-20.0, 30.0), atol=1e-6)
    n, k = 8192, 700
    tone = np.exp(2j * np.pi * k * np.arange(n) / n)
    y = run_flowgraph(semcom_channel(snr_db=math.inf, iq_gain_db=0.5, iq_phase_deg=3.0), tone)
    spec = np.abs(np.fft.fft(y)) ** 2
    assert 10 * np.log10(spec[k] / spec[-k]) == pytest.approx(image_rejection_db(0.5, 3.0), abs=0.1)
    y = run_flowgraph(semcom_channel(snr_db=math.inf, clip=1.5), 2 * x[:20_000])
    assert np.abs(y).max() == pytest.approx(1.5, rel=1e-5)
    y = run_flowgraph(semcom_channel(snr_db=math.inf, adc_bits=4, adc_full_scale=1.0), x[:20_000])
    assert np.unique(y.real).size == 16 and np.abs(y.real).max() == pytest.approx(0.9375)


def test_phase_noise_runs_on_across_work_calls():
    x = np.ones(400_000, np.complex64)
    y = run_flowgraph(semcom_channel(snr_db=math.inf, phase_noise_hz=1e4, sample_rate=FS, seed=3), x)
    assert y.size == x.size
    steps = np.diff(np.unwrap(np.angle(y.astype(np.complex128))))
    sigma2 = 2 * np.pi * 1e4 / FS
    assert np.var(steps) == pytest.approx(sigma2, rel=0.03)
    assert np.abs(steps).max() < 6 * math.sqrt(sigma2)  # no restart at a work-call boundary
    # increments over a lag grow as 2 pi linewidth t
    phi = np.unwrap(np.angle(y.astype(np.complex128)))
    lag = 2000
    inc = phi[lag::lag] - phi[:-lag:lag]
    assert np.var(inc) == pytest.approx(sigma2 * lag, rel=0.25)


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_is_a_valid_block(name):
    blk = semcom_channel(snr_db=20.0, seed=1, **scenario_settings(name))
    assert (blk.rx_stage is not None) == (name == "radio") and (blk.tx_stage is not None) == (name == "radio")


def test_radio_scenario_through_the_block_decodes():
    fmt = FrameFormat()
    rng = np.random.default_rng(2)
    from semcom_blocks.phy.frame import Transmission, Unit

    parts = []
    for seq in range(6):
        tx = Transmission([Unit("d", "digital", rng.integers(0, 256, 100, dtype=np.uint8).tobytes())], seq=seq)
        parts += [np.zeros(300, np.complex64), fmt.build(tx)]
    parts.append(np.zeros(600, np.complex64))
    y = run_flowgraph(semcom_channel(snr_db=15.0, seed=4, **scenario_settings("radio")), np.concatenate(parts))
    rx = BurstReceiver()
    frames = rx.push(y.astype(np.complex64)) + rx.flush()
    assert sorted(f.seq for f in frames if f.crc_ok) == list(range(6)), rx.stats


@pytest.mark.parametrize("kwargs, match", [
    (dict(clip=-2.0), "clip"),
    (dict(phase_noise_hz=-5.0), "phase_noise_hz"),
    (dict(iq_gain_db=10.0), "iq_gain_db"),
    (dict(iq_phase_deg=-50.0), "iq_phase_deg"),
    (dict(dc_dbc=1.0), "dc_dbc"),
    (dict(adc_bits=40), "adc_bits"),
    (dict(adc_bits=8, adc_full_scale=-1.0), "adc_full_scale"),
])
def test_bad_impairments_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        semcom_channel(**kwargs)
