"""The native layered min-sum LDPC decoder (C, SIMD across codewords), loaded with ctypes.

``kernels/ldpc_minsum.c`` decodes a batch of codewords with one codeword per SIMD lane (AVX-512,
AVX2, SSE or portable C, picked at run time from the CPU's features), running exactly the
algorithm of ``ldpc._layered_minsum``. Two precisions:

* ``"f32"``: float32 in the numba kernel's operation order: the same hard decisions, iteration
  counts and convergence flags as ``decoder="minsum-numba"``, bit for bit;
* ``"i8"``: 8-bit fixed point, the channel LLRs quantized to ``round(llr * I8_LLR_SCALE)``
  clipped at +-``I8_LLR_CLIP`` (posteriors are clamped at +-80, check messages at +-47).
  Four times the lanes of float32, about 1.7x its speed (1.1-2.4x), the same error rates within
  statistics on true LLRs; not bit-exact, and unlike float min-sum not scale-invariant: LLRs 4x too large or
  too small (a mis-estimated noise variance) cost it a lot (docs/fec.md). Opt-in for that reason.

The library is plain C with no Python API, so one build serves every interpreter (the venv and
Debian's /usr/bin/python3 under GNU Radio Companion). ``scripts/build_kernels.sh`` (run by
``make setup``) and CMake build it as ``kernels/libldpc_minsum.so`` beside this module. Where it
is missing (no compiler) or ``SEMCOM_LDPC_NATIVE=0`` is set, ``get()`` returns None and
``LdpcCode.decode`` uses the numba decoder. ``SEMCOM_LDPC_LIB`` names another library file;
``SEMCOM_LDPC_ISA`` (portable, sse, avx2, avx512) caps the instruction set (read when the library
is loaded, once per process).

LLRs are log P(0)/P(1): positive means 0; hard decision 1 where the posterior is negative.
"""
from __future__ import annotations

import ctypes
import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .fec_types import as_llr_batch
from .native_lib import KERNEL_DIR, address, disabled, open_library

__all__ = ["ISAS", "PRECISIONS", "DEFAULT_PRECISION", "NativeMinSum", "library_path", "load", "get", "available"]


log = logging.getLogger(__name__)
LIB_NAME = "libldpc_minsum.so"
ABI_VERSION = 1  # LDPC_MINSUM_ABI_VERSION in kernels/ldpc_minsum.h
ISAS = ("portable", "sse", "avx2", "avx512")  # LDPC_ISA_* = index
PRECISIONS = ("f32", "i8")  # LDPC_PREC_* = index
#: what decoder="minsum" uses: float32, bit-exact to the numba reference and, like it, indifferent
#: to the scale of the LLRs (int8 is faster but needs calibrated LLRs: docs/fec.md)
DEFAULT_PRECISION = "f32"
#: int8 quantization: LSBs per LLR unit (posteriors then reach +-27 LLR units, messages +-16), and
#: the channel LLR clip in LSBs (at most the posterior clamp, 80). Chosen on 648/1296/1944 codes
#: (docs/fec.md): 2 raised the FER at 1e-2 by up to 15 %, 4 with smaller clamps showed a floor.
I8_LLR_SCALE = 3.0
I8_LLR_CLIP = 80

_ERRORS = {-1: "invalid argument or malformed graph", -2: "instruction set not supported here",
           -3: "out of memory"}


def library_path() -> Path:
    """Where the library is looked for: $SEMCOM_LDPC_LIB, else kernels/libldpc_minsum.so."""
    env = os.environ.get("SEMCOM_LDPC_LIB")
    return Path(env) if env else KERNEL_DIR / LIB_NAME


class NativeMinSum:
    """The loaded library. ``isa``: the instruction set in use (the best this CPU has, capped by
    $SEMCOM_LDPC_ISA)."""

    def __init__(self, path):
        self.path = Path(path)
        lib = ctypes.CDLL(str(self.path))
        lib.ldpc_minsum_abi_version.restype = ctypes.c_int
        version = lib.ldpc_minsum_abi_version()
        if version != ABI_VERSION:
            raise OSError(f"{self.path}: ABI version {version}, expected {ABI_VERSION} "
                          "(rebuild it: scripts/build_kernels.sh)")
        for name in ("ldpc_minsum_isa_supported", "ldpc_minsum_lanes"):
            getattr(lib, name).argtypes = [ctypes.c_int32, ctypes.c_int32]
            getattr(lib, name).restype = ctypes.c_int
        # Arrays go as bare addresses: decode() makes them C-contiguous of the right dtype itself
        # (numpy's ndpointer checks would cost more than decoding one codeword).
        ptr = ctypes.c_void_p
        lib.ldpc_minsum_decode.argtypes = [
            ptr, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32, ptr, ptr, ctypes.c_int32, ctypes.c_float,
            ctypes.c_float, ctypes.c_int32, ctypes.c_int32, ctypes.c_float, ctypes.c_int32, ctypes.c_int32,
            ptr, ptr, ptr]
        lib.ldpc_minsum_decode.restype = ctypes.c_int
        self._lib = lib
        cap = os.environ.get("SEMCOM_LDPC_ISA", "").strip().lower()
        if cap and cap not in ISAS:
            raise ValueError(f"SEMCOM_LDPC_ISA={cap!r}: choose from {ISAS}")
        self._cap = ISAS.index(cap) if cap else len(ISAS) - 1
        self._supported = {p: [name for i, name in enumerate(ISAS) if lib.ldpc_minsum_isa_supported(i, pi)]
                           for pi, p in enumerate(PRECISIONS)}
        self._lanes = {(isa, p): lib.ldpc_minsum_lanes(i, pi) for i, isa in enumerate(ISAS)
                       for pi, p in enumerate(PRECISIONS)}

    def supported_isas(self, precision: str = DEFAULT_PRECISION) -> list[str]:
        """Instruction sets this CPU can run for ``precision`` (portable first)."""
        return list(self._supported[_check_precision(precision)])

    def best_isa(self, precision: str = DEFAULT_PRECISION, batch: int | None = None) -> str:
        """The instruction set ``decode`` uses by default for ``precision``: the widest one (capped
        by $SEMCOM_LDPC_ISA), or for a ``batch`` of fewer codewords than it has lanes, the
        narrowest SIMD one with enough lanes (idle lanes cost as much as busy ones). Every
        instruction set gives the same results, so this changes only the speed."""
        usable = [isa for isa in self._supported[_check_precision(precision)] if ISAS.index(isa) <= self._cap]
        if not usable:
            return "portable"
        if batch is not None:
            for isa in usable[1:]:
                if self._lanes[isa, precision] >= batch:
                    return isa
        return usable[-1]

    @property
    def isa(self) -> str:
        return self.best_isa(DEFAULT_PRECISION)

    def lanes(self, isa: str | None = None, precision: str = DEFAULT_PRECISION) -> int:
        """Codewords decoded side by side by ``isa`` (default: the one in use) at ``precision``."""
        return self._lanes[isa or self.best_isa(precision), _check_precision(precision)]

    def decode(self, llr, row_ptr, col_idx, n: int | None = None, max_iter: int = 50, alpha: float = 0.75,
               offset: float = 0.0, early_stop: bool = True, precision: str = DEFAULT_PRECISION,
               isa: str | None = None):
        """Decode channel LLRs (B, n) (positive means 0) on the Tanner graph given as CSR over
        check rows (``row_ptr`` (m + 1,), ``col_idx`` (edges,); rows are processed in order).

        Returns (hard (B, n) uint8, iterations (B,) int32, converged (B,) bool) as the numba
        kernel does: hard = 1 where the final posterior is negative; converged = the final hard
        decisions satisfy every check (with ``early_stop``, the codeword stopped there).
        ``n``: codeword length (default max(col_idx) + 1). ``isa``: one of ``ISAS`` (default
        ``best_isa(precision, batch)``). Non-finite LLRs are a ValueError, as everywhere."""
        row_ptr = np.ascontiguousarray(row_ptr, dtype=np.int32)
        col_idx = np.ascontiguousarray(col_idx, dtype=np.int32)
        if row_ptr.ndim != 1 or row_ptr.size < 2 or col_idx.ndim != 1 or col_idx.size != row_ptr[-1]:
            raise ValueError("row_ptr/col_idx: expected CSR arrays with col_idx.size == row_ptr[-1]")
        n_min = int(col_idx.max()) + 1
        n = n_min if n is None else int(n)
        if n < n_min:
            raise ValueError(f"n = {n} but col_idx reaches variable {n_min - 1}")
        x, _ = as_llr_batch(llr, n, dtype=np.float32)
        return self.run(x, row_ptr, col_idx, n, max_iter, alpha, offset, early_stop, precision, isa)

    def run(self, x: np.ndarray, row_ptr: np.ndarray, col_idx: np.ndarray, n: int, max_iter: int = 50,
            alpha: float = 0.75, offset: float = 0.0, early_stop: bool = True, precision: str = DEFAULT_PRECISION,
            isa: str | None = None):
        """``decode`` without its input conversion, for callers that have done it (LdpcCode.decode):
        ``x`` a C-contiguous float32 (B, n) array of finite LLRs, ``row_ptr``/``col_idx``
        C-contiguous int32. The library still checks the graph and the parameters."""
        if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != n or not x.flags.c_contiguous:
            raise ValueError(f"run() needs a C-contiguous float32 (B, {n}) array; use decode()")
        if row_ptr.dtype != np.int32 or col_idx.dtype != np.int32 or not (row_ptr.flags.c_contiguous
                                                                         and col_idx.flags.c_contiguous):
            raise ValueError("run() needs C-contiguous int32 row_ptr and col_idx; use decode()")
        if int(max_iter) < 1:
            raise ValueError("max_iter must be >= 1")
        if not (0 < alpha <= 1.5) or not (0 <= offset < np.inf):
            raise ValueError("min-sum needs 0 < alpha <= 1.5 and offset >= 0")
        prec = PRECISIONS.index(_check_precision(precision))
        b = x.shape[0]
        isa = isa or self.best_isa(precision, b)
        if isa not in ISAS:
            raise ValueError(f"unknown instruction set {isa!r}; choose from {ISAS}")
        hard = np.empty((b, n), dtype=np.uint8)
        iters = np.empty(b, dtype=np.int32)
        ok = np.empty(b, dtype=np.uint8)
        rc = self._lib.ldpc_minsum_decode(address(x), b, n, row_ptr.size - 1, address(row_ptr), address(col_idx),
                                          int(max_iter), float(alpha), float(offset), int(bool(early_stop)), prec,
                                          I8_LLR_SCALE, I8_LLR_CLIP, ISAS.index(isa), address(hard), address(iters),
                                          address(ok))
        if rc != 0:
            raise ValueError(f"native LDPC decoder ({isa}, {precision}): {_ERRORS.get(rc, f'error {rc}')}")
        return hard, iters, ok.view(np.bool_)



def _check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    return precision


@lru_cache(maxsize=None)
def load(path=None) -> NativeMinSum | None:
    """The library at ``path`` (default ``library_path()``), or None (logged at debug level once)
    when it is absent or unusable."""
    return open_library(NativeMinSum, Path(path) if path is not None else library_path(), "LDPC decoder", log)


def get() -> NativeMinSum | None:
    """The native decoder to use now, or None: disabled by SEMCOM_LDPC_NATIVE=0, or not loadable.
    (Called on every decode: two environment look-ups, the rest cached by ``load``.)"""
    if disabled("SEMCOM_LDPC_NATIVE"):
        return None
    return load(os.environ.get("SEMCOM_LDPC_LIB") or str(KERNEL_DIR / LIB_NAME))


def available() -> bool:
    """Whether ``get()`` gives a decoder."""
    return get() is not None
