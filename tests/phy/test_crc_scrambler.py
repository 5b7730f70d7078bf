import numpy as np
import pytest

from semcom_blocks.phy.crc import crc_attach_bits, crc_bits, crc_bytes, crc_check_bits
from semcom_blocks.phy.scrambler import scramble, scrambler_sequence

CHECK = {"crc16": 0x31C3, "crc24a": 0xCDE703, "crc24b": 0x23EF52, "crc32": 0xCBF43926}


@pytest.mark.parametrize("name", CHECK)
def test_catalogue_check_values(name):
    assert crc_bytes(b"123456789", name) == CHECK[name]


@pytest.mark.parametrize("name", ["crc16", "crc24a", "crc24b"])
def test_bit_crc_matches_byte_crc(name):
    bits = np.unpackbits(np.frombuffer(b"123456789", np.uint8))
    parity = crc_bits(bits, name)
    assert int("".join(map(str, parity)), 2) == CHECK[name]


def _crc_bitwise(bits, width, poly):
    reg = 0
    for b in bits:
        fb = ((reg >> (width - 1)) & 1) ^ int(b)
        reg = ((reg << 1) & ((1 << width) - 1)) ^ (poly if fb else 0)
    return [(reg >> (width - 1 - i)) & 1 for i in range(width)]


@pytest.mark.parametrize("length", [0, 1, 7, 13, 40, 1000])
def test_any_length_and_batches(length):
    rng = np.random.default_rng(length)
    bits = rng.integers(0, 2, (5, length), dtype=np.uint8)
    out = crc_bits(bits, "crc24b")
    for row, par in zip(bits, out):
        assert list(par) == _crc_bitwise(row, 24, 0x800063)
    attached = crc_attach_bits(bits, "crc24a")
    assert crc_check_bits(attached, "crc24a").all()
    if length:
        attached[2, rng.integers(length)] ^= 1
        assert list(crc_check_bits(attached, "crc24a")) == [True, True, False, True, True]


def test_crc_bad_input():
    with pytest.raises(ValueError, match="unknown CRC"):
        crc_bytes(b"x", "crc17")
    with pytest.raises(ValueError, match="0 and 1"):
        crc_bits(np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="shorter"):
        crc_check_bits(np.zeros(10, np.uint8), "crc24b")


def test_scrambler_matches_standard_sequence():
    seq = scrambler_sequence(254)
    # IEEE 802.11-2012 17.3.5.5: all-ones initial state gives 00001110 11110010 11001001 ...
    assert "".join(map(str, seq[:24])) == "000011101111001011001001"
    assert np.array_equal(seq[:127], seq[127:])  # period 127 (maximal length)
    assert seq[:127].sum() == 64


def test_scramble_is_an_involution():
    bits = np.random.default_rng(0).integers(0, 2, 1000, dtype=np.uint8)
    assert np.array_equal(scramble(scramble(bits, 0x5D), 0x5D), bits)
    assert not np.array_equal(scramble(bits, 0x5D), bits)
    with pytest.raises(ValueError):
        scrambler_sequence(10, seed=0)
