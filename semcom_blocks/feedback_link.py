"""GNU Radio block: the receiver -> transmitter report link of a loopback, with its delay and losses.

In, port ``in``: OFDM Burst RX's ``out`` PDUs (their metadata's ``snr_eff_db``, the effective
Es/N0 in dB that link adaptation designs for, else ``snr_est_db``, the mean).
Out, port ``out``: a PMT dict ``{"snr_est_db": float}`` (that SNR) each time a report gets through, for OFDM
Burst TX's ``feedback`` port. A report arrives ``delay`` received transmissions late and is lost
with probability ``loss`` (seeded: :class:`.phy.link_adapt.FeedbackPath`); ``stats()`` counts what
was delivered and lost. Between two radios the same reports would travel out of band (a control
channel), which this block stands in for.
"""
from __future__ import annotations

import math

import pmt
from gnuradio import gr

from .phy.link_adapt import FeedbackPath, link_snr

__all__ = ["feedback_link"]

_IN, _OUT = pmt.intern("in"), pmt.intern("out")


class feedback_link(gr.basic_block):
    """See the module docstring."""

    def __init__(self, delay: int = 0, loss: float = 0.0, seed: int = 0):
        gr.basic_block.__init__(self, name="semcom_feedback_link", in_sig=None, out_sig=None)
        self.path = FeedbackPath(int(delay), float(loss), math.nan, int(seed))
        self._malformed = 0
        self.message_port_register_in(_IN)
        self.message_port_register_out(_OUT)
        self.set_msg_handler(_IN, self._on_pdu)

    def stats(self) -> dict:
        return {"delivered": self.path.delivered, "lost": self.path.lost, "malformed": self._malformed}

    def _on_pdu(self, msg) -> None:
        try:
            meta = pmt.to_python(pmt.car(msg)) if pmt.is_pair(msg) else None
            snr = link_snr(meta) if isinstance(meta, dict) else None
            if not isinstance(snr, (int, float)) or not math.isfinite(snr):
                raise ValueError("not a received-burst PDU with a finite snr_est_db")
        except Exception:  # noqa: BLE001 - anything else is counted and dropped
            self._malformed += 1
            return
        delivered = self.path.delivered
        self.path.push(float(snr))
        if self.path.delivered > delivered:
            self.message_port_pub(_OUT, pmt.to_pmt({"snr_est_db": float(self.path.latest)}))
