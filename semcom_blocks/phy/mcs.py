"""Modulation and coding schemes (MCS) of the digital units, and picking one for an SNR.

Each entry is an LDPC 648 rate with a modulation and the Es/N0 (dB per data symbol, AWGN) at which
its frame error rate is 1e-2 with this project's min-sum decoder, from the measured curves of
docs/fec.md: BPSK and QPSK from the BPSK Eb/N0 crossings (Es/N0 = Eb/N0 + 10 log10(R b)), 16-QAM
R1/2 measured directly, 16-QAM R3/4 from its BPSK crossing plus the 16-QAM penalty measured at R1/2.
:func:`pick_mcs` returns the most efficient entry whose threshold plus a margin (the OFDM
receiver's synchronisation and channel-estimation loss, and the estimate's own error) stays
below the SNR the receiver fed back.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Mcs", "MCS_TABLE", "pick_mcs", "DEFAULT_MARGIN_DB"]


@dataclass(frozen=True)
class Mcs:
    """LDPC ``rate`` + ``modulation``; ``esn0_db``: Es/N0 (dB) at FER 1e-2 on AWGN."""

    modulation: str
    rate: str
    esn0_db: float

    @property
    def bits_per_symbol(self) -> float:
        """Information bits per complex symbol (spectral efficiency before the CRC)."""
        from .modulation import bits_per_symbol

        num, den = self.rate.split("/")
        return bits_per_symbol(self.modulation) * int(num) / int(den)


#: from the least to the most efficient
MCS_TABLE = (
    Mcs("bpsk", "1/2", -0.96),
    Mcs("qpsk", "1/2", 2.02),
    Mcs("qpsk", "2/3", 3.90),
    Mcs("qpsk", "3/4", 4.91),
    Mcs("16qam", "1/2", 7.19),
    Mcs("16qam", "3/4", 10.05),
)
#: dB added to each threshold before it counts as reachable
DEFAULT_MARGIN_DB = 1.0


def pick_mcs(snr_db: float, margin_db: float = DEFAULT_MARGIN_DB, table=MCS_TABLE) -> Mcs:
    """The most efficient entry of ``table`` with ``esn0_db + margin_db <= snr_db``; the least
    efficient one when none is (below every threshold the most robust one is still the best try)."""
    if not table:
        raise ValueError("the MCS table is empty")
    ok = [m for m in table if m.esn0_db + margin_db <= snr_db]
    return max(ok, key=lambda m: m.bits_per_symbol) if ok else min(table, key=lambda m: m.esn0_db)
