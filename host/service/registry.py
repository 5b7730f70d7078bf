"""Scheme registry: the hooks through which semantic schemes plug into the service.

A scheme is a pair of functions registered under a name::

    register_scheme("raw-analog", encoder_fn, decoder_fn, defaults={...}, description="...")

    encoder_fn(frames, params) -> (list[Transmission], context)
        frames: uint8 T x H x W x 3 RGB (read-only view; copy before modifying);
        params: the scheme's defaults updated with the request's params, plus "fps" (the input's
        frame rate, frames per second, set by the service);
        returns the transmissions to send (semcom_blocks.phy.frame.Transmission, sent in list
        order) and a context map (msgpack types: str keys; numbers, strings, bytes, lists,
        maps) that the decoder gets back when the receiving side has it.

    decoder_fn(received, context, params) -> (frames, report)
        received: list of dicts, one per received transmission, in arrival order, as made by
        :func:`received_to_dict` (seq, frame_type, snr_est_db, cfo, noise_var, start, end,
        units: [{name, kind, data, crc_ok, noise_var}]); malformed ones are already dropped;
        context: the encoder's context map, or {} when the receiver does not have it;
        returns uint8 T x H x W x 3 frames and a report map (msgpack types).

Both functions run on a service worker thread. A ValueError or TypeError they raise is the
caller's fault (error code "bad_input"); anything else is reported as "scheme_failed".

When ``defaults`` is given, request params are checked against it: unknown keys and values of
another type than the default's are refused ("bad_params"); a default of None accepts any value.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Scheme", "register_scheme", "unregister_scheme", "get_scheme", "scheme_names", "schemes",
           "received_to_dict", "RESERVED_PARAMS", "load_builtin_schemes"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._+\-]{0,63}$")
#: params the service sets itself (the encoder's input frame rate, frames per second)
RESERVED_PARAMS = frozenset({"fps"})


@dataclass(frozen=True)
class Scheme:
    name: str
    encoder: Callable
    decoder: Callable
    defaults: dict | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    def merge_params(self, params: dict) -> dict:
        """Defaults updated with ``params``; ValueError naming the first unknown or mistyped key."""
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise ValueError("params must be a map with string keys")
        bad = RESERVED_PARAMS & set(params)
        if bad:
            raise ValueError(f"params {sorted(bad)} are set by the service and may not be given")
        if self.defaults is None:
            return dict(params)
        merged = dict(self.defaults)
        for key, value in params.items():
            if key not in self.defaults:
                raise ValueError(f"scheme {self.name!r} has no parameter {key!r}; known: {sorted(self.defaults)}")
            default = self.defaults[key]
            if default is not None and not _same_kind(default, value):
                raise ValueError(f"scheme {self.name!r} parameter {key!r} must be of type "
                                 f"{type(default).__name__}, got {type(value).__name__}")
            merged[key] = value
        return merged

    def info(self) -> dict:
        return {"name": self.name, "description": self.description,
                "defaults": dict(self.defaults) if self.defaults is not None else None}


def _same_kind(default, value) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


_lock = threading.Lock()
_schemes: dict[str, Scheme] = {}


def register_scheme(name: str, encoder_fn: Callable, decoder_fn: Callable, *, defaults: dict | None = None,
                    description: str = "", replace: bool = False) -> Scheme:
    """Register a scheme (see the module docstring). ValueError for a bad name, a name taken
    (unless ``replace``), or defaults that are not a map with string keys."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"scheme name must match {_NAME.pattern}, got {name!r}")
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
    """Register the built-in schemes (idempotent)."""
    from semcom_host.schemes import register_all

    from semcom_host.schemes import raw_analog

    raw_analog.register()
    register_all()


def received_to_dict(frame) -> dict:
    """A ``semcom_blocks.phy.receiver.ReceivedFrame`` as the plain dict decoders get.

    Units: digital ``data`` bytes with ``crc_ok`` bool; analog ``data`` complex64 equalised
    symbols with ``noise_var`` float32 per symbol (N0 / |H|^2) and ``crc_ok`` None.
    snr_est_db is Es/N0 per data symbol estimated by the receiver; cfo in subcarrier spacings.
    """
    units = []
    for u in frame.units:
        entry = {"name": u.name, "kind": u.kind, "crc_ok": u.crc_ok}
        if u.kind == "digital":
            entry["data"] = bytes(u.data)
            entry["noise_var"] = None
        else:
            entry["data"] = np.asarray(u.data, np.complex64)
            entry["noise_var"] = np.asarray(u.noise_var, np.float32)
        units.append(entry)
    return {"seq": int(frame.seq), "frame_type": int(frame.frame_type), "snr_est_db": float(frame.snr_est_db),
            "cfo": float(frame.cfo), "noise_var": float(frame.noise_var), "start": int(frame.start),
            "end": int(frame.end), "units": units}
