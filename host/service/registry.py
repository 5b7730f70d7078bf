"""The service's scheme registry: the built-in schemes' static tables and plug-ins.

The built-in schemes are declared by the modules of :mod:`semcom_host.schemes`, each in a static
table ``SCHEMES`` (the contract a scheme keeps is in :mod:`semcom_host.schemes.base`);
:func:`load_builtin_schemes` collects them. Code outside the package adds its own with::

    register_scheme("my-scheme", encoder_fn, decoder_fn, defaults={...}, description="...")

The registry is the service's, above the schemes: schemes never import it (docs/architecture.md).
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from semcom_host.schemes import builtin_schemes
from semcom_host.schemes.base import RESERVED_PARAMS, Scheme, check_scheme_name

__all__ = ["Scheme", "register_scheme", "unregister_scheme", "get_scheme", "scheme_names", "schemes",
           "received_to_dict", "erase_invalid", "RESERVED_PARAMS", "load_builtin_schemes"]

_lock = threading.Lock()
_schemes: dict[str, Scheme] = {}


def register_scheme(name: str, encoder_fn: Callable, decoder_fn: Callable, *, defaults: dict | None = None,
                    description: str = "", replace: bool = False) -> Scheme:
    """Register a scheme (see the module docstring). ValueError for a bad name, a name taken
    (unless ``replace``), or defaults that are not a map with string keys."""
    check_scheme_name(name)
    if not callable(encoder_fn) or not callable(decoder_fn):
        raise ValueError("encoder_fn and decoder_fn must be callable")
    if defaults is not None:
        if not isinstance(defaults, dict) or not all(isinstance(k, str) for k in defaults):
            raise ValueError("defaults must be a map with string keys")
        if RESERVED_PARAMS & set(defaults):
            raise ValueError(f"defaults may not contain the reserved params {sorted(RESERVED_PARAMS)}")
    scheme = Scheme(name, encoder_fn, decoder_fn, dict(defaults) if defaults is not None else None, description)
    with _lock:
        if name in _schemes and not replace:
            raise ValueError(f"scheme {name!r} is already registered (pass replace=True to replace it)")
        _schemes[name] = scheme
    return scheme


def unregister_scheme(name: str) -> None:
    with _lock:
        _schemes.pop(name, None)


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name``; KeyError listing the known ones otherwise."""
    with _lock:
        try:
            return _schemes[name]
        except KeyError:
            raise KeyError(f"unknown scheme {name!r}; registered: {', '.join(sorted(_schemes)) or 'none'}") from None


def scheme_names() -> list[str]:
    with _lock:
        return sorted(_schemes)


def schemes() -> list[Scheme]:
    with _lock:
        return [_schemes[n] for n in sorted(_schemes)]


def load_builtin_schemes() -> None:
    """Register the built-in schemes (idempotent; a plug-in registered under a built-in's name
    is kept)."""
    with _lock:
        for scheme in builtin_schemes():
            _schemes.setdefault(scheme.name, scheme)


def received_to_dict(frame) -> dict:
    """A ``semcom_blocks.phy.receiver.ReceivedFrame`` as the plain dict decoders get.

    Units: digital ``data`` bytes with ``crc_ok`` bool and ``copies`` (receptions combined to
    decode it, semcom_blocks.phy.combining); analog ``data`` complex64 equalised
    symbols with ``noise_var`` float32 per symbol (N0 / |H|^2) and ``crc_ok`` None.
    snr_est_db is Es/N0 per data symbol estimated by the receiver; cfo in subcarrier spacings.

    Analog symbols that are not finite, and noise variances that are NaN or negative, carry no
    information a decoder could use: such a symbol becomes an erasure (0 with noise variance
    +inf, which the MMSE scaling of the decoders maps to the prior mean) and the count goes in
    the frame's ``"erased"`` (the decode reply reports the total).
    """
    units = []
    erased = 0
    for u in frame.units:
        entry = {"name": u.name, "kind": u.kind, "crc_ok": u.crc_ok}
        if u.kind == "digital":
            entry["data"] = bytes(u.data)
            entry["noise_var"] = None
            entry["copies"] = int(getattr(u, "copies", 1))
        else:
            data, noise_var, n = erase_invalid(u.data, u.noise_var)
            entry["data"], entry["noise_var"] = data, noise_var
            erased += n
        units.append(entry)
    return {"seq": int(frame.seq), "frame_type": int(frame.frame_type), "snr_est_db": float(frame.snr_est_db),
            "snr_eff_db": None if frame.snr_eff_db is None else float(frame.snr_eff_db),
            "cfo": float(frame.cfo), "noise_var": float(frame.noise_var), "start": int(frame.start),
            "end": int(frame.end), "units": units, "erased": erased}


def erase_invalid(symbols, noise_var) -> tuple[np.ndarray, np.ndarray, int]:
    """(symbols complex64, noise variances float32, erasures): non-finite symbols and NaN or
    negative noise variances become erasures (symbol 0, variance +inf); a noise variance array of
    the wrong length is replaced by +inf for every symbol (counted as erasures too)."""
    data = np.array(symbols, np.complex64)
    nv = np.array(noise_var, np.float32).reshape(-1)
    if nv.size != data.size:
        return np.zeros_like(data), np.full(data.size, np.inf, np.float32), int(data.size)
    bad = ~np.isfinite(data) | ~(nv >= 0)  # NaN compares false: caught here
    if bad.any():
        data[bad] = 0
        nv[bad] = np.inf
    return data, nv, int(bad.sum())
