"""The burst receiver: continuous samples in, received transmissions out.

Per burst, all in numpy over whole frames:

1. Detection: the STF repeats every L = fft_len/4 samples. Over a window of W = 8L samples the
   normalised autocorrelation rho(d) = |sum r*[d+k] r[d+k+L]| / sqrt(sum |r[d+k]|^2 sum
   |r[d+k+L]|^2) is near SNR/(1+SNR) inside the STF and near 1/sqrt(W) on noise (normalising
   by both halves keeps the end of a burst followed by silence from looking periodic); a burst
   is declared where rho, evaluated every L lags, is above ``threshold`` three times in a row.
   A detection whose long training field does not correlate (below 0.3 of the ideal) is a
   false detection: counted, and the search resumes right behind it. The angle of the sum gives the coarse CFO
   (range +-2 subcarrier spacings).
2. Timing: cross-correlation with the known long training symbol; the lag maximising the sum of
   the two LTF peaks (fft_len apart) starts the first long symbol. The FFT window is then
   backed off by ``timing_backoff`` samples into the cyclic prefix (the channel estimate absorbs
   the resulting phase ramp) so that multipath precursors stay inside the prefix.
3. Fine CFO from the two long symbols (range +-0.5 spacing); the burst is de-rotated.
4. Channel: least-squares estimate on the used subcarriers from the averaged long symbols,
   smoothed by fitting a time-domain channel of at most cp_len taps, keeping the taps that
   stand above the noise. Noise: N0 per subcarrier from the difference of the two long symbols
   and the fit residual. SNR estimate = mean |H|^2 / N0 (Es/N0 per data symbol).
5. SIG, unit table and payload OFDM symbols: pilots give each symbol's common phase and phase
   slope (sampling offset), smoothed over neighbouring symbols; zero-forcing equalisation
   (MMSE optional for analog units) with per-symbol noise variance N0 / |H_k|^2, which scales
   the exact LLRs of digital units and comes with analog units.

Robustness: NaN/inf samples are zeroed and counted; a SIG or table that fails its CRC, a table
that does not parse, and a burst cut short by the end of the stream are counted in ``stats``
and skipped; every digital unit carries its own CRC verdict; analog units are marked analog.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fec import PayloadCoder
from .frame import SIG_WHITENING, TABLE_WHITENING, FrameFormat, TableEntry, decode_sig, decode_table, whiten
from .modulation import demodulate_llr, modulate
from .ofdm import OfdmParams
from .rx_kernels import equalize, fit_channel_omp
from .snr import esn0_from_noise_var

__all__ = ["BurstReceiver", "ReceivedFrame", "ReceivedUnit", "RX_COUNTERS"]

RX_COUNTERS = ("samples_in", "samples_nonfinite", "detections", "false_detections", "sig_failures", "table_failures",
               "frames_ok", "frames_truncated", "units_digital_ok", "units_digital_crc_fail", "units_analog")
#: largest payload (complex symbols) a unit table may announce; more is treated as corruption
MAX_PAYLOAD_SYMBOLS = 1 << 22


@dataclass
class ReceivedUnit:
    """A unit as received. digital: ``data`` bytes and ``crc_ok``; analog: ``data`` complex64
    equalised symbols, ``crc_ok`` None, ``noise_var`` the per-symbol noise variance estimate."""

    name: str
    kind: str
    data: bytes | np.ndarray
    crc_ok: bool | None
    noise_var: np.ndarray = field(repr=False)
    coder: PayloadCoder | None = field(default=None, repr=False)


@dataclass
class ReceivedFrame:
    """A decoded burst. start: absolute sample index of the first long training symbol (after
    the timing back-off); cfo: carrier offset in subcarrier spacings; snr_est_db: Es/N0 per data
    symbol estimated from the preamble; noise_var: N0 per subcarrier."""

    frame_type: int
    seq: int
    units: list[ReceivedUnit]
    start: int
    end: int
    cfo: float
    snr_est_db: float
    noise_var: float

    @property
    def crc_ok(self) -> bool:
        return all(u.crc_ok for u in self.units if u.kind == "digital")


@dataclass
class _Header:
    """What the preamble and SIG of one burst told the receiver. key and start: absolute sample
    indices of the detection and of the first long symbol's FFT window; cfo in cycles/sample;
    h, n0: channel on the used subcarriers and noise variance per subcarrier; slope_fit: the
    phase-slope sums of the SIG symbols (see BurstReceiver._equalize)."""

    key: int
    start: int
    cfo: float
    h: np.ndarray | None = None
    n0: float = 0.0
    snr_est_db: float = 0.0
    frame_type: int = 0
    seq: int = 0
    table_len: int = 0
    n_tab: int = 0
    n_pay: int = 0
    slope_fit: tuple[float, float] | None = None


class _NeedMore(Exception):
    """The burst continues past the samples buffered so far."""


class _Skip(Exception):
    """The burst cannot be decoded (counter name in args[0]); resume the search after it."""


class BurstReceiver:
    """Stateful receiver over a stream: ``push(samples)`` returns the frames completed so far;
    ``flush()`` ends the stream. ``stats`` counts everything that happened (RX_COUNTERS)."""

    def __init__(self, params: OfdmParams | None = None, threshold: float = 0.25, timing_backoff: int | None = None,
                 equalizer: str = "zf", decoder: str | None = None, max_iter: int | None = None):
        if equalizer not in ("zf", "mmse"):
            raise ValueError("equalizer must be 'zf' or 'mmse'")
        if not 0.05 <= threshold < 1:
            raise ValueError("threshold must be in [0.05, 1)")
        self.params = params or OfdmParams()
        self.format = FrameFormat(self.params)
        self.threshold = float(threshold)
        p = self.params
        self.backoff = min(4, p.cp_len // 4) if timing_backoff is None else int(timing_backoff)
        self.equalizer = equalizer
        self.decoder_kwargs = {k: v for k, v in (("decoder", decoder), ("max_iter", max_iter)) if v is not None}
        self.stats = dict.fromkeys(RX_COUNTERS, 0)
        self._buf = np.zeros(0, np.complex64)
        self._base = 0  # absolute index of _buf[0]
        self._search = 0  # where detection resumes, relative to _buf
        self._period = p.fft_len // 4
        self._window = 8 * self._period
        # least-squares fit of a cp_len-tap channel to the used subcarriers
        taps = max(p.cp_len, 1)
        self._fmat = np.exp(-2j * np.pi * np.outer(p.used, np.arange(taps)) / p.fft_len)
        self._used_bins = p.bins(p.used)
        self._data_pos = np.searchsorted(p.used, p.data)
        self._pilot_pos = np.searchsorted(p.used, p.pilots)
        self._pilot_k = p.pilots.astype(float)
        self._used_k = p.used.astype(float)
        self._gram = self._fmat.conj().T @ self._fmat
        # from the mean FFT window of the two long symbols to that of the first SIG symbol, in symbols
        self._ltf_lag = (1.5 * p.fft_len + p.cp_len) / p.symbol_len
        self._pending: _Header | None = None  # the header of a burst still arriving

    # -- streaming -----------------------------------------------------------------------------
    def push(self, samples) -> list[ReceivedFrame]:
        x = np.asarray(samples, dtype=np.complex64).reshape(-1)
        self.stats["samples_in"] += x.size
        bad = ~np.isfinite(x)
        if bad.any():
            self.stats["samples_nonfinite"] += int(bad.sum())
            x = np.where(bad, np.complex64(0), x)
        self._buf = np.concatenate([self._buf, x])
        return self._run(final=False)

    def flush(self) -> list[ReceivedFrame]:
        """End of stream: decode what can be decoded, count a burst cut short as truncated."""
        frames = self._run(final=True)
        self._buf, self._search, self._pending = np.zeros(0, np.complex64), 0, None
        return frames

    def _run(self, final: bool) -> list[ReceivedFrame]:
        frames = []
        self._autocorrelate()
        while True:
            det = self._detect(self._search)  # (plateau start, coarse CFO) or None
            if det is None:
                keep = self._window + 2 * self._period
                self._trim(max(self._search, len(self._buf) - keep))
                return frames
            try:
                frame, end = self._decode(det)
            except _NeedMore:
                if not final:  # keep the burst's samples; it is detected again with more of them
                    self._trim(det[0])
                    return frames
                self.stats["detections"] += 1
                self.stats["frames_truncated"] += 1
                self._search = det[0] + self.params.preamble.size
                continue
            except _Skip as why:
                self.stats["detections"] += 1
                self.stats[why.args[0]] += 1
                # a burst whose SIG or table failed is skipped whole; after a false detection the
                # search goes on right behind it, so that a burst starting there is not missed
                false = why.args[0] == "false_detections"
                self._search = det[0] + (2 * self._period if false else self.params.preamble.size)
                continue
            self.stats["detections"] += 1
            self.stats["frames_ok"] += 1
            frames.append(frame)
            self._search = end

    def _trim(self, start: int) -> None:
        start = max(0, min(start, len(self._buf)))
        self._buf = self._buf[start:]
        self._base += start
        self._search = max(0, self._search - start)

    # -- 1. detection and coarse CFO ------------------------------------------------------------
    def _autocorrelate(self) -> None:
        """The normalised STF autocorrelation rho on the grid of lags d = j L over the whole
        buffer, computed once per push: the products and powers are summed per block of L
        samples first, so it costs a few passes over the samples."""
        L, B = self._period, self._window // self._period  # window of B blocks
        r = self._buf
        nb = (r.size - L) // L  # blocks with a full lagged partner
        if nb < B + 3:
            self._rho = np.zeros(0)
            self._corr = np.zeros(0, complex)
            return
        prod = (np.conj(r[: nb * L]) * r[L: nb * L + L]).reshape(nb, L).sum(axis=1, dtype=np.complex128)
        energy = (np.abs(r[: nb * L + L]) ** 2).reshape(nb + 1, L).sum(axis=1, dtype=np.float64)
        # window sums by direct summation of B block sums, not differences of running sums:
        # those cancel catastrophically on a long buffer and make silence look periodic at high SNR
        ones = np.ones(B)
        self._corr = np.convolve(prod, ones, "valid")
        early = np.convolve(energy[:nb], ones, "valid")  # power of r[d .. d+W)
        late = np.convolve(energy[1:nb + 1], ones, "valid")  # power of r[d+L .. d+L+W)
        self._rho = np.minimum(np.abs(self._corr) / (np.sqrt(early * late) + 1e-30), 1.0)  # <= 1 by Cauchy-Schwarz

    def _detect(self, start: int):
        """(lag d >= start where the STF plateau begins, coarse CFO in cycles/sample) or None:
        the first grid lag from which rho stays above the threshold three times in a row."""
        L = self._period
        j_first = -(-start // L)
        above = self._rho[j_first:] > self.threshold
        hits = np.flatnonzero(above[:-2] & above[1:-1] & above[2:])  # three grid lags in a row: 3L samples
        if hits.size == 0:
            return None
        j0 = j_first + int(hits[0])
        peak = j0 + int(np.argmax(self._rho[j0:j0 + 4]))
        return j0 * L, float(np.angle(self._corr[peak]) / (2 * np.pi * L))

    # -- 2..5 ----------------------------------------------------------------------------------
    def _decode(self, det) -> tuple[ReceivedFrame, int]:
        key = self._base + det[0]
        if self._pending is None or self._pending.key != key:
            self._pending = None
            self._pending = self._header(det, key)
        hdr = self._pending
        p, fmt = self.params, self.format
        first = hdr.start - self._base + 2 * p.fft_len  # first SIG symbol, relative to _buf
        end = first + (fmt.n_sig + hdr.n_tab + hdr.n_pay) * p.symbol_len
        if end > len(self._buf):
            raise _NeedMore  # the header is kept: the burst is not analysed twice
        self._pending = None
        # unit table and payload, equalised together
        x, nv, mmse, _, _ = self._equalize(self._symbols(hdr, fmt.n_sig, hdr.n_tab + hdr.n_pay), hdr.h, hdr.n0,
                                           fmt.n_sig, hdr.slope_fit)
        n_tab_data = hdr.n_tab * p.n_data
        table = fmt.table_coder.decode(x[:hdr.n_tab].reshape(-1), nv[:hdr.n_tab].reshape(-1), hdr.table_len)
        if not table.crc_ok:
            raise _Skip("table_failures")
        try:
            entries = decode_table(whiten(table.data, TABLE_WHITENING))
        except ValueError:
            raise _Skip("table_failures") from None
        total = sum(e.n_symbols for e in entries)
        if total > MAX_PAYLOAD_SYMBOLS or fmt.n_payload_symbols(total) != hdr.n_pay:
            raise _Skip("table_failures")
        units = []
        if total:
            pay = slice(n_tab_data, None)
            units = self._units(entries, x.reshape(-1)[pay], nv.reshape(-1)[pay],
                                mmse.reshape(-1)[pay] if mmse is not None else None)
        frame = ReceivedFrame(hdr.frame_type, hdr.seq, units, hdr.start, self._base + end, hdr.cfo * p.fft_len,
                              hdr.snr_est_db, hdr.n0)
        return frame, end

    def _header(self, det, key: int) -> _Header:
        """Timing, fine CFO, channel and noise from the preamble; the SIG decoded; the channel
        estimate refined with the SIG's symbols, now known."""
        d0, cfo = det
        p, fmt = self.params, self.format
        N = p.fft_len
        # LTF search region: from the plateau start to well past where the long symbols must be
        lo = d0
        hi = d0 + p.stf.size + p.ltf.size + self._window
        if hi + N > len(self._buf):
            raise _NeedMore
        seg = self._buf[lo:hi + N] * np.exp(-2j * np.pi * cfo * np.arange(hi + N - lo))
        xc = np.abs(np.correlate(seg, p.ltf_symbol, "valid"))
        both = xc[:-N] + xc[N:]
        best = int(np.argmax(both))
        t1 = lo + best
        # Is there a long training field at all? Its two symbols correlate with the template at
        # sqrt(N E_seg) each on a clean signal; noise gets a small fraction of that.
        energy = float(np.sum(np.abs(seg[best:best + 2 * N]) ** 2))
        if both[best] < 0.3 * np.sqrt(N * energy):
            raise _Skip("false_detections")
        # fine CFO from the two long symbols (seg is already corrected by the coarse CFO)
        cfo += float(np.angle(np.vdot(seg[best:best + N], seg[best + N:best + 2 * N])) / (2 * np.pi * N))
        start = t1 - self.backoff
        hdr = _Header(key=key, start=self._base + start, cfo=cfo)
        if start + 2 * N + fmt.n_sig * p.symbol_len > len(self._buf):
            raise _NeedMore
        ltf = self._derotate(start, 2 * N, hdr).reshape(2, N)
        ltf = np.fft.fft(ltf, axis=1)[:, self._used_bins] * (p.rx_scale / p.ltf_freq)
        h_ls = (ltf[0] + ltf[1]) / 2
        diff_energy = float(np.sum(np.abs(ltf[0] - ltf[1]) ** 2)) / 2  # E = n_used N0
        n_used = h_ls.size
        # h_ls has noise variance N0 / 2 per subcarrier
        h, resid, n_taps = self._fit_channel(h_ls, max(diff_energy / n_used, 1e-30) / 2)
        dof = n_used + (n_used - n_taps)  # resid: E = (n_used - taps) N0 / 2
        hdr.n0 = max((diff_energy + 2 * resid) / dof, 1e-30)
        hdr.snr_est_db = esn0_from_noise_var(hdr.n0 / max(float(np.mean(np.abs(h) ** 2)), 1e-30))

        # SIG
        y = self._symbols(hdr, 0, fmt.n_sig)
        sig_x, sig_nv, _, corr, hdr.slope_fit = self._equalize(y, h, hdr.n0, 0, None)
        bits, _, _, sig_tx = fmt.sig_layout.decode(demodulate_llr(sig_x.reshape(-1), "bpsk", sig_nv.reshape(-1)),
                                                   return_tx_bits=True)
        sig = decode_sig(whiten(np.packbits(bits).tobytes(), SIG_WHITENING))
        if sig is None:
            raise _Skip("sig_failures")
        hdr.frame_type, hdr.seq, hdr.table_len, hdr.n_pay = sig
        hdr.n_tab = fmt.n_table_symbols(hdr.table_len)
        if hdr.n_pay * p.n_data > MAX_PAYLOAD_SYMBOLS + p.n_data:
            raise _Skip("sig_failures")
        # Data-aided refinement: the SIG symbols are now known, so the n_sig symbols (phase
        # corrected as when they were equalised) give n_sig more looks at the channel.
        known = np.empty((fmt.n_sig, n_used), np.complex64)
        known[:, self._data_pos] = modulate(sig_tx, "bpsk").reshape(fmt.n_sig, p.n_data)
        known[:, self._pilot_pos] = p.pilot_values(0, fmt.n_sig)
        sig_ls = np.mean(y * corr * known, axis=0)  # |known| = 1
        looks = 2 + fmt.n_sig
        h_ls = (2 * h_ls + fmt.n_sig * sig_ls) / looks
        hdr.h, _, _ = self._fit_channel(h_ls, hdr.n0 / looks)
        return hdr

    def _derotate(self, i0: int, count: int, hdr: _Header) -> np.ndarray:
        """_buf[i0:i0+count] with the carrier offset removed (phase zero at the header's start)."""
        t = np.arange(i0 - (hdr.start - self._base), i0 - (hdr.start - self._base) + count)
        return self._buf[i0:i0 + count] * np.exp(-2j * np.pi * hdr.cfo * t).astype(np.complex64)

    def _symbols(self, hdr: _Header, offset: int, count: int) -> np.ndarray:
        """(count, n_used) FFT values (rx scaling, CFO removed) of OFDM symbols offset..offset+count
        counted from the first SIG symbol."""
        p = self.params
        i0 = hdr.start - self._base + 2 * p.fft_len + offset * p.symbol_len
        if i0 + count * p.symbol_len > len(self._buf):
            raise _NeedMore
        blocks = self._buf[i0:i0 + count * p.symbol_len].reshape(count, p.symbol_len)[:, p.cp_len:]
        # the CFO phase of sample j of symbol m: a per-symbol factor times a per-sample one
        t0 = i0 - (hdr.start - self._base) + p.cp_len + p.symbol_len * np.arange(count)
        rot = np.exp(-2j * np.pi * hdr.cfo * t0)[:, None] * self._cfo_ramp(hdr.cfo)
        return np.fft.fft(blocks * rot.astype(np.complex64), axis=1)[:, self._used_bins] * p.rx_scale

    def _cfo_ramp(self, cfo: float) -> np.ndarray:
        return np.exp(-2j * np.pi * cfo * np.arange(self.params.fft_len))

    def _fit_channel(self, h_ls: np.ndarray, noise: float) -> tuple[np.ndarray, float, int]:
        """(smoothed channel on the used subcarriers, residual energy sum |h_ls - h|^2, taps) for a
        least-squares estimate ``h_ls`` with noise variance ``noise`` per subcarrier.

        Which taps exist, by orthogonal matching pursuit (rx_kernels.fit_channel_omp): take the
        tap the residual matches best, refit all chosen taps by least squares, repeat while the
        best match stands 10 dB above the noise of a matched-filter tap, noise / n_used. (A plain
        cp_len-tap fit is ill-conditioned: the used band is not the whole FFT, so its outer taps
        are very noisy; a plain matched filter leaks into every tap.)"""
        return fit_channel_omp(h_ls.astype(np.complex128), self._fmat, self._gram, 10 * noise / h_ls.size)

    def _equalize(self, y: np.ndarray, h: np.ndarray, n0: float, first_symbol: int, slope_prior):
        """Phase tracking and equalisation of (n_sym, n_used) FFT values of OFDM symbols
        first_symbol.. (counted from the first SIG symbol).

        Returns (zero-forcing data symbols, their noise variances, MMSE data symbols or None),
        each (n_sym, n_data), the phase correction applied, (n_sym, n_used), and the updated
        phase-slope sums.

        Common phase: the pilots combined with the channel as weights, per symbol, then a line
        plus a moving average of 9 symbols. Phase slope across subcarriers (a sampling offset
        moves the FFT window by a growing fraction of a sample): modelled as growing in
        proportion to the time since the long training field, with one rate per burst fitted by
        weighted least squares to every pilot seen so far (weights |H_k|^2: a pilot in a fade says
        little). ``slope_prior`` carries the sums of earlier symbols of the same burst; the
        updated sums are returned last. Arithmetic in rx_kernels.equalize."""
        p = self.params
        n_sym = y.shape[0]
        prior = slope_prior or (0.0, 0.0)
        zf, nv, corr, num, den = equalize(y, h, float(n0), self._pilot_pos, self._data_pos,
                                          p.pilot_values(first_symbol, n_sym), self._pilot_k, self._used_k,
                                          first_symbol + self._ltf_lag, prior[0], prior[1], 9)
        nv = np.broadcast_to(nv, zf.shape)
        mmse = None
        if self.equalizer == "mmse":
            hd = h[self._data_pos]
            yd = (y * corr)[:, self._data_pos]
            mmse = (yd * np.conj(hd) / (np.abs(hd) ** 2 + n0)).astype(np.complex64)
        return zf, nv, mmse, corr, (num, den)

    def _units(self, entries: list[TableEntry], zf, nv, mmse) -> list[ReceivedUnit]:
        units, pos = [], 0
        for e in entries:
            span = slice(pos, pos + e.n_symbols)
            pos += e.n_symbols
            if e.kind == "digital":
                llr = demodulate_llr(zf[span], e.coder.modulation, nv[span])
                out = e.coder.decode_llr(llr, e.length)
                self.stats["units_digital_ok" if out.crc_ok else "units_digital_crc_fail"] += 1
                units.append(ReceivedUnit(e.name, "digital", out.data, out.crc_ok, nv[span].copy(), e.coder))
            else:
                self.stats["units_analog"] += 1
                if mmse is not None:
                    hd2 = 1.0 / nv[span]  # |H|^2 / N0 per symbol
                    units.append(ReceivedUnit(e.name, "analog", mmse[span].copy(), None, 1.0 / (1.0 + hd2)))
                else:
                    units.append(ReceivedUnit(e.name, "analog", zf[span].copy(), None, nv[span].copy()))
        return units
