"""OFDM burst PHY engine: numerology, frame format, and the receiver on simulated channels."""
import math

import numpy as np
import pytest

from semcom_blocks.phy.channel import apply_channel
from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.frame import FrameFormat, Transmission, Unit, decode_sig, decode_table, encode_sig, encode_table
from semcom_blocks.phy.ofdm import OfdmParams
from semcom_blocks.phy.receiver import BurstReceiver

P = OfdmParams()
FMT = FrameFormat(P)


def awgn(x, snr_db, rng, cfo=0.0, delay=0, tail=300, params=P):
    """Delay, CFO (subcarrier spacings) and complex AWGN at Es/N0 = snr_db per data symbol."""
    sigma2 = params.fft_len / (params.n_used * 10 ** (snr_db / 10))
    y = np.concatenate([np.zeros(delay, np.complex64), x, np.zeros(tail, np.complex64)])
    y = y * np.exp(2j * np.pi * cfo * np.arange(y.size) / params.fft_len)
    noise = np.sqrt(sigma2 / 2) * (rng.standard_normal(y.size) + 1j * rng.standard_normal(y.size))
    return (y + noise).astype(np.complex64)


def make_tx(rng, seq=0, n_analog=500, text=b"a man in a bowler hat walks along a path"):
    analog = ((rng.standard_normal(n_analog) + 1j * rng.standard_normal(n_analog)) / np.sqrt(2)).astype(np.complex64)
    units = [Unit("caption", "digital", text), Unit("frame0", "analog", analog),
             Unit("vq", "digital", bytes(range(200)), PayloadCoder("ldpc", 1296, "3/4", "16qam", "crc24a"))]
    return Transmission(units, seq=seq, frame_type=3), analog


def receive(y, **kw):
    rx = BurstReceiver(**kw)
    return rx.push(y) + rx.flush(), rx.stats


def test_80211_layout_and_power():
    assert P.n_used == 52 and P.n_data == 48 and list(P.pilots) == [-21, -7, 7, 21]
    assert 0 not in P.used and P.stf.size == 160 and P.ltf.size == 160
    for field in (P.stf, P.ltf):
        assert np.mean(np.abs(field) ** 2) == pytest.approx(1.0, rel=1e-3)
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((200, 48)) + 1j * rng.standard_normal((200, 48))) / np.sqrt(2)
    x = P.modulate(data)
    assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, rel=0.03)
    back = P.demodulate(x, 200)[:, P.bins(P.data)]
    assert np.allclose(back, data, atol=1e-5)
    assert np.all(np.diff(P.stf[:16 * 9].reshape(9, 16), axis=0) == 0)  # period fft_len/4


@pytest.mark.parametrize("fft_len,cp", [(64, 16), (128, 32), (256, 16)])
def test_other_numerologies_round_trip(fft_len, cp):
    p = OfdmParams(fft_len, cp)
    rng = np.random.default_rng(fft_len)
    tx, analog = make_tx(rng)
    frames, stats = receive(awgn(FrameFormat(p).build(tx), 20, rng, cfo=0.7, delay=123, params=p), params=p)
    assert len(frames) == 1 and frames[0].crc_ok
    assert [u.name for u in frames[0].units] == ["caption", "frame0", "vq"]


def test_bad_numerology():
    with pytest.raises(ValueError):
        OfdmParams(48)
    with pytest.raises(ValueError):
        OfdmParams(64, 65)


def test_table_and_sig_round_trip_and_corruption():
    rng = np.random.default_rng(1)
    tx, _ = make_tx(rng)
    raw = encode_table(tx.units)
    entries = decode_table(raw)
    assert [(e.name, e.kind, e.length) for e in entries] == [("caption", "digital", 40), ("frame0", "analog", 500),
                                                             ("vq", "digital", 200)]
    assert entries[2].coder == tx.units[2].coder
    for bad in (raw[:-1], raw + b"\x00", b"\x05", b"\x01\x07"):
        with pytest.raises(ValueError):
            decode_table(bad)
    sig = encode_sig(3, 65535, len(raw), 70000)
    assert decode_sig(sig) == (3, 65535, len(raw), 70000)
    assert decode_sig(bytes([sig[0] ^ 1]) + sig[1:]) is None


def test_unit_validation():
    with pytest.raises(ValueError, match="kind"):
        Unit("x", "hybrid", b"")
    with pytest.raises(ValueError, match="bytes"):
        Unit("x", "digital", np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        Unit("x", "analog", np.array([np.nan + 0j]))
    with pytest.raises(ValueError, match="sequence"):
        Transmission([], seq=70000)


@pytest.mark.parametrize("snr_db", [6, 12, 25])
def test_awgn_cfo_random_arrival(snr_db):
    rng = np.random.default_rng(snr_db)
    sent, analog_err, n0s = 0, [], []
    for i in range(6):
        tx, analog = make_tx(rng, seq=i)
        y = awgn(FMT.build(tx), snr_db, rng, cfo=rng.uniform(-1.5, 1.5), delay=int(rng.integers(0, 400)))
        frames, stats = receive(y)
        assert len(frames) == 1, stats
        f = frames[0]
        assert f.seq == i and f.frame_type == 3
        caption, frame0, vq = f.units
        assert caption.crc_ok and caption.data == tx.units[0].data
        if snr_db >= 12:
            assert vq.crc_ok and vq.data == tx.units[2].data
        assert frame0.kind == "analog" and frame0.crc_ok is None
        analog_err.append(np.mean(np.abs(frame0.data - analog) ** 2))
        n0s.append(f.noise_var)
        sent += 1
    measured = -10 * np.log10(np.mean(analog_err))
    assert abs(measured - snr_db) < 0.7
    assert abs(-10 * np.log10(np.mean(n0s)) - snr_db) < 0.7


def test_streaming_in_small_chunks_and_back_to_back_bursts():
    rng = np.random.default_rng(7)
    bursts = [FMT.build(make_tx(rng, seq=i)[0]) for i in range(4)]
    y = awgn(np.concatenate(bursts), 15, rng, cfo=0.4, delay=50)  # no gaps between bursts
    rx = BurstReceiver()
    frames = []
    for chunk in np.array_split(y, 37):
        frames += rx.push(chunk)
    frames += rx.flush()
    assert [f.seq for f in frames] == [0, 1, 2, 3]
    assert all(f.crc_ok for f in frames)
    assert rx.stats["frames_ok"] == 4 and rx.stats["samples_in"] == y.size
    assert frames[1].start > frames[0].end - 20


def test_fuzz_noise_nan_truncation_and_corrupted_header():
    rng = np.random.default_rng(11)
    # random IQ: nothing detected, nothing raised
    frames, stats = receive((rng.standard_normal(50_000) + 1j * rng.standard_normal(50_000)).astype(np.complex64))
    assert frames == [] and stats["frames_ok"] == 0
    # NaN samples are zeroed and counted
    tx, _ = make_tx(rng)
    y = awgn(FMT.build(tx), 20, rng, delay=100)
    y[5:15] = np.nan
    frames, stats = receive(y)
    assert stats["samples_nonfinite"] == 10 and len(frames) == 1 and frames[0].crc_ok
    # a burst cut short: counted as truncated at the end of the stream
    frames, stats = receive(y[: y.size // 2])
    assert frames == [] and stats["frames_truncated"] == 1
    # a corrupted SIG: counted, skipped, and the next burst still decodes
    clean = FMT.build(tx)
    bad = clean.copy()
    sig_start = P.preamble.size
    span = FMT.n_sig * P.symbol_len
    bad[sig_start:sig_start + span] = P.modulate(np.exp(2j * np.pi * rng.uniform(0, 1, (FMT.n_sig, P.n_data))))
    y = awgn(np.concatenate([bad, np.zeros(200, np.complex64), clean]), 20, rng, delay=30)
    frames, stats = receive(y)
    assert stats["sig_failures"] + stats["table_failures"] == 1
    assert len(frames) == 1 and frames[0].crc_ok
    # garbage of every length never raises
    for n in (0, 1, 17, 200, 1000):
        receive(rng.standard_normal(n).astype(np.complex64))


def test_mmse_option_and_bad_options():
    rng = np.random.default_rng(3)
    tx, analog = make_tx(rng)
    frames, _ = receive(awgn(FMT.build(tx), 3, rng, delay=10), equalizer="mmse")
    unit = frames[0].units[1]
    mse = np.mean(np.abs(unit.data - analog) ** 2)
    assert mse < 10 ** (-3 / 10)  # MMSE beats the noise level
    assert np.all(unit.noise_var < 1)
    with pytest.raises(ValueError):
        BurstReceiver(equalizer="ml")


def test_epa_multipath_cfo_and_timing_offset():
    """EPA at 20 MS/s (delay spread inside the cyclic prefix), random CFO and fractional timing,
    15 dB: every burst detected and decoded (at 10 dB fading outages start to show)."""
    from semcom_blocks.phy.channel import ChannelSim

    rng = np.random.default_rng(5)
    decoded = 0
    for i in range(12):
        tx, _ = make_tx(rng, seq=i, n_analog=100)
        x = np.concatenate([np.zeros(int(rng.integers(0, 300)), np.complex64), FMT.build(tx),
                            np.zeros(200, np.complex64)])
        channel = ChannelSim(15, profile="epa", sample_rate=20e6, doppler_hz=5.0, cfo=rng.uniform(-1.5, 1.5),
                             timing_offset=rng.uniform(0, 40), seed=100 + i)
        frames, stats = receive(channel(x))
        assert stats["detections"] == 1, stats
        decoded += bool(frames) and frames[0].units[0].crc_ok
    assert decoded >= 11


@pytest.mark.parametrize("snr_db", [60.0, 80.0, math.inf])
def test_very_high_snr_streams_decode_every_burst_once(snr_db):
    """Silence at -80 dB between bursts must not look periodic (window sums of a long buffer
    once cancelled catastrophically and made bursts detect twice or not at all)."""
    fmt = FrameFormat()
    rng = np.random.default_rng(4)
    parts = []
    for seq in range(9):
        tx, _ = make_tx(rng, seq=seq)
        parts += [fmt.build(tx), np.zeros(400, np.complex64)]
    y = apply_channel(np.concatenate(parts), snr_db, seed=2)
    frames, stats = receive(y)
    assert [f.seq for f in frames] == list(range(9)) and all(f.crc_ok for f in frames)
    assert stats["detections"] == 9 and stats["sig_failures"] == 0
