"""What every channel code in ``semcom_blocks.phy`` shares: input checks and the decode result.

Conventions (docs/architecture.md):

* bits are uint8 arrays of 0/1;
* LLRs are ``log P(bit = 0) / P(bit = 1)``: positive means 0. They must be finite; a NaN or an
  infinity is a bug upstream (a demapper fed a zero noise variance, a corrupted buffer) and is
  refused with ValueError rather than decoded into silent garbage.
* batched APIs take (B, n) arrays (one codeword per row) and also accept one 1-D codeword.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DecodeResult", "as_bit_batch", "as_llr_batch"]


@dataclass
class DecodeResult:
    """Output of a batched decoder.

    bits:       (B, k) uint8 decoded information bits.
    iterations: (B,) int32 iterations each codeword used (a full iteration for turbo = both
                constituent decoders; for LDPC = one pass over all check nodes).
    converged:  (B,) bool: the decoder's own stopping test passed (LDPC: zero syndrome; turbo:
                hard decisions stable, or the code block CRC passed). Not a guarantee of
                correctness: compare with the transmitted bits or a CRC for that.
    """

    bits: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def as_bit_batch(bits, n: int, what: str = "bits") -> tuple[np.ndarray, bool]:
    """(B, n) uint8 view of ``bits`` and whether the input was a single 1-D word."""
    arr = np.asarray(bits)
    single = arr.ndim == 1
    if single:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"{what}: expected shape (B, {n}) or ({n},), got {np.shape(bits)}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
        raise ValueError(f"{what}: expected integer 0/1 values, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{what}: values must be 0 or 1")
    return np.ascontiguousarray(arr, dtype=np.uint8), single


def as_llr_batch(llr, n: int, dtype=np.float32, what: str = "llr") -> tuple[np.ndarray, bool]:
    """(B, n) contiguous float view of ``llr`` and whether the input was 1-D; checks finiteness."""
    arr = np.asarray(llr)
    single = arr.ndim == 1
    if single:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"{what}: expected shape (B, {n}) or ({n},), got {np.shape(llr)}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{what}: expected real LLRs, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{what}: {bad} LLR(s) are NaN or infinite; LLRs must be finite")
    return arr, single
