"""LTE turbo code (3GPP TS 36.212 section 5.1.3.2) and code-block segmentation (section 5.1.2).

Encoder
    Two identical 8-state recursive systematic convolutional (RSC) encoders with transfer
    function G(D) = [1, g1(D)/g0(D)], feedback g0 = 1 + D^2 + D^3 (13 octal) and feedforward
    g1 = 1 + D + D^3 (15 octal), in parallel; the second reads the information bits through the
    QPP interleaver of :mod:`.turbo_qpp` (``c'_i = c_{pi(i)}``). Each encoder is driven back to the
    zero state by three tail steps whose 12 tail bits are spread over the three output streams
    exactly as section 5.1.3.2.2 says.

Coded layout
    One codeword is the three streams of section 5.1.3.2.2, each K + 4 bits long, concatenated:
    ``[d0 | d1 | d2]``, n = 3K + 12 bits, with

    * d0[0:K] = the systematic bits x_k = c_k, d1[0:K] = parity z_k of encoder 1,
      d2[0:K] = parity z'_k of encoder 2;
    * the tails: d0[K:K+4] = x_K, z_{K+1}, x'_K, z'_{K+1};  d1[K:K+4] = z_K, x_{K+2}, z'_K,
      x'_{K+2};  d2[K:K+4] = x_{K+1}, z_{K+2}, x'_{K+1}, z'_{K+2}.

Decoder
    Iterative decoding with two soft-in soft-out BCJR decoders (max-log-MAP or exact log-MAP) in
    numba, float32, batched over codewords, both trellises terminated by their tail bits; "maxlog"
    runs the native C decoder of :mod:`.turbo_native` (SIMD across codewords, bit-exact to numba)
    where its library is built, "maxlog-numba" the numba kernel. Inputs
    are channel LLRs ``log P(bit=0)/P(bit=1)`` (positive means 0) in the coded layout above, in
    natural units (nats), e.g. ``2*y/sigma^2`` for BPSK 0 -> +1, 1 -> -1 over AWGN with noise
    variance sigma^2 per real dimension.

Segmentation (:func:`turbo_encode_payload`, :func:`turbo_decode_payload`)
    A payload (transport block) of any length gets a CRC-24A; if it then exceeds Z = 6144 bits it
    is split into C code blocks that each carry a CRC-24B; block sizes K+ / K- and the filler bits
    at the start of the first block follow section 5.1.2. Rate matching is not done.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np

from . import turbo_native
from .crc import crc_attach_bits, get_crc
from .fec_types import DecodeResult, as_bit_batch, as_llr_batch
from .modulation import LLR_MAX
from .turbo_qpp import TURBO_BLOCK_SIZES, qpp_params, qpp_permutation

__all__ = [
    "TurboCode",
    "TURBO_MAX_BLOCK",
    "FILLER_LLR",
    "segment_sizes",
    "turbo_payload_coded_len",
    "turbo_encode_payload",
    "turbo_decode_payload",
    "turbo_decode_payloads",
]

#: Largest code block size Z of 36.212 section 5.1.2 (bits).
TURBO_MAX_BLOCK = 6144
#: LLR given to the filler bits (known zeros) at the receiver: the demapper's clip, as for the
#: LDPC code's shortened bits.
FILLER_LLR = LLR_MAX

_ALGORITHMS = ("maxlog", "maxlog-numba", "maxlog-native", "logmap")
_DEFAULT_SCALING = {"maxlog": 0.75, "maxlog-numba": 0.75, "maxlog-native": 0.75, "logmap": 1.0}
_TB_CRC, _CB_CRC, _CRC_LEN = "crc24a", "crc24b", 24


# --------------------------------------------------------------------------------------------
# Trellis of the 13/15 RSC encoder.
#
# State s = r0 + 2*r1 + 4*r2, where r0, r1, r2 hold the feedback value delayed by 1, 2, 3 steps.
# For input u: feedback w = u ^ r1 ^ r2 (g0 = 1 + D^2 + D^3), parity z = w ^ r0 ^ r2
# (g1 = 1 + D + D^3), next state = w + 2*r0 + 4*r1.
# --------------------------------------------------------------------------------------------

def _rsc_tables():
    """(next_state[s, u], parity[s, u], terminating_input[s], prev[n, j], prev_u, prev_z)."""
    next_state = np.zeros((8, 2), dtype=np.int64)
    parity = np.zeros((8, 2), dtype=np.int64)
    term_input = np.zeros(8, dtype=np.int64)
    for s in range(8):
        r0, r1, r2 = s & 1, (s >> 1) & 1, (s >> 2) & 1
        term_input[s] = r1 ^ r2  # makes the feedback w zero: shifts zeros in
        for u in range(2):
            w = u ^ r1 ^ r2
            next_state[s, u] = w | (r0 << 1) | (r1 << 2)
            parity[s, u] = w ^ r0 ^ r2
    # Each state n has exactly two predecessors (they differ in r2).
    prev = np.zeros((8, 2), dtype=np.int64)
    prev_u = np.zeros((8, 2), dtype=np.int64)
    prev_z = np.zeros((8, 2), dtype=np.int64)
    fill = np.zeros(8, dtype=np.int64)
    for s in range(8):
        for u in range(2):
            n = next_state[s, u]
            j = fill[n]
            prev[n, j], prev_u[n, j], prev_z[n, j] = s, u, parity[s, u]
            fill[n] += 1
    return next_state, parity, term_input, prev, prev_u, prev_z


_NEXT, _PARITY, _TERM_INPUT, _PREV, _PREV_U, _PREV_Z = _rsc_tables()
# Branch signs (+1 for bit 0, -1 for bit 1), float32, for the decoder's branch metrics.
_PREV_SU = (1 - 2 * _PREV_U).astype(np.float32)
_PREV_SZ = (1 - 2 * _PREV_Z).astype(np.float32)
_NEXT_SZ = (1 - 2 * _PARITY).astype(np.float32)

_NEG = np.float32(-1.0e30)  # log of probability zero, as a finite float32
_HALF = np.float32(0.5)


def _tail_indices(k: int) -> np.ndarray:
    """(2, 3, 2) int64 positions in the [d0 | d1 | d2] codeword of the tail bits.

    ``idx[e, j, 0]`` / ``idx[e, j, 1]`` hold the systematic / parity bit of tail step j of
    encoder e. Section 5.1.3.2.2: encoder e's tail sequence x_K, z_K, x_{K+1}, z_{K+1}, x_{K+2},
    z_{K+2} fills column after column of the three streams starting at position K + 2e.
    """
    idx = np.zeros((2, 3, 2), dtype=np.int64)
    for e in range(2):
        for j in range(3):
            for c in range(2):
                m = 2 * j + c
                idx[e, j, c] = (m % 3) * (k + 4) + k + 2 * e + m // 3
    return idx


# --------------------------------------------------------------------------------------------
# Encoder kernel.
# --------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _terminate(state, encoder, tail_idx, row):
    """Write the 3 tail steps that return ``state`` to zero into the codeword ``row``."""
    for j in range(3):
        u = _TERM_INPUT[state]
        row[tail_idx[encoder, j, 0]] = u
        row[tail_idx[encoder, j, 1]] = _PARITY[state, u]
        state = _NEXT[state, u]


@numba.njit(cache=True, nogil=True)
def _encode_kernel(info, perm, tail_idx, out):
    """Encode each row of ``info`` (B, K) into ``out`` (B, 3K+12) in the [d0 | d1 | d2] layout."""
    n_words, k = info.shape
    stream = k + 4
    for b in range(n_words):
        row = out[b]
        s1 = 0
        s2 = 0
        for i in range(k):
            u = info[b, i]
            row[i] = u
            row[stream + i] = _PARITY[s1, u]
            s1 = _NEXT[s1, u]
            v = info[b, perm[i]]
            row[2 * stream + i] = _PARITY[s2, v]
            s2 = _NEXT[s2, v]
        _terminate(s1, 0, tail_idx, row)
        _terminate(s2, 1, tail_idx, row)


# --------------------------------------------------------------------------------------------
# Decoder kernels.
# --------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True, inline="always")
def _maxstar(a, b, exact):
    """max*(a, b) = log(e^a + e^b): exact Jacobian logarithm, or max(a, b) for max-log."""
    m = a if a > b else b
    if exact:
        m += np.log1p(np.exp(-abs(a - b)))
    return m


@numba.njit(cache=True, nogil=True)
def _siso(sys, par, apr, k, exact, alpha, beta, beta_new, ext):
    """One BCJR pass of one constituent decoder; writes the extrinsic LLRs ``ext[0:k]``.

    sys, par: (k+3,) channel LLRs of this encoder's systematic and parity bits, tail included.
    apr:      (k,) a priori LLRs of the information bits (from the other decoder).
    alpha:    (k+1, 8) workspace; beta, beta_new: (8,) workspaces.
    The trellis starts and (after the 3 tail steps) ends in state 0. Branch metric of a step
    with bits (u, z): ((1-2u)*(sys+apr) + (1-2z)*par) / 2. State metrics are normalised to
    state 0 after every step. The extrinsic leaves out the systematic and a priori terms, so it
    is computed from the parity term alone.
    """
    for s in range(8):
        alpha[0, s] = _NEG
    alpha[0, 0] = 0.0
    for t in range(k):
        hs = _HALF * (sys[t] + apr[t])
        hp = _HALF * par[t]
        for n in range(8):
            a0 = alpha[t, _PREV[n, 0]] + _PREV_SU[n, 0] * hs + _PREV_SZ[n, 0] * hp
            a1 = alpha[t, _PREV[n, 1]] + _PREV_SU[n, 1] * hs + _PREV_SZ[n, 1] * hp
            alpha[t + 1, n] = _maxstar(a0, a1, exact)
        ref = alpha[t + 1, 0]
        for n in range(8):
            alpha[t + 1, n] -= ref

    for s in range(8):
        beta[s] = _NEG
    beta[0] = 0.0
    for t in range(k + 2, -1, -1):
        hp = _HALF * par[t]
        if t < k:
            hs = _HALF * (sys[t] + apr[t])
            m0 = _NEG
            m1 = _NEG
            for s in range(8):
                a = alpha[t, s]
                m0 = _maxstar(m0, a + _NEXT_SZ[s, 0] * hp + beta[_NEXT[s, 0]], exact)
                m1 = _maxstar(m1, a + _NEXT_SZ[s, 1] * hp + beta[_NEXT[s, 1]], exact)
            ext[t] = m0 - m1
        else:
            hs = _HALF * sys[t]
        for s in range(8):
            b0 = beta[_NEXT[s, 0]] + hs + _NEXT_SZ[s, 0] * hp
            b1 = beta[_NEXT[s, 1]] - hs + _NEXT_SZ[s, 1] * hp
            beta_new[s] = _maxstar(b0, b1, exact)
        ref = beta_new[0]
        for s in range(8):
            beta[s] = beta_new[s] - ref


@numba.njit(cache=True, nogil=True)
def _demux(row, perm, tail_idx, sys1, par1, sys2, par2):
    """Split one codeword's LLRs into the two constituent decoders' inputs (tails included)."""
    k = perm.size
    stream = k + 4
    for i in range(k):
        sys1[i] = row[i]
        par1[i] = row[stream + i]
        sys2[i] = row[perm[i]]
        par2[i] = row[2 * stream + i]
    for j in range(3):
        sys1[k + j] = row[tail_idx[0, j, 0]]
        par1[k + j] = row[tail_idx[0, j, 1]]
        sys2[k + j] = row[tail_idx[1, j, 0]]
        par2[k + j] = row[tail_idx[1, j, 1]]


@numba.njit(cache=True, nogil=True)
def _crc_remainder(bits, poly, width):
    """Remainder of the bit string (MSB first) divided by the CRC polynomial; 0 means CRC ok.

    Valid for CRCs with zero initial register and no final XOR (the 3GPP ones), whose
    parity bits are appended after the data.
    """
    mask = (1 << width) - 1
    reg = 0
    for i in range(bits.size):
        feedback = ((reg >> (width - 1)) & 1) ^ bits[i]
        reg = (reg << 1) & mask
        if feedback:
            reg ^= poly
    return reg


@numba.njit(cache=True, nogil=True)
def _turbo_decode_kernel(llr, perm, tail_idx, max_iter, exact, scaling, early_stop,
                         crc_poly, crc_width, bits_out, iters_out, converged_out):
    """Decode every row of ``llr`` (B, 3K+12); results into bits_out, iters_out, converged_out.

    A full iteration runs decoder 1 then decoder 2; the a priori input of each is the other's
    extrinsic output times ``scaling``. Hard decisions (a posteriori LLR < 0 -> 1) are taken
    after each constituent decoder. A codeword is converged when the decisions of both
    decoders of this iteration equal those at the end of the previous iteration (so they did
    not change between two full iterations, nor within this one), or, with ``crc_width > 0``,
    when the final decisions pass the CRC; with ``early_stop`` it stops there.
    """
    n_words = llr.shape[0]
    k = perm.size
    sys1 = np.empty(k + 3, np.float32)
    par1 = np.empty(k + 3, np.float32)
    sys2 = np.empty(k + 3, np.float32)
    par2 = np.empty(k + 3, np.float32)
    apr1 = np.empty(k, np.float32)
    apr2 = np.empty(k, np.float32)
    ext = np.empty(k, np.float32)
    alpha = np.empty((k + 1, 8), np.float32)
    beta = np.empty(8, np.float32)
    beta_new = np.empty(8, np.float32)
    scale = np.float32(scaling)
    for b in range(n_words):
        _demux(llr[b], perm, tail_idx, sys1, par1, sys2, par2)
        dec = bits_out[b]
        apr1[:] = 0.0
        dec[:] = 0
        converged = False
        it = 0
        while it < max_iter:
            it += 1
            _siso(sys1, par1, apr1, k, exact, alpha, beta, beta_new, ext)
            changed = 0
            for t in range(k):
                bit = np.uint8(1) if sys1[t] + apr1[t] + ext[t] < 0 else np.uint8(0)
                if bit != dec[t]:
                    changed += 1
                    dec[t] = bit
            for i in range(k):
                apr2[i] = scale * ext[perm[i]]
            _siso(sys2, par2, apr2, k, exact, alpha, beta, beta_new, ext)
            for i in range(k):
                j = perm[i]
                apr1[j] = scale * ext[i]
                bit = np.uint8(1) if sys2[i] + apr2[i] + ext[i] < 0 else np.uint8(0)
                if bit != dec[j]:
                    changed += 1
                    dec[j] = bit
            converged = it > 1 and changed == 0
            if crc_width > 0 and _crc_remainder(dec, crc_poly, crc_width) == 0:
                converged = True
            if early_stop and converged:
                break
        iters_out[b] = it
        converged_out[b] = converged


# --------------------------------------------------------------------------------------------
# Public code-block API.
# --------------------------------------------------------------------------------------------

class TurboCode:
    """The LTE rate-1/3 turbo code for one code block size K (36.212 section 5.1.3.2).

    Attributes:
        k:    information bits per codeword (a K of Table 5.1.3-3, 40..6144).
        n:    coded bits per codeword, 3K + 12, laid out as ``[d0 | d1 | d2]`` (module docstring).
        rate: k / n (slightly below 1/3 because of the 12 tail bits).
        perm: (k,) QPP interleaver, ``perm[i]`` = information bit read by encoder 2 at step i.
    """

    def __init__(self, k: int):
        qpp_params(k)  # ValueError for a K outside the table
        self.k = int(k)
        self.n = 3 * self.k + 12
        self.rate = self.k / self.n
        self.perm = qpp_permutation(self.k)
        self._tail_idx = _tail_indices(self.k)
        self._perm32, self._tail32 = self.perm.astype(np.int32), self._tail_idx.astype(np.int32).reshape(-1)

    def __repr__(self) -> str:
        return f"TurboCode(k={self.k})"

    def encode(self, info) -> np.ndarray:
        """Encode information bits (B, k) or (k,) uint8 0/1 into (B, n) or (n,) uint8 codewords."""
        bits, single = as_bit_batch(info, self.k, "info bits")
        out = np.empty((bits.shape[0], self.n), dtype=np.uint8)
        _encode_kernel(bits, self.perm, self._tail_idx, out)
        return out[0] if single else out

    def decode(self, llr, iterations: int = 8, algorithm: str = "maxlog",
               scaling: float | None = None, early_stop: bool = True,
               crc: str | None = None) -> DecodeResult:
        """Decode channel LLRs (B, n) or (n,) in the ``[d0 | d1 | d2]`` layout.

        Args:
            llr:        LLRs log P(0)/P(1) in nats, positive means 0; must be finite.
            iterations: maximum number of full iterations (both constituent decoders), >= 1.
            algorithm:  "maxlog" (max-log-MAP: native where built, else numba), "maxlog-numba",
                        "maxlog-native" (turbo_native) or "logmap" (exact Jacobian logarithm).
            scaling:    factor on the extrinsic LLRs passed between the constituent decoders,
                        in (0, 1]; default 0.75 for "maxlog", 1.0 for "logmap".
            early_stop: stop a codeword once converged: its hard decisions did not change
                        between two consecutive full iterations, nor between the two
                        constituent decoders of the last one (the stricter test keeps the FER
                        of running all iterations), or ``crc`` passed. False runs all
                        ``iterations`` (``converged`` then reports the test at the last one).
            crc:        optional name of a CRC (e.g. "crc24a", "crc24b") whose parity bits end
                        the information bits; passing it also counts as converged.

        Returns:
            DecodeResult with bits (B, k) uint8, iterations (B,) int32 (full iterations run),
            converged (B,) bool; a 1-D input gives (k,) bits and numpy scalars.
        """
        exact, scale = _check_decoder_options(iterations, algorithm, scaling)
        crc_poly, crc_width = _crc_params(crc)
        values, single = as_llr_batch(llr, self.n, np.float32)
        native, n_words = turbo_native.for_algorithm(algorithm), values.shape[0]
        if native is not None:
            bits, iters, converged = native.run(values, self._perm32, self._tail32, int(iterations), scale,
                                                bool(early_stop), crc_poly, crc_width)
        else:
            bits, iters = np.zeros((n_words, self.k), np.uint8), np.zeros(n_words, np.int32)
            converged = np.zeros(n_words, dtype=np.bool_)
            _turbo_decode_kernel(values, self.perm, self._tail_idx, int(iterations), exact, scale,
                                 bool(early_stop), crc_poly, crc_width, bits, iters, converged)
        if single:
            return DecodeResult(bits[0], iters[0], converged[0])
        return DecodeResult(bits, iters, converged)


def _is_int_at_least(value, minimum: int) -> bool:
    """True for an int (Python or numpy, not bool) >= ``minimum``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum


def _check_decoder_options(iterations, algorithm, scaling) -> tuple[bool, float]:
    """Validate the decoder options; return (exact log-MAP?, extrinsic scaling)."""
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"unknown turbo algorithm {algorithm!r}; use one of {_ALGORITHMS}")
    if not _is_int_at_least(iterations, 1):
        raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}")
    scale = _DEFAULT_SCALING[algorithm] if scaling is None else float(scaling)
    if not (0.0 < scale <= 1.0):
        raise ValueError(f"extrinsic scaling must be in (0, 1], got {scaling!r}")
    return algorithm == "logmap", scale


def _crc_params(crc: str | None) -> tuple[int, int]:
    """(polynomial, width) of a CRC usable for early stopping; (0, 0) for none."""
    if crc is None:
        return 0, 0
    spec = get_crc(crc)
    if spec.reflect or spec.init or spec.xorout:
        raise ValueError(f"CRC {spec.name} is not a plain MSB-first CRC; use crc16/crc24a/crc24b")
    return spec.poly, spec.width


# --------------------------------------------------------------------------------------------
# Code-block segmentation (36.212 section 5.1.2).
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Segmentation:
    """How a payload maps to code blocks.

    sizes:     K of each code block, in transmission order (the K- blocks come first).
    n_filler:  F filler bits (<NULL>, encoded as 0) at the start of the first block.
    block_crc: "crc24b" when the transport block is split (C > 1), else None.
    """

    sizes: tuple[int, ...]
    n_filler: int
    block_crc: str | None

    def data_lens(self) -> list[int]:
        """Transport block bits (payload + CRC-24A) carried by each code block."""
        crc_len = _CRC_LEN if self.block_crc else 0
        lens = [k - crc_len for k in self.sizes]
        lens[0] -= self.n_filler
        return lens

    def coded_lens(self) -> list[int]:
        """Coded bits sent for each block: 3K + 12, less the 2F <NULL> bits of block 0."""
        lens = [3 * k + 12 for k in self.sizes]
        lens[0] -= 2 * self.n_filler
        return lens


def _segment(payload_len: int) -> _Segmentation:
    """Segmentation of a payload of ``payload_len`` bits; ValueError for a bad length."""
    if not _is_int_at_least(payload_len, 0):
        raise ValueError(f"payload_len must be an integer >= 0, got {payload_len!r}")
    return _segment_cached(int(payload_len))


@lru_cache(maxsize=256)
def _segment_cached(payload_len: int) -> _Segmentation:
    tb_len = payload_len + _CRC_LEN  # B: payload with its CRC-24A
    if tb_len <= TURBO_MAX_BLOCK:
        n_blocks, crc_len = 1, 0
    else:
        crc_len = _CRC_LEN
        n_blocks = -(-tb_len // (TURBO_MAX_BLOCK - crc_len))
    total = tb_len + n_blocks * crc_len  # B'
    k_plus = next(k for k in TURBO_BLOCK_SIZES if n_blocks * k >= total)
    if n_blocks == 1:
        sizes = (k_plus,)
    else:
        k_minus = max(k for k in TURBO_BLOCK_SIZES if k < k_plus)
        n_minus = (n_blocks * k_plus - total) // (k_plus - k_minus)
        sizes = (k_minus,) * n_minus + (k_plus,) * (n_blocks - n_minus)
    return _Segmentation(sizes, sum(sizes) - total,
                         _CB_CRC if n_blocks > 1 else None)


def segment_sizes(payload_len: int) -> list[int]:
    """Code block sizes K (bits) for a payload of ``payload_len`` bits, per 36.212 5.1.2.

    The payload first gets a 24-bit CRC-24A; blocks of C > 1 also carry a CRC-24B each.
    """
    return list(_segment(payload_len).sizes)


def turbo_payload_coded_len(payload_len: int) -> int:
    """Number of coded bits :func:`turbo_encode_payload` produces for ``payload_len`` bits."""
    return sum(_segment(payload_len).coded_lens())


def _filler_mask(k: int, n_filler: int) -> np.ndarray:
    """(3K+12,) bool, False at the <NULL> positions d0[0:F] and d1[0:F] of a codeword."""
    keep = np.ones(3 * k + 12, dtype=bool)
    keep[:n_filler] = False
    keep[k + 4: k + 4 + n_filler] = False
    return keep


@lru_cache(maxsize=None)
def _code(k: int) -> TurboCode:
    return TurboCode(k)


def turbo_encode_payload(bits) -> np.ndarray:
    """Segment, CRC-protect and turbo-encode a 1-D payload of uint8 0/1 bits.

    The payload gets a CRC-24A and is cut into the code blocks of :func:`segment_sizes`
    (each with a CRC-24B when there are several); the first block starts with F filler bits
    (value 0). Returns the codewords ``[d0 | d1 | d2]`` of the blocks concatenated, 1-D uint8
    of :func:`turbo_payload_coded_len` bits, with the 2F <NULL> bits that the filler makes of
    d0[0:F] and d1[0:F] removed (as 36.212 rate matching removes them).
    """
    payload = np.asarray(bits)
    if payload.ndim != 1:
        raise ValueError(f"payload bits must be 1-D, got shape {payload.shape}")
    payload, _ = as_bit_batch(payload, payload.size, "payload bits")
    seg = _segment(payload.shape[1])
    tb = crc_attach_bits(payload[0], _TB_CRC)
    pieces, start = [], 0
    for r, (k, data_len) in enumerate(zip(seg.sizes, seg.data_lens())):
        n_filler = seg.n_filler if r == 0 else 0
        block = np.concatenate([np.zeros(n_filler, np.uint8), tb[start:start + data_len]])
        start += data_len
        if seg.block_crc:
            block = crc_attach_bits(block, seg.block_crc)
        pieces.append(_code(k).encode(block)[_filler_mask(k, n_filler)])
    return np.concatenate(pieces)


def turbo_decode_payload(llr, payload_len: int, **decoder_kwargs):
    """Decode the LLRs of :func:`turbo_encode_payload`'s output back into the payload.

    Args:
        llr:            1-D LLRs (log P(0)/P(1), positive means 0) of the
                        ``turbo_payload_coded_len(payload_len)`` coded bits.
        payload_len:    payload length in bits.
        decoder_kwargs: passed to :meth:`TurboCode.decode` (iterations, algorithm, scaling,
                        early_stop, crc). By default each block's own CRC (CRC-24A for a
                        single block, CRC-24B otherwise) also stops its decoding early.

    The filler bits are known zeros: their d0 and d1 positions get LLR ``+FILLER_LLR``.

    Returns:
        (bits, crc_ok, iterations): the (payload_len,) uint8 decoded payload; (C,) bool, for
        each code block whether its CRC passed (the transport block's CRC-24A when C = 1, the
        block's CRC-24B when C > 1; the CRC-24A is then not checked again); (C,) int32 turbo
        iterations each block used.
    """
    return turbo_decode_payloads([(llr, payload_len)], **decoder_kwargs)[0]


def turbo_decode_payloads(payloads, **decoder_kwargs) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`turbo_decode_payload` of every (llr, payload_len) of ``payloads``, in order, with
    the code blocks of one size K (and CRC) of all of them decoded in one TurboCode.decode call
    (the native decoder is SIMD across codewords). Each block decodes as it would alone."""
    jobs, groups = [], {}
    for llr, payload_len in payloads:
        seg = _segment(payload_len)
        values, single = as_llr_batch(llr, turbo_payload_coded_len(payload_len), np.float32)
        if not single:
            raise ValueError("turbo_decode_payload takes one 1-D LLR array")
        crc = decoder_kwargs.get("crc", seg.block_crc or _TB_CRC)
        for r, block_llr in enumerate(_unpack_blocks(values[0], seg)):
            groups.setdefault((seg.sizes[r], crc), []).append((len(jobs), r, block_llr))
        jobs.append((seg, payload_len, [None] * len(seg.sizes)))
    for (k, crc), members in groups.items():
        res = _code(k).decode(np.stack([m[2] for m in members]), **{**decoder_kwargs, "crc": crc})
        for i, (j, r, _) in enumerate(members):
            jobs[j][2][r] = (res.bits[i], int(res.iterations[i]))
    out = []
    for seg, payload_len, blocks in jobs:
        decoded, crc_ok = [], []
        for r, (bits, _) in enumerate(blocks):
            n_filler = seg.n_filler if r == 0 else 0
            checked = bits if seg.block_crc else bits[n_filler:]  # the block's CRC-24B, or the TB's CRC-24A
            # crc_check_bits in numba (plain CRCs: the remainder of data + parity is 0 iff they match)
            crc_ok.append(_crc_remainder(checked, *_crc_params(seg.block_crc or _TB_CRC)) == 0)
            decoded.append(bits[n_filler:-_CRC_LEN] if seg.block_crc else checked)
        tb = np.concatenate(decoded)
        out.append((tb[:payload_len], np.array(crc_ok, dtype=bool), np.array([it for _, it in blocks], np.int32)))
    return out


def _unpack_blocks(values: np.ndarray, seg: _Segmentation) -> list[np.ndarray]:
    """Cut the payload LLRs into full (3K+12,) codeword LLRs, filler positions set to FILLER_LLR."""
    blocks, start = [], 0
    for r, (k, length) in enumerate(zip(seg.sizes, seg.coded_lens())):
        n_filler = seg.n_filler if r == 0 else 0
        full = np.full(3 * k + 12, FILLER_LLR, dtype=np.float32)
        full[_filler_mask(k, n_filler)] = values[start:start + length]
        start += length
        blocks.append(full)
    return blocks
