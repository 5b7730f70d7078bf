"""Compiled input and synchronisation kernels of the receiver (numba): cleaning and DC blocking
of the input, STF detection and its plateau, LTF timing search, carrier derotation.

Split from rx_kernels.py by role (that module re-exports them); the algorithms are documented
in receiver.py, which calls them. Units: sample indices and lags in samples, carrier offsets in
cycles per sample, phases in radians.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["append_clean", "append_clean_dc", "stf_detect", "stf_plateau", "ltf_search", "derotate_blocks"]


@numba.njit(cache=True, inline="always")
def _stf_block(r, L, b, lagged, prod, energy, have):
    """Fill block b's sums once: energy[b] = sum |r[i]|^2 and, if ``lagged``, prod[b] = sum
    conj(r[i]) r[i + L] over i in [b L, b L + L) (float64 / complex128 accumulators)."""
    if have[b]:
        return
    e, acc_re, acc_im = 0.0, 0.0, 0.0
    for i in range(b * L, b * L + L):
        a = r[i]
        ar, ai = float(a.real), float(a.imag)
        e += ar * ar + ai * ai
        if lagged:
            c = r[i + L]
            cr, ci = float(c.real), float(c.imag)
            acc_re += ar * cr + ai * ci  # conj(a) c
            acc_im += ar * ci - ai * cr
    energy[b] = e
    if lagged:
        prod[b] = complex(acc_re, acc_im)
    have[b] = 1


@numba.njit(cache=True, inline="always")
def _stf_window(prod, energy, j, B):
    """(autocorrelation sum, normalised rho) of the window of blocks j .. j + B - 1: rho =
    |sum prod| / sqrt(sum energy[b] * sum energy[b + 1]), at most 1."""
    c = 0j
    early, late = 0.0, 0.0
    for b in range(j, j + B):
        c += prod[b]
        early += energy[b]
        late += energy[b + 1]
    return c, min(abs(c) / (math.sqrt(early * late) + 1e-30), 1.0)


@numba.njit(cache=True)
def stf_detect(r, L, B, j_first, threshold, prod, energy, have):
    """The first STF plateau at or after grid lag j_first: (j0, coarse CFO in cycles/sample), or
    (-1, 0.0) when there is none in r.

    The normalised autocorrelation at lag L over windows of B blocks of L samples, on the grid
    of lags d = j L, j = 0 .. nb - B (nb = (len(r) - L) // L blocks with a full lagged partner;
    none at all when nb < B + 3): per block b, prod_b = sum conj(r[i]) r[i + L] and energy_b =
    sum |r[i]|^2; corr_j = sum_{b=j}^{j+B-1} prod_b, early_j the energies of the same blocks,
    late_j those of blocks j+1 .. j+B, rho_j = min(|corr_j| / sqrt(early_j late_j), 1). Window
    sums are direct sums of B block sums, in float64 (running-sum differences cancel on long
    buffers). j0 is the first j >= j_first with rho above ``threshold`` at j, j+1 and j+2; the
    CFO is the angle of corr at the largest rho of j0 .. j0+3, divided by 2 pi L.

    Block sums are computed when a window first needs them and kept in prod (nb,), energy
    (nb + 1,) and have (nb + 1,) (zeros: not yet), which the caller allocates per buffer:
    successive searches move forward, and the blocks inside decoded bursts are never summed.
    """
    nb = (r.size - L) // L
    if nb < B + 3:
        return -1, 0.0
    n_out = nb - B + 1
    j_first = max(j_first, 0)
    if j_first >= n_out:
        return -1, 0.0
    for b in range(j_first, min(j_first + B + 4, nb + 1)):
        _stf_block(r, L, b, b < nb, prod, energy, have)
    rhos = np.empty(4)
    corrs = np.empty(4, np.complex128)
    run = 0
    j = j_first
    while j < n_out:
        b = j + B + 3  # windows j .. j+3 need blocks up to j + B + 3
        if b <= nb:
            _stf_block(r, L, b, b < nb, prod, energy, have)
        c, rho = _stf_window(prod, energy, j, B)
        rhos[(j - j_first) % 4] = rho
        corrs[(j - j_first) % 4] = c
        if rho > threshold:
            run += 1
            if run == 3:
                j0 = j - 2
                best_rho, best_c = -1.0, 0j
                for jj in range(j0, min(j0 + 4, n_out)):
                    if jj <= j:
                        rho, c = rhos[(jj - j_first) % 4], corrs[(jj - j_first) % 4]
                    else:  # one window ahead of the scan
                        c, rho = _stf_window(prod, energy, jj, B)
                    if rho > best_rho:
                        best_rho, best_c = rho, c
                return j0, math.atan2(best_c.imag, best_c.real) / (2 * math.pi * L)
        else:
            run = 0
        j += 1
    return -1, 0.0


@numba.njit(cache=True)
def stf_plateau(r, L, B, j0, threshold, prod, energy, have, max_windows):
    """Where the STF plateau that stf_detect found at grid lag j0 ends, and the coarse CFO.

    Scans the windows j0, j0 + 1, .. (stf_detect's rho and caches) while rho > ``threshold``; the
    plateau ends at the last window above it before two in a row at or below it, or after
    ``max_windows``. Its end, not its start, locates the long training field: whatever periodic
    signal precedes the STF (a DC term, a tone) only moves the start. Returns (j_end, CFO in
    cycles/sample from the angle of the window sum of largest |corr| (the STF, not a weaker
    periodic lead-in), divided by 2 pi L, complete: False when the buffer ended first).
    """
    nb = (r.size - L) // L
    n_out = nb - B + 1
    best_abs, best_c = -1.0, 0j
    j_end, below, j = j0, 0, j0
    for b in range(j0, min(j0 + B, nb + 1)):
        _stf_block(r, L, b, b < nb, prod, energy, have)
    while j < j0 + max_windows:
        if j >= n_out:
            return j_end, math.atan2(best_c.imag, best_c.real) / (2 * math.pi * L), False
        _stf_block(r, L, j + B, j + B < nb, prod, energy, have)
        c, rho = _stf_window(prod, energy, j, B)
        if rho > threshold:
            j_end, below = j, 0
            if abs(c) > best_abs:
                best_abs, best_c = abs(c), c
        else:
            below += 1
            if below == 2:
                break
        j += 1
    return j_end, math.atan2(best_c.imag, best_c.real) / (2 * math.pi * L), True


@numba.njit(cache=True, fastmath={"nsz", "arcp", "contract", "reassoc"})
def ltf_search(r, lo, n, cfo, tpl):
    """Timing of the long training field in r[lo:lo+n] with the carrier offset ``cfo`` (cycles per
    sample) removed (phase zero at r[lo]).

    xc[l] = |sum_k seg[l+k] conj(tpl[k])| for every lag with a full template (N = len(tpl)),
    and both[l] = xc[l] + xc[l+N]: the best lag starts the first of two long symbols N apart.
    Returns (best lag from lo, both[best], energy sum |seg[best .. best+2N)|^2, angle of
    sum conj(seg[best+k]) seg[best+N+k], radians). n must be >= 2N + 1.
    """
    N = tpl.size
    seg_re = np.empty(n)
    seg_im = np.empty(n)
    w = -2.0 * math.pi * cfo
    ramp = np.empty(N, np.complex128)  # exp(j w k) = exp(j w N q) exp(j w i), k = q N + i
    for i in range(N):
        ramp[i] = complex(math.cos(w * i), math.sin(w * i))
    for q in range(0, (n + N - 1) // N):
        base = complex(math.cos(w * q * N), math.sin(w * q * N))
        for i in range(min(N, n - q * N)):
            k = q * N + i
            v = r[lo + k]
            d = complex(float(v.real), float(v.imag)) * (base * ramp[i])
            seg_re[k] = d.real
            seg_im[k] = d.imag
    t_re = np.empty(N)
    t_im = np.empty(N)
    for k in range(N):
        t_re[k] = float(tpl[k].real)
        t_im[k] = float(tpl[k].imag)
    n_xc = n - N + 1
    xc = np.empty(n_xc)
    for lag in range(n_xc):
        acc_re, acc_im = 0.0, 0.0
        for k in range(N):
            sr, si = seg_re[lag + k], seg_im[lag + k]
            acc_re += sr * t_re[k] + si * t_im[k]  # seg conj(tpl)
            acc_im += si * t_re[k] - sr * t_im[k]
        xc[lag] = math.sqrt(acc_re * acc_re + acc_im * acc_im)
    best, best_val = 0, -1.0
    for lag in range(n_xc - N):
        v = xc[lag] + xc[lag + N]
        if v > best_val:
            best, best_val = lag, v
    energy = 0.0
    for k in range(best, best + 2 * N):
        energy += seg_re[k] * seg_re[k] + seg_im[k] * seg_im[k]
    d_re, d_im = 0.0, 0.0
    for k in range(N):
        ar, ai = seg_re[best + k], seg_im[best + k]
        br, bi = seg_re[best + N + k], seg_im[best + N + k]
        d_re += ar * br + ai * bi  # conj(a) b
        d_im += ar * bi - ai * br
    return best, best_val, energy, math.atan2(d_im, d_re)


@numba.njit(cache=True)
def derotate_blocks(r, i0, n_blocks, stride, skip, size, cfo, t0):
    """(n_blocks, size) complex128 blocks r[i0 + m stride + skip + j], j < size, with the carrier
    offset removed: times exp(-2 pi i cfo t), t = t0 + m stride + skip + j the sample's distance
    from the reference (the burst's first long symbol). The phase is a per-block factor times a
    per-sample ramp, each from cos/sin (no recurrence, no drift). Ready for np.fft.fft(axis=1)."""
    w = -2.0 * math.pi * cfo
    ramp = np.empty(size, np.complex128)
    for j in range(size):
        ramp[j] = complex(math.cos(w * j), math.sin(w * j))
    row = np.empty(size, np.complex128)
    out = np.empty((n_blocks, size), np.complex128)
    for m in range(n_blocks):
        t = t0 + m * stride + skip
        ph = complex(math.cos(w * t), math.sin(w * t))
        for j in range(size):
            row[j] = ph * ramp[j]
        base = i0 + m * stride + skip
        for j in range(size):
            v = r[base + j]
            out[m, j] = complex(float(v.real), float(v.imag)) * row[j]
    return out


@numba.njit(cache=True)
def append_clean(head, x):
    """head followed by x (complex64), with every non-finite sample of x replaced by 0, in one
    pass; returns (the new buffer, how many samples were replaced)."""
    out = np.empty(head.size + x.size, np.complex64)
    out[:head.size] = head
    bad = 0
    for i in range(x.size):
        v = x[i]
        if math.isfinite(v.real) and math.isfinite(v.imag):
            out[head.size + i] = v
        else:
            out[head.size + i] = 0
            bad += 1
    return out, bad


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def append_clean_dc(head, x, state, alpha, warmup, on, off):
    """append_clean with a DC blocker: head followed by x (complex64), non-finite samples of x
    zeroed and counted, and a running DC estimate subtracted while it matters.

    state (float64 (6,), updated in place): weighted sums D (re, im) and W of the DC estimate
    d = D / W, mean power p, finite samples seen n, gate (0/1). x is taken in blocks
    of up to 64 samples; each block of m finite samples with mean v_m and mean power e_m is a
    measurement of the DC whose variance is about e_m / m, so it gets the weight w = m / e_m:
    D = f D + (1 - f) w v_m, W = f W + (1 - f) w, f = (1 - alpha)^m, an exponentially forgetting
    (time constant 1/alpha samples) inverse-variance weighted mean. The quiet stretches between
    bursts therefore dominate it: with a carrier offset the bursts themselves have content at
    DC, which a plain average would mistake for an offset. Blocks of exact zeros (padding, a
    simulator's silence) say nothing about the front end and are skipped.
    The prior is DC 0, as sure as a sixteenth of a time constant of blocks like the first: the
    estimate settles within about 2 time constants on bursty streams (the gaps teach it), and
    on a continuous stream with a carrier offset it averages the bursts' own DC content down to
    about -35 dB of the signal.
    p += max(m / n, alpha m) (e_m - p). After ``warmup`` samples the gate opens when
    |d|^2 > on p and closes when |d|^2 < off p; while it is open, a block's output is x - d with
    the d from before the block. (A DC far below the signal and noise troubles nothing, and
    subtracting an estimate from a perfectly silent stream would leave a constant that the STF
    detector reads as periodic.) Returns (the new buffer, samples replaced)."""
    if state.size != 6:
        raise ValueError("append_clean_dc: state must have 6 entries")
    out = np.empty(head.size + x.size, np.complex64)
    out[:head.size] = head
    out[head.size:] = x  # one copy; blocks with non-finite samples are mended below
    acc_re, acc_im, wsum, p, n, gate = state[0], state[1], state[2], state[3], state[4], state[5]
    bad = 0
    xf = x.view(np.float32)  # interleaved I, Q: block sums in float32, which vectorise
    f64 = (1.0 - alpha) ** 64
    for s in range(0, x.size, 64):
        stop = min(s + 64, x.size)
        sr32, si32, e32 = np.float32(0.0), np.float32(0.0), np.float32(0.0)
        for i in range(2 * s, 2 * stop, 2):
            a, b = xf[i], xf[i + 1]
            sr32 += a
            si32 += b
            e32 += a * a + b * b
        sr, si, e = float(sr32), float(si32), float(e32)
        m = stop - s
        if not (math.isfinite(sr) and math.isfinite(si) and math.isfinite(e)):
            sr, si, e, m = 0.0, 0.0, 0.0, 0
            for i in range(s, stop):
                vr, vi = float(x[i].real), float(x[i].imag)
                if math.isfinite(vr) and math.isfinite(vi):
                    sr += vr
                    si += vi
                    e += vr * vr + vi * vi
                    m += 1
                else:
                    out[head.size + i] = 0
                    bad += 1
        d_re, d_im = (acc_re / wsum, acc_im / wsum) if wsum > 0 else (0.0, 0.0)
        if gate > 0:
            dc = np.complex64(complex(d_re, d_im))
            for i in range(head.size + s, head.size + stop):
                out[i] -= dc
        if m == 0:
            continue
        n += m
        p += max(m / n, alpha * m) * (e / m - p)
        if e > 0:
            w = m * m / e
            if wsum == 0:
                wsum = w / 16  # the prior: DC 0, as sure as 1/16 of a time constant of such blocks
            f = f64 if m == 64 else (1.0 - alpha) ** m
            acc_re = f * acc_re + (1 - f) * w * sr / m
            acc_im = f * acc_im + (1 - f) * w * si / m
            wsum = f * wsum + (1 - f) * w
            d_re, d_im = acc_re / wsum, acc_im / wsum
        if n >= warmup:
            level = d_re * d_re + d_im * d_im
            if gate > 0 and level < off * p:
                gate = 0.0
            elif gate == 0 and level > on * p:
                gate = 1.0
    state[0], state[1], state[2], state[3], state[4], state[5] = acc_re, acc_im, wsum, p, n, gate
    return out, bad
