"""msgpack from untrusted peers: the structure is checked before anything is unpacked.

``msgpack.unpackb`` builds the whole object before a caller can look at it, and its own stack
allows 1024 levels of nesting: enough for a 1 KB message to make ``repr`` or any recursive
walk of the result raise ``RecursionError``. :func:`scan` walks the raw bytes once, in compiled
code, without building anything: it finds truncated or trailing data, the reserved byte 0xC1,
and nesting deeper than a limit, at a cost of one step per msgpack object (not per byte: the
payloads of str, bin and ext are skipped). :func:`unpackb` runs it, then unpacks with every
length bounded by the message size.

Depth counts containers: a scalar is depth 0, ``[1]`` depth 1, ``{"a": [1]}`` depth 2.
"""
from __future__ import annotations

import msgpack
import numba
import numpy as np

__all__ = ["MAX_DEPTH", "MsgpackRejected", "scan", "unpackb"]

#: default nesting limit: the protocol's deepest legitimate message (a received frame's unit map
#: inside its units list inside the message) is depth 3; user metadata gets some room on top
MAX_DEPTH = 32

_TRUNCATED, _TOO_DEEP, _RESERVED, _TRAILING = -1, -2, -3, -4
_REASONS = {_TRUNCATED: "truncated", _TOO_DEEP: "nested too deep", _RESERVED: "reserved byte 0xc1",
            _TRAILING: "trailing bytes after the message"}


class MsgpackRejected(ValueError):
    """The bytes are not one well-formed msgpack object within the limits; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(f"not an acceptable msgpack message: {reason}")
        self.reason = reason


@numba.njit(cache=True, inline="always")
def _be(buf, pos, nbytes):
    """Big-endian unsigned integer of ``nbytes`` bytes at ``pos`` (the caller checked bounds)."""
    v = np.int64(0)
    for i in range(nbytes):
        v = (v << 8) | np.int64(buf[pos + i])
    return v


@numba.njit(cache=True)
def _scan(buf, max_depth):
    """Deepest nesting of the one msgpack object in ``buf`` (uint8 array), or a negative code."""
    n = buf.size
    remaining = np.zeros(max_depth + 2, np.int64)  # objects still to read at each open level
    remaining[0] = 1
    depth = 0
    deepest = 0
    pos = 0
    while True:
        while depth > 0 and remaining[depth] == 0:
            depth -= 1
        if remaining[depth] == 0:
            break
        if pos >= n:
            return _TRUNCATED
        remaining[depth] -= 1
        b = np.int64(buf[pos])
        pos += 1
        count = -1  # >= 0: a container of that many objects
        skip = 0  # payload bytes to skip
        if b <= 0x7F or b >= 0xE0 or b == 0xC0 or b == 0xC2 or b == 0xC3:
            pass
        elif b <= 0x8F:
            count = 2 * (b & 0x0F)
        elif b <= 0x9F:
            count = b & 0x0F
        elif b <= 0xBF:
            skip = b & 0x1F
        elif b == 0xC1:
            return _RESERVED
        elif b == 0xC4 or b == 0xD9:  # bin8, str8
            if pos + 1 > n:
                return _TRUNCATED
            skip = _be(buf, pos, 1)
            pos += 1
        elif b == 0xC5 or b == 0xDA:  # bin16, str16
            if pos + 2 > n:
                return _TRUNCATED
            skip = _be(buf, pos, 2)
            pos += 2
        elif b == 0xC6 or b == 0xDB:  # bin32, str32
            if pos + 4 > n:
                return _TRUNCATED
            skip = _be(buf, pos, 4)
            pos += 4
        elif b == 0xC7 or b == 0xC8 or b == 0xC9:  # ext8/16/32: length, type byte, data
            w = 1 if b == 0xC7 else (2 if b == 0xC8 else 4)
            if pos + w > n:
                return _TRUNCATED
            skip = _be(buf, pos, w) + 1
            pos += w
        elif b == 0xCA:
            skip = 4
        elif b == 0xCB:
            skip = 8
        elif b >= 0xCC and b <= 0xD3:  # (u)int 8/16/32/64
            skip = 1 << ((b - 0xCC) & 3)
        elif b >= 0xD4 and b <= 0xD8:  # fixext 1/2/4/8/16: type byte + data
            skip = 1 + (1 << (b - 0xD4))
        elif b == 0xDC or b == 0xDE:  # array16, map16
            if pos + 2 > n:
                return _TRUNCATED
            count = _be(buf, pos, 2) * (2 if b == 0xDE else 1)
            pos += 2
        else:  # 0xDD array32, 0xDF map32
            if pos + 4 > n:
                return _TRUNCATED
            count = _be(buf, pos, 4) * (2 if b == 0xDF else 1)
            pos += 4
        if skip:
            if pos + skip > n:
                return _TRUNCATED
            pos += skip
        if count >= 0:
            if count > n - pos:  # every object takes at least one byte
                return _TRUNCATED
            if depth + 1 > max_depth:
                return _TOO_DEEP
            depth += 1
            remaining[depth] = count
            if depth > deepest:
                deepest = depth
    if pos != n:
        return _TRAILING
    return deepest


def scan(raw, max_depth: int = MAX_DEPTH) -> int:
    """Nesting depth of the single msgpack object in ``raw`` (bytes-like); MsgpackRejected when
    it is truncated, has trailing bytes, uses the reserved byte 0xC1 or nests deeper than
    ``max_depth`` containers."""
    if not 0 <= max_depth <= 1000:
        raise ValueError(f"max_depth must be 0..1000, got {max_depth}")
    buf = np.frombuffer(raw, np.uint8) if len(raw) else np.zeros(0, np.uint8)
    depth = int(_scan(buf, int(max_depth)))
    if depth < 0:
        raise MsgpackRejected(_REASONS[depth])
    return depth


def unpackb(raw, max_depth: int = MAX_DEPTH, strict_map_key: bool = True):
    """The object in ``raw`` after :func:`scan`; str and bin decoded (``raw=False``), map keys str or
    bytes only (``strict_map_key``), every length bounded by ``len(raw)``. Raises MsgpackRejected
    for anything malformed (invalid UTF-8 and unhashable keys included), never another type."""
    scan(raw, max_depth)
    size = max(len(raw), 1)
    try:
        return msgpack.unpackb(bytes(raw), raw=False, strict_map_key=strict_map_key, max_str_len=size,
                               max_bin_len=size, max_array_len=size, max_map_len=size, max_ext_len=size)
    except Exception as exc:  # msgpack raises several unrelated types on bad content
        raise MsgpackRejected(type(exc).__name__) from None
