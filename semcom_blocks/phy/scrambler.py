"""The IEEE 802.11 data scrambler (section 17.3.5.5): generator x^7 + x^4 + 1.

The scrambler is a 7-bit linear feedback shift register whose output sequence (period 127) is
XORed onto the data; descrambling is the same operation with the same seed. The seed is the
register's initial state as an integer 1..127, bit 6 (value 64) being x^7's cell (the first
cell to be read). With the all-ones seed (127) the sequence begins 00001110 11110010 11001001,
as the standard lists it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["scrambler_sequence", "scramble"]


def scrambler_sequence(length: int, seed: int = 0x7F) -> np.ndarray:
    """The first ``length`` bits (uint8) the scrambler produces from ``seed`` (1..127)."""
    if not 1 <= int(seed) <= 0x7F:
        raise ValueError(f"scrambler seed must be in 1..127 (a nonzero 7-bit state), got {seed}")
    if length < 0:
        raise ValueError("length must be >= 0")
    state = [(int(seed) >> (6 - i)) & 1 for i in range(7)]  # state[0] = x^1 cell ... state[6] = x^7
    period = np.empty(127, dtype=np.uint8)
    for i in range(127):
        bit = state[6] ^ state[3]  # x^7 xor x^4
        period[i] = bit
        state = [bit] + state[:6]
    reps = -(-length // 127) if length else 0
    return np.tile(period, reps)[:length]


def scramble(bits, seed: int = 0x7F) -> np.ndarray:
    """XOR ``bits`` (1-D 0/1) with the scrambler sequence; applying it twice restores them."""
    arr = np.asarray(bits)
    if arr.ndim != 1:
        raise ValueError(f"scramble: expected 1-D bits, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError("scramble: bits must be 0 or 1")
    return arr.astype(np.uint8) ^ scrambler_sequence(arr.size, seed)
