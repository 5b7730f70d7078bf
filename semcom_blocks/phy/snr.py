"""SNR bookkeeping, the one place it is done: dB <-> linear, Eb/N0, Es/N0, noise variance.

The convention (docs/architecture.md, "Conventions"): SNR is Es/N0 per complex data symbol.
With unit average symbol energy, the complex noise variance is N0 = 1 / (Es/N0) (N0/2 per real
dimension). A symbol carries
``bits_per_symbol * code_rate`` information bits, so Es/N0 = Eb/N0 * rate * bits_per_symbol.
All SNRs here are in dB unless the name says linear.
"""
from __future__ import annotations

import numpy as np

__all__ = ["db_to_linear", "linear_to_db", "mean_db", "ebn0_to_esn0", "esn0_to_ebn0", "noise_var_from_esn0",
           "esn0_from_noise_var"]


def db_to_linear(db):
    """10^(db/10), elementwise (numbers or arrays; +inf -> inf, -inf -> 0)."""
    return np.power(10.0, np.asarray(db, dtype=float) / 10.0)


def linear_to_db(linear):
    """10 log10(linear), elementwise (0 -> -inf)."""
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.asarray(linear, dtype=float))


def mean_db(values_db) -> float | None:
    """The mean of SNRs given in dB, averaged in linear scale, in dB; None when there are none.
    Non-finite values (NaN, +-inf) are left out."""
    v = np.asarray([x for x in values_db if isinstance(x, (int, float, np.floating)) and np.isfinite(x)], float)
    return float(linear_to_db(db_to_linear(v).mean())) if v.size else None


def _check(rate: float, bits_per_symbol: int) -> None:
    if not 0 < rate <= 1:
        raise ValueError(f"code rate must be in (0, 1], got {rate}")
    if int(bits_per_symbol) < 1:
        raise ValueError(f"bits per symbol must be >= 1, got {bits_per_symbol}")


def ebn0_to_esn0(ebn0_db, rate: float, bits_per_symbol: int):
    """Es/N0 in dB for an Eb/N0 in dB (Eb per information bit)."""
    _check(rate, bits_per_symbol)
    return np.asarray(ebn0_db, dtype=float) + 10 * np.log10(rate * bits_per_symbol)


def esn0_to_ebn0(esn0_db, rate: float, bits_per_symbol: int):
    """Eb/N0 in dB for an Es/N0 in dB."""
    _check(rate, bits_per_symbol)
    return np.asarray(esn0_db, dtype=float) - 10 * np.log10(rate * bits_per_symbol)


def noise_var_from_esn0(esn0_db) -> float:
    """Complex noise variance N0 for unit-energy symbols at Es/N0 (dB)."""
    return float(10 ** (-np.asarray(esn0_db, dtype=float) / 10))


def esn0_from_noise_var(noise_var: float) -> float:
    """Es/N0 in dB of unit-energy symbols with complex noise variance ``noise_var``."""
    if noise_var <= 0:
        raise ValueError("noise variance must be > 0")
    return float(-10 * np.log10(noise_var))
