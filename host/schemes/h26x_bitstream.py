"""Annex B bitstream of the "h264"/"h265" schemes: start codes, NAL unit segments and headers.

Owns what is purely about the H.264/H.265 byte stream, with no encoder or decoder: finding the
start codes (00 00 01) that arrived, cutting one access unit (AU) into NAL unit segments, a NAL
unit's type from its header, and dropping NAL units of given types (SEI) from an AU.

Receiver rule (:mod:`.h26x`, decoder step 1): within each AU, NAL units are delimited by the
start codes whose three bytes arrived; a NAL unit is kept only if every byte from its start
code to the next visible start code (or the AU's end) arrived. So every NAL unit that lost a
byte is dropped (and, rarely, a complete one whose successor's start code was lost with the
successor: the receiver cannot tell).
"""
from __future__ import annotations

import numpy as np

__all__ = ["start_codes", "segments", "header_at", "nal_type", "strip_nal_types"]


def start_codes(arr: np.ndarray, have: np.ndarray | None = None) -> np.ndarray:
    """Positions p of the Annex B start codes 00 00 01 in ``arr`` (uint8) whose three bytes
    all arrived (``have``; None: all)."""
    if arr.size < 3:
        return np.zeros(0, np.int64)
    hit = (arr[:-2] == 0) & (arr[1:-1] == 0) & (arr[2:] == 1)
    if have is not None:
        hit &= have[:-2] & have[1:-1] & have[2:]
    return np.flatnonzero(hit)


def segments(arr: np.ndarray, lo: int, hi: int, have: np.ndarray | None = None) -> list[tuple[int, int]]:
    """NAL unit segments [start, end) of the bytes lo..hi of one AU, each beginning with its
    start code (the zero byte of a 4-byte start code included), delimited by the visible start
    codes (see ``start_codes``); the last ends at ``hi``. Bytes before the first visible start
    code are not a segment."""
    pos = start_codes(arr[lo:hi], None if have is None else have[lo:hi]) + lo
    starts = []
    for p in pos:
        p = int(p)
        z = p - 1
        starts.append(z if z >= lo and arr[z] == 0 and (have is None or have[z]) and (not starts or z > starts[-1])
                      else p)
    return [(s, e) for s, e in zip(starts, starts[1:] + [hi])]


def header_at(arr: np.ndarray, start: int) -> int:
    """Index of the NAL unit header of the segment starting at ``start`` (after its 3- or 4-byte start code)."""
    return start + (4 if arr[start + 2] == 0 else 3)


def nal_type(codec: str, header: int) -> int:
    """NAL unit type from the first header byte: 5 bits for "h264", 6 bits after the forbidden bit for "h265"."""
    return header & 0x1F if codec == "h264" else (header >> 1) & 0x3F


def strip_nal_types(raw: bytes, codec: str, drop) -> tuple[bytes, int]:
    """(the AU ``raw`` without its NAL units whose type is in ``drop``, NAL units kept)."""
    arr = np.frombuffer(raw, np.uint8)
    au, kept = bytearray(), 0
    for s, e in segments(arr, 0, len(raw)):
        hdr_at = header_at(arr, s)
        if hdr_at < e and nal_type(codec, int(arr[hdr_at])) in drop:
            continue
        au += raw[s:e]
        kept += 1
    return bytes(au), kept
