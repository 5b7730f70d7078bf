"""Compiled per-burst kernels of the receiver (numba): channel fitting, equalisation and phase
tracking, the linear LLRs of BPSK/QPSK; and, from rx_sync.py (re-exported here), input
cleaning and DC blocking, detection, timing and derotation.

A burst's OFDM symbols are few and small (n_sym x 52 values), so in numpy the receiver's time
goes into the fixed cost of dozens of small array operations per burst; these kernels do the
same arithmetic in a handful of calls per burst. The algorithms are documented in receiver.py,
which calls them. Units: sample indices and lags in samples, carrier offsets in cycles per
sample, phases in radians, noise variances as complex variances (N0) per subcarrier.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .rx_sync import append_clean, append_clean_dc, derotate_blocks, ltf_search, stf_detect, stf_plateau

__all__ = ["append_clean", "append_clean_dc", "stf_detect", "stf_plateau", "ltf_search", "derotate_blocks",
           "ltf_channel", "fit_channel_omp", "equalize", "sig_channel_looks", "linear_llr", "tile_span",
           "hard_syndrome"]


@numba.njit(cache=True)
def fit_channel_omp(h_ls, fmat, gram, floor):
    """Orthogonal matching pursuit of a few taps to a least-squares channel estimate.

    h_ls: (n_used,) complex estimate; fmat: (n_used, taps) complex, column t the response of a
    tap at delay t; gram: fmat^H fmat; floor: the matched-filter tap power, |f_t^H r|^2 / n_used^2,
    that a new tap must exceed (the first tap is always taken).

    Works on correlations only: with c = fmat^H h_ls, the residual's correlations are
    c - gram[:, S] x and the least-squares fit over the chosen set S solves gram[S, S] x = c[S].
    Returns (h: fitted channel (n_used,), residual energy sum |h_ls - h|^2, taps chosen).
    """
    n_used, taps = fmat.shape
    c = np.zeros(taps, np.complex128)
    for t in range(taps):
        acc = 0j
        for k in range(n_used):
            acc += np.conj(fmat[k, t]) * h_ls[k]
        c[t] = acc
    chosen = np.zeros(taps, np.int64)
    used = np.zeros(taps, np.bool_)
    x = np.zeros(0, np.complex128)
    n_chosen = 0
    scale = 1.0 / (n_used * n_used)
    for _ in range(taps):
        best, best_val = -1, -1.0
        for t in range(taps):
            if used[t]:
                continue
            r = c[t]
            for j in range(n_chosen):
                r -= gram[t, chosen[j]] * x[j]
            val = (r.real * r.real + r.imag * r.imag) * scale
            if val > best_val:
                best, best_val = t, val
        if best < 0 or (n_chosen > 0 and best_val <= floor):
            break
        chosen[n_chosen] = best
        used[best] = True
        n_chosen += 1
        g = np.empty((n_chosen, n_chosen), np.complex128)
        rhs = np.empty(n_chosen, np.complex128)
        for i in range(n_chosen):
            rhs[i] = c[chosen[i]]
            for j in range(n_chosen):
                g[i, j] = gram[chosen[i], chosen[j]]
        x = np.linalg.solve(g, rhs)
    h = np.zeros(n_used, np.complex128)
    for j in range(n_chosen):
        for k in range(n_used):
            h[k] += fmat[k, chosen[j]] * x[j]
    resid = 0.0
    for k in range(n_used):
        d = h_ls[k] - h[k]
        resid += d.real * d.real + d.imag * d.imag
    return h, resid, n_chosen


@numba.njit(cache=True)
def ltf_channel(spec, bins, ltf_scale, fmat, gram):
    """Channel and noise from the two long symbols' spectra ``spec`` (2, fft_len) (CFO removed,
    FFT order): per used subcarrier u, the looks spec[s, bins[u]] ltf_scale[u] (ltf_scale =
    rx_scale / transmitted LTF value); h_ls their mean (noise N0/2 per subcarrier); the
    difference energy sum |look0 - look1|^2 / 2 estimates n_used N0; the channel is fitted by
    ``fit_channel_omp`` with a tap floor of 10 (N0/2) / n_used, and the fit residual (n_used -
    taps) N0/2 joins the noise estimate.

    Returns (h_ls (n_used,), fitted h (n_used,), N0 per subcarrier, mean |h|^2).
    """
    n_used = bins.size
    h_ls = np.empty(n_used, np.complex128)
    diff = 0.0
    for u in range(n_used):
        a = spec[0, bins[u]] * ltf_scale[u]
        b = spec[1, bins[u]] * ltf_scale[u]
        h_ls[u] = (a + b) / 2
        d = a - b
        diff += d.real * d.real + d.imag * d.imag
    diff /= 2  # E = n_used N0
    noise = max(diff / n_used, 1e-30) / 2  # of h_ls, per subcarrier
    h, resid, n_taps = fit_channel_omp(h_ls, fmat, gram, 10 * noise / n_used)
    dof = n_used + (n_used - n_taps)
    n0 = max((diff + 2 * resid) / dof, 1e-30)
    power = 0.0
    for u in range(n_used):
        power += h[u].real * h[u].real + h[u].imag * h[u].imag
    return h_ls, h, n0, power / n_used


@numba.njit(cache=True)
def _track(x, r, q_floor):
    """Common-phase track of per-symbol measurements x (radians, unwrapped), each with noise
    variance r (rad^2): a least-squares line (a residual carrier offset: returned as ``drift``,
    radians per symbol) plus what the line leaves, modelled as a random walk (phase noise) with
    step variance q and smoothed by a Kalman filter and Rauch-Tung-Striebel smoother. q is
    estimated from the residual's first differences, E[(e[i+1] - e[i])^2] = q + 2 r, and floored
    at q_floor r (without phase noise the smoother then averages over a few symbols each side).
    Returns (track, drift)."""
    n = x.size
    if n < 3:
        return x.copy(), 0.0
    mid = (n - 1) / 2.0
    mean, num, den = 0.0, 0.0, 0.0
    for i in range(n):
        mean += x[i]
    mean /= n
    for i in range(n):
        num += (i - mid) * x[i]
        den += (i - mid) * (i - mid)
    drift = num / den
    e = np.empty(n)
    for i in range(n):
        e[i] = x[i] - (mean + (i - mid) * drift)
    s2 = 0.0
    for i in range(n - 1):
        s2 += (e[i + 1] - e[i]) ** 2
    r = max(r, 1e-12)
    q = max(s2 / (n - 1) - 2 * r, q_floor * r)
    mf = np.empty(n)  # filtered means and variances
    pf = np.empty(n)
    mf[0], pf[0] = e[0], r
    for i in range(1, n):
        pp = pf[i - 1] + q
        k = pp / (pp + r)
        mf[i] = mf[i - 1] + k * (e[i] - mf[i - 1])
        pf[i] = (1 - k) * pp
    out = np.empty(n)
    ms = mf[n - 1]
    out[n - 1] = mean + (n - 1 - mid) * drift + ms
    for i in range(n - 2, -1, -1):
        ms = mf[i] + pf[i] / (pf[i] + q) * (ms - mf[i])
        out[i] = mean + (i - mid) * drift + ms
    return out, drift


@numba.njit(cache=True)
def _slope_phasors(rate, m0, used_k):
    """(start, step) for the slope term of the phase correction, exp(-j rate m k_u) per used
    subcarrier: its value at symbol distance m0 and its factor from one symbol to the next (the
    rows then follow by one complex product per subcarrier, no sin/cos per symbol)."""
    n_used = used_k.size
    start = np.empty(n_used, np.complex128)
    step = np.empty(n_used, np.complex128)
    for u in range(n_used):
        a = rate * used_k[u]
        start[u] = complex(math.cos(a * m0), -math.sin(a * m0))
        step[u] = complex(math.cos(a), -math.sin(a))
    return start, step


@numba.njit(cache=True)
def equalize(spec, bins, rx_scale, h, n0, pilot_pos, data_pos, pilot_table, first_symbol, pilot_k, used_k, m0,
             prior_num, prior_den, q_floor, want_mmse):
    """Pilot phase tracking and zero-forcing equalisation of one run of OFDM symbols.

    spec: (n_sym, fft_len) FFT output of the symbols (CFO removed, FFT order); the used
    subcarriers are y[i, u] = spec[i, bins[u]] rx_scale. h: (n_used,) channel; n0: noise
    variance per subcarrier; pilot_table: (period, n_pilots) transmitted pilots of symbol s at
    row s mod period, the run starting at symbol ``first_symbol``; pilot_k, used_k: subcarrier
    numbers (float); m0: the first symbol's distance from the long training field's mean FFT
    window, in symbols; prior_num, prior_den: phase-slope sums of earlier symbols of the burst.

    Common phase per symbol: angle of sum_p y_p conj(h_p x_p), unwrapped, then ``_track`` with the
    measurement variance n0 / (2 sum_p |h_p|^2) and ``q_floor``.
    Phase slope: rate * m * k with one rate per burst, by weighted least squares over every
    pilot (weights |h_p|^2) of the residual pilot phases. The correction applied to symbol i on
    subcarrier k is exp(-j (cpe[i] + rate (m0 + i) k)).

    Returns (zf: (n_sym, n_data) complex64, nv: (n_data,) float32 noise variance n0/|h_d|^2,
    cpe: (n_sym,) common phases (radians), rate (radians per symbol per subcarrier), num, den:
    updated slope sums, mmse: (n_sym, n_data) complex64 y conj(h) / (|h|^2 + n0) of the
    phase-corrected symbols if ``want_mmse``, else (0, n_data), drift: the common phase's
    straight-line slope, radians per symbol).
    """
    n_sym = spec.shape[0]
    n_pil = pilot_pos.size
    n_used = bins.size
    n_data = data_pos.size
    period = pilot_table.shape[0]
    pil = np.empty((n_sym, n_pil), np.complex128)
    cpe = np.empty(n_sym)
    for i in range(n_sym):
        s = 0j
        row = (first_symbol + i) % period
        for p in range(n_pil):
            u = pilot_pos[p]
            v = spec[i, bins[u]] * rx_scale * np.conj(h[u] * pilot_table[row, p])
            pil[i, p] = v
            s += v
        cpe[i] = math.atan2(s.imag, s.real)
    for i in range(1, n_sym):  # unwrap
        d = cpe[i] - cpe[i - 1]
        cpe[i] -= 2 * math.pi * round(d / (2 * math.pi))
    h2p = 0.0
    for p in range(n_pil):
        hp = h[pilot_pos[p]]
        h2p += hp.real * hp.real + hp.imag * hp.imag
    cpe, drift = _track(cpe, n0 / (2 * max(h2p, 1e-30)), q_floor)
    num, den = prior_num, prior_den
    derot = np.empty(n_sym, np.complex128)  # exp(-j cpe)
    for i in range(n_sym):
        derot[i] = complex(math.cos(cpe[i]), -math.sin(cpe[i]))
    for p in range(n_pil):
        hp = h[pilot_pos[p]]
        wk = (hp.real * hp.real + hp.imag * hp.imag) * pilot_k[p]
        for i in range(n_sym):
            m = m0 + i
            v = pil[i, p] * derot[i]
            num += m * math.atan2(v.imag, v.real) * wk
            den += m * m * wk * pilot_k[p]
    rate = num / den if den > 0 else 0.0
    slope, slope_step = _slope_phasors(rate, m0, used_k)
    # per data subcarrier: FFT bin, rx_scale / h (zero-forcing), rx_scale conj(h) / (|h|^2 + n0) (MMSE)
    dbin = np.empty(n_data, np.int64)
    g_zf = np.empty(n_data, np.complex128)
    g_mmse = np.empty(n_data, np.complex128)
    nv = np.empty(n_data, np.float32)
    for d in range(n_data):
        u = data_pos[d]
        hd = h[u]
        h2 = hd.real * hd.real + hd.imag * hd.imag
        nv[d] = n0 / max(h2, 1e-30)
        dbin[d] = bins[u]
        g_zf[d] = rx_scale / hd if hd != 0 else 0j
        g_mmse[d] = rx_scale * np.conj(hd) / (h2 + n0)
    zf = np.empty((n_sym, n_data), np.complex64)
    mmse = np.empty((n_sym if want_mmse else 0, n_data), np.complex64)
    for i in range(n_sym):
        for d in range(n_data):
            u = data_pos[d]
            y = spec[i, dbin[d]] * (derot[i] * slope[u])
            zf[i, d] = y * g_zf[d]
            if want_mmse:
                mmse[i, d] = y * g_mmse[d]
        for u in range(n_used):
            slope[u] *= slope_step[u]
    return zf, nv, cpe, rate, num, den, mmse, drift


@numba.njit(cache=True)
def sig_channel_looks(spec, bins, rx_scale, cpe, rate, m0, used_k, tx_bits, data_pos, pilot_pos, pilot_table, h):
    """Mean over the SIG symbols of y * corr * conj(known) on every used subcarrier: the SIG,
    once decoded, is n_sym more looks at the channel. spec: (n_sym, fft_len) FFT output (CFO
    removed); corr = exp(-j (cpe[i] + rate (m0 + i) k)), the phase correction the equaliser
    applied (its cpe and rate); tx_bits: the decoded coded bits (n_sym n_data, BPSK: bit 0 -> -1,
    1 -> +1, in data-subcarrier order); pilot_table rows are symbols 0.. of the SIG (|known| = 1,
    so conj(known) = 1 / known). h: the channel the SIG was equalised with. Returns ((n_used,)
    complex128 looks, mean |y corr - h known|^2: the noise per subcarrier as the equaliser saw
    it, thermal noise plus whatever phase noise, IQ image and clipping add and the phase tracking
    leaves)."""
    n_sym = spec.shape[0]
    n_used = bins.size
    n_data = data_pos.size
    slope, slope_step = _slope_phasors(rate, m0, used_k)
    acc = np.zeros(n_used, np.complex128)
    resid = 0.0
    for i in range(n_sym):
        common = complex(math.cos(cpe[i]), -math.sin(cpe[i]))
        for d in range(n_data):
            u = data_pos[d]
            x = 2.0 * tx_bits[i * n_data + d] - 1.0
            v = spec[i, bins[u]] * rx_scale * (common * slope[u]) * x
            acc[u] += v
            e = v - h[u]
            resid += e.real * e.real + e.imag * e.imag
        for p in range(pilot_pos.size):
            u = pilot_pos[p]
            v = spec[i, bins[u]] * rx_scale * (common * slope[u]) * pilot_table[i % pilot_table.shape[0], p]
            acc[u] += v
            e = v - h[u]
            resid += e.real * e.real + e.imag * e.imag
        for u in range(n_used):
            slope[u] *= slope_step[u]
    for u in range(n_used):
        acc[u] /= n_sym
    return acc, resid / max(n_sym * n_used, 1)


@numba.njit(cache=True)
def linear_llr(zf, nv, start, count, bits, scale, llr_max, n0_min):
    """Exact LLRs (float32, ``bits`` per symbol, positive means 0) of BPSK (bits 1) or Gray QPSK
    (bits 2: real axis first) symbols start .. start+count-1 of the flattened (n_sym, n_data)
    equaliser output ``zf``, symbol f having noise variance nv[f mod n_data] (floored at n0_min).
    The LLR of an axis with levels +-scale is -4 scale y / N0 (modulation.demodulate_llr's
    formula, float32 as there), clipped to +-llr_max."""
    n_data = zf.shape[1]
    out = np.empty(count * bits, np.float32)
    for f in range(start, start + count):
        i, d = f // n_data, f % n_data
        gain = (-4.0 * scale) / max(float(nv[d]), n0_min)
        y = zf[i, d]
        o = (f - start) * bits
        v = np.float32(float(y.real) * gain)
        out[o] = min(max(v, -llr_max), llr_max)
        if bits == 2:
            v = np.float32(float(y.imag) * gain)
            out[o + 1] = min(max(v, -llr_max), llr_max)
    return out


@numba.njit(cache=True)
def tile_span(nv, start, count):
    """Per-symbol values nv[f mod len(nv)] of flat symbols start .. start+count-1 (float32)."""
    n = nv.size
    out = np.empty(count, np.float32)
    j = start % n
    for f in range(count):
        out[f] = nv[j]
        j += 1
        if j == n:
            j = 0
    return out


@numba.njit(cache=True)
def hard_syndrome(llr, row_ptr, col_idx):
    """Hard decisions (B, n) uint8 (1 where llr < 0) of codeword LLRs (B, n) and, per codeword,
    whether they satisfy every parity check of the code given as CSR over check rows (row_ptr
    (m + 1,), col_idx: the variables of each row)."""
    b_count, n = llr.shape
    hard = np.empty((b_count, n), np.uint8)
    ok = np.empty(b_count, np.bool_)
    for b in range(b_count):
        for i in range(n):
            hard[b, i] = 1 if llr[b, i] < 0 else 0
        good = True
        for r in range(row_ptr.size - 1):
            acc = 0
            for e in range(row_ptr[r], row_ptr[r + 1]):
                acc ^= hard[b, col_idx[e]]
            if acc:
                good = False
                break
        ok[b] = good
    return hard, ok
