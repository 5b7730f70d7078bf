"""What every native kernel library of the project shares (``ldpc_native``, ``turbo_native``):
switching it off by environment, opening it with a fallback to numba, and passing arrays to C.

The libraries are plain C loaded with ctypes (no Python API), built by ``scripts/build_kernels.sh``
and CMake into ``semcom_blocks/phy/kernels/``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

__all__ = ["KERNEL_DIR", "disabled", "open_library", "address"]

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"


def disabled(env_var: str) -> bool:
    """Whether ``$env_var`` switches the native library off (0, false, no, off)."""
    return os.environ.get(env_var, "1").strip().lower() in ("0", "false", "no", "off")


def open_library(cls, path: Path, what: str, log: logging.Logger):
    """``cls(path)`` (the library's wrapper), or None, logged at debug level on ``log`` (the
    caller's logger), when the file is absent or unusable: the caller then runs its numba kernel."""
    if not path.is_file():
        log.debug("native %s not built (%s missing): using numba (run scripts/build_kernels.sh)", what, path)
        return None
    try:
        return cls(path)
    except (OSError, AttributeError) as exc:
        log.debug("native %s unusable (%s): using numba", what, exc)
        return None


def address(a: np.ndarray) -> int:
    """Data address of a C-contiguous array (its ctypes view keeps no reference: ``a`` must live
    through the call, as every caller's local does)."""
    return a.__array_interface__["data"][0]
