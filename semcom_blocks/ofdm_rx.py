"""GNU Radio block: continuous samples in, received transmissions out (message PDUs).

In: a complex64 stream (any amount of noise, gaps and bursts). Out, port ``out``: one PDU per
decoded burst whose vector is a u8vector holding a msgpack ``received`` message
(``semcom_blocks.phy.wire``: every unit with its data, digital units with their CRC verdict,
analog units with per-symbol noise variances) and whose metadata carries, for flowgraph use
without unpacking: seq, frame_type, snr_est_db (Es/N0 per data symbol, dB), snr_eff_db (the
effective SNR, dB: receiver.effective_snr_db), cfo (subcarrier
spacings), start (absolute sample index), crc_ok (all digital units passed), n_units.

Out, port ``symbols`` (optional): for each burst with analog units, a PDU (the same metadata)
whose c32vector holds their equalised symbols (unit average power as sent), for a constellation
display (``pdu.pdu_to_tagged_stream`` into a QT GUI Constellation Sink).

All the work is the frame-level ``BurstReceiver``; its counters (detections, SIG/table
failures, truncated bursts, NaN samples, unit CRC results) are available with ``stats()`` and
logged when the flowgraph stops, when the stream ends the last partial burst is counted as
truncated.
"""
from __future__ import annotations

import numpy as np
import pmt
from gnuradio import gr

from .pdu_util import c32vector, u8vector
from .phy.ofdm import OfdmParams
from .phy.receiver import BurstReceiver, ReceivedFrame
from .phy.wire import pack_received

__all__ = ["ofdm_burst_rx", "frame_meta"]

_OUT, _SYMBOLS = pmt.intern("out"), pmt.intern("symbols")
_KEYS = {k: pmt.intern(k) for k in ("seq", "frame_type", "snr_est_db", "snr_eff_db", "cfo", "start", "crc_ok",
                                     "n_units")}


def frame_meta(frame: ReceivedFrame) -> "pmt.pmt_t":
    """The PDU metadata dict of a received frame (keys interned once, values built by their
    typed constructors: pmt.to_pmt's type dispatch in Python costs more than the dict)."""
    k, add = _KEYS, pmt.dict_add
    meta = pmt.make_dict()
    meta = add(meta, k["seq"], pmt.from_long(int(frame.seq)))
    meta = add(meta, k["frame_type"], pmt.from_long(int(frame.frame_type)))
    meta = add(meta, k["snr_est_db"], pmt.from_double(float(frame.snr_est_db)))
    if frame.snr_eff_db is not None:
        meta = add(meta, k["snr_eff_db"], pmt.from_double(float(frame.snr_eff_db)))
    meta = add(meta, k["cfo"], pmt.from_double(float(frame.cfo)))
    meta = add(meta, k["start"], pmt.from_long(int(frame.start)))
    meta = add(meta, k["crc_ok"], pmt.from_bool(bool(frame.crc_ok)))
    return add(meta, k["n_units"], pmt.from_long(len(frame.units)))


class ofdm_burst_rx(gr.sync_block):
    """Samples -> received transmission PDUs (see the module docstring)."""

    def __init__(self, fft_len: int = 64, cp_len: int = 16, threshold: float = 0.25, equalizer: str = "zf",
                 decoder: str = "minsum", max_iter: int = 50):
        gr.sync_block.__init__(self, name="ofdm_burst_rx", in_sig=[np.complex64], out_sig=None)
        self.receiver = BurstReceiver(OfdmParams(int(fft_len), int(cp_len)), threshold=threshold,
                                      equalizer=equalizer, decoder=decoder, max_iter=max_iter)
        self.message_port_register_out(_OUT)
        self.message_port_register_out(_SYMBOLS)
        self._work_errors = 0
        self._samples_skipped = 0

    def set_threshold(self, threshold: float) -> None:
        """Detection threshold on the normalised STF autocorrelation, 0.05..1 (a live setting)."""
        threshold = float(threshold)
        if not 0.05 <= threshold < 1:
            raise ValueError("threshold must be in [0.05, 1)")
        self.receiver.threshold = threshold

    def stats(self) -> dict:
        """The receiver's counters, plus chunks a receiver error made this block skip."""
        return {**self.receiver.stats, "work_errors": self._work_errors, "samples_skipped": self._samples_skipped}

    def _publish(self, frames) -> None:
        for frame in frames:
            meta = frame_meta(frame)
            self.message_port_pub(_OUT, pmt.cons(meta, u8vector(pack_received(frame))))
            analog = [np.asarray(u.data, np.complex64) for u in frame.units if u.kind == "analog" and len(u.data)]
            if analog:
                self.message_port_pub(_SYMBOLS, pmt.cons(meta, c32vector(np.concatenate(analog))))

    def work(self, input_items, output_items):
        samples = input_items[0]
        try:
            self._publish(self.receiver.push(samples))
        except Exception as err:  # a bug must not kill the flowgraph: log it, count what was lost
            self._work_errors += 1
            self._samples_skipped += len(samples)
            self.logger.error(f"receiver error, {len(samples)} samples skipped: {type(err).__name__}: {err}")
        return len(samples)

    def stop(self) -> bool:
        try:
            self._publish(self.receiver.flush())
        finally:
            self.logger.info(f"stats: {self.stats()}")
        return True
