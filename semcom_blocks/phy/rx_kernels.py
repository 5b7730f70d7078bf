"""Compiled per-burst kernels of the receiver (numba): channel fitting and equalisation.

A burst's OFDM symbols are few and small (n_sym x 52 values), so in numpy the receiver's time
goes into the fixed cost of dozens of small array operations per burst; these kernels do the
same arithmetic in one call each. The algorithms are documented in receiver.py, which calls them.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["fit_channel_omp", "equalize"]


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
def _track(x, width):
    """A straight line through x plus a centered moving average (up to ``width``) of what the
    line leaves (edges padded with the end values)."""
    n = x.size
    out = x.copy()
    if n < 3:
        return out
    mid = (n - 1) / 2.0
    mean = 0.0
    for i in range(n):
        mean += x[i]
    mean /= n
    num, den = 0.0, 0.0
    for i in range(n):
        t = i - mid
        num += t * x[i]
        den += t * t
    slope = num / den
    resid = np.empty(n)
    for i in range(n):
        resid[i] = x[i] - (mean + (i - mid) * slope)
    w = min(width, n)
    half = w // 2
    for i in range(n):
        acc = 0.0
        for j in range(i - half, i - half + w):
            acc += resid[min(max(j, 0), n - 1)]
        out[i] = mean + (i - mid) * slope + acc / w
    return out


@numba.njit(cache=True)
def equalize(y, h, n0, pilot_pos, data_pos, pilot_vals, pilot_k, used_k, m0, prior_num, prior_den, cpe_width):
    """Pilot phase tracking and zero-forcing equalisation of one run of OFDM symbols.

    y: (n_sym, n_used) FFT values on the used subcarriers; h: (n_used,) channel; n0: noise
    variance per subcarrier; pilot_vals: (n_sym, n_pilots) transmitted pilots; pilot_k, used_k:
    subcarrier numbers (float); m0: the first symbol's distance from the long training field's
    mean FFT window, in symbols; prior_num, prior_den: phase-slope sums of earlier symbols of the
    burst.

    Common phase per symbol: angle of sum_p y_p conj(h_p x_p), unwrapped, then ``_track``.
    Phase slope: rate * m * k with one rate per burst, by weighted least squares over every
    pilot (weights |h_p|^2) of the residual pilot phases.

    Returns (zf: (n_sym, n_data) complex64, nv: (n_data,) float32 noise variance n0/|h_d|^2,
    corr: (n_sym, n_used) complex64 phase correction applied, num, den: updated slope sums).
    """
    n_sym = y.shape[0]
    n_pil = pilot_pos.size
    n_used = y.shape[1]
    n_data = data_pos.size
    pil = np.empty((n_sym, n_pil), np.complex128)
    cpe = np.empty(n_sym)
    for i in range(n_sym):
        s = 0j
        for p in range(n_pil):
            v = y[i, pilot_pos[p]] * np.conj(h[pilot_pos[p]] * pilot_vals[i, p])
            pil[i, p] = v
            s += v
        cpe[i] = math.atan2(s.imag, s.real)
    for i in range(1, n_sym):  # unwrap
        d = cpe[i] - cpe[i - 1]
        cpe[i] -= 2 * math.pi * round(d / (2 * math.pi))
    cpe = _track(cpe, cpe_width)
    num, den = prior_num, prior_den
    for p in range(n_pil):
        hp = h[pilot_pos[p]]
        wk = (hp.real * hp.real + hp.imag * hp.imag) * pilot_k[p]
        for i in range(n_sym):
            m = m0 + i
            v = pil[i, p] * complex(math.cos(cpe[i]), -math.sin(cpe[i]))
            num += m * math.atan2(v.imag, v.real) * wk
            den += m * m * wk * pilot_k[p]
    rate = num / den if den > 0 else 0.0
    corr = np.empty((n_sym, n_used), np.complex64)
    k_max = 0
    for u in range(n_used):
        k_max = max(k_max, abs(int(used_k[u])))
    powers = np.empty(k_max + 1, np.complex128)  # exp(-j rate m k), k = 0..k_max, by recurrence
    for i in range(n_sym):
        m = m0 + i
        step = complex(math.cos(rate * m), -math.sin(rate * m))
        powers[0] = 1.0
        for k in range(1, k_max + 1):
            powers[k] = powers[k - 1] * step
        common = complex(math.cos(cpe[i]), -math.sin(cpe[i]))
        for u in range(n_used):
            k = int(used_k[u])
            corr[i, u] = common * (powers[k] if k >= 0 else np.conj(powers[-k]))
    zf = np.empty((n_sym, n_data), np.complex64)
    nv = np.empty(n_data, np.float32)
    for d in range(n_data):
        hd = h[data_pos[d]]
        nv[d] = n0 / max(hd.real * hd.real + hd.imag * hd.imag, 1e-30)
        inv = 1.0 / hd if hd != 0 else 0j
        for i in range(n_sym):
            zf[i, d] = y[i, data_pos[d]] * corr[i, data_pos[d]] * inv
    return zf, nv, corr, num, den
