"""GNU Radio message blocks that protect PDU payloads with ``PayloadCoder`` (CRC + FEC + QAM).

``fec_encoder_pdu``: PDU (meta dict, u8vector payload) -> PDU (meta, c32vector symbols).
``fec_decoder_pdu``: PDU (meta, c32vector received symbols) -> PDU (meta, u8vector payload).

Conventions (SNR, symbols, LLRs: docs/architecture.md):

* symbols are complex64 with unit average energy; ``snr_db`` is Es/N0;
* the encoder adds to the metadata ``nbytes`` (payload length in bytes) and the coding
  parameters ``fec``, ``n`` and ``rate`` (LDPC only), ``modulation``, ``crc`` (``"none"`` for
  no CRC);
* the decoder needs ``nbytes``; it uses ``noise_var`` (N0, linear) from the metadata when
  present, else the ``snr_db`` it was built with. Trailing extra symbols are ignored. It adds
  ``crc_ok`` (bool) and ``iterations_mean`` (decoder iterations per codeword or code block).
  A payload that fails its CRC is still emitted, with ``crc_ok`` False.

A malformed PDU never raises out of a handler: it is counted in ``frames_malformed``, logged as
a warning on the block's logger and dropped. Both blocks report their counters with ``stats()``.
Bulk data crosses the PMT boundary as whole numpy arrays (``pmt.to_python``,
``pmt.init_c32vector``, ``pmt.init_u8vector``).
"""
from __future__ import annotations

import numpy as np
import pmt
from gnuradio import gr

from .pdu_util import MalformedPdu, c32vector, split_pdu, u8vector, vector_to_numpy
from .phy.fec import PayloadCoder
from .phy.modulation import bits_per_symbol
from .phy.snr import noise_var_from_esn0

__all__ = ["fec_encoder_pdu", "fec_decoder_pdu", "make_coder", "coding_meta"]

LDPC_DECODERS = ("minsum", "spa")
TURBO_DECODERS = ("maxlog", "logmap")
_IN, _OUT = pmt.intern("in"), pmt.intern("out")


def make_coder(fec="ldpc", n=648, rate="1/2", modulation="qpsk", crc="crc32",
               decoder=None, max_iter=None) -> PayloadCoder:
    """``PayloadCoder`` from block parameters (crc "none" or "" means no CRC; max_iter <= 0
    or None means the engine default: LDPC 50, turbo 8)."""
    crc = None if crc in (None, "", "none", "None") else str(crc)
    if fec == "ldpc" and decoder not in (None,) + LDPC_DECODERS:
        raise ValueError(f"LDPC decoder must be one of {LDPC_DECODERS}, got {decoder!r}")
    if fec == "turbo" and decoder not in (None,) + TURBO_DECODERS:
        raise ValueError(f"turbo decoder must be one of {TURBO_DECODERS}, got {decoder!r}")
    if fec == "none":
        decoder = None
    max_iter = int(max_iter) if max_iter is not None and int(max_iter) > 0 else None
    return PayloadCoder(fec=str(fec), n=int(n), rate=str(rate), modulation=str(modulation).lower(),
                        crc=crc, decoder=decoder, max_iter=max_iter)


def coding_meta(coder: PayloadCoder) -> dict:
    """The coding parameters as they travel in PDU metadata (n and rate only for LDPC)."""
    meta = {"fec": coder.fec, "modulation": coder.modulation, "crc": coder.crc or "none"}
    if coder.fec == "ldpc":
        meta.update(n=int(coder.n), rate=str(coder.rate))
    return meta


class _PduBlock(gr.basic_block):
    """Message-only block with one input port "in", one output port "out" and counters."""

    _COUNTERS: tuple[str, ...] = ()

    def __init__(self, name: str):
        gr.basic_block.__init__(self, name=name, in_sig=None, out_sig=None)
        self.message_port_register_in(_IN)
        self.message_port_register_out(_OUT)
        self.set_msg_handler(_IN, self._safe_handle)
        self.reset_stats()

    def reset_stats(self) -> None:
        self._stats = dict.fromkeys(self._COUNTERS, 0)

    def stats(self) -> dict:
        """Counters since construction (or ``reset_stats``): frames in, emitted, dropped..."""
        return dict(self._stats)

    def _safe_handle(self, msg) -> None:
        self._stats["frames_in"] += 1
        try:
            meta, out_vec = self._process(msg)
        except MalformedPdu as err:
            self._stats["frames_malformed"] += 1
            self.logger.warn(f"dropping malformed PDU: {err}")
            return
        except Exception as err:  # an engine refusal or a bug: never kill the flowgraph thread
            self._stats["frames_malformed"] += 1
            self.logger.error(f"dropping PDU that failed to process: {type(err).__name__}: {err}")
            return
        self._stats["frames_out"] += 1
        self.message_port_pub(_OUT, pmt.cons(meta, out_vec))

    def _process(self, msg):  # -> (meta, vector) of the output PDU
        raise NotImplementedError

    def stop(self) -> bool:
        self.logger.info(f"stats: {self.stats()}")
        return True


class fec_encoder_pdu(_PduBlock):
    """Payload bytes -> CRC -> LDPC / turbo -> Gray QAM symbols (complex64, Es = 1).

    fec: "ldpc" (802.11n; n in 648, 1296, 1944; rate 1/2, 2/3, 3/4, 5/6), "turbo" (LTE, rate
    1/3 plus tail; n and rate ignored) or "none". modulation: bpsk, qpsk, 16qam, 64qam.
    crc: crc16, crc24a, crc24b, crc32 or "none".
    In: PDU (meta, u8vector). Out: PDU (meta + nbytes + coding parameters, c32vector).
    """

    _COUNTERS = ("frames_in", "frames_out", "frames_malformed")

    def __init__(self, fec="ldpc", n=648, rate="1/2", modulation="qpsk", crc="crc32"):
        self.coder = make_coder(fec, n, rate, modulation, crc)
        self._meta = coding_meta(self.coder)
        _PduBlock.__init__(self, "fec_encoder_pdu")

    def _process(self, msg):
        meta, vec = split_pdu(msg, pmt.is_u8vector, "u8vector")
        payload = vector_to_numpy(vec)
        symbols = self.coder.encode(payload.tobytes())
        meta = pmt.dict_add(meta, pmt.intern("nbytes"), pmt.from_long(payload.size))
        for key, value in self._meta.items():
            meta = pmt.dict_add(meta, pmt.intern(key), pmt.to_pmt(value))
        return meta, c32vector(symbols)


class fec_decoder_pdu(_PduBlock):
    """Received symbols -> LLRs (exact log-MAP demapper) -> LDPC / turbo decoder -> CRC check.

    Coding parameters as ``fec_encoder_pdu``; if the PDU carries coding parameters that differ
    from the block's, the PDU is dropped as malformed. decoder: "minsum" or "spa" for LDPC,
    "maxlog" or "logmap" for turbo (ignored for "none"; None: minsum / maxlog). max_iter:
    decoder iterations (<= 0: engine default, LDPC 50, turbo 8). snr_db: Es/N0 in dB used when
    the PDU has no ``noise_var``.
    In: PDU (meta with nbytes [, noise_var], c32vector). Out: PDU (meta + crc_ok +
    iterations_mean, u8vector of nbytes bytes).
    """

    _COUNTERS = ("frames_in", "frames_out", "frames_crc_ok", "frames_crc_fail", "frames_malformed")

    def __init__(self, fec="ldpc", n=648, rate="1/2", modulation="qpsk", crc="crc32",
                 decoder=None, max_iter=0, snr_db=10.0):
        self.coder = make_coder(fec, n, rate, modulation, crc, decoder, max_iter)
        self._meta = coding_meta(self.coder)
        self._bits_per_symbol = bits_per_symbol(self.coder.modulation)
        self.set_snr_db(snr_db)
        _PduBlock.__init__(self, "fec_decoder_pdu")

    def set_snr_db(self, snr_db: float) -> None:
        """Es/N0 (dB) assumed for PDUs without ``noise_var``."""
        self.snr_db = float(snr_db)
        self.noise_var = noise_var_from_esn0(self.snr_db)

    def _process(self, msg):
        meta, vec = split_pdu(msg, pmt.is_c32vector, "c32vector")
        nbytes = self._nbytes(meta)
        noise_var = self._noise_var(meta)
        self._check_coding(meta)
        symbols = vector_to_numpy(vec)
        too_few = MalformedPdu(f"{symbols.size} symbols are too few for a {nbytes}-byte payload")
        if 8 * nbytes > symbols.size * self._bits_per_symbol:  # cheap: no code here has rate > 1
            raise too_few
        need = self.coder.n_symbols(nbytes)
        if symbols.size < need:
            raise too_few
        symbols = symbols[:need]
        if not np.all(np.isfinite(symbols)):
            raise MalformedPdu("symbols contain NaN or infinity")
        result = self.coder.decode(symbols, noise_var, nbytes)
        self._stats["frames_crc_ok" if result.crc_ok else "frames_crc_fail"] += 1
        iters = float(np.mean(result.iterations)) if result.iterations.size else 0.0
        meta = pmt.dict_add(meta, pmt.intern("crc_ok"), pmt.from_bool(result.crc_ok))
        meta = pmt.dict_add(meta, pmt.intern("iterations_mean"), pmt.from_double(iters))
        return meta, u8vector(result.data)

    @staticmethod
    def _nbytes(meta) -> int:
        value = pmt.dict_ref(meta, pmt.intern("nbytes"), pmt.PMT_NIL)
        if pmt.is_null(value):
            raise MalformedPdu("metadata has no 'nbytes'")
        if not (pmt.is_integer(value) or pmt.is_uint64(value)):
            raise MalformedPdu("'nbytes' is not an integer")
        nbytes = pmt.to_uint64(value) if pmt.is_uint64(value) else pmt.to_long(value)
        if nbytes < 0:
            raise MalformedPdu(f"'nbytes' is negative ({nbytes})")
        return nbytes

    def _noise_var(self, meta) -> float:
        value = pmt.dict_ref(meta, pmt.intern("noise_var"), pmt.PMT_NIL)
        if pmt.is_null(value):
            return self.noise_var
        if not pmt.is_number(value) or pmt.is_complex(value):
            raise MalformedPdu("'noise_var' is not a real number")
        noise_var = pmt.to_double(value)
        if not np.isfinite(noise_var) or noise_var < 0:
            raise MalformedPdu(f"'noise_var' must be finite and >= 0, got {noise_var}")
        return noise_var

    def _check_coding(self, meta) -> None:
        for key, mine in self._meta.items():
            value = pmt.dict_ref(meta, pmt.intern(key), pmt.PMT_NIL)
            if not pmt.is_null(value) and pmt.to_python(value) != mine:
                raise MalformedPdu(f"PDU coded with {key}={pmt.to_python(value)!r}, "
                                   f"decoder configured for {mine!r}")
