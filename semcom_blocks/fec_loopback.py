"""A coded link over AWGN as a running GNU Radio flowgraph, for demos, tests and scripts.

    fec_encoder_pdu -> pdu_to_tagged_stream -> (+ complex Gaussian noise, N0 = 10**(-snr/10))
                    -> tagged_stream_to_pdu -> fec_decoder_pdu -> message_debug

The same wiring as flowgraphs/fec_link_awgn.grc. The noise is analog.noise_source_c +
blocks.add_cc rather than channels.channel_model: in GNU Radio 3.10.5 channel_model's
resampler shifts samples against the length tags and holds back the end of each burst, which
breaks tagged-stream PDUs. blocks.add_cc asks for output multiples of 8 (VOLK), which would
hold back the last samples of the last burst, so its output multiple is set to 1.
"""
from __future__ import annotations

import time

import numpy as np
import pmt
from gnuradio import analog, blocks, gr, pdu

from .fec_pdu import fec_decoder_pdu, fec_encoder_pdu
from .pdu_util import make_pdu, pdu_to_python
from .phy.snr import noise_var_from_esn0

__all__ = ["FecAwgnLoopback"]

_IN = pmt.intern("in")


class FecAwgnLoopback(gr.top_block):
    """PDUs through PayloadCoder coding, AWGN at ``snr_db`` (Es/N0 per symbol) and decoding.

    Keyword arguments are the coding parameters of the FEC blocks (fec, n, rate, modulation,
    crc, decoder, max_iter). The decoder knows the true N0 (it is told ``snr_db``). ``quiet``
    keeps the blocks' statistics lines out of the log (read them with ``stats()``).
    """

    def __init__(self, snr_db: float, seed: int = 1, quiet: bool = False, **coding):
        super().__init__("fec_awgn_loopback")
        decoder_args = {k: coding.pop(k) for k in ("decoder", "max_iter") if k in coding}
        self.encoder = fec_encoder_pdu(**coding)
        self.decoder = fec_decoder_pdu(snr_db=snr_db, **coding, **decoder_args)
        to_stream = pdu.pdu_to_tagged_stream(gr.types.complex_t, "packet_len")
        noise = analog.noise_source_c(analog.GR_GAUSSIAN, float(np.sqrt(noise_var_from_esn0(snr_db))), int(seed))
        add = blocks.add_cc()
        add.set_output_multiple(1)
        to_pdu = pdu.tagged_stream_to_pdu(gr.types.complex_t, "packet_len")
        self.sink = blocks.message_debug()
        self.msg_connect(self.encoder, "out", to_stream, "pdus")
        self.connect(to_stream, (add, 0))
        self.connect(noise, (add, 1))
        self.connect(add, to_pdu)
        self.msg_connect(to_pdu, "pdus", self.decoder, "in")
        self.msg_connect(self.decoder, "out", self.sink, "store")
        if quiet:
            for block in (self.encoder, self.decoder):
                block.set_log_level("warn")

    def transmit(self, payloads, metas=None, timeout_s: float = 60.0) -> list[tuple[dict, bytes]]:
        """Send each payload (bytes) as one PDU and return what the decoder emitted, in order.

        Runs the flowgraph until every PDU has come out or ``timeout_s`` passes; raises
        TimeoutError naming the counts if some never arrived (a PDU the blocks refused is in
        ``self.encoder.stats()`` / ``self.decoder.stats()``).
        """
        payloads = [bytes(p) for p in payloads]
        metas = metas or [{"seq": i} for i in range(len(payloads))]
        first = self.sink.num_messages()
        self.start()
        try:
            for meta, data in zip(metas, payloads):
                self.encoder._post(_IN, make_pdu(meta, data))
            deadline = time.monotonic() + timeout_s
            while self.sink.num_messages() - first < len(payloads) and time.monotonic() < deadline:
                time.sleep(0.005)
        finally:
            self.stop()
            self.wait()
        got = [pdu_to_python(self.sink.get_message(i)) for i in range(first, self.sink.num_messages())]
        if len(got) < len(payloads):
            raise TimeoutError(f"{len(got)} of {len(payloads)} PDUs came out within {timeout_s} s; "
                               f"encoder {self.encoder.stats()}, decoder {self.decoder.stats()}")
        return [(meta, np.asarray(vec, dtype=np.uint8).tobytes()) for meta, vec in got]
