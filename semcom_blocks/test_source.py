"""GNU Radio block: random test transmissions for loopback simulations and link measurements.

Emits ``n_frames`` transmissions (msgpack PDUs, ``semcom_blocks.phy.wire``) on port ``out``,
one every ``interval_s`` seconds, each with one digital unit of ``digital_bytes`` random bytes
(coded as configured) and one analog unit of ``analog_symbols`` random complex Gaussian
symbols of unit average power; then the symbol ``done``. Sequence numbers count from
``first_seq``. The
same seed gives the same transmissions (``expected(i)`` rebuilds number i for comparison).
"""
from __future__ import annotations

import threading

import numpy as np
import pmt
from gnuradio import gr

from .pdu_util import declare_done, make_pdu
from .phy.fec import PayloadCoder
from .phy.frame import Transmission, Unit
from .phy.wire import pack_transmission

__all__ = ["random_transmission_source", "random_transmission"]

_OUT = pmt.intern("out")


def random_transmission(seq: int, seed: int, digital_bytes: int, analog_symbols: int,
                        coder: PayloadCoder) -> Transmission:
    """Transmission number ``seq`` of the stream seeded by ``seed``."""
    rng = np.random.default_rng([int(seed), int(seq)])
    units = []
    if digital_bytes > 0:
        units.append(Unit("digital", "digital", rng.integers(0, 256, digital_bytes, dtype=np.uint8).tobytes(), coder))
    if analog_symbols > 0:
        z = (rng.standard_normal(analog_symbols) + 1j * rng.standard_normal(analog_symbols)) / np.sqrt(2)
        units.append(Unit("analog", "analog", z.astype(np.complex64)))
    return Transmission(units, seq=seq % 65536)


class random_transmission_source(gr.basic_block):
    """See the module docstring."""

    def __init__(self, n_frames: int = 100, digital_bytes: int = 100, analog_symbols: int = 256,
                 interval_s: float = 0.0, seed: int = 0, fec: str = "ldpc", n: int = 648, rate: str = "1/2",
                 modulation: str = "qpsk", crc: str = "crc32", first_seq: int = 0):
        gr.basic_block.__init__(self, name="random_transmission_source", in_sig=None, out_sig=None)
        if n_frames < 0 or digital_bytes < 0 or analog_symbols < 0 or interval_s < 0:
            raise ValueError("n_frames, digital_bytes, analog_symbols and interval_s must be >= 0")
        self.n_frames, self.interval, self.first_seq = int(n_frames), float(interval_s), int(first_seq)
        self.digital_bytes, self.analog_symbols, self.seed = int(digital_bytes), int(analog_symbols), int(seed)
        self.coder = PayloadCoder(fec, int(n), rate, modulation, None if crc in ("", "none") else crc)
        self.message_port_register_out(_OUT)
        self._stop = threading.Event()
        self._thread = None

    def expected(self, seq: int) -> Transmission:
        return random_transmission(seq, self.seed, self.digital_bytes, self.analog_symbols, self.coder)

    def _run(self) -> None:
        for i in range(self.first_seq, self.first_seq + self.n_frames):
            if self._stop.is_set():
                return
            self.message_port_pub(_OUT, make_pdu({"seq": i}, pack_transmission(self.expected(i))))
            if self.interval:
                self._stop.wait(self.interval)
        self.message_port_pub(_OUT, pmt.intern("done"))
        declare_done(self)

    def start(self) -> bool:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="random_transmission_source", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> bool:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return True
