"""What a scheme is: the encoder/decoder contract and the :class:`Scheme` record.

Each scheme module under :mod:`semcom_host.schemes` declares its schemes in one static table,
``SCHEMES: tuple[Scheme, ...]``; the service's registry (:mod:`semcom_host.service.registry`)
collects them, and plug-ins add theirs with ``register_scheme``. This module imports nothing of
the service: schemes sit below it (docs/architecture.md).

A scheme is a name with a pair of functions::

    Scheme("raw-analog", encoder_fn, decoder_fn, defaults={...}, description="...")

    encoder_fn(frames, params) -> (list[Transmission], context)
        frames: uint8 T x H x W x 3 RGB (read-only view; copy before modifying);
        params: the scheme's defaults updated with the request's params, plus "fps" (the input's
        frame rate, frames per second, set by the service);
        returns the transmissions to send (semcom_blocks.phy.frame.Transmission, sent in list
        order) and a context map (msgpack types: str keys; numbers, strings, bytes, lists,
        maps) that the decoder gets back when the receiving side has it.

    decoder_fn(received, context, params) -> (frames, report)
        received: list of dicts, one per received transmission, in arrival order, as made by
        :func:`semcom_host.service.registry.received_to_dict` (seq, frame_type, snr_est_db, cfo, noise_var, start, end,
        units: [{name, kind, data, crc_ok, noise_var}], erased); malformed ones are already dropped
        and non-finite analog symbols already erased (symbol 0, noise variance +inf);
        context: the encoder's context map, or {} when the receiver does not have it;
        returns uint8 T x H x W x 3 frames and a report map (msgpack types).

Both functions run on a service worker thread. A ValueError or TypeError they raise is the
caller's fault (error code "bad_input"); anything else is reported as "scheme_failed".

When ``defaults`` is given, request params are checked against it: unknown keys and values of
another type than the default's are refused ("bad_params"); a default of None accepts any value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["Scheme", "RESERVED_PARAMS", "check_scheme_name", "family"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._+\-]{0,63}$")
#: params the service sets itself (the encoder's input frame rate, frames per second)
RESERVED_PARAMS = frozenset({"fps"})


@dataclass(frozen=True)
class Scheme:
    """One scheme: its name (see :func:`check_scheme_name`), encoder and decoder (the module
    docstring's contract), the defaults its params are checked against (None: any params) and a
    one-line description."""
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




def check_scheme_name(name) -> None:
    """ValueError unless ``name`` is a valid scheme name (lower case, digits, ``._+-``, <= 64)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"scheme name must match {_NAME.pattern}, got {name!r}")


def family(names, encode, decode, defaults: dict, descriptions: dict) -> tuple[Scheme, ...]:
    """One :class:`Scheme` per name whose encoder/decoder are ``encode(frames, params, scheme=name)``
    and ``decode(received, context, params, scheme=name)`` (a paper's variants sharing code)."""
    return tuple(Scheme(name, lambda f, p, _n=name: encode(f, p, scheme=_n),
                        lambda r, c, p, _n=name: decode(r, c, p, scheme=_n), dict(defaults), descriptions[name])
                 for name in names)
