"""Closed-loop link adaptation at the transmitter: each transmission's digital units coded for the
SNR the receiver last fed back, and the feedback path itself (delay, loss).

The semantic layer decides what to send; how strongly each digital unit is protected can follow
the channel transmission by transmission. :func:`adapt_transmission` re-codes the LDPC units of a
transmission with the most efficient MCS the fed-back SNR clears (:mod:`.mcs`); the unit's bytes
do not change, and its coding travels with it on the air (the unit table), so the receiver needs
nothing. Turbo-coded units (GVSC's text) and analog units are left as they are.

:class:`FeedbackPath` models the return link: the receiver's per-burst report reaches the
transmitter ``delay`` transmissions later, and each report is lost with probability ``loss``
(seeded). Before anything has come back, the transmitter uses ``initial_snr_db`` (in `semcom run`:
the estimate of a probe burst).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .fec import PayloadCoder
from .frame import Transmission, Unit
from .mcs import DEFAULT_MARGIN_DB, pick_mcs

__all__ = ["adapt_transmission", "FeedbackPath", "link_snr"]


def link_snr(report: dict):
    """The SNR (dB) a receiver's report asks the transmitter to design for: its effective SNR
    (``snr_eff_db``: the flat channel of the same capacity, receiver.effective_snr_db) where it
    has one, else its mean ``snr_est_db``; None when neither is there. Over a frequency-selective
    channel the mean overstates what a code spanning the subcarriers gets."""
    snr = report.get("snr_eff_db")
    return report.get("snr_est_db") if snr is None else snr


def adapt_transmission(tx: Transmission, snr_db: float, margin_db: float = DEFAULT_MARGIN_DB) -> tuple[
        Transmission, dict]:
    """(``tx`` with its LDPC digital units re-coded for ``snr_db``, the decision). The decision:
    ``snr_db`` used, ``modulation``, ``rate`` (None when the transmission has no LDPC unit)."""
    mcs = pick_mcs(float(snr_db), margin_db)
    units, changed = [], 0
    for u in tx.units:
        if u.kind == "digital" and u.coder is not None and u.coder.fec == "ldpc":
            coder = PayloadCoder("ldpc", u.coder.n, mcs.rate, mcs.modulation, u.coder.crc)
            units.append(Unit(u.name, "digital", u.data, coder))
            changed += 1
        else:
            units.append(u)
    decision = {"seq": int(tx.seq), "snr_db": float(snr_db),
                "modulation": mcs.modulation if changed else None, "rate": mcs.rate if changed else None}
    return Transmission(units, seq=tx.seq, frame_type=tx.frame_type, meta=tx.meta), decision


@dataclass
class FeedbackPath:
    """The receiver -> transmitter report link: ``delay`` transmissions late, each report lost with
    probability ``loss``. ``push(snr_db)`` after each transmission's reception (None: nothing was
    received, so nothing is reported); ``latest`` is what the transmitter knows now."""

    delay: int = 0
    loss: float = 0.0
    initial_snr_db: float = 0.0
    seed: int = 0
    _queue: deque = field(default_factory=deque, init=False)
    _latest: float = field(init=False)
    _rng: np.random.Generator = field(init=False)
    lost: int = field(default=0, init=False)
    delivered: int = field(default=0, init=False)

    def __post_init__(self):
        if self.delay < 0 or not 0 <= self.loss <= 1:
            raise ValueError("feedback delay must be >= 0 transmissions and loss in [0, 1]")
        self._latest = float(self.initial_snr_db)
        self._rng = np.random.default_rng([int(self.seed), 0xFEED])

    @property
    def latest(self) -> float:
        return self._latest

    def push(self, snr_db: float | None) -> None:
        """The report of the transmission just received; it arrives ``delay`` transmissions later."""
        self._queue.append(snr_db)
        while len(self._queue) > self.delay:
            report = self._queue.popleft()
            if report is None:
                continue
            if self._rng.random() < self.loss:
                self.lost += 1
                continue
            self.delivered += 1
            self._latest = float(report)
