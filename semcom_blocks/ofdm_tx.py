"""GNU Radio block: transmissions in (message PDUs), OFDM bursts out (stream, tagged for UHD).

In, port ``in``: a PDU whose vector is a u8vector holding a msgpack transmission
(``semcom_blocks.phy.wire``). Out: complex64 samples of unit average power, one burst per
transmission (``semcom_blocks.phy.frame``), followed by ``gap_samples`` zeros (plus a seeded
random 0..``gap_jitter`` more, which randomises arrival times in simulations). The first
sample of a burst carries the tags ``tx_sob`` (True) and ``<len_tag>`` (burst length including
the gap), the last one ``tx_eob``: what UHD's USRP sink needs to send bursts. When no
transmission is pending the block produces nothing (a radio sends nothing).

The PMT symbol ``done`` on ``in`` ends the stream once the queued bursts are out (a loopback
simulation then runs to completion).

With ``link_adaptation``, each transmission's LDPC units are coded, when its burst's turn to be
sent comes, for the SNR last received on the optional port ``feedback`` (a PMT dict with
``snr_est_db``, e.g. from SemCom Feedback Link; ``initial_snr_db`` before any;
:mod:`.phy.link_adapt`); ``decisions()`` lists what was used.

A malformed PDU or transmission is counted (``frames_malformed``), logged and dropped; when
``max_queue`` bursts are already waiting, a new one is dropped and counted
(``frames_dropped``) rather than growing memory without bound.
"""
from __future__ import annotations

from collections import deque

import numpy as np
import pmt
from gnuradio import gr

from .pdu_util import MalformedPdu, split_pdu, vector_to_numpy
from .phy.frame import FrameFormat
from .phy.link_adapt import adapt_transmission
from .phy.ofdm import OfdmParams
from .phy.wire import unpack_transmission

__all__ = ["ofdm_burst_tx"]

_IN, _FEEDBACK = pmt.intern("in"), pmt.intern("feedback")
#: decisions kept for ``decisions()`` (the most recent ones)
MAX_DECISIONS = 4096
_SOB, _EOB = pmt.intern("tx_sob"), pmt.intern("tx_eob")
_DONE = pmt.intern("done")


class ofdm_burst_tx(gr.basic_block):
    """Transmission PDUs -> tagged OFDM bursts (see the module docstring)."""

    COUNTERS = ("frames_in", "frames_sent", "frames_malformed", "frames_dropped", "samples_out", "feedback_in",
                "feedback_malformed")

    def __init__(self, fft_len: int = 64, cp_len: int = 16, gap_samples: int = 0, len_tag: str = "packet_len",
                 max_queue: int = 64, gap_jitter: int = 0, seed: int = 0, link_adaptation: bool = False,
                 initial_snr_db: float = 10.0):
        gr.basic_block.__init__(self, name="ofdm_burst_tx", in_sig=None, out_sig=[np.complex64])
        if gap_samples < 0 or gap_jitter < 0 or max_queue < 1:
            raise ValueError("gap_samples and gap_jitter must be >= 0 and max_queue >= 1")
        self.format = FrameFormat(OfdmParams(int(fft_len), int(cp_len)))
        self.gap, self.jitter = int(gap_samples), int(gap_jitter)
        self._rng = np.random.default_rng(int(seed))
        self.len_tag = pmt.intern(str(len_tag))
        self.max_queue = int(max_queue)
        self._queue: deque[np.ndarray] = deque()
        self._pos = 0  # samples of the head burst already sent
        self._finishing = False
        self._stats = dict.fromkeys(self.COUNTERS, 0)
        self.link_adaptation = bool(link_adaptation)
        self.fed_back_snr_db = float(initial_snr_db)
        self._decisions: deque[dict] = deque(maxlen=MAX_DECISIONS)
        self.message_port_register_in(_IN)
        self.set_msg_handler(_IN, self._handle)
        self.message_port_register_in(_FEEDBACK)
        self.set_msg_handler(_FEEDBACK, self._on_feedback)
        self.set_min_output_buffer(1 << 16)

    def stats(self) -> dict:
        return dict(self._stats)

    def decisions(self) -> list[dict]:
        """What each transmission was coded for (link adaptation): seq, snr_db, modulation, rate."""
        return list(self._decisions)

    def _on_feedback(self, msg) -> None:
        try:
            value = pmt.to_python(msg)
            snr = value.get("snr_est_db") if isinstance(value, dict) else None
            if not isinstance(snr, (int, float)) or isinstance(snr, bool) or not np.isfinite(snr):
                raise ValueError("feedback is a dict with a finite snr_est_db")
        except Exception as err:  # noqa: BLE001 - never stop the message thread
            self._stats["feedback_malformed"] += 1
            self.logger.warn(f"dropping malformed feedback: {str(err)[:200]}")
            return
        self._stats["feedback_in"] += 1
        self.fed_back_snr_db = float(snr)

    def pending(self) -> int:
        """Bursts waiting to be sent (the one in progress included)."""
        return len(self._queue)

    def _handle(self, msg) -> None:
        if pmt.is_symbol(msg) and pmt.eq(msg, _DONE):
            self._finishing = True
            return
        self._stats["frames_in"] += 1
        try:
            _, vec = split_pdu(msg, pmt.is_u8vector, "u8vector")
            tx = unpack_transmission(vector_to_numpy(vec).tobytes())
            # with link adaptation the burst is built when its turn comes, for the SNR known then
            burst = tx if self.link_adaptation else self.format.build(tx)
        except (MalformedPdu, ValueError) as err:
            self._stats["frames_malformed"] += 1
            self.logger.warn(f"dropping malformed transmission: {str(err)[:200]}")
            return
        except Exception as err:  # noqa: BLE001 - a bug must not stop this block's message thread
            self._stats["frames_malformed"] += 1
            self.logger.error(f"dropping a transmission that could not be built: {type(err).__name__}: "
                              f"{str(err)[:200]}")
            return
        if len(self._queue) >= self.max_queue:
            self._stats["frames_dropped"] += 1
            self.logger.warn(f"transmit queue full ({self.max_queue} bursts): dropping a transmission")
            return
        gap = self.gap + (int(self._rng.integers(0, self.jitter + 1)) if self.jitter else 0)
        if self.link_adaptation:
            self._queue.append((burst, gap))
            return
        if gap:
            burst = np.concatenate([burst, np.zeros(gap, np.complex64)])
        self._queue.append(burst)

    def _build_adapted(self, tx, gap: int) -> np.ndarray | None:
        """The burst of a queued transmission, coded for the SNR fed back by now (None: dropped)."""
        try:
            tx, decision = adapt_transmission(tx, self.fed_back_snr_db)
            burst = self.format.build(tx)
        except Exception as err:  # noqa: BLE001 - counted and dropped, never raised into the scheduler
            self._stats["frames_malformed"] += 1
            self.logger.error(f"dropping a transmission that could not be built: {type(err).__name__}: "
                              f"{str(err)[:200]}")
            return None
        self._decisions.append(decision)
        if decision["rate"] is not None:
            self.logger.info(f"link adaptation: transmission {decision['seq']} coded {decision['modulation']} "
                             f"R{decision['rate']} for {decision['snr_db']:.2f} dB fed back")
        return np.concatenate([burst, np.zeros(gap, np.complex64)]) if gap else burst

    def general_work(self, input_items, output_items):
        out = output_items[0]
        produced = 0
        while self._queue and produced < len(out):
            if isinstance(self._queue[0], tuple):  # link adaptation: build it now
                built = self._build_adapted(*self._queue[0])
                if built is None:
                    self._queue.popleft()
                    continue
                self._queue[0] = built
            burst = self._queue[0]
            n = min(len(burst) - self._pos, len(out) - produced)
            out[produced:produced + n] = burst[self._pos:self._pos + n]
            at = self.nitems_written(0) + produced
            if self._pos == 0:
                self.add_item_tag(0, at, _SOB, pmt.PMT_T)
                self.add_item_tag(0, at, self.len_tag, pmt.from_long(len(burst)))
            self._pos += n
            produced += n
            if self._pos == len(burst):
                self.add_item_tag(0, at + n - 1, _EOB, pmt.PMT_T)
                self._queue.popleft()
                self._pos = 0
                self._stats["frames_sent"] += 1
        self._stats["samples_out"] += produced
        if produced == 0 and self._finishing:
            return -1  # WORK_DONE: everything queued before "done" has been sent
        return produced

    def stop(self) -> bool:
        self.logger.info(f"stats: {self.stats()}")
        return True
