"""Gray-mapped BPSK, QPSK, 16-QAM and 64-QAM with unit average energy, and LLR demapping.

Mapping (IEEE 802.11a/n, section 17.3.5.8): a symbol's ``m`` bits are split into an in-phase
half and a quadrature half (BPSK: one in-phase bit, zero quadrature). Each half picks one of
``L = 2**(m/2)`` amplitude levels ``-(L-1), ..., -1, 1, ..., L-1`` by binary-reflected Gray code,
first bit most significant, so that bit 0 lies on the negative side::

    QPSK   b0 -> I:  0 -> -1, 1 -> +1                       (b1 -> Q likewise)
    16-QAM b0 b1 -> I:  00 -3, 01 -1, 11 +1, 10 +3          (b2 b3 -> Q)
    64-QAM b0 b1 b2 -> I: 000 -7, 001 -5, 011 -3, 010 -1, 110 +1, 111 +3, 101 +5, 100 +7

and the constellation is scaled to unit average symbol energy (1, 1/sqrt(2), 1/sqrt(10),
1/sqrt(42)). Neighbouring points differ in exactly one bit.

Demapping takes the complex noise variance ``N0 = E|n|^2`` per received symbol (N0/2 per real
dimension; for equalised OFDM symbols, the per-symbol post-equaliser variance). It returns
``LLR = log P(b = 0 | y) / P(b = 1 | y)`` (positive means 0), either exact (log-sum-exp over
the constellation) or max-log. LLRs are clipped to +-``LLR_MAX`` and the noise variance is
floored at ``N0_MIN`` so that every output is finite, noiseless input included.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["MODULATIONS", "LLR_MAX", "N0_MIN", "bits_per_symbol", "constellation", "modulate", "demodulate_llr",
           "hard_decision"]

#: name -> bits per symbol
MODULATIONS = {"bpsk": 1, "qpsk": 2, "16qam": 4, "64qam": 6}
#: magnitude at which LLRs are clipped (a bit this certain is certain for every decoder here).
LLR_MAX = 1000.0
#: smallest noise variance the demapper divides by.
N0_MIN = 1e-12

_ALIASES = {"4qam": "qpsk", "qam4": "qpsk", "qam16": "16qam", "qam64": "64qam", "2psk": "bpsk"}


def _name(mod: str) -> str:
    key = str(mod).lower().replace("-", "").replace("_", "")
    key = _ALIASES.get(key, key)
    if key not in MODULATIONS:
        raise ValueError(f"unknown modulation {mod!r}; known: {', '.join(MODULATIONS)}")
    return key


def bits_per_symbol(mod: str) -> int:
    """Bits carried by one symbol of ``mod`` (bpsk 1, qpsk 2, 16qam 4, 64qam 6)."""
    return MODULATIONS[_name(mod)]


@lru_cache(maxsize=None)
def _axis(mod: str) -> tuple[int, float, np.ndarray, np.ndarray]:
    """(bits per axis, scale, level of each bit-group value, bit matrix of each level index).

    level[v] is the amplitude (before scaling) for the bit group whose MSB-first value is v;
    bit_of[i, j] is bit j of the group mapped to the i-th level from the most negative.
    """
    m = MODULATIONS[mod]
    per_axis = 1 if mod == "bpsk" else m // 2
    n_levels = 1 << per_axis
    amplitudes = np.arange(-(n_levels - 1), n_levels, 2, dtype=np.float64)  # -(L-1) .. L-1
    gray = np.arange(n_levels) ^ (np.arange(n_levels) >> 1)  # level index -> bit-group value
    level = np.empty(n_levels)
    level[gray] = amplitudes
    shifts = np.arange(per_axis - 1, -1, -1)
    bit_of = ((gray[:, None] >> shifts[None, :]) & 1).astype(np.uint8)
    mean_energy = 1.0 if mod == "bpsk" else 2.0 * np.mean(amplitudes**2)
    return per_axis, 1.0 / np.sqrt(mean_energy), level, bit_of


def constellation(mod: str) -> np.ndarray:
    """All 2**m points, indexed by the MSB-first integer value of the symbol's bits."""
    name = _name(mod)
    m = MODULATIONS[name]
    values = np.arange(1 << m, dtype=np.uint8)
    bits = ((values[:, None].astype(np.int64) >> np.arange(m - 1, -1, -1)) & 1).astype(np.uint8)
    return modulate(bits.reshape(-1), name)


def modulate(bits, mod: str) -> np.ndarray:
    """Map a flat array of 0/1 bits (length a multiple of m) to complex64 symbols."""
    name = _name(mod)
    m = MODULATIONS[name]
    arr = np.asarray(bits)
    if arr.ndim != 1:
        raise ValueError(f"modulate: expected a 1-D bit array, got shape {arr.shape}")
    if arr.size % m:
        raise ValueError(f"modulate: {arr.size} bits is not a multiple of {m} bits per {name} symbol")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError("modulate: bits must be 0 or 1")
    per_axis, scale, level, _ = _axis(name)
    groups = arr.astype(np.int64).reshape(-1, m)
    weights = 1 << np.arange(per_axis - 1, -1, -1)
    i_val = groups[:, :per_axis] @ weights
    out = np.empty(groups.shape[0], dtype=np.complex64)
    out.real = level[i_val] * scale
    out.imag = level[groups[:, per_axis:] @ weights] * scale if name != "bpsk" else 0.0
    return out


def _axis_llr(y: np.ndarray, n0: np.ndarray, name: str, exact: bool) -> np.ndarray:
    """LLRs (len(y), per_axis) of the bits of one real axis with noise variance n0/2 on it."""
    per_axis, scale, _, bit_of = _axis(name)
    amplitudes = (np.arange(-(len(bit_of) - 1), len(bit_of), 2) * scale).astype(np.float64)
    # log-likelihood of each level, up to a constant: -(y - a)^2 / N0
    metric = -((y[:, None] - amplitudes[None, :]) ** 2) / n0[:, None]
    llr = np.empty((y.size, per_axis))
    for j in range(per_axis):
        zero, one = metric[:, bit_of[:, j] == 0], metric[:, bit_of[:, j] == 1]
        if exact:
            llr[:, j] = np.logaddexp.reduce(zero, axis=1) - np.logaddexp.reduce(one, axis=1)
        else:
            llr[:, j] = zero.max(axis=1) - one.max(axis=1)
    return llr


def demodulate_llr(symbols, mod: str, noise_var, exact: bool = True) -> np.ndarray:
    """Bit LLRs (flat float32, m per symbol, positive means 0) of received symbols.

    symbols:   1-D complex array, unit average energy constellation plus noise.
    noise_var: complex noise variance N0 = E|n|^2 (= 1 / Es/N0 for unit-energy symbols), a scalar
               or one value per symbol; 0 is allowed (floored at N0_MIN, LLRs clipped).
    exact:     log-sum-exp over the constellation (True) or max-log (False).
    """
    name = _name(mod)
    y = np.asarray(symbols)
    if y.ndim != 1:
        raise ValueError(f"demodulate_llr: expected 1-D symbols, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("demodulate_llr: symbols contain NaN or infinity")
    n0 = np.asarray(noise_var, dtype=np.float64)
    if n0.ndim > 1 or (n0.ndim == 1 and n0.size != y.size):
        raise ValueError(f"demodulate_llr: noise_var must be a scalar or one value per symbol ({y.size})")
    if not np.all(np.isfinite(n0)) or np.any(n0 < 0):
        raise ValueError("demodulate_llr: noise_var must be finite and >= 0")
    n0 = np.maximum(n0, N0_MIN)
    m = MODULATIONS[name]
    per_axis, scale = _axis(name)[:2]
    if m <= 2:  # one bit per axis: the exact LLR is linear, -4 a y / N0 (levels +-a)
        # (real, imag) pairs in bit order: a complex64 array viewed as float32 pairs
        axes = y.real if m == 1 else np.ascontiguousarray(y, np.complex64).view(np.float32).reshape(-1, 2)
        gain = (-4.0 * scale) / (n0 if n0.ndim == 0 or m == 1 else n0[:, None])
        llr = (axes * gain).astype(np.float32)
        return np.clip(llr, -LLR_MAX, LLR_MAX, out=llr).reshape(-1)
    n0 = np.broadcast_to(n0, y.shape)
    llr = np.empty((y.size, m))
    llr[:, :per_axis] = _axis_llr(y.real.astype(np.float64), n0, name, exact)
    if name != "bpsk":
        llr[:, per_axis:] = _axis_llr(y.imag.astype(np.float64), n0, name, exact)
    return np.clip(llr, -LLR_MAX, LLR_MAX).astype(np.float32).reshape(-1)


def hard_decision(llr) -> np.ndarray:
    """Bits from LLRs: 1 where the LLR is negative (LLR > 0 means 0)."""
    return (np.asarray(llr) < 0).astype(np.uint8)
