"""The burst receiver (semcom_blocks.phy.receiver) under radio impairments: DC offset, phase
noise, the edges of its CFO range, input levels, the ``radio`` bundle. Quick versions here; the
statistical ones (hundreds of bursts) are marked slow."""
from __future__ import annotations

import numpy as np
import pytest

from semcom_blocks.phy.channel import ChannelSim, channel_sim_kwargs, scenario_settings
from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.frame import FrameFormat, Transmission, Unit
from semcom_blocks.phy.receiver import CFO_RANGE, BurstReceiver

FMT = FrameFormat()
FS = 20e6


def transmissions(n: int, modulation: str = "qpsk", seed: int = 0, analog: int = 256) -> list[Transmission]:
    """n transmissions like `semcom link`'s: 100 random bytes (LDPC 648 R1/2, CRC-32) and an analog unit."""
    rng = np.random.default_rng(seed)
    coder = PayloadCoder("ldpc", 648, "1/2", modulation, "crc32")
    out = []
    for seq in range(n):
        z = ((rng.standard_normal(analog) + 1j * rng.standard_normal(analog)) / np.sqrt(2)).astype(np.complex64)
        out.append(Transmission([Unit("d", "digital", rng.integers(0, 256, 100, dtype=np.uint8).tobytes(), coder),
                                 Unit("a", "analog", z)], seq=seq))
    return out


def link(txs, snr_db, gap=200, chunk=8192, rx=None, lead=200, **channel):
    """The bursts separated by ``gap`` samples of silence, through one ChannelSim (20 MS/s) for the
    whole stream (continuous phase noise and DC), into the receiver in chunks. Returns
    (frames, stats, analog SNR in dB measured against what was sent)."""
    parts = [np.zeros(lead, np.complex64)]
    for tx in txs:
        parts += [FMT.build(tx), np.zeros(gap, np.complex64)]
    parts.append(np.zeros(400, np.complex64))
    channel.setdefault("sample_rate", FS)
    y = ChannelSim(snr_db, seed=11, **channel)(np.concatenate(parts))
    rx = rx or BurstReceiver()
    frames = []
    for i in range(0, y.size, chunk):
        frames += rx.push(y[i:i + chunk])
    frames += rx.flush()
    sig = err = 0.0
    for f in frames:
        if f.seq < len(txs):
            ref = txs[f.seq].units[1].data
            sig += np.sum(np.abs(ref) ** 2)
            err += np.sum(np.abs(f.units[1].data - ref) ** 2)
    return frames, rx.stats, (10 * np.log10(sig / err) if err else None)


def delivered(frames, txs) -> int:
    """Transmissions whose digital unit arrived intact (each counted once)."""
    return len({f.seq for f in frames
                if f.seq < len(txs) and f.units[0].crc_ok and f.units[0].data == txs[f.seq].units[0].data})


# -- DC offset ------------------------------------------------------------------------------------

@pytest.mark.parametrize("snr_db", [15.0, 25.0, 35.0])
def test_dc_offset_minus_17_dbc_every_burst_decodes(snr_db):
    """-17 dBc of LO leakage with 200-sample gaps: without DC removal the silence between bursts
    looks periodic to the STF detector and most bursts were lost (62 % at 15 dB, all at 25)."""
    txs = transmissions(20, seed=1)
    frames, stats, _ = link(txs, snr_db, dc_dbc=-17.0)  # from the first sample: the blocker still settling
    assert delivered(frames, txs) == 20, stats
    # once it has settled (5 time constants), the gaps no longer look periodic at all: no false
    # detections after the lead-in (while it settles there may be some, in the lead-in's silence)
    lead = 40_000
    rx = BurstReceiver()
    settled = {}

    def push(chunk, _push=rx.push):  # the counters as the lead-in ends (the first chunk is the lead-in)
        out = _push(chunk)
        settled.update(settled or rx.stats)
        return out

    rx.push = push
    frames, stats, _ = link(txs, snr_db, dc_dbc=-17.0, lead=lead, chunk=lead, rx=rx)
    assert delivered(frames, txs) == 20, stats
    after = {k: stats[k] - settled[k] for k in ("false_detections", "sig_failures", "table_failures")}
    assert after == dict.fromkeys(after, 0), (settled, stats)


@pytest.mark.parametrize("snr_db", [15.0, 35.0])
def test_dc_offset_without_the_blocker_still_detects(snr_db):
    """The detector alone (dc_block off) copes with the periodic gaps: the plateau that starts in
    the silence is followed to the end of the STF, where the LTF is looked for."""
    txs = transmissions(12, seed=2)
    frames, stats, _ = link(txs, snr_db, dc_dbc=-17.0, rx=BurstReceiver(dc_block=False))
    assert delivered(frames, txs) >= 11, stats


def test_dc_blocker_estimates_the_offset_and_leaves_clean_input_alone():
    txs = transmissions(10, seed=3)
    rx = BurstReceiver()
    _, stats, _ = link(txs, 25.0, dc_dbc=-20.0, dc_phase_deg=45.0, rx=rx, lead=30_000)
    want = np.sqrt(0.01) * np.exp(1j * np.pi / 4)
    assert abs(rx.dc_estimate - want) < 0.1 * abs(want)
    rx = BurstReceiver()
    link(txs, 25.0, rx=rx, cfo=1.0)  # a carrier offset moves signal onto DC: not an offset
    assert abs(rx.dc_estimate) ** 2 < 1e-4


def test_dc_blocker_kernel():
    """rx_sync.append_clean_dc: removes a DC once settled, leaves exact zeros and DC-free input
    alone, zeroes and counts non-finite samples, and its estimate does not depend on chunking."""
    from semcom_blocks.phy.receiver import DC_ALPHA, DC_OFF, DC_ON, DC_WARMUP
    from semcom_blocks.phy.rx_kernels import append_clean_dc

    def blocker(x, chunks=1):
        state, out, bad = np.zeros(6), np.zeros(0, np.complex64), 0
        for part in np.array_split(x.astype(np.complex64), chunks):
            out, b = append_clean_dc(out, part, state, DC_ALPHA, DC_WARMUP, DC_ON, DC_OFF)
            bad += b
        return out, bad, complex(state[0] / state[2], state[1] / state[2]) if state[2] else 0j

    rng = np.random.default_rng(0)
    noise = 0.1 * (rng.standard_normal(100_000) + 1j * rng.standard_normal(100_000))
    dc = 0.1 * np.exp(0.3j)
    out, bad, est = blocker(noise + dc)
    assert bad == 0 and abs(est - dc) < 0.01 * abs(dc)
    assert abs(np.mean(out[-20_000:])) < 0.03 * abs(dc)  # removed once settled
    assert abs(blocker(noise + dc, chunks=37)[2] - est) < 0.01 * abs(dc)
    out, _, est = blocker(noise)  # no DC: at most the estimate's own noise, ~40 dB under it
    assert np.abs(out - noise).max() < 0.01 and abs(est) ** 2 < 1e-3 * np.mean(np.abs(noise) ** 2)
    zeros = np.zeros(5000, np.complex64)
    assert not blocker(zeros)[0].any()
    y = (noise + dc).astype(np.complex64)
    y[[10, 500, 70_000]] = [np.nan, np.inf, complex(np.nan, 0)]
    out, bad, _ = blocker(y)
    assert bad == 3 and np.isfinite(out).all()


def test_a_periodic_lead_in_does_not_hide_the_preamble():
    """A tone right before the STF (periodic over the detector's lag: it extends the plateau) and
    a false LTF check after it: the burst right behind still decodes."""
    txs = transmissions(3, seed=4)
    n = np.arange(400)
    tone = 0.3 * np.exp(2j * np.pi * n / 16).astype(np.complex64)  # period L = 16
    x = np.concatenate([np.zeros(100, np.complex64), tone, FMT.build(txs[0]), np.zeros(300, np.complex64), tone,
                        np.zeros(100, np.complex64), FMT.build(txs[1]), np.zeros(300, np.complex64)])
    rx = BurstReceiver()
    frames = rx.push(ChannelSim(20.0, seed=5)(x)) + rx.flush()
    assert [f.seq for f in frames if f.crc_ok] == [0, 1], rx.stats


# -- phase noise -------------------------------------------------------------------------------------

@pytest.mark.parametrize("modulation, min_ok", [("qpsk", 20), ("16qam", 19)])
def test_phase_noise_10_khz_at_20_db(modulation, min_ok):
    """10 kHz linewidth at 20 MS/s (0.5 rad rms per OFDM symbol): the pilots' common phase is
    tracked symbol by symbol. Before: 99.5 % of 16-QAM packets lost at 15 dB."""
    txs = transmissions(20, modulation, seed=6)
    frames, stats, analog = link(txs, 20.0, phase_noise_hz=1e4)
    assert delivered(frames, txs) >= min_ok, stats
    assert analog > 11.5  # intra-symbol phase noise (inter-carrier interference) caps it near 14 dB
    # the SNR estimate counts the residual phase noise (it read 6 dB optimistic before)
    est = 10 * np.log10(np.mean([10 ** (f.snr_est_db / 10) for f in frames]))
    assert abs(est - analog) < 1.0


def test_snr_estimate_without_impairments_is_unchanged():
    txs = transmissions(8, seed=7, analog=1000)
    for snr in (5.0, 20.0):
        frames, _, analog = link(txs, snr)
        est = 10 * np.log10(np.mean([10 ** (f.snr_est_db / 10) for f in frames]))
        assert abs(est - snr) < 0.5 and abs(analog - snr) < 0.5


# -- CFO range -------------------------------------------------------------------------------------

@pytest.mark.parametrize("cfo", [1.99, 2.0, -2.0, 2.01, -2.5, 3.9, -4.1, CFO_RANGE, -CFO_RANGE])
def test_cfo_across_the_range(cfo):
    """The STF sees the offset modulo 4 spacings (+-2: the edge of its own range); the LTF alias
    search takes the receiver to +-CFO_RANGE."""
    txs = transmissions(4, seed=8)
    frames, stats, _ = link(txs, 15.0, cfo=cfo)
    assert delivered(frames, txs) == 4, stats
    assert all(abs(f.cfo - cfo) < 0.02 for f in frames)


def test_cfo_beyond_the_range_is_not_decoded():
    txs = transmissions(3, seed=9)
    frames, stats, _ = link(txs, 20.0, cfo=6.5)
    assert delivered(frames, txs) == 0 and stats["frames_ok"] + stats["sig_failures"] + stats["false_detections"] > 0


# -- input levels ---------------------------------------------------------------------------------------

def test_levels_outside_the_usable_range_are_counted():
    txs = transmissions(2, seed=10)
    x = np.concatenate([np.zeros(300, np.complex64), FMT.build(txs[0]), np.zeros(300, np.complex64)])
    y = ChannelSim(20.0, seed=1)(x)
    for scale, counter in ((1e-14, "level_too_low"), (1e14, "level_too_high")):
        rx = BurstReceiver()
        assert rx.push((y * scale).astype(np.complex64)) + rx.flush() == []
        assert rx.stats[counter] == 1 and rx.stats["detections"] == 1, rx.stats
    rx = BurstReceiver(level_range=(1e-20, 1e20))  # a wider range decodes the same samples
    assert len(rx.push((y * 1e-14).astype(np.complex64)) + rx.flush()) == 1
    with pytest.raises(ValueError, match="level_range"):
        BurstReceiver(level_range=(1.0, 0.5))
    with pytest.raises(ValueError, match="full_scale"):
        BurstReceiver(full_scale=0)


def test_clipped_bursts_are_counted_and_still_decoded():
    txs = transmissions(2, seed=11)
    x = np.concatenate([np.zeros(300, np.complex64), FMT.build(txs[0]), np.zeros(300, np.complex64)])
    y = 0.35 * ChannelSim(25.0, seed=2, adc_bits=12, adc_full_scale=1.0)(x / 0.35)  # peaks beyond full scale
    rx = BurstReceiver(full_scale=0.35)
    frames = rx.push(y.astype(np.complex64)) + rx.flush()
    assert rx.stats["bursts_clipped"] == 1 and len(frames) == 1 and frames[0].crc_ok
    rx = BurstReceiver(full_scale=10.0)
    rx.push(y.astype(np.complex64)), rx.flush()
    assert rx.stats["bursts_clipped"] == 0


def test_non_finite_samples_are_counted_with_the_dc_blocker_on():
    txs = transmissions(1, seed=12)
    y = ChannelSim(20.0, seed=3, dc_dbc=-20.0)(np.concatenate([np.zeros(5000, np.complex64), FMT.build(txs[0]),
                                                                np.zeros(300, np.complex64)]))
    y[100:110] = np.nan
    y[2000] = np.inf
    rx = BurstReceiver()
    frames = rx.push(y) + rx.flush()
    assert rx.stats["samples_nonfinite"] == 11 and len(frames) == 1 and frames[0].crc_ok


# -- the radio bundle -----------------------------------------------------------------------------------

def test_radio_scenario_at_15_db():
    txs = transmissions(20, seed=13)
    frames, stats, analog = link(txs, 15.0, **channel_sim_kwargs(scenario_settings("radio")))
    assert delivered(frames, txs) == 20, stats
    assert analog > 11.0  # clipping at 1.5 x RMS and the IQ image add to the noise


# -- statistical checks (slow) ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("snr_db", [15.0, 25.0, 35.0])
def test_dc_offset_per_slow(snr_db):
    txs = transmissions(300, seed=20)
    frames, stats, _ = link(txs, snr_db, dc_dbc=-17.0)
    assert delivered(frames, txs) >= 297, stats


@pytest.mark.slow
@pytest.mark.parametrize("modulation, max_per", [("qpsk", 0.01), ("16qam", 0.05)])
def test_phase_noise_per_slow(modulation, max_per):
    txs = transmissions(300, modulation, seed=21)
    frames, stats, _ = link(txs, 20.0, phase_noise_hz=1e4)
    assert 1 - delivered(frames, txs) / 300 <= max_per, stats


@pytest.mark.slow
def test_radio_scenario_per_slow():
    txs = transmissions(300, seed=22)
    frames, stats, _ = link(txs, 15.0, **channel_sim_kwargs(scenario_settings("radio")))
    assert delivered(frames, txs) >= 297, stats
