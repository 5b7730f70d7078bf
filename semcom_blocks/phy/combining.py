"""Chase combining at the receiver: copies of a digital unit sent in different transmissions are
decoded together when no copy decodes alone.

A transmitter that repeats a unit (VQ-DeepVSC's retransmission of its most important keyframes)
sends the same bytes under the same unit name and coding in a later transmission; nothing else
marks a copy. The receiver keeps the coded-bit LLRs of each digital unit whose CRC failed, keyed
by (frame type, unit name, coding, length). When a unit with the same key arrives within
``window`` transmissions (by sequence number, mod 2^16) and fails alone, the sum of its LLRs and
the kept ones is decoded. With exact LLRs (log P(b=0)/P(b=1) given each copy's own channel and
noise) the sum is the LLR given both copies: maximum-ratio combining of the copies, and across
transmissions also diversity against block fading. A combined success is delivered as the unit
(``copies`` says how many receptions it took); a combined failure keeps the sum for the next copy.

Memory is bounded: at most ``max_entries`` kept units and ``max_llrs`` LLRs in all (float32),
the oldest dropped first (counted). Copies of different data under one key (a unit name reused
by the next clip) only cost a failed decode: the CRC rejects the mix, and entries older than
``window`` transmissions are dropped.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .fec import PayloadCoder

__all__ = ["CopyCombiner", "COMBINING_COUNTERS"]

#: counters the combiner adds to the receiver's stats
COMBINING_COUNTERS = ("units_combined_ok", "units_combined_fail", "combining_evicted")


@dataclass
class _Kept:
    seq: int
    llr: np.ndarray  # float32, summed over ``copies`` receptions
    copies: int


def _coding_key(coder: PayloadCoder) -> tuple:
    return coder.fec, coder.n, coder.rate, coder.modulation, coder.crc


class CopyCombiner:
    """The receiver's store of failed digital units (module docstring). ``partner(...)`` gives
    the LLRs to try with a unit that failed alone; ``keep`` / ``done`` maintain the store."""

    def __init__(self, window: int = 16, max_entries: int = 256, max_llrs: int = 1 << 23):
        if window < 1 or max_entries < 1 or max_llrs < 1:
            raise ValueError("combining window, max_entries and max_llrs must be >= 1")
        self.window, self.max_entries, self.max_llrs = int(window), int(max_entries), int(max_llrs)
        self._kept: OrderedDict[tuple, _Kept] = OrderedDict()
        self._llrs = 0
        self.evicted = 0

    @staticmethod
    def key(frame_type: int, name: str, coder: PayloadCoder, length: int) -> tuple:
        return int(frame_type), str(name), _coding_key(coder), int(length)

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def stored_llrs(self) -> int:
        return self._llrs

    def _fresh(self, kept: _Kept, seq: int) -> bool:
        return 0 < (int(seq) - kept.seq) % 65536 <= self.window

    def partner(self, key: tuple, seq: int, llr: np.ndarray) -> tuple[np.ndarray, int] | None:
        """(summed LLRs, copies including this one) when a fresh copy of ``key`` is kept, else None
        (a stale one is dropped)."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        if not self._fresh(kept, seq) or kept.llr.size != np.size(llr):
            self._drop(key)
            return None
        return kept.llr + np.asarray(llr, np.float32).reshape(-1), kept.copies + 1

    def keep(self, key: tuple, seq: int, llr: np.ndarray, copies: int = 1) -> None:
        """Keep ``llr`` (this reception, or the sum of ``copies`` receptions) for a later copy."""
        flat = np.asarray(llr, np.float32).reshape(-1).copy()
        if flat.size > self.max_llrs:
            self.evicted += 1
            return
        self._drop(key)
        while self._kept and (len(self._kept) >= self.max_entries or self._llrs + flat.size > self.max_llrs):
            self._drop(next(iter(self._kept)))
            self.evicted += 1
        self._kept[key] = _Kept(int(seq), flat, int(copies))
        self._llrs += flat.size

    def done(self, key: tuple) -> None:
        """The unit of ``key`` decoded: nothing more to combine."""
        self._drop(key)

    def _drop(self, key: tuple) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._llrs -= kept.llr.size
