"""The burst frame: what a transmission looks like on air, and how the transmitter builds it.

A transmission is a list of units (docs/architecture.md, "The seam"): ``digital`` units carry bytes protected by
a ``PayloadCoder`` (CRC + LDPC/turbo + QAM); ``analog`` units carry complex symbols of unit
average power (e.g. DJSCC output) mapped straight onto data subcarriers. One burst::

    | STF | LTF | SIG (n_sig OFDM symbols) | unit table (n_tab symbols) | payload symbols |

* SIG: 11 bytes = version (1), frame type (1), sequence number (2, big-endian), length of the
  unit table in bytes (2), number of payload OFDM symbols (3), CRC-16 (2) over the first nine;
  LDPC 648 R1/2 shortened and punctured to fill ``SIG_CODED_BITS`` rounded up to whole OFDM
  symbols, BPSK. Knowing the burst length from the SIG alone lets the receiver wait for the whole
  burst before any further work, and equalise table and payload in one pass.
* unit table: number of units (1), then per unit: kind (1: 0 digital, 1 analog), name length
  (1) and UTF-8 name, length (4: bytes for digital, symbols for analog), then for digital units
  fec (1: 0 none, 1 ldpc, 2 turbo), LDPC length (1: 0 648, 1 1296, 2 1944), LDPC rate
  (1: 0 1/2, 1 2/3, 2 3/4, 3 5/6), modulation (1: 0 bpsk, 1 qpsk, 2 16qam, 3 64qam), CRC
  (1: 0 none, 1 crc16, 2 crc24a, 3 crc24b, 4 crc32). Protected by CRC-32 and LDPC 648 R1/2,
  BPSK, padded to whole OFDM symbols.
* payload: the units' symbols one after another in table order (digital: PayloadCoder.encode;
  analog: as given), filling data subcarriers in ascending subcarrier order, OFDM symbol after
  OFDM symbol.

SIG and table bytes are whitened (XOR with the 802.11 scrambler sequence, seeds ``SIG_WHITENING``
and ``TABLE_WHITENING``) before coding: mostly-zero bytes would otherwise give codewords whose
BPSK symbols line up in phase across subcarriers (a 15 dB peak-to-average ratio seen on the
unit table).

Fields that do not fill their last OFDM symbol are padded with pseudo-random QPSK (from the
802.11 scrambler), not zeros: a symbol of pilots alone is periodic enough to look like a
short training field to the detector.

Pilot numbering starts at the first SIG symbol. See docs/frame_format.md.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from .crc import crc_bytes
from .fec import PayloadCoder
from .ldpc import LdpcLayout, get_ldpc
from .modulation import modulate
from .ofdm import OfdmParams
from .scrambler import scrambler_sequence

__all__ = ["Unit", "Transmission", "FrameFormat", "FRAME_VERSION", "MAX_UNITS", "MAX_NAME_BYTES"]

FRAME_VERSION = 2
SIG_BYTES = 11
SIG_CODED_BITS = 288  # rate 88/288: the SIG must be the most robust part of the burst
SIG_WHITENING, TABLE_WHITENING = 0x35, 0x4B
#: largest payload, in OFDM symbols, the SIG can announce (24 bits)
MAX_PAYLOAD_OFDM_SYMBOLS = (1 << 24) - 1
MAX_UNITS = 255
MAX_NAME_BYTES = 255
#: largest unit the table can describe (bytes or symbols): keeps a corrupted table harmless
MAX_UNIT_LENGTH = 1 << 24

_FECS = ("none", "ldpc", "turbo")
_LDPC_N = (648, 1296, 1944)
_LDPC_RATES = ("1/2", "2/3", "3/4", "5/6")
_MODS = ("bpsk", "qpsk", "16qam", "64qam")
_CRCS = (None, "crc16", "crc24a", "crc24b", "crc32")
KINDS = ("digital", "analog")


@dataclass
class Unit:
    """One semantic unit of a transmission.

    digital: ``data`` is bytes, ``coder`` how to protect them (default QPSK LDPC 648 R1/2 +
    CRC-32). analog: ``data`` is a 1-D complex array of unit average power, sent as is.
    """

    name: str
    kind: str
    data: bytes | np.ndarray
    coder: PayloadCoder | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unit {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if len(self.name.encode("utf-8")) > MAX_NAME_BYTES:
            raise ValueError(f"unit name longer than {MAX_NAME_BYTES} bytes: {self.name[:40]!r}...")
        if self.kind == "digital":
            if not isinstance(self.data, (bytes, bytearray, memoryview)):
                raise ValueError(f"digital unit {self.name!r}: data must be bytes, got {type(self.data).__name__}")
            self.data = bytes(self.data)
            self.coder = self.coder or PayloadCoder()
            if self.coder.fec == "ldpc" and self.coder.n not in _LDPC_N:
                raise ValueError(f"unit {self.name!r}: LDPC length {self.coder.n} not in {_LDPC_N}")
        else:
            arr = np.asarray(self.data)
            if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.number):
                raise ValueError(f"analog unit {self.name!r}: data must be a 1-D array of complex symbols")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"analog unit {self.name!r}: symbols contain NaN or infinity")
            self.data = arr.astype(np.complex64)
            self.coder = None
        if self.length > MAX_UNIT_LENGTH:
            raise ValueError(f"unit {self.name!r} is larger than {MAX_UNIT_LENGTH} bytes/symbols")

    @property
    def length(self) -> int:
        """Bytes (digital) or complex symbols (analog)."""
        return len(self.data)

    @property
    def n_symbols(self) -> int:
        """Complex symbols the unit occupies in the payload."""
        return self.coder.n_symbols(self.length) if self.kind == "digital" else self.length

    def symbols(self) -> np.ndarray:
        return self.coder.encode(self.data) if self.kind == "digital" else self.data


@dataclass
class Transmission:
    """What the semantic layer hands the transport: a frame type, a sequence number and units."""

    units: list[Unit]
    seq: int = 0
    frame_type: int = 0
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not 0 <= int(self.seq) < 1 << 16:
            raise ValueError(f"sequence number must be in 0..65535, got {self.seq}")
        if not 0 <= int(self.frame_type) < 256:
            raise ValueError(f"frame type must be in 0..255, got {self.frame_type}")
        if len(self.units) > MAX_UNITS:
            raise ValueError(f"at most {MAX_UNITS} units per transmission, got {len(self.units)}")


# -- the unit table and the SIG field, as bytes ---------------------------------------------------

def encode_table(units: list[Unit]) -> bytes:
    out = bytearray([len(units)])
    for u in units:
        name = u.name.encode("utf-8")
        out += bytes([KINDS.index(u.kind), len(name)]) + name + struct.pack(">I", u.length)
        if u.kind == "digital":
            c = u.coder
            out += bytes([_FECS.index(c.fec), _LDPC_N.index(c.n) if c.fec == "ldpc" else 0,
                          _LDPC_RATES.index(c.rate) if c.fec == "ldpc" else 0, _MODS.index(c.modulation),
                          _CRCS.index(c.crc)])
    return bytes(out)


@dataclass
class TableEntry:
    """A unit as the table describes it (the receiver's view before the payload)."""

    name: str
    kind: str
    length: int
    coder: PayloadCoder | None

    @property
    def n_symbols(self) -> int:
        return self.coder.n_symbols(self.length) if self.kind == "digital" else self.length


def decode_table(raw: bytes) -> list[TableEntry]:
    """Parse a unit table; ValueError on anything malformed (the CRC passed, but be safe)."""
    try:
        count, pos, entries = raw[0], 1, []
        for _ in range(count):
            kind, name_len = raw[pos], raw[pos + 1]
            name = raw[pos + 2: pos + 2 + name_len].decode("utf-8")
            pos += 2 + name_len
            (length,) = struct.unpack(">I", raw[pos: pos + 4])
            pos += 4
            if length > MAX_UNIT_LENGTH:
                raise ValueError(f"unit {name!r} claims {length} bytes/symbols")
            coder = None
            if KINDS[kind] == "digital":
                if len(raw) < pos + 5:
                    raise IndexError("digital unit entry cut short")
                fec, n_i, r_i, m_i, c_i = raw[pos: pos + 5]
                pos += 5
                coder = PayloadCoder(_FECS[fec], _LDPC_N[n_i], _LDPC_RATES[r_i], _MODS[m_i], _CRCS[c_i])
            entries.append(TableEntry(name, KINDS[kind], length, coder))
        if pos != len(raw):
            raise ValueError(f"{len(raw) - pos} stray bytes after the unit table")
        return entries
    except (IndexError, UnicodeDecodeError, struct.error) as exc:
        raise ValueError(f"malformed unit table: {exc!r}") from None


def whiten(data: bytes, seed: int) -> bytes:
    """``data`` XOR the scrambler sequence from ``seed`` (its own inverse)."""
    mask = np.packbits(scrambler_sequence(8 * len(data), seed))
    return (np.frombuffer(data, np.uint8) ^ mask).tobytes()


def encode_sig(frame_type: int, seq: int, table_len: int, n_payload: int) -> bytes:
    """The SIG bytes; ``n_payload`` counts payload OFDM symbols."""
    if not 0 <= n_payload <= MAX_PAYLOAD_OFDM_SYMBOLS:
        raise ValueError(f"payload of {n_payload} OFDM symbols exceeds {MAX_PAYLOAD_OFDM_SYMBOLS}")
    body = struct.pack(">BBHH", FRAME_VERSION, frame_type, seq, table_len) + n_payload.to_bytes(3, "big")
    return body + crc_bytes(body, "crc16").to_bytes(2, "big")


def decode_sig(raw: bytes) -> tuple[int, int, int, int] | None:
    """(frame_type, seq, table_len, n_payload OFDM symbols) or None when the CRC or the version
    is wrong."""
    if len(raw) != SIG_BYTES or crc_bytes(raw[:-2], "crc16") != int.from_bytes(raw[-2:], "big"):
        return None
    version, frame_type, seq, table_len = struct.unpack(">BBHH", raw[:6])
    if version != FRAME_VERSION:
        return None
    return frame_type, seq, table_len, int.from_bytes(raw[6:9], "big")


class FrameFormat:
    """Sizes and coding of the SIG and table fields for one numerology; builds bursts."""

    def __init__(self, params: OfdmParams | None = None):
        self.params = params or OfdmParams()
        nd = self.params.n_data
        self.n_sig = -(-SIG_CODED_BITS // nd)
        self.sig_layout = LdpcLayout(get_ldpc(648, "1/2"), 8 * SIG_BYTES, self.n_sig * nd)
        self.table_coder = PayloadCoder("ldpc", 648, "1/2", "bpsk", "crc32")
        self._padding = modulate(scrambler_sequence(2 * nd, seed=0x2D), "qpsk")

    def sig_symbols(self, sig: bytes) -> np.ndarray:
        """BPSK symbols (n_sig * n_data of them, filling the SIG symbols) of whitened SIG bytes."""
        bits = np.unpackbits(np.frombuffer(sig, np.uint8))
        return modulate(self.sig_layout.encode(bits), "bpsk")

    def n_table_symbols(self, table_len: int) -> int:
        return -(-self.table_coder.n_symbols(table_len) // self.params.n_data)

    def n_payload_symbols(self, unit_symbols: int) -> int:
        return -(-unit_symbols // self.params.n_data)

    def build(self, tx: Transmission) -> np.ndarray:
        """Burst samples (complex64, unit average power): preamble, SIG, table, payload."""
        p = self.params
        table = encode_table(tx.units)
        if len(table) > 0xFFFF:
            raise ValueError("unit table longer than 65535 bytes")
        payload = [u.symbols() for u in tx.units]
        n_payload = self.n_payload_symbols(sum(s.size for s in payload))
        sig_syms = self.sig_symbols(whiten(encode_sig(tx.frame_type, tx.seq, len(table), n_payload), SIG_WHITENING))
        table_syms = self.table_coder.encode(whiten(table, TABLE_WHITENING))
        fields = []
        for syms in (sig_syms, table_syms, *([np.concatenate(payload)] if payload else [])):
            n_sym = -(-syms.size // p.n_data)
            grid = np.empty(n_sym * p.n_data, np.complex64)
            grid[: syms.size] = syms
            grid[syms.size:] = self._padding[: grid.size - syms.size]
            fields.append(grid.reshape(n_sym, p.n_data))
        grid = np.concatenate(fields)
        return np.concatenate([p.preamble, p.modulate(grid, first_symbol=0)])
