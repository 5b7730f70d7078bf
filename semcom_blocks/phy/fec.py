"""One digital unit on the air: bytes -> CRC -> channel code -> Gray QAM symbols, and back.

``PayloadCoder`` is what the transport uses for every ``digital`` unit (captions, VQ indices,
codec bitstreams): a payload of any length is protected by a CRC over its bytes, coded by the
802.11n LDPC code (shortened/punctured to fit, see ``LdpcLayout``) or the LTE turbo code
(segmented into code blocks, see ``turbo``), and mapped onto unit-energy symbols. The receiver
gives the received symbols and their complex noise variance N0 and gets the bytes back with
an honest CRC verdict: a failed CRC is reported, never hidden.

Bit order: bytes are unpacked MSB first (``np.unpackbits``); the CRC (crc_bytes, big-endian)
follows the payload bytes.

``decode_payloads`` is what the burst receiver uses: ``decode_llr``'s results for all the digital
units of a burst at once, each channel decoder called once per code (every LDPC codeword of one
(n, rate) that needs decoding, every turbo code block of one K), since the native decoders are
SIMD across codewords and pay off on batches of 8-16 codewords or more.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .crc import crc_bytes, get_crc
from .ldpc import LdpcLayout, get_ldpc, parse_rate
from .modulation import LLR_MAX, bits_per_symbol, demodulate_llr, modulate
from .rx_kernels import hard_syndrome

__all__ = ["FEC_KINDS", "PayloadCoder", "DecodedPayload", "decode_codewords", "decode_payload", "decode_payloads"]

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


# -- the receiver's decoding: many units, one decoder call per code ------------------------------

def _ldpc_kwargs(decoder: str | None, max_iter: int | None) -> dict:
    return {k: v for k, v in (("decoder", decoder), ("max_iter", max_iter)) if v is not None}


def _codeword_llrs(layout: LdpcLayout, llr, decoder: str | None):
    """(full (n_codewords, n) LLRs, hard decisions or None, rows that need the decoder) of
    ``layout`` from the LLRs of its transmitted bits (see decode_codewords). The full LLRs are
    float64 for "spa" and where bits are repeated (their LLRs add in float64, as in
    LdpcLayout.decode), else float32, the min-sum decoders' precision: the same values either way."""
    code = layout.code
    llr = np.asarray(llr).reshape(-1)
    if llr.size < layout.coded_bits:
        raise ValueError(f"{llr.size} LLRs for a layout of {layout.coded_bits} coded bits")
    llr = llr[:layout.coded_bits]
    if not np.isfinite(llr).all():
        raise ValueError("LLRs must be finite")
    size = layout.n_codewords * code.n
    sent = size - layout.shortened_index.size  # bits sent once each when nothing is punctured or repeated
    if layout.coded_bits > sent:  # repeated
        full = np.bincount(layout.tx_index, weights=llr.astype(np.float64), minlength=size)
    else:  # a plain scatter (about half the time of bincount); + 0.0 makes -0.0 the +0.0 bincount gives
        full = np.zeros(size, np.float64 if decoder == "spa" else np.float32)
        full[layout.tx_index] = llr + full.dtype.type(0.0)
    full[layout.shortened_index] = LLR_MAX
    full = full.reshape(layout.n_codewords, code.n)
    if layout.coded_bits < sent:  # punctured
        return full, None, np.arange(layout.n_codewords)
    # the decoders work in float32 (min-sum) or float64 (sum-product): decide signs as they do
    hard, ok = hard_syndrome(full if decoder == "spa" else full.astype(np.float32, copy=False), code.row_ptr,
                             code.col_idx)
    return full, hard, np.flatnonzero(~ok)


def decode_codewords(layout: LdpcLayout, llr: np.ndarray, decoder: str | None = None,
                     max_iter: int | None = None) -> np.ndarray:
    """Decoded codewords (n_codewords, n) uint8 of ``layout`` from the LLRs of its transmitted
    bits (extra trailing LLRs ignored): what LdpcLayout.decode decodes, with the iterative
    decoder (``decoder``, ``max_iter``: LdpcCode.decode's, None for its defaults) run only on
    the codewords that need it.

    A codeword whose hard decisions (LLR < 0: bit 1) already satisfy every parity check is what
    the decoder would return for it: in min-sum and sum-product alike each check then sends
    every bit a message of that bit's own sign, so no posterior changes sign and the first
    syndrome check stops the decoder with those very bits. Checking the syndrome costs a few
    microseconds per 648-bit codeword, one decoder iteration about 12; on a clean link every
    codeword passes. Shortened bits are known zeros, repeated bits add their LLRs, punctured
    bits have LLR 0; a layout that punctures skips the check (its codewords nearly always need
    the decoder)."""
    full, hard, need = _codeword_llrs(layout, llr, decoder)
    if hard is None:
        return layout.code.decode(full, return_codeword=True, **_ldpc_kwargs(decoder, max_iter)).bits
    if need.size:
        hard[need] = layout.code.decode(full[need], return_codeword=True, **_ldpc_kwargs(decoder, max_iter)).bits
    return hard


def decode_payload(coder: PayloadCoder, llr: np.ndarray, nbytes: int) -> tuple[bytes, bool]:
    """(data, crc_ok): what ``coder.decode_llr(llr, nbytes)`` gives, LDPC codewords decoded by
    ``decode_codewords`` (decode_payloads of one unit)."""
    return decode_payloads([(coder, llr, nbytes)])[0]


def decode_payloads(units: Sequence[tuple[PayloadCoder, np.ndarray, int]]) -> list[tuple[bytes, bool]]:
    """``decode_payload`` for each (coder, llr, nbytes) of ``units``, in order, with one decoder
    call per code: the LDPC codewords that need the decoder (decode_codewords) of every unit of
    one (n, rate, decoder, max_iter) are decoded together, and so are the turbo code blocks of one
    size K of every unit of one (decoder, max_iter) (turbo_decode_payloads). Decoding is per
    codeword, so the results are those of one unit at a time. Uncoded units and empty payloads
    go to coder.decode_llr. ValueError for too few or non-finite LLRs, as decode_llr."""
    out: list = [None] * len(units)
    ldpc: dict = {}  # (n, rate, decoder, max_iter) -> [(unit, layout, hard, full, rows needing the decoder)]
    turbo: dict = {}  # (decoder, max_iter) -> [(unit, llr, info bits)]
    for i, (coder, llr, nbytes) in enumerate(units):
        info_bits = 8 * nbytes + coder.crc_bits
        if coder.fec == "ldpc" and info_bits:
            layout = _ldpc_layout(coder.n, coder.rate, info_bits)
            if np.size(llr) < layout.coded_bits:
                raise ValueError(f"{np.size(llr)} LLRs for a {nbytes}-byte payload that needs {layout.coded_bits}")
            full, hard, need = _codeword_llrs(layout, llr, coder.decoder)
            key = (coder.n, coder.rate, coder.decoder, coder.max_iter)
            ldpc.setdefault(key, []).append((i, layout, hard, full, need))
        elif coder.fec == "turbo" and info_bits:
            need = coder.coded_bits(nbytes)
            flat = np.asarray(llr, dtype=np.float64).reshape(-1)
            if flat.size < need:
                raise ValueError(f"{flat.size} LLRs for a {nbytes}-byte payload that needs {need}")
            turbo.setdefault((coder.decoder, coder.max_iter), []).append((i, flat[:need], info_bits))
        else:
            res = coder.decode_llr(llr, nbytes)
            out[i] = (res.data, res.crc_ok)
    for (n, rate, decoder, max_iter), members in ldpc.items():
        rows = [full[need] for _, _, _, full, need in members if need.size]
        decoded = np.empty((0, n), np.uint8)
        if rows:
            decoded = get_ldpc(n, rate).decode(np.concatenate(rows), return_codeword=True,
                                               **_ldpc_kwargs(decoder, max_iter)).bits
        at = 0
        for i, layout, hard, full, need in members:
            if hard is None:
                hard = np.empty((full.shape[0], n), np.uint8)
            hard[need] = decoded[at:at + need.size]
            at += need.size
            bits = hard[:, :layout.code.k].reshape(-1)[layout.payload_index]
            out[i] = _check_crc(units[i][0], bits, units[i][2])
    for (decoder, max_iter), members in turbo.items():
        from .turbo import turbo_decode_payloads

        kwargs = {k: v for k, v in (("algorithm", decoder), ("iterations", max_iter)) if v is not None}
        results = turbo_decode_payloads([(llr, info_bits) for _, llr, info_bits in members], **kwargs)
        for (i, _, _), (bits, _, _) in zip(members, results):
            out[i] = _check_crc(units[i][0], bits, units[i][2])
    return out


def _check_crc(coder: PayloadCoder, bits: np.ndarray, nbytes: int) -> tuple[bytes, bool]:
    """(payload bytes, CRC verdict) from the decoded information bits (payload, then CRC)."""
    raw = np.packbits(bits).tobytes()
    data, tail = raw[:nbytes], raw[nbytes:]
    crc_ok = True if coder.crc is None else crc_bytes(data, coder.crc) == int.from_bytes(tail, "big")
    return data, bool(crc_ok)
