"""PMT helpers shared by the message blocks: PDUs to and from numpy, and the malformed-PDU error.

Bulk data crosses the PMT boundary as whole numpy arrays (``pmt.init_u8vector`` and friends take
an array at once), never element by element in Python.
"""
from __future__ import annotations

import numpy as np
import pmt

__all__ = ["MalformedPdu", "u8vector", "c32vector", "split_pdu", "make_pdu", "pdu_to_python"]


class MalformedPdu(ValueError):
    """A PDU that cannot be encoded or decoded; the blocks count it and drop it."""


def u8vector(data) -> "pmt.pmt_t":
    """PMT u8vector from a whole uint8 array (bytes-like or numpy)."""
    if isinstance(data, (bytes, bytearray)):
        data = np.frombuffer(data, np.uint8)
    a = np.ascontiguousarray(data, np.uint8).reshape(-1)
    # a 1-element array would match the (k, fill value) overload through a deprecated numpy
    # scalar conversion; a list takes the vector overload
    return pmt.init_u8vector(a.size, a.tolist() if a.size == 1 else a)


def c32vector(symbols) -> "pmt.pmt_t":
    """PMT c32vector from a whole complex array."""
    a = np.ascontiguousarray(symbols, np.complex64).reshape(-1)
    return pmt.init_c32vector(a.size, a.tolist() if a.size == 1 else a)


def split_pdu(msg, is_vector, what: str):
    """(meta, vector) of a PDU, or MalformedPdu."""
    if not pmt.is_pair(msg):
        raise MalformedPdu("not a PDU (expected a pair of meta dict and vector)")
    meta, vec = pmt.car(msg), pmt.cdr(msg)
    if not (pmt.is_null(meta) or pmt.is_dict(meta)):
        raise MalformedPdu("PDU metadata is not a dict")
    if not is_vector(vec):
        raise MalformedPdu(f"PDU vector is not a {what}")
    return meta, vec


def make_pdu(meta: dict, vector) -> "pmt.pmt_t":
    """PDU from a Python dict and a uint8 (bytes) or complex array."""
    meta_pmt = pmt.make_dict()
    for key, value in meta.items():
        meta_pmt = pmt.dict_add(meta_pmt, pmt.intern(key), pmt.to_pmt(value))
    if isinstance(vector, (bytes, bytearray)) or np.asarray(vector).dtype == np.uint8:
        return pmt.cons(meta_pmt, u8vector(vector))
    return pmt.cons(meta_pmt, c32vector(vector))


def pdu_to_python(msg) -> tuple[dict, np.ndarray]:
    """(meta dict, numpy vector) of a PDU."""
    return pmt.to_python(pmt.car(msg)), pmt.to_python(pmt.cdr(msg))
