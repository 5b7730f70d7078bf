"""The burst receiver: continuous samples in, received transmissions out.

Per burst, over whole frames, in a handful of compiled kernels (rx_kernels.py) plus numpy's FFT
and the FEC decoders, so that the Python work per burst stays a few dozen calls:

0. Input: NaN/inf samples are zeroed and counted; a DC blocker (``dc_block``, on by default)
   removes a constant offset such as a radio's LO leakage: an exponentially forgetting average
   over 2^13 samples (``DC_ALPHA``), each 64-sample block weighted by the inverse of its power
   (the OFDM signal has nothing at DC but what a carrier offset moves there, and the quiet
   stretches between bursts, which dominate the average, have nothing at all), subtracted
   while it is above -40 dB of the mean stream power (rx_sync.append_clean_dc). A DC term
   would otherwise make the silence between bursts look periodic to the detector and, once the
   CFO is removed, leak into the subcarriers next to DC.
1. Detection: the STF repeats every L = fft_len/4 samples. Over a window of W = 8L samples the
   normalised autocorrelation rho(d) = |sum r*[d+k] r[d+k+L]| / sqrt(sum |r[d+k]|^2 sum
   |r[d+k+L]|^2) is near SNR/(1+SNR) inside the STF and near 1/sqrt(W) on noise (normalising
   by both halves keeps the end of a burst followed by silence from looking periodic); a burst
   is declared where rho, evaluated every L lags, is above ``threshold`` three times in a row.
   The plateau is then followed to its end (at most ``MAX_PLATEAU`` windows): the long training
   field follows the end of the STF, so a periodic lead-in (a residual DC, a tone) moves the
   plateau's start but not where the LTF is looked for. The angle of the strongest window sum
   gives the coarse CFO. A detection whose long training field does not correlate (below 0.3 of
   the ideal) is a false detection; after it, and after a burst that fails, the search resumes
   right behind the plateau, so that no later preamble can be skipped.
2. Timing: cross-correlation with the known long training symbol; the lag maximising the sum of
   the two LTF peaks (fft_len apart) starts the first long symbol. The FFT window is then
   backed off by ``timing_backoff`` samples into the cyclic prefix (the channel estimate absorbs
   the resulting phase ramp) so that multipath precursors stay inside the prefix.
3. CFO range. The STF's lag-L autocorrelation measures the offset modulo fft_len / L = 4
   subcarrier spacings (unambiguous within +-2). When the LTF correlates poorly (below 0.6 of
   the ideal) at that estimate, it is also searched at the two aliases +-4 spacings and the best
   kept: offsets up to about +-5.5 spacings are found (``CFO_RANGE``; beyond +-6 the aliases
   run out, and a radio's anti-aliasing filter would cut the shifted band edge first). Fine CFO
   from the two long symbols (+-0.5 spacing around the coarse value), refined once the SIG is
   decoded by the straight-line drift of its pilots' common phase over n_sig symbols (a longer
   baseline: under phase noise the LTF's 64-sample phase advance is a poor frequency estimate).
4. Channel: least-squares estimate on the used subcarriers from the averaged long symbols,
   smoothed by fitting a time-domain channel of at most cp_len taps, keeping the taps that
   stand above the noise. Noise: N0 per subcarrier from the difference of the two long symbols
   and the fit residual; once the SIG is decoded, from the SIG symbols' residual after
   equalisation (|y - H x|^2 with x known), which counts what the preamble cannot see: residual
   phase noise and the tracking error, IQ image, clipping. SNR estimate = mean |H|^2 / N0
   (Es/N0 per data symbol); effective SNR: the flat channel of the same mean capacity
   (:func:`effective_snr_db`), what link adaptation designs for.
5. SIG, unit table and payload OFDM symbols: pilots give each symbol's common phase, tracked by
   a line (residual CFO) plus a Kalman/RTS-smoothed random walk whose step variance is
   estimated from the pilots (phase noise: the track follows it symbol by symbol; none: it
   averages over a few symbols), and a phase slope across subcarriers (sampling offset);
   zero-forcing equalisation (MMSE optional for analog units) with per-symbol noise variance
   N0 / |H_k|^2, which scales the exact LLRs of digital units and comes with analog units.
6. Copies: a digital unit that fails its CRC is decoded again with the LLRs kept from earlier
   copies of it (same name and coding, up to ``combine_window`` transmissions before): Chase
   combining, :mod:`.combining`.

Robustness: NaN/inf samples are zeroed and counted; a burst whose long training field has an
RMS amplitude outside ``level_range`` (default 1e-12 to 1e12: within it the receiver's
arithmetic, with its floors on powers, is exact to float32 precision) is dropped and counted
(``level_too_low`` / ``level_too_high``); with ``full_scale`` set (a radio's ADC full scale,
1.0 for UHD's fc32), bursts with any preamble sample at or above 0.99 full scale on I or Q are
counted as ``bursts_clipped`` (and decoded all the same). A SIG or table that fails its CRC, a
table that does not parse, and a burst cut short by the end of the stream are counted in
``stats`` and skipped; every digital unit carries its own CRC verdict; analog units are marked
analog.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .combining import COMBINING_COUNTERS, CopyCombiner
from .fec import PayloadCoder, decode_codewords, decode_payload, decode_payloads
from .frame import SIG_WHITENING, TABLE_WHITENING, FrameFormat, TableEntry, decode_sig, decode_table
from .modulation import LLR_MAX, N0_MIN, bits_per_symbol, demodulate_llr
from .ofdm import OfdmParams
from .rx_kernels import (
    append_clean,
    append_clean_dc,
    derotate_blocks,
    equalize,
    fit_channel_omp,
    linear_llr,
    ltf_channel,
    ltf_search,
    sig_channel_looks,
    stf_detect,
    stf_plateau,
    tile_span,
)
from .scrambler import scrambler_sequence
from .snr import esn0_from_noise_var

__all__ = ["BurstReceiver", "ReceivedFrame", "ReceivedUnit", "RX_COUNTERS", "effective_snr_db"]

RX_COUNTERS = ("samples_in", "samples_nonfinite", "detections", "false_detections", "sig_failures", "table_failures",
               "frames_ok", "frames_truncated", "units_digital_ok", "units_digital_crc_fail", "units_analog",
               "level_too_low", "level_too_high", "bursts_clipped", *COMBINING_COUNTERS)
#: DC blocker: forgetting rate per sample (time constant 8192 samples), samples before the gate
#: may open, and the gate's on / off levels of |DC|^2 against the mean stream power (-40 / -50 dB)
DC_ALPHA, DC_WARMUP, DC_ON, DC_OFF = 2.0 ** -13, 256, 1e-4, 1e-5
#: longest STF plateau followed, in windows of L samples
MAX_PLATEAU = 64
#: carrier offsets found, in subcarrier spacings (module docstring, step 3)
CFO_RANGE = 5.5
#: floor of the common-phase random walk's step variance, in units of the pilots' phase noise
CPE_Q_FLOOR = 1.0 / 16
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
    #: receptions whose LLRs were combined to decode it (1: this one alone; see .combining)
    copies: int = 1


@dataclass
class ReceivedFrame:
    """A decoded burst. start: absolute sample index of the first long training symbol (after
    the timing back-off); cfo: carrier offset in subcarrier spacings; snr_est_db: Es/N0 per data
    symbol estimated from the preamble; noise_var: N0 per subcarrier; snr_eff_db: the AWGN SNR
    with the same mean capacity per subcarrier (what link adaptation should design for)."""

    frame_type: int
    seq: int
    units: list[ReceivedUnit]
    start: int
    end: int
    cfo: float
    snr_est_db: float
    noise_var: float
    #: the effective SNR (dB) of the burst's frequency-selective channel (:func:`effective_snr_db`)
    snr_eff_db: float | None = None

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
    snr_eff_db: float = 0.0
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


class _Whitener:
    """frame.whiten with the mask cached: the scrambler sequence repeats every 127 bits, so its
    bytes repeat every 127 bytes (8 periods); the mask is that block tiled to ``max_bytes`` (the
    SIG's 16-bit table length bounds what the receiver whitens) and grown if ever needed."""

    def __init__(self, seed: int, max_bytes: int = 0xFFFF):
        self._period = np.packbits(scrambler_sequence(8 * 127, seed))
        self._mask = np.resize(self._period, max_bytes)

    def __call__(self, data: bytes) -> bytes:
        if len(data) > self._mask.size:
            self._mask = np.resize(self._period, len(data))
        return (np.frombuffer(data, np.uint8) ^ self._mask[:len(data)]).tobytes()


class BurstReceiver:
    """Stateful receiver over a stream: ``push(samples)`` returns the frames completed so far;
    ``flush()`` ends the stream. ``stats`` counts everything that happened (RX_COUNTERS).

    ``dc_block``: remove a DC offset before detection (module docstring, step 0);
    ``level_range``: (lowest, highest) usable RMS amplitude of a burst, in sample units;
    ``full_scale``: the ADC's full scale per axis in sample units, None when unknown (no clipping
    count); ``combine_window``: copies of a failed digital unit up to this many transmissions later
    are decoded with its LLRs (Chase combining, :mod:`.combining`; 0 = off)."""

    def __init__(self, params: OfdmParams | None = None, threshold: float = 0.25, timing_backoff: int | None = None,
                 equalizer: str = "zf", decoder: str | None = None, max_iter: int | None = None,
                 dc_block: bool = True, level_range: tuple[float, float] = (1e-12, 1e12),
                 full_scale: float | None = None, combine_window: int = 16):
        if equalizer not in ("zf", "mmse"):
            raise ValueError("equalizer must be 'zf' or 'mmse'")
        if not 0.05 <= threshold < 1:
            raise ValueError("threshold must be in [0.05, 1)")
        lo, hi = (float(v) for v in level_range)
        if not 0 < lo < hi:
            raise ValueError(f"level_range must be (low, high) with 0 < low < high, got {level_range!r}")
        if full_scale is not None and not float(full_scale) > 0:
            raise ValueError(f"full_scale must be > 0 or None, got {full_scale!r}")
        self.dc_block, self.level_range = bool(dc_block), (lo, hi)
        self.full_scale = None if full_scale is None else float(full_scale)
        self._dc = np.zeros(6)  # DC blocker state (rx_sync.append_clean_dc)
        self.params = params or OfdmParams()
        self.format = FrameFormat(self.params)
        self.threshold = float(threshold)
        p = self.params
        self.backoff = min(4, p.cp_len // 4) if timing_backoff is None else int(timing_backoff)
        self.equalizer = equalizer
        self.decoder_kwargs = {k: v for k, v in (("decoder", decoder), ("max_iter", max_iter)) if v is not None}
        self.stats = dict.fromkeys(RX_COUNTERS, 0)
        self.combiner = CopyCombiner(int(combine_window)) if int(combine_window) > 0 else None
        self._buf = np.zeros(0, np.complex64)
        self._base = 0  # absolute index of _buf[0]
        self._search = 0  # where detection resumes, relative to _buf
        self._period = p.fft_len // 4
        self._window = 8 * self._period
        self._prod, self._energy, self._have = np.zeros(0, np.complex128), np.zeros(1), np.zeros(1, np.uint8)
        # least-squares fit of a cp_len-tap channel to the used subcarriers
        taps = max(p.cp_len, 1)
        self._fmat = np.exp(-2j * np.pi * np.outer(p.used, np.arange(taps)) / p.fft_len)
        self._gram = self._fmat.conj().T @ self._fmat
        self._used_bins = p.bins(p.used).astype(np.int64)
        self._data_pos = np.searchsorted(p.used, p.data).astype(np.int64)
        self._pilot_pos = np.searchsorted(p.used, p.pilots).astype(np.int64)
        self._pilot_k = p.pilots.astype(float)
        self._used_k = p.used.astype(float)
        self._pilot_table = np.ascontiguousarray(p.pilot_values(0, 127))  # the pilots' period: 127 symbols
        self._ltf_tpl = p.ltf_symbol.astype(np.complex128)
        self._ltf_scale = p.rx_scale / p.ltf_freq
        self._rx_scale = float(p.rx_scale)
        # from the mean FFT window of the two long symbols to that of the first SIG symbol, in symbols
        self._ltf_lag = (1.5 * p.fft_len + p.cp_len) / p.symbol_len
        self._sig_white, self._table_white = _Whitener(SIG_WHITENING), _Whitener(TABLE_WHITENING)
        self._pending: _Header | None = None  # the header of a burst still arriving
        self._waiting = False  # the last search stopped on a plateau still arriving

    # -- streaming -----------------------------------------------------------------------------
    def push(self, samples) -> list[ReceivedFrame]:
        x = np.ascontiguousarray(samples, dtype=np.complex64).reshape(-1)
        self.stats["samples_in"] += x.size
        if self.dc_block:  # NaN/inf zeroed and DC removed: one pass, one copy
            self._buf, bad = append_clean_dc(self._buf, x, self._dc, DC_ALPHA, DC_WARMUP, DC_ON, DC_OFF)
        else:
            self._buf, bad = append_clean(self._buf, x)
        self.stats["samples_nonfinite"] += bad
        return self._run(final=False)

    @property
    def dc_estimate(self) -> complex:
        """The DC blocker's current estimate of the input's DC offset (sample units)."""
        w = self._dc[2]
        return complex(self._dc[0] / w, self._dc[1] / w) if w > 0 else 0j

    def flush(self) -> list[ReceivedFrame]:
        """End of stream: decode what can be decoded, count a burst cut short as truncated."""
        frames = self._run(final=True)
        self._buf, self._search, self._pending = np.zeros(0, np.complex64), 0, None
        return frames

    def _run(self, final: bool) -> list[ReceivedFrame]:
        frames = []
        self._autocorrelate()
        while True:
            det = self._detect(self._search, final)  # (plateau start, coarse CFO, plateau end) or None
            if det is None:
                keep = self._window + 2 * self._period
                self._trim(self._search if self._waiting else max(self._search, len(self._buf) - keep))
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
                # whatever failed, the search goes on right behind the plateau: a later
                # preamble's plateau starts after it (or merges with it), so none is skipped
                self._search = det[2] + self._period
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
        """Fresh caches for the STF autocorrelation's block sums over the buffer (once per push;
        rx_sync.stf_detect fills them as the search reaches them)."""
        nb = max((len(self._buf) - self._period) // self._period, 0)
        self._prod = np.empty(nb, np.complex128)
        self._energy = np.empty(nb + 1)
        self._have = np.zeros(nb + 1, np.uint8)

    def _detect(self, start: int, final: bool):
        """(lag d >= start where the STF plateau begins, coarse CFO in cycles/sample, lag of the
        plateau's last window) or None: the first grid lag from which rho stays above the
        threshold three times in a row (rx_sync.stf_detect), followed to the plateau's end
        (rx_sync.stf_plateau). A plateau still running at the end of the buffer is None until
        more samples come (or the stream ends)."""
        L, B = self._period, self._window // self._period
        self._waiting = False
        j0, _ = stf_detect(self._buf, L, B, -(-start // L), self.threshold, self._prod, self._energy, self._have)
        if j0 < 0:
            return None
        j_end, cfo, complete = stf_plateau(self._buf, L, B, j0, self.threshold, self._prod, self._energy,
                                           self._have, MAX_PLATEAU)
        self._waiting = not complete and not final
        if self._waiting:
            self._search = j0 * L  # resume here once more samples have come
            return None
        return j0 * L, cfo, j_end * L

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
        zf, nv, _, _, _, _, mmse, _ = self._equalize(self._spectra(hdr, fmt.n_sig, hdr.n_tab + hdr.n_pay), hdr.h,
                                                  hdr.n0, fmt.n_sig, hdr.slope_fit, self.equalizer == "mmse")
        n_tab_data = hdr.n_tab * p.n_data
        table, table_ok = decode_payload(fmt.table_coder, self._llr(zf, nv, 0, n_tab_data, fmt.table_coder.modulation),
                                         hdr.table_len)
        if not table_ok:
            raise _Skip("table_failures")
        try:
            entries = decode_table(self._table_white(table))
        except ValueError:
            raise _Skip("table_failures") from None
        total = sum(e.n_symbols for e in entries)
        if total > MAX_PAYLOAD_SYMBOLS or fmt.n_payload_symbols(total) != hdr.n_pay:
            raise _Skip("table_failures")
        units = self._units(entries, zf, nv, mmse if mmse.size else None, n_tab_data, hdr.frame_type,
                            hdr.seq) if total else []
        frame = ReceivedFrame(hdr.frame_type, hdr.seq, units, hdr.start, self._base + end, hdr.cfo * p.fft_len,
                              hdr.snr_est_db, hdr.n0, hdr.snr_eff_db)
        return frame, end

    def _header(self, det, key: int) -> _Header:
        """Timing, fine CFO, channel and noise from the preamble; the SIG decoded; the channel
        estimate refined with the SIG's symbols, now known."""
        d0, cfo, d_end = det
        p, fmt = self.params, self.format
        N, L = p.fft_len, self._period
        # LTF search region, from the plateau's last window: the first long symbol starts about
        # 1.25 N (high SNR: the last window is mostly STF) to 3 N (low SNR) after it; lags from
        # -N to +4.5 N are searched
        lo = max(d_end - N, d0)
        n = d_end + (9 * N) // 2 + 2 * N - lo
        if lo + n > len(self._buf):
            raise _NeedMore
        # cross-correlation with the long symbol (coarse CFO removed); the best lag starts the first.
        # Its two symbols correlate with the template at sqrt(N E_seg) each on a clean signal
        # (quality sqrt 2 of sqrt(N E)); noise gets a small fraction of that.
        best, both, energy, dphi = ltf_search(self._buf, lo, n, cfo, self._ltf_tpl)
        quality = both / math.sqrt(N * energy + 1e-300)
        if quality < 0.6 * math.sqrt(2):  # poor: the CFO may be an alias (module docstring, step 3)
            coarse = cfo
            for alias in (coarse - 1.0 / L, coarse + 1.0 / L):
                got = ltf_search(self._buf, lo, n, alias, self._ltf_tpl)
                q = got[1] / math.sqrt(N * got[2] + 1e-300)
                if q > quality:
                    (best, both, energy, dphi), quality, cfo = got, q, alias
        if quality < 0.3:  # no long training field at all
            raise _Skip("false_detections")
        rms = math.sqrt(energy / (2 * N))
        if not self.level_range[0] <= rms <= self.level_range[1]:
            raise _Skip("level_too_low" if rms < self.level_range[0] else "level_too_high")
        # fine CFO from the two long symbols (phase advance over N samples)
        cfo += dphi / (2 * np.pi * N)
        start = lo + best - self.backoff
        hdr = _Header(key=key, start=self._base + start, cfo=cfo)
        if start + 2 * N + fmt.n_sig * p.symbol_len > len(self._buf):
            raise _NeedMore
        if self.full_scale is not None:  # counted once: no _NeedMore after this
            pre = self._buf[max(start - p.stf.size - N // 2, 0):start + 2 * N]
            if max(np.abs(pre.real).max(initial=0), np.abs(pre.imag).max(initial=0)) >= 0.99 * self.full_scale:
                self.stats["bursts_clipped"] += 1
        ltf = np.fft.fft(derotate_blocks(self._buf, start, 2, N, 0, N, cfo, 0), axis=1)
        h_ls, h, hdr.n0, power = ltf_channel(ltf, self._used_bins, self._ltf_scale, self._fmat, self._gram)

        # SIG
        spec = self._spectra(hdr, 0, fmt.n_sig)
        zf, nv, cpe, rate, num, den, _, drift = self._equalize(spec, h, hdr.n0, 0, None, False)
        hdr.slope_fit = (num, den)
        n_sig_data = fmt.n_sig * p.n_data
        layout = fmt.sig_layout
        cw = decode_codewords(layout, self._llr(zf, nv, 0, n_sig_data, "bpsk"))
        bits = cw[:, :layout.code.k].reshape(-1)[layout.payload_index]
        sig = decode_sig(self._sig_white(np.packbits(bits).tobytes()))
        sig_tx = cw.reshape(-1)[layout.tx_index]  # the coded bits as sent, now known
        if sig is None:
            raise _Skip("sig_failures")
        hdr.frame_type, hdr.seq, hdr.table_len, hdr.n_pay = sig
        hdr.n_tab = fmt.n_table_symbols(hdr.table_len)
        if hdr.n_pay * p.n_data > MAX_PAYLOAD_SYMBOLS + p.n_data:
            raise _Skip("sig_failures")
        # Data-aided refinement: the SIG symbols are now known, so the n_sig symbols (phase
        # corrected as when they were equalised) give n_sig more looks at the channel, and their
        # residual the noise the payload will see (module docstring, step 4).
        sig_ls, n0_sig = sig_channel_looks(spec, self._used_bins, self._rx_scale, cpe, rate, self._ltf_lag,
                                           self._used_k, sig_tx, self._data_pos, self._pilot_pos, self._pilot_table, h)
        looks = 2 + fmt.n_sig
        h_ls = (2 * h_ls + fmt.n_sig * sig_ls) / looks
        hdr.n0 = max(n0_sig, 1e-30)
        hdr.snr_est_db = esn0_from_noise_var(hdr.n0 / max(power, 1e-30))
        hdr.h, _, _ = self._fit_channel(h_ls, hdr.n0 / looks)
        hdr.snr_eff_db = effective_snr_db(hdr.h, hdr.snr_est_db)
        # the SIG pilots' phase drift: the residual CFO over n_sig symbols (step 3)
        if fmt.n_sig >= 3 and abs(drift) < np.pi / 4:
            hdr.cfo += drift / (2 * np.pi * p.symbol_len)
        return hdr

    def _spectra(self, hdr: _Header, offset: int, count: int) -> np.ndarray:
        """(count, fft_len) FFT (FFT order, no rx scaling, CFO removed) of OFDM symbols
        offset..offset+count counted from the first SIG symbol."""
        p = self.params
        rel = hdr.start - self._base  # the first long symbol, relative to _buf
        i0 = rel + 2 * p.fft_len + offset * p.symbol_len
        if i0 + count * p.symbol_len > len(self._buf):
            raise _NeedMore
        blocks = derotate_blocks(self._buf, i0, count, p.symbol_len, p.cp_len, p.fft_len, hdr.cfo, i0 - rel)
        return np.fft.fft(blocks, axis=1)

    def _fit_channel(self, h_ls: np.ndarray, noise: float) -> tuple[np.ndarray, float, int]:
        """(smoothed channel on the used subcarriers, residual energy sum |h_ls - h|^2, taps) for a
        least-squares estimate ``h_ls`` with noise variance ``noise`` per subcarrier.

        Which taps exist, by orthogonal matching pursuit (rx_kernels.fit_channel_omp): take the
        tap the residual matches best, refit all chosen taps by least squares, repeat while the
        best match stands 10 dB above the noise of a matched-filter tap, noise / n_used. (A plain
        cp_len-tap fit is ill-conditioned: the used band is not the whole FFT, so its outer taps
        are very noisy; a plain matched filter leaks into every tap.)"""
        return fit_channel_omp(h_ls.astype(np.complex128), self._fmat, self._gram, 10 * noise / h_ls.size)

    def _equalize(self, spec: np.ndarray, h: np.ndarray, n0: float, first_symbol: int, slope_prior, want_mmse: bool):
        """Phase tracking and equalisation of the spectra (n_sym, fft_len) of OFDM symbols
        first_symbol.. (counted from the first SIG symbol).

        Returns (zero-forcing data symbols (n_sym, n_data) complex64, their noise variances
        (n_data,) float32, one per data subcarrier, the same for every symbol, the phase
        correction applied as common phases (n_sym,) and slope rate (radians per symbol and
        subcarrier), the updated phase-slope sums num, den, the MMSE data symbols (n_sym,
        n_data), empty unless ``want_mmse``, and the common phase's drift, radians per symbol).

        Common phase: the pilots combined with the channel as weights, per symbol, then a line
        plus a smoothed random walk (module docstring, step 5). Phase slope across subcarriers
        (a sampling offset moves the FFT window by a growing fraction of a sample): modelled as
        growing in proportion to the time since the long training field, with one rate per burst
        fitted by weighted least squares to every pilot seen so far (weights |H_k|^2: a pilot in
        a fade says little). ``slope_prior`` carries the sums of earlier symbols of the same
        burst. Arithmetic in rx_kernels.equalize."""
        prior = slope_prior or (0.0, 0.0)
        return equalize(spec, self._used_bins, self._rx_scale, h, float(n0), self._pilot_pos, self._data_pos,
                        self._pilot_table, first_symbol, self._pilot_k, self._used_k, first_symbol + self._ltf_lag,
                        prior[0], prior[1], CPE_Q_FLOOR, want_mmse)

    def _llr(self, zf: np.ndarray, nv: np.ndarray, start: int, count: int, modulation: str) -> np.ndarray:
        """Bit LLRs (float32) of flat equalised symbols start..start+count of ``zf`` (n_sym,
        n_data), whose noise variance is nv[flat index mod n_data]: BPSK and QPSK in one compiled
        pass (the exact LLR is linear), other modulations by modulation.demodulate_llr."""
        linear = _LINEAR.get(modulation)
        if linear is not None:
            return linear_llr(zf, nv, start, count, linear[0], linear[1], LLR_MAX, N0_MIN)
        return demodulate_llr(zf.reshape(-1)[start:start + count], modulation, tile_span(nv, start, count))

    def _units(self, entries: list[TableEntry], zf, nv, mmse, offset: int, frame_type: int,
               seq: int) -> list[ReceivedUnit]:
        """The units of the payload, which starts at flat symbol ``offset`` of zf / mmse. The
        digital units are decoded together (fec.decode_payloads: one decoder call per code), then
        those that failed with the kept copies of earlier transmissions (:meth:`_combine`)."""
        starts = np.cumsum([offset] + [e.n_symbols for e in entries])
        digital = [i for i, e in enumerate(entries) if e.kind == "digital"]
        llrs = {i: self._llr(zf, nv, int(starts[i]), entries[i].n_symbols, entries[i].coder.modulation)
                for i in digital}
        decoded = dict(zip(digital, decode_payloads([(entries[i].coder, llrs[i], entries[i].length)
                                                     for i in digital])))
        copies = dict.fromkeys(digital, 1)
        if self.combiner is not None and digital:
            self._combine(entries, llrs, decoded, copies, frame_type, seq)
        units = []
        for i, e in enumerate(entries):
            start, count = int(starts[i]), e.n_symbols
            if e.kind == "digital":
                data, crc_ok = decoded[i]
                self.stats["units_digital_ok" if crc_ok else "units_digital_crc_fail"] += 1
                units.append(ReceivedUnit(e.name, "digital", data, crc_ok, tile_span(nv, start, count), e.coder,
                                          copies[i]))
            else:
                self.stats["units_analog"] += 1
                nvs = tile_span(nv, start, count)
                if mmse is not None:
                    hd2 = 1.0 / nvs  # |H|^2 / N0 per symbol
                    units.append(ReceivedUnit(e.name, "analog", mmse.reshape(-1)[start:start + count].copy(), None,
                                              1.0 / (1.0 + hd2)))
                else:
                    units.append(ReceivedUnit(e.name, "analog", zf.reshape(-1)[start:start + count].copy(), None,
                                              nvs))
        return units

    def _combine(self, entries, llrs: dict, decoded: dict, copies: dict, frame_type: int, seq: int) -> None:
        """Chase combining (:mod:`.combining`): each digital unit that failed alone is decoded again
        with the LLRs kept from its earlier copies, all such units in one decoder call; what still
        fails is kept for the next copy. Updates ``decoded`` and ``copies`` in place."""
        comb, retry = self.combiner, []
        for i, (data, ok) in decoded.items():
            key = comb.key(frame_type, entries[i].name, entries[i].coder, entries[i].length)
            if ok:
                comb.done(key)
                continue
            both = comb.partner(key, seq, llrs[i])
            if both is None:
                comb.keep(key, seq, llrs[i])
            else:
                retry.append((i, key, *both))
        if retry:
            results = decode_payloads([(entries[i].coder, summed, entries[i].length) for i, _, summed, _ in retry])
            for (i, key, summed, n), (data, ok) in zip(retry, results):
                if ok:
                    decoded[i], copies[i] = (data, ok), n
                    comb.done(key)
                else:
                    comb.keep(key, seq, summed, n)
                self.stats["units_combined_ok" if ok else "units_combined_fail"] += 1
        self.stats["combining_evicted"] = comb.evicted


def effective_snr_db(h: np.ndarray, snr_db: float) -> float:
    """The effective SNR (dB) of a frequency-selective channel: the SNR of an AWGN channel with
    the same mean capacity per subcarrier, 2^mean(log2(1 + g_k SNR)) - 1, g_k = |H_k|^2 / mean |H|^2
    over the used subcarriers, SNR the mean (Es/N0, dB). Equal to it on a flat channel and below
    it on a selective one: a code spanning the subcarriers sees the faded ones as well, which the
    mean hides (capacity-based effective SNR mapping, as link adaptation uses for OFDM)."""
    g = np.abs(np.asarray(h)) ** 2
    mean = float(g.mean()) if g.size else 0.0
    if not np.isfinite(snr_db) or mean <= 0 or not np.isfinite(mean):
        return float(snr_db)
    snr = 10.0 ** (float(snr_db) / 10.0)
    eff = 2.0 ** float(np.mean(np.log2(1.0 + snr * g / mean))) - 1.0
    return float(10.0 * np.log10(max(eff, 1e-30)))


def _axis_scale(modulation: str) -> float:
    """Amplitude of the levels +-a of BPSK (1) and QPSK (1/sqrt 2): unit symbol energy shared by
    the m axes of one bit each (the same float as modulation's constellation scale)."""
    return 1.0 / np.sqrt(bits_per_symbol(modulation))


#: modulations whose exact LLRs are linear (one bit per axis): (bits per symbol, level amplitude)
_LINEAR = {m: (bits_per_symbol(m), _axis_scale(m)) for m in ("bpsk", "qpsk")}
