"""Decoder throughput on one core: our LDPC and turbo decoders against GNU Radio's gr-fec.

Every measurement decodes the same pre-computed channel LLRs (AWGN, BPSK, a given Eb/N0) and
times the decoder alone, after a warm-up call (numba compilation). Information throughput =
information bits decoded / decoder seconds.

LDPC min-sum is measured three ways on the same LLRs: ``minsum`` (what ``LdpcCode.decode`` runs
by default: the native C decoder, float32, bit-exact to numba, where its library is built; the
record's ``backend`` says which ran), ``minsum-numba`` (the numba reference) and, where the
library is built, ``minsum-i8`` (native, 8-bit fixed point). ``ratio_vs_numba`` = throughput /
``minsum-numba``'s in the same run.

Turbo (K = 1024) likewise: ``maxlog`` (what ``TurboCode.decode`` runs by default: the native C
max-log-MAP decoder of ``turbo_native``, SIMD across codewords, bit-exact to numba, where its
library is built; ``backend`` says which ran), ``maxlog-numba`` (the numba reference; the
others' ``ratio_vs_numba`` is against it, and ``same_as_numba`` says whether their decisions and
iteration counts equal its, codeword for codeword) and ``logmap`` (exact log-MAP, numba).

GNU Radio's ``fec.ldpc_decoder`` (3.10.5) is driven through a ``fec.decoder`` block in a
flowgraph fed from a vector source, so its figure includes that flowgraph's small overhead.
It takes received BPSK values y with the opposite sign to our LLRs (positive means 1) and
forms its likelihood ratio as exp(-y / (2 sigma^2)), where the BPSK likelihood ratio is
exp(-2 y / sigma^2): its LLRs are 4x too small when ``sigma`` is the noise standard deviation,
as its documentation asks. Two measurements, both on the same channel values:

* ``grfec_ldpc_decoder``: y = -LLR and sigma = 1/sqrt(2), so it decodes exactly our LLRs (the
  fair comparison; ``ratio_vs_grfec``);
* ``grfec_ldpc_decoder_documented``: y = the received BPSK values and sigma = the noise
  standard deviation, as a GNU Radio user would set it (``ratio_vs_grfec_documented``). Its
  under-scaled LLRs make it fail and run all its iterations, which is where the ~0.2 Mbit/s
  quoted for it comes from.
"""
from __future__ import annotations

import math
import os
import tempfile
import time

import numpy as np

from semcom_blocks.phy import ldpc_native, turbo_native
from semcom_blocks.phy.ldpc import LDPC_RATES, get_ldpc, minsum_backend
from semcom_blocks.phy.snr import ebn0_to_esn0, noise_var_from_esn0

__all__ = ["awgn_llrs", "bench_ldpc", "bench_turbo", "bench_grfec_ldpc", "bench_fec"]


def awgn_llrs(codewords: np.ndarray, rate: float, ebn0_db: float, rng) -> np.ndarray:
    """Channel LLRs (float32) of BPSK codewords (bit 0 -> +1) over AWGN at Eb/N0 (dB)."""
    sigma2 = noise_var_from_esn0(ebn0_to_esn0(ebn0_db, rate, 1)) / 2  # BPSK: N0/2 per real dimension
    y = (1.0 - 2.0 * codewords) + rng.normal(0.0, math.sqrt(sigma2), codewords.shape)
    return (2.0 * y / sigma2).astype(np.float32)


def _timed(fn, min_seconds: float):
    """Run fn() until min_seconds have passed; (seconds per call, last result)."""
    calls, elapsed, res = 0, 0.0, None
    while elapsed < min_seconds or calls == 0:
        t0 = time.perf_counter()
        res = fn()
        elapsed += time.perf_counter() - t0
        calls += 1
    return elapsed / calls, res


def bench_ldpc(rate: str, ebn0_db: float, decoder: str = "minsum", frames: int = 2000, seed: int = 1,
               min_seconds: float = 1.0, n: int = 648, llr=None, info=None, **decode_kwargs):
    """One LDPC measurement: a record dict, plus the LLRs and information bits used.
    ``decode_kwargs`` (max_iter, early_stop, ...) go to ``LdpcCode.decode`` and into the record."""
    code = get_ldpc(n, rate)
    if llr is None:
        rng = np.random.default_rng(seed)
        info = rng.integers(0, 2, (frames, code.k), dtype=np.uint8)
        llr = awgn_llrs(code.encode(info), code.rate, ebn0_db, rng)
    code.decode(llr[:2], decoder=decoder, **decode_kwargs)  # warm-up / compile
    seconds, res = _timed(lambda: code.decode(llr, decoder=decoder, **decode_kwargs), min_seconds)
    record = {"code": "ldpc", "n": code.n, "rate": code.rate_name, "decoder": decoder, **decode_kwargs,
              "ebn0_db": ebn0_db,
              "frames": len(llr), "fer": float((res.bits != info).any(axis=1).mean()),
              "iterations_mean": float(res.iterations.mean()),
              "info_mbps": len(llr) * code.k / seconds / 1e6}
    if decoder.startswith("minsum"):
        record["backend"] = minsum_backend(decoder)
    return record, llr, info


def bench_turbo(ebn0_db: float, k: int = 1024, algorithm: str = "maxlog", iterations: int = 8,
                frames: int = 300, seed: int = 1, min_seconds: float = 1.0, llr=None, info=None, reference=None):
    """One turbo measurement (early stopping on, as in use): a record dict, plus the LLRs, the
    information bits and the decoder's result. ``reference``: another measurement's result on the
    same LLRs, to report ``same_as_numba`` (identical bits and iteration counts)."""
    from semcom_blocks.phy.turbo import TurboCode

    code = TurboCode(k)
    if llr is None:
        rng = np.random.default_rng(seed)
        info = rng.integers(0, 2, (frames, k), dtype=np.uint8)
        llr = awgn_llrs(code.encode(info), code.rate, ebn0_db, rng)
    code.decode(llr[:2], iterations=iterations, algorithm=algorithm)
    seconds, res = _timed(lambda: code.decode(llr, iterations=iterations, algorithm=algorithm), min_seconds)
    record = {"code": "turbo", "k": k, "rate": round(code.rate, 6), "decoder": algorithm, "iterations": iterations,
              "ebn0_db": ebn0_db, "frames": len(llr), "fer": float((res.bits != info).any(axis=1).mean()),
              "iterations_mean": float(res.iterations.mean()), "info_mbps": len(llr) * k / seconds / 1e6}
    if algorithm.startswith("maxlog"):
        record["backend"] = turbo_native.backend(algorithm, len(llr))
    if reference is not None:
        record["same_as_numba"] = bool(np.array_equal(res.bits, reference.bits)
                                       and np.array_equal(res.iterations, reference.iterations))
    return record, llr, info, res


def bench_grfec_ldpc(rate: str, llr: np.ndarray, info: np.ndarray, ebn0_db: float, documented: bool = False,
                     n: int = 648, max_iter: int = 50) -> dict:
    """GNU Radio gr-fec's LDPC decoder on the same channel values (needs Debian's GNU Radio);
    ``documented`` selects how it is driven (see the module docstring)."""
    from gnuradio import blocks, fec, gr

    code = get_ldpc(n, rate)
    if documented:
        sigma = math.sqrt(noise_var_from_esn0(ebn0_to_esn0(ebn0_db, code.rate, 1)) / 2)
        values, sigma_param = -llr * (sigma**2 / 2), sigma  # the received BPSK values, bit 1 -> +1
    else:
        values, sigma_param = -llr, 1 / math.sqrt(2)
    with tempfile.TemporaryDirectory() as tmp:
        alist = os.path.join(tmp, "h.alist")
        code.write_alist(alist)
        dec = fec.ldpc_decoder.make(alist, sigma_param, max_iter)
        tb = gr.top_block()
        src = blocks.vector_source_f(values.astype(np.float32).ravel().tolist(), False)
        sink = blocks.vector_sink_b()
        tb.connect(src, fec.decoder(dec, gr.sizeof_float, gr.sizeof_char), sink)
        t0 = time.perf_counter()
        tb.run()
        seconds = time.perf_counter() - t0
    out = np.array(sink.data(), dtype=np.uint8)
    frames = out.size // code.k
    # gr-fec returns the information bits at the positions its own Gaussian elimination chose;
    # find them once on the decoded frames' majority to report a frame error rate.
    cw = code.encode(info[:frames])
    decoded = out[: frames * code.k].reshape(frames, code.k)
    pos = np.array([np.argmax((decoded[:, j, None] == cw).mean(axis=0)) for j in range(code.k)])
    fer = float((decoded != cw[:, pos]).any(axis=1).mean())
    name = "grfec_ldpc_decoder_documented" if documented else "grfec_ldpc_decoder"
    return {"code": "ldpc", "n": n, "rate": code.rate_name, "decoder": name, "ebn0_db": ebn0_db, "frames": frames,
            "fer": fer, "info_mbps": frames * code.k / seconds / 1e6}


def bench_fec(ebn0_db: float = 4.0, turbo_ebn0_db: float = 1.0, frames: int = 2000, grfec_frames: int = 500,
              seed: int = 1, with_grfec: bool = True, rates=LDPC_RATES, min_seconds: float = 1.0, on_record=None):
    """All measurements of ``semcom bench fec``; yields/collects one record per measurement."""
    records = []

    def emit(rec):
        records.append(rec)
        if on_record is not None:
            on_record(rec)

    for rate in rates:
        ms, llr, info = bench_ldpc(rate, ebn0_db, "minsum", frames, seed, min_seconds)
        same = {"llr": llr, "info": info}
        ms_numba, _, _ = bench_ldpc(rate, ebn0_db, "minsum-numba", frames, seed, min_seconds, **same)
        minsums = [ms, ms_numba]
        if ldpc_native.available():
            minsums.append(bench_ldpc(rate, ebn0_db, "minsum-i8", frames, seed, min_seconds, **same)[0])
        for rec in minsums:
            rec["ratio_vs_numba"] = rec["info_mbps"] / ms_numba["info_mbps"]
        spa, _, _ = bench_ldpc(rate, ebn0_db, "spa", frames, seed, min_seconds, **same)
        if with_grfec:
            fair = bench_grfec_ldpc(rate, llr[:grfec_frames], info[:grfec_frames], ebn0_db)
            documented = bench_grfec_ldpc(rate, llr[:grfec_frames], info[:grfec_frames], ebn0_db, documented=True)
            for rec in minsums + [spa]:
                rec["ratio_vs_grfec"] = rec["info_mbps"] / fair["info_mbps"]
                rec["ratio_vs_grfec_documented"] = rec["info_mbps"] / documented["info_mbps"]
            emit(fair)
            emit(documented)
        for rec in minsums + [spa]:
            emit(rec)
    ref, llr, info, ref_res = bench_turbo(turbo_ebn0_db, algorithm="maxlog-numba", seed=seed, min_seconds=min_seconds)
    same = {"llr": llr, "info": info, "min_seconds": min_seconds}
    turbos = [bench_turbo(turbo_ebn0_db, algorithm="maxlog", reference=ref_res, **same)[0], ref]
    for rec in turbos:
        rec["ratio_vs_numba"] = rec["info_mbps"] / ref["info_mbps"]
    for rec in turbos + [bench_turbo(turbo_ebn0_db, algorithm="logmap", **same)[0]]:
        emit(rec)
    return records
