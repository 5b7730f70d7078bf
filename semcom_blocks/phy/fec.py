"""One digital unit on the air: bytes -> CRC -> channel code -> Gray QAM symbols, and back.

``PayloadCoder`` is what the transport uses for every ``digital`` unit (captions, VQ indices,
codec bitstreams): a payload of any length is protected by a CRC over its bytes, coded by the
802.11n LDPC code (shortened/punctured to fit, see ``LdpcLayout``) or the LTE turbo code
(segmented into code blocks, see ``turbo``), and mapped onto unit-energy symbols. The receiver
gives the received symbols and their complex noise variance N0 and gets the bytes back with
an honest CRC verdict: a failed CRC is reported, never hidden.

Bit order: bytes are unpacked MSB first (``np.unpackbits``); the CRC (crc_bytes, big-endian)
follows the payload bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .crc import crc_bytes, get_crc
from .ldpc import LdpcLayout, get_ldpc, parse_rate
from .modulation import bits_per_symbol, demodulate_llr, modulate

__all__ = ["FEC_KINDS", "PayloadCoder", "DecodedPayload"]

FEC_KINDS = ("ldpc", "turbo", "none")


@dataclass
class DecodedPayload:
    """What the receiver knows about one digital unit."""

    data: bytes
    crc_ok: bool
    blocks_ok: np.ndarray = field(repr=False)  # per codeword / code block: decoder's own check
    iterations: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class PayloadCoder:
    """CRC + FEC + modulation for byte payloads.

    fec:        "ldpc" (802.11n, ``n`` in 648/1296/1944, ``rate`` in 1/2 2/3 3/4 5/6), "turbo"
                (LTE, rate 1/3 plus tail) or "none".
    modulation: bpsk, qpsk, 16qam, 64qam.
    crc:        CRC over the payload bytes (crc16, crc24a, crc24b, crc32), or None.
    decoder:    LDPC decoder ("minsum", "spa") or turbo algorithm ("maxlog", "logmap").
    max_iter:   decoder iterations (LDPC default 50, turbo default 8).
    """

    fec: str = "ldpc"
    n: int = 648
    rate: str = "1/2"
    modulation: str = "qpsk"
    crc: str | None = "crc32"
    decoder: str | None = None
    max_iter: int | None = None

    def __post_init__(self):
        if self.fec not in FEC_KINDS:
            raise ValueError(f"unknown FEC {self.fec!r}; choose from {FEC_KINDS}")
        if self.fec == "ldpc":
            object.__setattr__(self, "rate", parse_rate(self.rate))
            get_ldpc(self.n, self.rate)  # validates n
        bits_per_symbol(self.modulation)  # validates the name
        if self.crc is not None:
            get_crc(self.crc)

    def _layout(self, info_bits: int) -> LdpcLayout:
        return _ldpc_layout(self.n, self.rate, info_bits)

    # -- sizes -----------------------------------------------------------------------------
    @property
    def crc_bits(self) -> int:
        return 0 if self.crc is None else get_crc(self.crc).width

    def _info_bits(self, nbytes: int) -> int:
        if nbytes < 0:
            raise ValueError("payload length must be >= 0 bytes")
        return 8 * nbytes + self.crc_bits

    def coded_bits(self, nbytes: int) -> int:
        """Channel bits for a payload of ``nbytes`` bytes (before padding to whole symbols)."""
        info = self._info_bits(nbytes)
        if info == 0:
            return 0
        if self.fec == "ldpc":
            return self._layout(info).coded_bits
        if self.fec == "turbo":
            from .turbo import turbo_payload_coded_len

            return turbo_payload_coded_len(info)
        return info

    def n_symbols(self, nbytes: int) -> int:
        """Complex symbols for a payload of ``nbytes`` bytes."""
        m = bits_per_symbol(self.modulation)
        return -(-self.coded_bits(nbytes) // m)

    # -- transmit / receive ----------------------------------------------------------------
    def _protect(self, payload: bytes) -> np.ndarray:
        data = bytes(payload)
        if self.crc is not None:
            data += crc_bytes(data, self.crc).to_bytes(self.crc_bits // 8, "big")
        return np.unpackbits(np.frombuffer(data, dtype=np.uint8))

    def encode_bits(self, payload: bytes) -> np.ndarray:
        """Coded channel bits (uint8) for ``payload``."""
        info = self._protect(payload)
        if info.size == 0:
            return info
        if self.fec == "ldpc":
            return self._layout(info.size).encode(info)
        if self.fec == "turbo":
            from .turbo import turbo_encode_payload

            return turbo_encode_payload(info)
        return info

    def encode(self, payload: bytes) -> np.ndarray:
        """Unit-energy complex64 symbols for ``payload`` (zero bits pad the last symbol)."""
        bits = self.encode_bits(payload)
        m = bits_per_symbol(self.modulation)
        pad = (-bits.size) % m
        return modulate(np.concatenate([bits, np.zeros(pad, np.uint8)]), self.modulation)

    def decode_llr(self, llr, nbytes: int) -> DecodedPayload:
        """Payload from the LLRs of its coded bits (extra trailing LLRs, e.g. padding, ignored)."""
        need = self.coded_bits(nbytes)
        llr = np.asarray(llr, dtype=np.float64).reshape(-1)
        if llr.size < need:
            raise ValueError(f"{llr.size} LLRs for a {nbytes}-byte payload that needs {need}")
        llr = llr[:need]
        kwargs = {}
        if self.decoder is not None:
            kwargs["decoder" if self.fec == "ldpc" else "algorithm"] = self.decoder
        if self.max_iter is not None:
            kwargs["max_iter" if self.fec == "ldpc" else "iterations"] = self.max_iter
        info_len = self._info_bits(nbytes)
        if info_len == 0:
            return DecodedPayload(b"", True, np.ones(0, bool), np.zeros(0, np.int32))
        if self.fec == "ldpc":
            bits, blocks_ok, iters = self._layout(info_len).decode(llr, **kwargs)
        elif self.fec == "turbo":
            from .turbo import turbo_decode_payload

            bits, blocks_ok, iters = turbo_decode_payload(llr, info_len, **kwargs)
        else:
            if not np.all(np.isfinite(llr)):
                raise ValueError("LLRs must be finite")
            bits, blocks_ok, iters = (llr < 0).astype(np.uint8), np.ones(1, bool), np.zeros(1, np.int32)
        raw = np.packbits(bits).tobytes()
        data, tail = raw[:nbytes], raw[nbytes:]
        crc_ok = True if self.crc is None else crc_bytes(data, self.crc) == int.from_bytes(tail, "big")
        return DecodedPayload(data, bool(crc_ok), np.asarray(blocks_ok, bool), np.asarray(iters))

    def decode(self, symbols, noise_var, nbytes: int, exact: bool = True) -> DecodedPayload:
        """Payload from received symbols with complex noise variance ``noise_var`` (N0)."""
        llr = demodulate_llr(np.asarray(symbols).reshape(-1), self.modulation, noise_var, exact=exact)
        return self.decode_llr(llr, nbytes)


@lru_cache(maxsize=1024)
def _ldpc_layout(n: int, rate: str, info_bits: int) -> LdpcLayout:
    """Layouts are pure functions of their sizes: build each once (they hold index arrays)."""
    return LdpcLayout(get_ldpc(n, rate), info_bits)
