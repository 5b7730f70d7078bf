"""A scheme module whose encoder dies the way a buggy codec does (a write through a null
pointer: SIGSEGV), for the service's crash-isolation tests. Importing it registers the scheme."""
from __future__ import annotations

import ctypes

from semcom_host.schemes.raw_analog import DEFAULTS, decode
from semcom_host.service.registry import get_scheme, register_scheme

NAME = "test-segv"


def encode(frames, params):
    ctypes.memset(0, 0, 1)  # never returns
    raise AssertionError("unreachable")


try:
    get_scheme(NAME)
except KeyError:
    register_scheme(NAME, encode, decode, defaults=dict(DEFAULTS), description="segfaults on encode (tests only)")
