"""The receiver decodes all the digital units of a burst together (fec.decode_payloads): one
decoder call per code, with the results of decoding each unit alone."""
import json

import numpy as np
import pytest

from semcom_blocks.phy import fec, receiver
from semcom_blocks.phy.fec import PayloadCoder, decode_payload, decode_payloads
from semcom_blocks.phy.frame import FrameFormat, Transmission, Unit
from semcom_blocks.phy.ldpc import LdpcCode
from semcom_blocks.phy.ofdm import OfdmParams
from semcom_blocks.phy.turbo import TurboCode

P = OfdmParams()

CODERS = [PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32"),
          PayloadCoder("ldpc", 648, "1/2", "bpsk", "crc16"),  # the same code as the first: batched with it
          PayloadCoder("ldpc", 1296, "3/4", "16qam", "crc24a"),
          PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32", decoder="spa", max_iter=20),  # its own batch
          PayloadCoder("turbo", modulation="qpsk", crc="crc24a"),
          PayloadCoder("turbo", modulation="bpsk", crc="crc32"),
          PayloadCoder("none", modulation="qpsk", crc="crc16"),
          PayloadCoder("ldpc", 648, "2/3", "bpsk", None)]


def _units(rng, sizes=(0, 1, 40, 700)):
    """(coder, noisy LLRs, nbytes) for every coder and size: clean, noisy and hopeless LLRs."""
    out = []
    for c, coder in enumerate(CODERS):
        for s, nbytes in enumerate(sizes):
            bits = coder.encode_bits(rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes())
            sigma = (0.0, 0.6, 0.85, 2.0)[(c + s) % 4]
            llr = ((1 - 2.0 * bits) * 2 + sigma * 2 * rng.standard_normal(bits.size)).astype(np.float32)
            out.append((coder, np.concatenate([llr, np.ones(3, np.float32)]), nbytes))
    return out


def test_decode_payloads_is_decode_llr_unit_by_unit():
    units = _units(np.random.default_rng(1))
    got = decode_payloads(units)
    want = [coder.decode_llr(llr, nbytes) for coder, llr, nbytes in units]
    assert got == [(w.data, w.crc_ok) for w in want]
    assert 0 < sum(ok for _, ok in got) < len(got)  # some fail their CRC, most do not
    assert got == [decode_payload(*u) for u in units]
    assert decode_payloads([]) == []


def test_one_decoder_call_per_code(monkeypatch):
    units = _units(np.random.default_rng(2), sizes=(40, 700, 300))
    calls = []
    real_ldpc, real_turbo = LdpcCode.decode, TurboCode.decode
    monkeypatch.setattr(LdpcCode, "decode", lambda self, x, **kw: calls.append(
        ("ldpc", self.n, self.rate_name, kw.get("decoder"), len(x))) or real_ldpc(self, x, **kw))
    monkeypatch.setattr(TurboCode, "decode", lambda self, x, **kw: calls.append(
        ("turbo", self.k, kw.get("crc"), len(x))) or real_turbo(self, x, **kw))
    decode_payloads(units)
    keys = [c[:-1] for c in calls]
    assert len(keys) == len(set(keys))  # no code (and decoder options) decoded twice
    assert {k for k in keys if k[0] == "ldpc"} == {("ldpc", 648, "1/2", None), ("ldpc", 1296, "3/4", None),
                                                   ("ldpc", 648, "1/2", "spa"), ("ldpc", 648, "2/3", None)}
    # 648 R1/2 min-sum: the failing codewords of both coders' units in one batch
    assert max(c[-1] for c in calls if c[1:4] == (648, "1/2", None)) >= 16


def test_bad_units_raise_as_decode_llr():
    coder = PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32")
    bits = coder.encode_bits(bytes(96))
    with pytest.raises(ValueError):
        decode_payloads([(coder, np.ones(bits.size), 96), (coder, np.full(bits.size, np.nan), 96)])
    with pytest.raises(ValueError):
        decode_payloads([(coder, np.ones(bits.size - 1), 96)])
    turbo = PayloadCoder("turbo")
    with pytest.raises(ValueError):
        decode_payloads([(turbo, np.ones(turbo.coded_bits(10) - 1), 10)])


def _burst(rng, snr_db):
    """A burst of several digital units (two codes) and an analog one, through AWGN at snr_db."""
    big = PayloadCoder("ldpc", 1296, "1/2", "qpsk", "crc32")
    units = [Unit(f"d{i}", "digital", rng.integers(0, 256, n, dtype=np.uint8).tobytes(), big)
             for i, n in enumerate((300, 5, 900, 120))]
    units.insert(2, Unit("caption", "digital", b"a cat on a mat"))  # 648 R1/2, as the SIG and table
    analog = (rng.standard_normal(200) + 1j * rng.standard_normal(200)) / np.sqrt(2)
    units.insert(3, Unit("a", "analog", analog.astype(np.complex64)))
    units.append(Unit("t", "digital", bytes(range(200)), PayloadCoder("turbo", modulation="qpsk", crc="crc24a")))
    x = FrameFormat(P).build(Transmission(units, seq=7))
    x = np.concatenate([np.zeros(200, np.complex64), x, np.zeros(300, np.complex64)])
    sigma2 = P.fft_len / (P.n_used * 10 ** (snr_db / 10))
    noise = np.sqrt(sigma2 / 2) * (rng.standard_normal(x.size) + 1j * rng.standard_normal(x.size))
    return (x + noise).astype(np.complex64), units


@pytest.mark.parametrize("snr_db", [4.0, 25.0])
def test_receiver_batches_the_units_of_a_burst(monkeypatch, snr_db):
    rng = np.random.default_rng(int(snr_db))
    y, sent = _burst(rng, snr_db)
    calls = []
    real = LdpcCode.decode
    monkeypatch.setattr(LdpcCode, "decode", lambda self, x, **kw: calls.append((self.n, len(x))) or real(self, x, **kw))
    rx = receiver.BurstReceiver()
    frames = rx.push(y) + rx.flush()
    assert len(frames) == 1 and [u.name for u in frames[0].units] == [u.name for u in sent]
    assert len([c for c in calls if c[0] == 1296]) <= 1  # the four 1296 units: one call at most
    if snr_db < 10:
        assert [c for c in calls if c[0] == 1296][0][1] >= 8  # their failing codewords together
    # unit by unit (the receiver as it was) gives the same units and counters
    monkeypatch.setattr(receiver, "decode_payloads", lambda items: [fec.decode_payload(*it) for it in items])
    rx_ref = receiver.BurstReceiver()
    ref = rx_ref.push(y) + rx_ref.flush()
    assert rx.stats == rx_ref.stats
    for got, want in zip(frames[0].units, ref[0].units):
        assert (got.name, got.kind, got.crc_ok) == (want.name, want.kind, want.crc_ok)
        assert np.array_equal(np.asarray(got.noise_var), np.asarray(want.noise_var))
        if got.kind == "digital":
            assert got.data == want.data
        else:
            assert np.array_equal(got.data, want.data)
    if snr_db > 10:
        assert frames[0].crc_ok and [u.data for u in frames[0].units if u.kind == "digital"] == \
            [u.data for u in sent if u.kind == "digital"]


def test_warm_start_helpers(capsys):
    """The warm-up that scripts/setup.sh runs, and the first-burst timing `semcom bench phy` runs in
    a fresh interpreter (here in this one, whose kernels are compiled already)."""
    from semcom_blocks.phy import warm

    assert warm.warm() > 0
    assert warm.main(["--first-burst"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["frames"] == 1 and out["digital_units_ok"] == 1 and out["digital_bytes"] == 3000
    assert 0 < out["first_burst_s"] < 30 and out["burst_samples"] > 40000
