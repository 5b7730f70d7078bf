"""IEEE 802.11n quasi-cyclic LDPC codes (N = 648, 1296, 1944; rates 1/2, 2/3, 3/4, 5/6).

The parity-check matrix H (M x N) is a 24-column prototype matrix lifted by Z = N / 24: an entry
s >= 0 is the Z x Z identity cyclically shifted right by s (row r has its one in column
(r + s) mod Z), and -1 an all-zero block (IEEE 802.11n-2009 Annex R; the tables ship in
``data/ldpc``). Codewords are systematic, information bits first: c = [u (K) | p (M)], and
H c = 0 over GF(2).

* Encoding uses the dual-diagonal structure of the parity part: the first parity block column
  has three nonzero blocks whose sum is one permutation, the others form a double diagonal, so
  the parity follows from one accumulation and a back substitution. No dense generator matrix.
* Decoding is layered (check rows processed in order, posteriors updated after each row),
  batched over codewords, with early stopping on a zero syndrome:

  - ``"minsum"``: normalized / offset min-sum, R = alpha * max(min|t| - offset, 0) (fast). Runs
    the native C decoder (``ldpc_native``: SIMD across codewords, float32, the same results as
    the numba kernel bit for bit) where its library is built, else the numba kernel;
  - ``"minsum-numba"``: the numba min-sum kernel (the reference the native one is tested on);
  - ``"minsum-f32"``, ``"minsum-i8"``: the native decoder in float32 or 8-bit fixed point
    (RuntimeError where the library is not built);
  - ``"spa"``: sum-product by the tanh rule in float64 (the reference).

LLRs are log P(0)/P(1): positive means 0 (docs/architecture.md).

``LdpcLayout`` carries a payload of any length by shortening (zero information bits that are
not sent), puncturing (parity bits not sent) and repetition, spread evenly across codewords as
IEEE 802.11n section 20.3.11.7.5 does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numba
import numpy as np

from . import ldpc_native
from .fec_types import DecodeResult, as_bit_batch, as_llr_batch
from .modulation import LLR_MAX

__all__ = ["LDPC_LENGTHS", "LDPC_RATES", "DECODERS", "LdpcCode", "get_ldpc", "parse_rate", "minsum_backend",
           "LdpcLayout"]

LDPC_LENGTHS = (648, 1296, 1944)
LDPC_RATES = ("1/2", "2/3", "3/4", "5/6")
DECODERS = ("minsum", "minsum-numba", "minsum-f32", "minsum-i8", "spa")
_RATE_TAG = {"1/2": "r12", "2/3": "r23", "3/4": "r34", "5/6": "r56"}


def parse_rate(rate) -> str:
    """Normalise a rate given as "3/4", "34", "r34", 0.75 ... to "3/4"; ValueError otherwise."""
    if isinstance(rate, (int, float)) and not isinstance(rate, bool):
        for name in LDPC_RATES:
            num, den = name.split("/")
            if abs(float(rate) - int(num) / int(den)) < 1e-9:
                return name
    else:
        key = str(rate).strip().lower().lstrip("r").replace("_", "/")
        if "/" not in key and len(key) == 2:
            key = f"{key[0]}/{key[1]}"
        if key in LDPC_RATES:
            return key
    raise ValueError(f"unknown LDPC rate {rate!r}; 802.11n rates are {', '.join(LDPC_RATES)}")


def _load_prototype(n: int, rate: str) -> np.ndarray:
    z = n // 24
    name = f"ieee80211n_n{n}_z{z}_{_RATE_TAG[rate]}.txt"
    text = resources.files("semcom_blocks.phy").joinpath("data", "ldpc", name).read_text()
    rows = [[int(v) for v in line.split()] for line in text.splitlines() if line.strip() and not line.startswith("#")]
    proto = np.array(rows, dtype=np.int64)
    if proto.ndim != 2 or proto.shape[1] != 24 or proto.max() >= z or proto.min() < -1:
        raise ValueError(f"malformed LDPC prototype file {name}")
    return proto


class LdpcCode:
    """One 802.11n LDPC code: ``LdpcCode(648, "3/4")``.

    Attributes: n (codeword bits), k (information bits), m = n - k, z (lifting size),
    rate (k / n as a float), rate_name ("3/4"), proto (prototype matrix), and the Tanner graph
    as CSR over check rows: ``row_ptr`` (m + 1,) and ``col_idx`` (edges,) int32.
    """

    def __init__(self, n: int = 648, rate="1/2"):
        if n not in LDPC_LENGTHS:
            raise ValueError(f"unknown LDPC length {n}; 802.11n lengths are {LDPC_LENGTHS}")
        self.rate_name = parse_rate(rate)
        self.n, self.z = n, n // 24
        self.proto = _load_prototype(n, self.rate_name)
        self.mb, nb = self.proto.shape
        self.kb = nb - self.mb
        self.m, self.k = self.mb * self.z, self.kb * self.z
        self.rate = self.k / self.n
        self._check_dual_diagonal()
        rows, cols = [], []
        z = self.z
        for i in range(self.mb):
            for j in range(nb):
                s = self.proto[i, j]
                if s >= 0:
                    r = np.arange(z)
                    rows.append(i * z + r)
                    cols.append(j * z + (r + s) % z)
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        order = np.lexsort((cols, rows))
        rows, cols = rows[order], cols[order]
        self.col_idx = cols.astype(np.int32)
        self.row_ptr = np.searchsorted(rows, np.arange(self.m + 1)).astype(np.int32)
        self.max_row_degree = int(np.diff(self.row_ptr).max())
        # The same graph by circulant blocks, layer by layer (for the min-sum kernel).
        blk_rows, blk_cols = np.nonzero(self.proto >= 0)  # row-major: grouped by layer
        self._blk_col = blk_cols.astype(np.int32)
        self._blk_shift = self.proto[blk_rows, blk_cols].astype(np.int32)
        self._layer_ptr = np.searchsorted(blk_rows, np.arange(self.mb + 1)).astype(np.int32)

    def __repr__(self) -> str:
        return f"LdpcCode(n={self.n}, rate={self.rate_name!r})"

    # -- structure -------------------------------------------------------------------------
    def _check_dual_diagonal(self) -> None:
        """Verify the parity structure the encoder relies on; find the shift x with sum = P^x."""
        parity = self.proto[:, self.kb:]
        for i in range(self.mb):
            for j in range(1, self.mb):
                expected = 0 if j in (i, i + 1) else -1
                if parity[i, j] != expected:
                    raise ValueError(f"{self}: prototype lacks the dual-diagonal parity structure")
        col0 = parity[:, 0]
        shifts = col0[col0 >= 0]
        # The sum of the blocks of the first parity column must be a single permutation: two of
        # the three shifts equal (they cancel), the third is x.
        values, counts = np.unique(shifts, return_counts=True)
        odd = values[counts % 2 == 1]
        if len(shifts) != 3 or len(odd) != 1:
            raise ValueError(f"{self}: first parity column is not invertible by accumulation")
        self._p0_shift = int(odd[0])

    def parity_check_matrix(self) -> np.ndarray:
        """Dense H (m x n, uint8). For tests and export; the decoders use the CSR form."""
        h = np.zeros((self.m, self.n), dtype=np.uint8)
        rows = np.repeat(np.arange(self.m), np.diff(self.row_ptr))
        h[rows, self.col_idx] = 1
        return h

    def syndrome_ok(self, codewords) -> np.ndarray:
        """(B,) bool: H c = 0 for each codeword row."""
        cw, single = as_bit_batch(codewords, self.n, "codewords")
        ok = _syndrome_zero(cw, self.row_ptr, self.col_idx)
        return ok[0] if single else ok

    def write_alist(self, path) -> None:
        """Write H in MacKay's alist format (used by GNU Radio's gr-fec decoders)."""
        h = self.parity_check_matrix()
        col_rows = [np.flatnonzero(h[:, c]) + 1 for c in range(self.n)]
        row_cols = [np.flatnonzero(h[r]) + 1 for r in range(self.m)]
        dv, dc = max(map(len, col_rows)), max(map(len, row_cols))
        lines = [f"{self.n} {self.m}", f"{dv} {dc}", " ".join(str(len(c)) for c in col_rows),
                 " ".join(str(len(r)) for r in row_cols)]
        lines += [" ".join(map(str, list(c) + [0] * (dv - len(c)))) for c in col_rows]
        lines += [" ".join(map(str, list(r) + [0] * (dc - len(r)))) for r in row_cols]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- encoding --------------------------------------------------------------------------
    def encode(self, info) -> np.ndarray:
        """Systematic codewords (B, n) uint8 from information bits (B, k) (or (k,) -> (n,))."""
        u, single = as_bit_batch(info, self.k, "info")
        parity = _encode_parity(u, self.row_ptr, self.col_idx, self.k, self.mb, self.z, self._p0_shift,
                                self.proto[:, self.kb].astype(np.int64))
        cw = np.concatenate([u, parity], axis=1)
        return cw[0] if single else cw

    # -- decoding --------------------------------------------------------------------------
    def decode(self, llr, decoder: str = "minsum", max_iter: int = 50, alpha: float = 0.75,
               offset: float = 0.0, early_stop: bool = True, return_codeword: bool = False) -> DecodeResult:
        """Decode channel LLRs (B, n) (positive means 0) into DecodeResult(bits=(B, k) ...).

        decoder:    "minsum" (layered normalized/offset min-sum, float32: native where built,
                    else numba; see ``minsum_backend``), "minsum-numba" (the numba kernel),
                    "minsum-f32" / "minsum-i8" (the native decoder in float32, bit-exact to
                    numba, or 8-bit fixed point) or "spa" (layered sum-product, float64, tanh
                    rule).
        max_iter:   iterations (full passes over all check rows), >= 1.
        alpha, offset: min-sum normalization factor and offset (LLR units); ignored by "spa".
        early_stop: stop a codeword as soon as its hard decisions satisfy every check.
        return_codeword: DecodeResult.bits holds the whole n-bit codeword instead of the k
                    information bits.
        """
        if decoder not in DECODERS:
            raise ValueError(f"unknown LDPC decoder {decoder!r}; choose from {DECODERS}")
        if int(max_iter) < 1:
            raise ValueError("max_iter must be >= 1")
        if not (0 < alpha <= 1.5) or offset < 0:
            raise ValueError("min-sum needs 0 < alpha <= 1.5 and offset >= 0")
        dtype = np.float64 if decoder == "spa" else np.float32
        x, single = as_llr_batch(llr, self.n, dtype=dtype)
        b = x.shape[0]
        native = _native_for(decoder)
        if native is not None:
            precision = ldpc_native.DEFAULT_PRECISION if decoder == "minsum" else decoder.split("-")[1]
            hard, iters, ok = native.run(x, self.row_ptr, self.col_idx, self.n, int(max_iter), alpha, offset,
                                         early_stop, precision)
        else:
            hard = np.empty((b, self.n), dtype=np.uint8)
            iters = np.empty(b, dtype=np.int32)
            ok = np.empty(b, dtype=np.bool_)
            if decoder == "spa":
                _layered_spa(x, self.row_ptr, self.col_idx, self.max_row_degree, int(max_iter),
                             early_stop, hard, iters, ok)
            else:
                _layered_minsum(x, self._layer_ptr, self._blk_col, self._blk_shift, self.z, int(max_iter),
                                np.float32(alpha), np.float32(offset), early_stop, hard, iters, ok)
                if not early_stop:
                    ok[:] = _syndrome_zero(hard, self.row_ptr, self.col_idx)
        bits = hard if return_codeword else np.ascontiguousarray(hard[:, : self.k])
        if single:
            return DecodeResult(bits[0], iters[:1], ok[:1])
        return DecodeResult(bits, iters, ok)


def _native_for(decoder: str):
    """The native library for ``decoder``, or None where the numba kernels run it."""
    if decoder in ("spa", "minsum-numba"):
        return None
    native = ldpc_native.get()
    if native is None and decoder != "minsum":
        raise RuntimeError(f"LDPC decoder {decoder!r} needs the native library {ldpc_native.library_path()} "
                           "(build it with scripts/build_kernels.sh; unset SEMCOM_LDPC_NATIVE=0)")
    return native


def minsum_backend(decoder: str = "minsum") -> str:
    """What runs ``decoder`` here: "numba", or "native-<precision>-<isa>" (e.g. native-f32-avx2)."""
    if decoder not in DECODERS or decoder == "spa":
        raise ValueError(f"not a min-sum decoder: {decoder!r}")
    native = _native_for(decoder)
    if native is None:
        return "numba"
    precision = ldpc_native.DEFAULT_PRECISION if decoder == "minsum" else decoder.split("-")[1]
    return f"native-{precision}-{native.best_isa(precision)}"


@lru_cache(maxsize=None)
def get_ldpc(n: int = 648, rate="1/2") -> LdpcCode:
    """Cached ``LdpcCode(n, rate)``."""
    return LdpcCode(n, parse_rate(rate))


# -- numba kernels -----------------------------------------------------------------------------

@numba.njit(cache=True)
def _rows_satisfied(hard, row_ptr, col_idx):
    for r in range(row_ptr.size - 1):
        acc = 0
        for e in range(row_ptr[r], row_ptr[r + 1]):
            acc ^= hard[col_idx[e]]
        if acc:
            return False
    return True


@numba.njit(cache=True)
def _encode_parity(u, row_ptr, col_idx, k, mb, z, p0_shift, col0):
    """Parity bits (B, mb z) of the dual-diagonal QC code for information bits u (B, k):
    lam = H_info u; the first parity block is P^p0_shift (sum of all lam blocks) (the double
    diagonal cancels in the sum); the others follow by accumulation down the rows."""
    b_count = u.shape[0]
    parity = np.zeros((b_count, mb * z), dtype=np.uint8)
    lam = np.zeros(mb * z, dtype=np.uint8)
    total = np.zeros(z, dtype=np.uint8)
    for b in range(b_count):
        for r in range(mb * z):
            acc = 0
            for e in range(row_ptr[r], row_ptr[r + 1]):
                c = col_idx[e]
                if c < k:
                    acc ^= u[b, c]
            lam[r] = acc
        total[:] = 0
        for i in range(mb):
            for t in range(z):
                total[t] ^= lam[i * z + t]
        for t in range(z):  # np.roll(total, p0_shift)
            parity[b, t] = total[(t - p0_shift) % z]
        for i in range(mb - 1):
            for t in range(z):
                term = lam[i * z + t]
                if i > 0:
                    term ^= parity[b, i * z + t]
                if col0[i] >= 0:
                    term ^= parity[b, (t + col0[i]) % z]
                parity[b, (i + 1) * z + t] = term
    return parity


@numba.njit(cache=True)
def _syndrome_zero(cw, row_ptr, col_idx):
    out = np.empty(cw.shape[0], dtype=np.bool_)
    for b in range(cw.shape[0]):
        out[b] = _rows_satisfied(cw[b], row_ptr, col_idx)
    return out


@numba.njit(cache=True, inline="always", fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _gather_run(post, msg, t, min1, min2, arg, neg, blk, j, r0, r1, voff):
    """Variable-to-check values of rows r0..r1-1 of circulant ``blk`` (the j-th of its layer),
    reading variables voff + r. Indexes the 2-D arrays directly: slicing them here would cost
    a reference-count update per slice in the innermost loop."""
    for r in range(r0, r1):
        v = post[voff + r] - msg[blk, r]
        t[j, r] = v
        a = abs(v)
        neg[r] ^= v < 0
        m1 = min1[r]
        arg[r] = j if a < m1 else arg[r]
        min2[r] = min(min2[r], max(m1, a))  # branch-free: the second smallest so far
        min1[r] = min(m1, a)


@numba.njit(cache=True, inline="always", fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _scatter_run(post, msg, t, min1, min2, arg, neg, blk, j, r0, r1, voff):
    """New check-to-variable messages and posteriors for rows r0..r1-1 of circulant ``blk``."""
    for r in range(r0, r1):
        v = t[j, r]
        mag = min2[r] if arg[r] == j else min1[r]
        new = -mag if (v < 0) != neg[r] else mag
        msg[blk, r] = new
        post[voff + r] = v + new


@numba.njit(cache=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _layered_minsum(llr, layer_ptr, blk_col, blk_shift, z, max_iter, alpha, offset, early_stop,
                    hard, iters, ok):
    """Layered min-sum over the quasi-cyclic structure: the Z check rows of a layer touch
    disjoint variables, so they are updated together, lane by lane (SIMD-friendly). Row r of a
    circulant with shift s reads variable (r + s) mod Z: two contiguous runs, r < Z - s and
    r >= Z - s."""
    n = llr.shape[1]
    n_layers = layer_ptr.size - 1
    max_deg = 0
    for ly in range(n_layers):
        max_deg = max(max_deg, layer_ptr[ly + 1] - layer_ptr[ly])
    post = np.empty(n, dtype=np.float32)
    msg = np.empty((blk_col.size, z), dtype=np.float32)
    t = np.empty((max_deg, z), dtype=np.float32)
    min1 = np.empty(z, dtype=np.float32)
    min2 = np.empty(z, dtype=np.float32)
    arg = np.empty(z, dtype=np.int32)
    neg = np.empty(z, dtype=np.bool_)
    parity = np.empty(z, dtype=np.bool_)
    zero = np.float32(0.0)
    for b in range(llr.shape[0]):
        for i in range(n):
            post[i] = llr[b, i]
        msg[:, :] = 0.0
        done = False
        it = 0
        while it < max_iter and not done:
            it += 1
            for ly in range(n_layers):
                first = layer_ptr[ly]
                deg = layer_ptr[ly + 1] - first
                min1[:] = np.inf
                min2[:] = np.inf
                arg[:] = 0
                neg[:] = False
                for j in range(deg):
                    blk = first + j
                    base, s = blk_col[blk] * z, blk_shift[blk]
                    _gather_run(post, msg, t, min1, min2, arg, neg, blk, j, 0, z - s, base + s)
                    _gather_run(post, msg, t, min1, min2, arg, neg, blk, j, z - s, z, base + s - z)
                for r in range(z):
                    min1[r] = alpha * max(min1[r] - offset, zero)
                    min2[r] = alpha * max(min2[r] - offset, zero)
                for j in range(deg):
                    blk = first + j
                    base, s = blk_col[blk] * z, blk_shift[blk]
                    _scatter_run(post, msg, t, min1, min2, arg, neg, blk, j, 0, z - s, base + s)
                    _scatter_run(post, msg, t, min1, min2, arg, neg, blk, j, z - s, z, base + s - z)
            if early_stop:
                done = True
                for ly in range(n_layers):
                    parity[:] = False
                    for blk in range(layer_ptr[ly], layer_ptr[ly + 1]):
                        base, s = blk_col[blk] * z, blk_shift[blk]
                        for r in range(z - s):
                            parity[r] ^= post[base + s + r] < zero
                        for r in range(z - s, z):
                            parity[r] ^= post[base + s + r - z] < zero
                    for r in range(z):
                        if parity[r]:
                            done = False
                    if not done:
                        break
        for i in range(n):
            hard[b, i] = post[i] < zero
        iters[b] = it
        ok[b] = done


#: tanh-domain products are kept inside +-(1 - _TANH_EPS) so that atanh stays finite: check
#: messages are bounded by 2 atanh(1 - 1e-15) ~ 35.3, far beyond any bit's doubt.
_TANH_EPS = 1e-15


@numba.njit(cache=True)
def _layered_spa(llr, row_ptr, col_idx, max_deg, max_iter, early_stop, hard, iters, ok):
    """Layered sum-product in float64, check updates by the tanh rule
    R_e = 2 atanh(prod_{e' != e} tanh(t_e' / 2)), the product over the others formed by
    forward and backward partial products (no division)."""
    n = llr.shape[1]
    m = row_ptr.size - 1
    post = np.empty(n, dtype=np.float64)
    msg = np.empty(col_idx.size, dtype=np.float64)
    t = np.empty(max_deg, dtype=np.float64)
    th = np.empty(max_deg, dtype=np.float64)
    bwd = np.empty(max_deg + 1, dtype=np.float64)
    h = np.empty(n, dtype=np.uint8)
    lim = 1.0 - _TANH_EPS
    for b in range(llr.shape[0]):
        post[:] = llr[b]
        msg[:] = 0.0
        done = False
        it = 0
        while it < max_iter and not done:
            it += 1
            for r in range(m):
                start, stop = row_ptr[r], row_ptr[r + 1]
                d = stop - start
                for i in range(d):
                    t[i] = post[col_idx[start + i]] - msg[start + i]
                    th[i] = np.tanh(0.5 * t[i])
                bwd[d] = 1.0
                for i in range(d - 1, -1, -1):
                    bwd[i] = bwd[i + 1] * th[i]
                fwd = 1.0
                for i in range(d):
                    p = min(max(fwd * bwd[i + 1], -lim), lim)
                    new = 2.0 * np.arctanh(p)
                    msg[start + i] = new
                    post[col_idx[start + i]] = t[i] + new
                    fwd *= th[i]
            if early_stop:
                for i in range(n):
                    h[i] = post[i] < 0
                done = _rows_satisfied(h, row_ptr, col_idx)
        for i in range(n):
            hard[b, i] = post[i] < 0
        iters[b] = it
        ok[b] = done if early_stop else _rows_satisfied(hard[b], row_ptr, col_idx)


# -- carrying payloads of any length ------------------------------------------------------------

@dataclass
class LdpcLayout:
    """How ``payload_bits`` bits ride on codewords of ``code``, and which bits go on air.

    Shortening: each codeword carries k - s_i payload bits, the last s_i information bits
    being known zeros that are not transmitted (s_i spread evenly, differing by at most 1).
    Puncturing: if ``coded_bits`` is smaller than what shortening leaves, the last parity bits
    of each codeword are not transmitted (spread evenly; the receiver gives them LLR 0).
    Repetition: if ``coded_bits`` is larger, transmitted bits are sent again from the start
    (the receiver adds their LLRs).

    ``tx_index`` lists, for every transmitted bit in order, its flat index into the
    (n_codewords, n) codeword array; ``payload_index`` the flat index of each payload bit into
    the (n_codewords, k) information array.
    """

    code: LdpcCode
    payload_bits: int
    coded_bits: int | None = None
    n_codewords: int = field(init=False)
    tx_index: np.ndarray = field(init=False, repr=False)
    payload_index: np.ndarray = field(init=False, repr=False)
    shortened_index: np.ndarray = field(init=False, repr=False)

    #: at most this fraction of a codeword's parity bits may be punctured
    MAX_PUNCTURE_FRACTION = 0.5

    def __post_init__(self):
        code, L = self.code, int(self.payload_bits)
        if L < 1:
            raise ValueError("payload must have at least one bit")
        n_cw = -(-L // code.k)
        shorten = _spread(n_cw * code.k - L, n_cw)
        natural = n_cw * code.n - int(shorten.sum())
        target = natural if self.coded_bits is None else int(self.coded_bits)
        puncture = _spread(max(natural - target, 0), n_cw)
        if np.any(puncture > self.MAX_PUNCTURE_FRACTION * code.m):
            raise ValueError(f"{target} coded bits is too few for {L} payload bits on {code}: "
                             f"it would puncture more than half the parity bits")
        self.n_codewords = n_cw
        tx, pay, shrt = [], [], []
        for i in range(n_cw):
            k_used = code.k - shorten[i]
            pay.append(i * code.k + np.arange(k_used))
            shrt.append(i * code.n + np.arange(k_used, code.k))
            tx.append(i * code.n + np.arange(k_used))
            tx.append(i * code.n + code.k + np.arange(code.m - puncture[i]))
        once = np.concatenate(tx)
        reps = -(-target // once.size)
        self.tx_index = np.tile(once, reps)[:target].astype(np.int64)
        self.payload_index = np.concatenate(pay).astype(np.int64)
        self.shortened_index = np.concatenate(shrt).astype(np.int64)
        self.coded_bits = target

    @property
    def rate(self) -> float:
        """Effective code rate: payload bits per transmitted bit."""
        return self.payload_bits / self.coded_bits

    def encode(self, bits) -> np.ndarray:
        """Transmitted bits (coded_bits,) uint8 for payload ``bits`` (payload_bits,)."""
        payload, _ = as_bit_batch(np.asarray(bits).reshape(-1), self.payload_bits, "payload")
        info = np.zeros(self.n_codewords * self.code.k, dtype=np.uint8)
        info[self.payload_index] = payload[0]
        cw = self.code.encode(info.reshape(self.n_codewords, self.code.k))
        return cw.reshape(-1)[self.tx_index]

    def decode(self, llr, return_tx_bits: bool = False, **decoder_kwargs) -> tuple[np.ndarray, ...]:
        """(payload bits, per-codeword converged flags, per-codeword iterations) from LLRs of
        the transmitted bits (coded_bits,); with ``return_tx_bits`` also the transmitted bits as
        decoded (what ``encode`` gives for the decoded payload when the codewords converged).
        Keyword arguments go to ``LdpcCode.decode``."""
        x, _ = as_llr_batch(np.asarray(llr).reshape(-1), self.coded_bits, dtype=np.float64)
        # repeated bits add their LLRs
        full = np.bincount(self.tx_index, weights=x[0], minlength=self.n_codewords * self.code.n)
        full[self.shortened_index] = LLR_MAX
        res = self.code.decode(full.reshape(self.n_codewords, self.code.n), return_codeword=True, **decoder_kwargs)
        payload = res.bits[:, : self.code.k].reshape(-1)[self.payload_index]
        if return_tx_bits:
            return payload, res.converged, res.iterations, res.bits.reshape(-1)[self.tx_index]
        return payload, res.converged, res.iterations


def _spread(total: int, parts: int) -> np.ndarray:
    """``total`` split into ``parts`` integers differing by at most one (larger ones first)."""
    base, extra = divmod(int(total), parts)
    return np.array([base + (i < extra) for i in range(parts)], dtype=np.int64)
