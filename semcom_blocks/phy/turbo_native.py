"""The native max-log-MAP turbo decoder (C, SIMD across codewords), loaded with ctypes.

``kernels/turbo_maxlog.c`` decodes a batch of LTE turbo codewords with one codeword per SIMD
lane (AVX-512: 16, AVX2: 8, SSE: 4, portable C: 8), picked at run time from the CPU's features.
It runs the numba kernel of ``turbo`` (``_turbo_decode_kernel`` with max-log-MAP) in the same
float32 operation order, so hard decisions, iteration counts and convergence flags are the same
bit for bit. A lane whose codeword stops (early stopping) takes the batch's next codeword.
Exact log-MAP stays in numba (its logarithms would not round as numba's do).

Algorithm names (``TurboCode.decode(algorithm=...)``): ``"maxlog"`` runs this decoder where its
library is built, else numba; ``"maxlog-numba"`` always numba (the reference);
``"maxlog-native"`` always this decoder (RuntimeError where the library is missing).

The library is plain C with no Python API, so one build serves every interpreter.
``scripts/build_kernels.sh`` (run by ``make setup``) and CMake build it as
``kernels/libturbo_maxlog.so`` beside this module. Where it is missing (no compiler) or
``SEMCOM_TURBO_NATIVE=0`` is set, ``get()`` returns None. ``SEMCOM_TURBO_LIB`` names another
library file; ``SEMCOM_TURBO_ISA`` (portable, sse, avx2, avx512) caps the instruction set.

LLRs are log P(0)/P(1) in nats, positive means 0; hard decision 1 where the a posteriori LLR is
negative. Codewords are the ``[d0 | d1 | d2]`` streams of ``turbo`` (n = 3K + 12).
"""
from __future__ import annotations

import ctypes
import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from .native_lib import KERNEL_DIR, address, disabled, open_library

__all__ = ["ISAS", "NATIVE_ALGORITHMS", "NativeTurbo", "library_path", "load", "get", "available", "for_algorithm",
           "backend"]


log = logging.getLogger(__name__)
LIB_NAME = "libturbo_maxlog.so"
ABI_VERSION = 1  # TURBO_MAXLOG_ABI_VERSION in kernels/turbo_maxlog.h
ISAS = ("portable", "sse", "avx2", "avx512")  # TURBO_ISA_* = index
#: algorithm names that may run natively; "maxlog" falls back to numba, "maxlog-native" does not
NATIVE_ALGORITHMS = ("maxlog", "maxlog-native")

_ERRORS = {-1: "invalid argument", -2: "instruction set not supported here", -3: "out of memory"}


def library_path() -> Path:
    """Where the library is looked for: $SEMCOM_TURBO_LIB, else kernels/libturbo_maxlog.so."""
    env = os.environ.get("SEMCOM_TURBO_LIB")
    return Path(env) if env else KERNEL_DIR / LIB_NAME


class NativeTurbo:
    """The loaded library. ``isa``: the instruction set in use for large batches (the widest this
    CPU has, capped by $SEMCOM_TURBO_ISA)."""

    def __init__(self, path):
        self.path = Path(path)
        lib = ctypes.CDLL(str(self.path))
        lib.turbo_maxlog_abi_version.restype = ctypes.c_int
        version = lib.turbo_maxlog_abi_version()
        if version != ABI_VERSION:
            raise OSError(f"{self.path}: ABI version {version}, expected {ABI_VERSION} "
                          "(rebuild it: scripts/build_kernels.sh)")
        for name in ("turbo_maxlog_isa_supported", "turbo_maxlog_lanes"):
            getattr(lib, name).argtypes = [ctypes.c_int32]
            getattr(lib, name).restype = ctypes.c_int
        ptr, i32 = ctypes.c_void_p, ctypes.c_int32
        lib.turbo_maxlog_decode.argtypes = [ptr, ctypes.c_int64, i32, ptr, ptr, i32, ctypes.c_float, i32,
                                            ctypes.c_uint32, i32, i32, ptr, ptr, ptr]
        lib.turbo_maxlog_decode.restype = ctypes.c_int
        self._lib = lib
        cap = os.environ.get("SEMCOM_TURBO_ISA", "").strip().lower()
        if cap and cap not in ISAS:
            raise ValueError(f"SEMCOM_TURBO_ISA={cap!r}: choose from {ISAS}")
        self._cap = ISAS.index(cap) if cap else len(ISAS) - 1
        self._supported = [name for i, name in enumerate(ISAS) if lib.turbo_maxlog_isa_supported(i)]
        self._lanes = {isa: lib.turbo_maxlog_lanes(i) for i, isa in enumerate(ISAS)}

    def supported_isas(self) -> list[str]:
        """Instruction sets this CPU can run (portable first)."""
        return list(self._supported)

    def best_isa(self, batch: int | None = None) -> str:
        """The instruction set ``run`` uses by default: the widest one (capped by
        $SEMCOM_TURBO_ISA), or for a ``batch`` of fewer codewords than it has lanes, the narrowest
        SIMD one with enough lanes (idle lanes cost as much as busy ones). Every instruction set
        gives the same results, so this changes only the speed."""
        usable = [isa for isa in self._supported if ISAS.index(isa) <= self._cap]
        if not usable:
            return "portable"
        if batch is not None:
            for isa in usable[1:]:
                if self._lanes[isa] >= batch:
                    return isa
        return usable[-1]

    @property
    def isa(self) -> str:
        return self.best_isa()

    def lanes(self, isa: str | None = None) -> int:
        """Codewords decoded side by side by ``isa`` (default: the one in use)."""
        return self._lanes[isa or self.best_isa()]

    def run(self, x: np.ndarray, perm: np.ndarray, tail_idx: np.ndarray, max_iter: int = 8, scaling: float = 0.75,
            early_stop: bool = True, crc_poly: int = 0, crc_width: int = 0, isa: str | None = None):
        """Decode ``x``, C-contiguous float32 (B, 3K + 12) finite LLRs, K = perm.size.

        ``perm``: (K,) int32 interleaver (encoder 2 reads bit perm[i] at step i); ``tail_idx``:
        the 12 int32 tail positions [encoder, step, systematic/parity] (turbo's _tail_indices);
        ``scaling``: extrinsic scaling in (0, 1]; ``crc_poly``/``crc_width``: an MSB-first CRC
        whose pass also counts as converged (width 0: none). ``isa``: one of ``ISAS`` (default
        ``best_isa(B)``). Returns (bits (B, K) uint8, iterations (B,) int32, converged (B,) bool),
        as TurboCode.decode's numba kernel gives them."""
        perm = np.ascontiguousarray(perm, dtype=np.int32)
        tail = np.ascontiguousarray(tail_idx, dtype=np.int32).reshape(-1)
        k = perm.size
        if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != 3 * k + 12 or not x.flags.c_contiguous:
            raise ValueError(f"run() needs a C-contiguous float32 (B, {3 * k + 12}) array")
        if tail.size != 12:
            raise ValueError("tail_idx: expected 12 positions")
        b = x.shape[0]
        isa = isa or self.best_isa(b)
        if isa not in ISAS:
            raise ValueError(f"unknown instruction set {isa!r}; choose from {ISAS}")
        bits = np.empty((b, k), dtype=np.uint8)
        iters = np.empty(b, dtype=np.int32)
        conv = np.empty(b, dtype=np.uint8)
        rc = self._lib.turbo_maxlog_decode(address(x), b, k, address(perm), address(tail), int(max_iter),
                                           float(scaling), int(bool(early_stop)), int(crc_poly), int(crc_width),
                                           ISAS.index(isa), address(bits), address(iters), address(conv))
        if rc != 0:
            raise ValueError(f"native turbo decoder ({isa}): {_ERRORS.get(rc, f'error {rc}')}")
        return bits, iters, conv.view(np.bool_)



@lru_cache(maxsize=None)
def load(path=None) -> NativeTurbo | None:
    """The library at ``path`` (default ``library_path()``), or None (logged at debug level once)
    when it is absent or unusable."""
    return open_library(NativeTurbo, Path(path) if path is not None else library_path(), "turbo decoder", log)


def get() -> NativeTurbo | None:
    """The native decoder to use now, or None: disabled by SEMCOM_TURBO_NATIVE=0, or not loadable.
    (Called on every decode: two environment look-ups, the rest cached by ``load``.)"""
    if disabled("SEMCOM_TURBO_NATIVE"):
        return None
    return load(os.environ.get("SEMCOM_TURBO_LIB") or str(KERNEL_DIR / LIB_NAME))


def available() -> bool:
    """Whether ``get()`` gives a decoder."""
    return get() is not None


def for_algorithm(algorithm: str) -> NativeTurbo | None:
    """The native decoder that runs ``algorithm``, or None where numba runs it ("maxlog" without
    the library, "maxlog-numba", "logmap"). RuntimeError for "maxlog-native" without it."""
    if algorithm not in NATIVE_ALGORITHMS:
        return None
    native = get()
    if native is None and algorithm == "maxlog-native":
        raise RuntimeError(f"turbo algorithm 'maxlog-native' needs the native library {library_path()} "
                           "(build it with scripts/build_kernels.sh; unset SEMCOM_TURBO_NATIVE=0)")
    return native


def backend(algorithm: str = "maxlog", batch: int | None = None) -> str:
    """What runs ``algorithm`` here: "numba", or "native-<isa>" (for a batch of ``batch``)."""
    native = for_algorithm(algorithm)
    return "numba" if native is None else f"native-{native.best_isa(batch)}"
