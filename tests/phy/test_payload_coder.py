import numpy as np
import pytest

from semcom_blocks.phy.fec import PayloadCoder


@pytest.mark.parametrize("coder", [
    PayloadCoder("ldpc", 648, "1/2", "qpsk"), PayloadCoder("ldpc", 1944, "5/6", "64qam", crc="crc16"),
    PayloadCoder("ldpc", 1296, "3/4", "16qam", decoder="spa"), PayloadCoder("turbo", modulation="qpsk"),
    PayloadCoder("none", modulation="bpsk", crc="crc24a"),
])
@pytest.mark.parametrize("nbytes", [0, 1, 57, 300])
def test_round_trip_at_high_snr(coder, nbytes):
    rng = np.random.default_rng(nbytes)
    payload = bytes(rng.integers(0, 256, nbytes, dtype=np.uint8))
    symbols = coder.encode(payload)
    assert symbols.dtype == np.complex64 and symbols.size == coder.n_symbols(nbytes)
    assert np.isclose(np.mean(np.abs(symbols) ** 2), 1.0, atol=0.3) or nbytes == 0
    n0 = 10 ** (-25 / 10)
    noisy = symbols + np.sqrt(n0 / 2) * (rng.normal(size=symbols.size) + 1j * rng.normal(size=symbols.size))
    out = coder.decode(noisy, n0, nbytes)
    assert out.data == payload and out.crc_ok


def test_crc_reports_failure_at_low_snr():
    coder = PayloadCoder("ldpc", 648, "1/2", "qpsk")
    payload = b"a description of a video" * 4
    rng = np.random.default_rng(0)
    symbols = coder.encode(payload)
    n0 = 10 ** (4 / 10)  # Es/N0 = -4 dB: hopeless for rate 1/2
    failures = 0
    for _ in range(5):
        noisy = symbols + np.sqrt(n0 / 2) * (rng.normal(size=symbols.size) + 1j * rng.normal(size=symbols.size))
        out = coder.decode(noisy, n0, len(payload))
        assert len(out.data) == len(payload)
        failures += not out.crc_ok
        assert out.crc_ok == (out.data == payload)
    assert failures == 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown FEC"):
        PayloadCoder("polar")
    with pytest.raises(ValueError, match="unknown LDPC rate"):
        PayloadCoder("ldpc", 648, "9/10")
    with pytest.raises(ValueError, match="unknown modulation"):
        PayloadCoder("ldpc", modulation="256qam")
    with pytest.raises(ValueError, match="unknown CRC"):
        PayloadCoder("ldpc", crc="crc8")
    coder = PayloadCoder()
    with pytest.raises(ValueError, match="needs"):
        coder.decode_llr(np.zeros(10), 100)
    with pytest.raises(ValueError, match="NaN"):
        coder.decode(np.full(coder.n_symbols(10), np.nan + 0j), 0.1, 10)
