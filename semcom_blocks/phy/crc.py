"""Cyclic redundancy checks: CRC-16, CRC-24A, CRC-24B and CRC-32.

Two views of the same checks:

* on **bit arrays** (uint8 arrays of 0/1, any length, MSB-first: the first bit is the
  coefficient of the highest power), as 3GPP 36.212 section 5.1.1 defines them. Parity bits are
  appended after the data. Used by the turbo code's segmentation and by the frame header.
* on **bytes**, for packet payloads (``crc_bytes``).

Polynomials (non-reflected, initial register 0, no final XOR unless stated):

===========  ==========  =============================================  =========
name         width/poly  where                                          check*
===========  ==========  =============================================  =========
``crc16``    16 / 0x1021  3GPP gCRC16 (= CRC-16/XMODEM)                  0x31C3
``crc24a``   24 / 0x864CFB  3GPP gCRC24A, transport blocks                0xCDE703
``crc24b``   24 / 0x800063  3GPP gCRC24B, turbo code blocks               0x23EF52
``crc32``    32 / 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF        0xCBF43926
                            (IEEE 802.3, zlib.crc32)
===========  ==========  =============================================  =========

(*) CRC of the ASCII bytes ``b"123456789"``, the catalogue check value.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["CrcSpec", "CRCS", "get_crc", "crc_bytes", "crc_bits", "crc_attach_bits", "crc_check_bits"]


@dataclass(frozen=True)
class CrcSpec:
    """A CRC as the catalogue describes it (Williams' "Rocksoft" model)."""

    name: str
    width: int
    poly: int
    init: int = 0
    reflect: bool = False
    xorout: int = 0

    def table(self) -> np.ndarray:
        """256-entry byte table for the MSB-first (non-reflected) register."""
        return _table(self)


CRCS: dict[str, CrcSpec] = {
    "crc16": CrcSpec("crc16", 16, 0x1021),
    "crc24a": CrcSpec("crc24a", 24, 0x864CFB),
    "crc24b": CrcSpec("crc24b", 24, 0x800063),
    "crc32": CrcSpec("crc32", 32, 0x04C11DB7, init=0xFFFFFFFF, reflect=True, xorout=0xFFFFFFFF),
}

_TABLES: dict[str, np.ndarray] = {}


def get_crc(name: str | CrcSpec) -> CrcSpec:
    """Look a CRC up by name; raise ValueError naming the known ones."""
    if isinstance(name, CrcSpec):
        return name
    try:
        return CRCS[name]
    except KeyError:
        raise ValueError(f"unknown CRC {name!r}; known: {', '.join(CRCS)}") from None


def _table(spec: CrcSpec) -> np.ndarray:
    if spec.name not in _TABLES:
        top = 1 << (spec.width - 1)
        mask = (1 << spec.width) - 1
        table = np.zeros(256, dtype=np.uint64)
        for byte in range(256):
            reg = byte << (spec.width - 8)
            for _ in range(8):
                reg = ((reg << 1) ^ spec.poly) if reg & top else (reg << 1)
            table[byte] = reg & mask
        _TABLES[spec.name] = table
    return _TABLES[spec.name]


def _register_msb(spec: CrcSpec, data: bytes) -> int:
    table = _table(spec)
    mask = (1 << spec.width) - 1
    shift = spec.width - 8
    reg = spec.init
    for byte in data:
        reg = ((reg << 8) & mask) ^ int(table[((reg >> shift) ^ byte) & 0xFF])
    return reg ^ spec.xorout


def crc_bytes(data: bytes | bytearray | memoryview | np.ndarray, crc: str | CrcSpec = "crc32") -> int:
    """CRC of a byte string, as an integer (the catalogue value)."""
    spec = get_crc(crc)
    buf = bytes(np.asarray(data, dtype=np.uint8).tobytes() if isinstance(data, np.ndarray) else data)
    if spec.name == "crc32":
        return zlib.crc32(buf) & 0xFFFFFFFF
    if spec.reflect:
        raise ValueError(f"reflected CRC {spec.name} has no byte implementation")
    return _register_msb(spec, buf)


def _check_bits(bits: np.ndarray) -> np.ndarray:
    arr = np.asarray(bits)
    if arr.ndim < 1:
        raise ValueError("bits must be an array of 0/1 values with at least one dimension")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError("bits must contain only 0 and 1")
    return arr.astype(np.uint8, copy=False)


def crc_bits(bits: np.ndarray, crc: str | CrcSpec = "crc24b") -> np.ndarray:
    """Parity bits (MSB first, ``width`` of them) of bit arrays along the last axis.

    ``bits`` is (..., n) of 0/1; the result is (..., width) uint8. Works for any n, and for
    a batch of equal-length blocks at once. Non-reflected CRCs only (the 3GPP ones).
    """
    spec = get_crc(crc)
    if spec.reflect:
        raise ValueError(f"crc_bits supports the MSB-first CRCs only, not {spec.name}")
    arr = _check_bits(bits)
    lead = arr.shape[:-1]
    flat = arr.reshape(int(np.prod(lead, dtype=np.int64)), arr.shape[-1])
    n = flat.shape[1]
    width, mask = spec.width, (1 << spec.width) - 1
    # Feed the leading n % 8 bits one at a time, then whole bytes through the table.
    head = n % 8
    reg = np.full(flat.shape[0], spec.init, dtype=np.uint64)
    top = np.uint64(1 << (width - 1))
    poly, m64 = np.uint64(spec.poly), np.uint64(mask)
    for i in range(head):
        fb = ((reg & top) != 0) ^ (flat[:, i] != 0)
        reg = ((reg << np.uint64(1)) & m64) ^ np.where(fb, poly, np.uint64(0))
    if n > head:
        table = _table(spec)
        packed = np.packbits(flat[:, head:], axis=1)
        shift = np.uint64(width - 8)
        for j in range(packed.shape[1]):
            idx = ((reg >> shift) ^ packed[:, j].astype(np.uint64)) & np.uint64(0xFF)
            reg = ((reg << np.uint64(8)) & m64) ^ table[idx.astype(np.intp)]
    reg ^= np.uint64(spec.xorout)
    shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
    out = ((reg[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8)
    return out.reshape(*lead, width)


def crc_attach_bits(bits: np.ndarray, crc: str | CrcSpec = "crc24b") -> np.ndarray:
    """Bits followed by their CRC parity bits, along the last axis."""
    arr = _check_bits(bits)
    return np.concatenate([arr, crc_bits(arr, crc)], axis=-1)


def crc_check_bits(bits_with_crc: np.ndarray, crc: str | CrcSpec = "crc24b") -> np.ndarray | bool:
    """True where the trailing ``width`` bits are the CRC of the bits before them.

    Returns a bool for a 1-D input and a bool array over the leading axes otherwise.
    """
    spec = get_crc(crc)
    arr = _check_bits(bits_with_crc)
    if arr.shape[-1] < spec.width:
        raise ValueError(f"{arr.shape[-1]} bits is shorter than the {spec.width}-bit {spec.name}")
    ok = np.all(crc_bits(arr[..., : -spec.width], spec) == arr[..., -spec.width:], axis=-1)
    return bool(ok) if arr.ndim == 1 else ok
