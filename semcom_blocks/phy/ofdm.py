"""OFDM numerology, training sequences and symbol (de)modulation for the burst PHY.

Numerology (``OfdmParams``): an ``fft_len``-point FFT (power of two, >= 64) with a cyclic prefix
of ``cp_len`` samples. Subcarriers are indexed -fft_len/2 .. fft_len/2 - 1 (0 = DC, never used).
For fft_len = 64 the layout is IEEE 802.11a's: used subcarriers -26..26 except DC (52), pilots at
-21, -7, 7, 21, 48 data subcarriers. Larger FFTs scale the band edge (used |k| <= 26 fft_len / 64)
and put one pilot per 16 subcarriers (fft_len / 16 pilots), evenly spread.

Power (the convention the channel models rely on): every used subcarrier of every OFDM symbol
carries unit average energy (data symbols and pilots alike), and the IFFT is scaled by
fft_len / sqrt(n_used) so that the time-domain samples have unit average power. The receiver
scales its FFT by sqrt(n_used) / fft_len, which maps a time-domain complex noise variance
sigma^2 to a per-subcarrier N0 = sigma^2 * n_used / fft_len. Es/N0 per data symbol is then
1 / N0 on a flat channel.

Preamble (802.11a-like): a short training field (STF) of 10 repetitions of a fft_len/4-sample
pattern (every 4th used subcarrier) for detection, AGC and coarse CFO (range +-2 subcarrier
spacings), then a long training field (LTF): a cyclic prefix of fft_len/2 samples and two
identical fft_len-sample symbols (BPSK on every used subcarrier) for timing, fine CFO, channel
and noise estimation. Both fields have unit average power per sample.

Pilots: BPSK, base pattern (1, 1, 1, -1, ...) times the polarity of the 802.11 scrambler
sequence (bit 0 -> +1) indexed by the OFDM symbol counted from the first symbol after the
preamble.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .scrambler import scrambler_sequence

__all__ = ["OfdmParams"]


@dataclass(frozen=True)
class OfdmParams:
    """FFT size and cyclic prefix; everything else derives from them."""

    fft_len: int = 64
    cp_len: int = 16

    def __post_init__(self):
        n = int(self.fft_len)
        if n < 64 or n & (n - 1):
            raise ValueError(f"fft_len must be a power of two >= 64, got {self.fft_len}")
        if not 0 <= int(self.cp_len) <= n:
            raise ValueError(f"cp_len must be in 0..fft_len ({n}), got {self.cp_len}")

    # -- subcarrier layout (signed indices) ----------------------------------------------------
    @cached_property
    def used(self) -> np.ndarray:
        """Signed indices of the used subcarriers, ascending (DC excluded)."""
        edge = 26 * self.fft_len // 64
        k = np.arange(-edge, edge + 1)
        return k[k != 0]

    @cached_property
    def pilots(self) -> np.ndarray:
        if self.fft_len == 64:
            return np.array([-21, -7, 7, 21])
        count = self.fft_len // 16
        # evenly spread over the used band, symmetric around DC
        pos = np.round((np.arange(count) + 0.5) * len(self.used) / count - 0.5).astype(int)
        return self.used[pos]

    @cached_property
    def data(self) -> np.ndarray:
        """Signed indices of the data subcarriers, ascending: the order symbols are filled in."""
        return np.setdiff1d(self.used, self.pilots)

    @property
    def n_used(self) -> int:
        return len(self.used)

    @property
    def n_data(self) -> int:
        return len(self.data)

    @property
    def symbol_len(self) -> int:
        """Samples per OFDM symbol, cyclic prefix included."""
        return self.fft_len + self.cp_len

    def bins(self, signed: np.ndarray) -> np.ndarray:
        """FFT bin numbers (0..fft_len-1) of signed subcarrier indices."""
        return np.asarray(signed) % self.fft_len

    # -- scaling ---------------------------------------------------------------------------------
    @property
    def tx_scale(self) -> float:
        """IFFT output scale giving unit average sample power with unit-energy subcarriers."""
        return self.fft_len / np.sqrt(self.n_used)

    @property
    def rx_scale(self) -> float:
        return np.sqrt(self.n_used) / self.fft_len

    # -- training fields -------------------------------------------------------------------------
    @cached_property
    def stf(self) -> np.ndarray:
        """Short training field: 10 periods of fft_len/4 samples, unit power (complex64)."""
        k = self.used[self.used % 4 == 0]
        signs = 1 - 2 * scrambler_sequence(2 * len(k), seed=0x5B).reshape(-1, 2).astype(float)
        grid = np.zeros(self.fft_len, complex)
        grid[self.bins(k)] = (signs[:, 0] + 1j * signs[:, 1]) / np.sqrt(2)
        period = np.fft.ifft(grid)[: self.fft_len // 4]
        period /= np.sqrt(np.mean(np.abs(period) ** 2))
        return np.tile(period, 10).astype(np.complex64)

    @cached_property
    def ltf_freq(self) -> np.ndarray:
        """BPSK values (+-1) of the long training symbol on the used subcarriers (ascending)."""
        return 1.0 - 2.0 * scrambler_sequence(self.n_used, seed=0x3F)

    @cached_property
    def ltf_symbol(self) -> np.ndarray:
        """One long training symbol (fft_len samples, no prefix), unit power."""
        grid = np.zeros(self.fft_len, complex)
        grid[self.bins(self.used)] = self.ltf_freq
        return (np.fft.ifft(grid) * self.tx_scale).astype(np.complex64)

    @cached_property
    def ltf(self) -> np.ndarray:
        """Long training field: fft_len/2 prefix + two long symbols."""
        sym = self.ltf_symbol
        return np.concatenate([sym[-self.fft_len // 2:], sym, sym]).astype(np.complex64)

    @cached_property
    def preamble(self) -> np.ndarray:
        return np.concatenate([self.stf, self.ltf])

    # -- pilots ------------------------------------------------------------------------------------
    @cached_property
    def _pilot_table(self) -> np.ndarray:
        """(127, n_pilots): pilot values of OFDM symbol i (mod 127), the scrambler's period."""
        base = np.ones(len(self.pilots))
        base[-1] = -1.0
        polarity = 1.0 - 2.0 * scrambler_sequence(127)
        return polarity[:, None] * base[None, :]

    def pilot_values(self, first_symbol: int, count: int) -> np.ndarray:
        """(count, n_pilots) pilot values of OFDM symbols first_symbol .. first_symbol+count-1."""
        return self._pilot_table[(first_symbol + np.arange(count)) % 127]

    # -- symbols -----------------------------------------------------------------------------------
    def modulate(self, data_symbols: np.ndarray, first_symbol: int = 0) -> np.ndarray:
        """Time samples (complex64) of OFDM symbols carrying ``data_symbols`` (n_sym, n_data),
        each with its cyclic prefix; pilots numbered from ``first_symbol``."""
        data_symbols = np.asarray(data_symbols)
        if data_symbols.ndim != 2 or data_symbols.shape[1] != self.n_data:
            raise ValueError(f"expected (n_symbols, {self.n_data}) data symbols, got {data_symbols.shape}")
        n_sym = data_symbols.shape[0]
        grid = np.zeros((n_sym, self.fft_len), complex)
        grid[:, self.bins(self.data)] = data_symbols
        grid[:, self.bins(self.pilots)] = self.pilot_values(first_symbol, n_sym)
        time = np.fft.ifft(grid, axis=1) * self.tx_scale
        with_cp = np.concatenate([time[:, self.fft_len - self.cp_len:], time], axis=1)
        return with_cp.reshape(-1).astype(np.complex64)

    def demodulate(self, samples: np.ndarray, n_sym: int) -> np.ndarray:
        """(n_sym, fft_len) frequency-domain values (FFT order, rx scaling) of the OFDM symbols
        that start at samples[0] (cyclic prefixes dropped)."""
        need = n_sym * self.symbol_len
        if samples.size < need:
            raise ValueError(f"{samples.size} samples for {n_sym} OFDM symbols that need {need}")
        blocks = samples[:need].reshape(n_sym, self.symbol_len)[:, self.cp_len:]
        return np.fft.fft(blocks, axis=1) * self.rx_scale
