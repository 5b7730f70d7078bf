"""The native (C, SIMD across codewords) layered min-sum decoder against the numba reference.

float32 runs the numba kernel's arithmetic in the same order, so hard decisions, iteration counts
and flags must agree bit for bit, on every instruction set this CPU has; int8 must agree in
frame error rate within statistics and exactly on high-SNR frames.
"""
import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from semcom_blocks.phy import ldpc_native
from semcom_blocks.phy.ldpc import LDPC_LENGTHS, LDPC_RATES, get_ldpc, minsum_backend

ROOT = Path(__file__).resolve().parents[2]
ALL = [(n, r) for n in LDPC_LENGTHS for r in LDPC_RATES]
#: Eb/N0 (dB) where min-sum fails on a good share of frames and runs many iterations
HARD_EBN0 = {"1/2": 1.0, "2/3": 1.8, "3/4": 2.3, "5/6": 3.0}


def _compiler():
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


def _build(out: Path) -> Path:
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler: the native LDPC decoder cannot be built here")
    subprocess.run(["bash", str(ROOT / "scripts" / "build_kernels.sh"), str(out)], check=True,
                   env={**os.environ, "CC": cc}, capture_output=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def lib_path(tmp_path_factory):
    """The library this checkout built (make setup), else one built now into a temporary folder."""
    default = ldpc_native.KERNEL_DIR / ldpc_native.LIB_NAME
    if ldpc_native.load(str(default)) is not None:
        return default
    return _build(tmp_path_factory.mktemp("kernels") / ldpc_native.LIB_NAME)


@pytest.fixture
def native(lib_path, monkeypatch):
    """The native decoder, and LdpcCode.decode routed to it (whatever the caller's environment)."""
    monkeypatch.setenv("SEMCOM_LDPC_LIB", str(lib_path))
    monkeypatch.delenv("SEMCOM_LDPC_NATIVE", raising=False)
    monkeypatch.delenv("SEMCOM_LDPC_ISA", raising=False)
    lib = ldpc_native.load(str(lib_path))
    assert lib is not None
    return lib


def _llrs(code, frames, ebn0_db, seed):
    """(info bits, float32 BPSK AWGN channel LLRs, positive means 0) at Eb/N0 per info bit."""
    rng = np.random.default_rng(seed)
    info = rng.integers(0, 2, (frames, code.k), dtype=np.uint8)
    sigma2 = 1.0 / (2.0 * code.rate * 10 ** (ebn0_db / 10))
    y = 1.0 - 2.0 * code.encode(info) + rng.normal(0.0, np.sqrt(sigma2), (frames, code.n))
    return info, (2.0 * y / sigma2).astype(np.float32)


def _numba(code, llr, **kw):
    return code.decode(llr, decoder="minsum-numba", return_codeword=True, **kw)


def _assert_same(res, hard, iters, ok):
    np.testing.assert_array_equal(hard, res.bits)
    np.testing.assert_array_equal(iters, res.iterations)
    np.testing.assert_array_equal(ok, res.converged)


@pytest.mark.parametrize("n,rate", ALL)
def test_f32_bit_exact_to_numba_every_code_and_isa(native, n, rate):
    """A batch that is not a multiple of any lane count, at an SNR where frames fail, converge
    after a few or many iterations; plus frames of zeros and -0.0 (ties: hard decision 0)."""
    code = get_ldpc(n, rate)
    _, llr = _llrs(code, 37, HARD_EBN0[rate], seed=n + len(rate))
    llr[3] = 0.0
    llr[4] = -0.0
    llr[5, ::2] = -0.0
    ref = _numba(code, llr, max_iter=30)
    assert ref.converged.sum() > 10 and (~ref.converged).sum() >= 3  # failures and successes
    assert len(set(ref.iterations.tolist())) > 3
    for isa in native.supported_isas("f32"):
        _assert_same(ref, *native.decode(llr, code.row_ptr, code.col_idx, n, max_iter=30, isa=isa))


def test_f32_bit_exact_with_offset_and_without_early_stop(native):
    code = get_ldpc(648, "1/2")
    _, llr = _llrs(code, 21, 1.8, seed=4)
    for kw in ({"alpha": 1.0, "offset": 0.5}, {"alpha": 0.8, "offset": 0.25, "early_stop": False, "max_iter": 7},
               {"early_stop": False, "max_iter": 1}):
        ref = _numba(code, llr, **kw)
        for isa in native.supported_isas("f32"):
            _assert_same(ref, *native.decode(llr, code.row_ptr, code.col_idx, code.n, isa=isa, **kw))
    assert (ref.iterations == 1).all()


def test_default_minsum_is_native_and_identical(native):
    code = get_ldpc(1296, "2/3")
    _, llr = _llrs(code, 40, 2.5, seed=9)
    assert minsum_backend() == f"native-f32-{native.best_isa('f32')}"
    assert minsum_backend("minsum-numba") == "numba"
    res, ref = code.decode(llr), code.decode(llr, decoder="minsum-numba")
    np.testing.assert_array_equal(res.bits, ref.bits)
    np.testing.assert_array_equal(res.iterations, ref.iterations)
    single = code.decode(llr[7], decoder="minsum-f32")  # one 1-D codeword, as the numba path takes it
    assert single.bits.shape == (code.k,) and np.array_equal(single.bits, ref.bits[7])


def test_i8_same_on_every_isa_and_small_batches_use_narrow_lanes(native):
    """int8 runs the same integer arithmetic everywhere, so the instruction set chosen for a
    batch (the narrowest with enough lanes when the batch is small) changes only the speed."""
    code = get_ldpc(1944, "2/3")
    _, llr = _llrs(code, 45, HARD_EBN0["2/3"], seed=6)
    results = [native.decode(llr, code.row_ptr, code.col_idx, code.n, precision="i8", isa=isa)
               for isa in native.supported_isas("i8")]
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_array_equal(got, want)
    for precision in ldpc_native.PRECISIONS:
        simd = native.supported_isas(precision)[1:]
        if simd:
            assert native.best_isa(precision, 1) == simd[0] and native.best_isa(precision) == simd[-1]
            assert native.best_isa(precision, 10**6) == simd[-1]


@pytest.mark.parametrize("precision", ldpc_native.PRECISIONS)
def test_batch_sizes_around_the_lane_count(native, precision):
    code = get_ldpc(648, "3/4")
    _, llr = _llrs(code, 140, 3.0, seed=2)
    ref = _numba(code, llr)
    for isa in native.supported_isas(precision):
        w = native.lanes(isa, precision)
        full = native.decode(llr, code.row_ptr, code.col_idx, code.n, precision=precision, isa=isa)
        for b in sorted({0, 1, w - 1, w + 1, 2 * w + 3}):
            hard, iters, ok = native.decode(llr[:b], code.row_ptr, code.col_idx, code.n, precision=precision, isa=isa)
            assert hard.shape == (b, code.n) and hard.dtype == np.uint8
            assert iters.shape == (b,) and iters.dtype == np.int32 and ok.shape == (b,) and ok.dtype == np.bool_
            # lanes never interact: a codeword decodes the same whatever its batch
            for got, want in zip((hard, iters, ok), full):
                np.testing.assert_array_equal(got, want[:b])
            if precision == "f32":
                np.testing.assert_array_equal(hard, ref.bits[:b])
                np.testing.assert_array_equal(iters, ref.iterations[:b])


@pytest.mark.parametrize("precision", ldpc_native.PRECISIONS)
def test_early_stopping_per_codeword(native, precision):
    """Noiseless frames stop after one iteration while noisy ones in the same batch go on; each
    stopped codeword is exactly what the decoder had after its last iteration (running it for
    that many iterations without early stopping gives the same bits), and it is a codeword."""
    code = get_ldpc(648, "1/2")
    info, llr = _llrs(code, 40, 1.7, seed=5)
    llr[::4] = 8.0 * (1.0 - 2.0 * code.encode(info[::4]))
    hard, iters, ok = native.decode(llr, code.row_ptr, code.col_idx, code.n, precision=precision)
    assert (iters[::4] == 1).all() and ok[::4].all()
    np.testing.assert_array_equal(hard[::4, : code.k], info[::4])
    assert iters.max() > 3 and (iters[ok] < 50).all() and (iters[~ok] == 50).all()
    assert code.syndrome_ok(hard[ok]).all() and not code.syndrome_ok(hard[~ok]).any()
    for b in np.flatnonzero(ok)[:12]:
        again = native.decode(llr[b], code.row_ptr, code.col_idx, code.n, max_iter=int(iters[b]), early_stop=False,
                              precision=precision)
        np.testing.assert_array_equal(again[0][0], hard[b])


@pytest.mark.parametrize("rate", LDPC_RATES)
def test_i8_frame_error_rate_as_float_and_exact_at_high_snr(native, rate):
    code = get_ldpc(648, rate)
    frames = 1500
    ebn0 = {"1/2": 1.8, "2/3": 2.5, "3/4": 3.0, "5/6": 3.7}[rate]  # FER about 3e-2
    info, llr = _llrs(code, frames, ebn0, seed=11)
    fer = {}
    for precision in ldpc_native.PRECISIONS:
        hard, _, _ = native.decode(llr, code.row_ptr, code.col_idx, code.n, precision=precision)
        fer[precision] = (hard[:, : code.k] != info).any(axis=1).mean()
    p = (fer["f32"] + fer["i8"]) / 2
    assert 0.005 < p < 0.2, fer
    assert abs(fer["i8"] - fer["f32"]) <= 4 * np.sqrt(2 * p * (1 - p) / frames), fer  # paired: conservative
    # 1.5 dB higher (FER ~1e-4): the same frames converge, to the same (transmitted) codewords
    info, llr = _llrs(code, 300, ebn0 + 1.5, seed=12)
    ref = _numba(code, llr)
    hard, _, ok = native.decode(llr, code.row_ptr, code.col_idx, code.n, precision="i8")
    np.testing.assert_array_equal(ok, ref.converged)
    assert ok.mean() > 0.99
    np.testing.assert_array_equal(hard[ok], ref.bits[ok])
    np.testing.assert_array_equal(hard[ok, : code.k], info[ok])


def test_i8_keeps_converged_codewords_without_early_stop(native):
    """Iterating on after convergence must not undo it: with plain saturating posteriors the
    clamped part of a posterior is lost, later message updates turn bits over, and at 4 dB the
    frame error rate climbed from 0 to 1 between 4 and 10 iterations."""
    code = get_ldpc(648, "3/4")
    info, llr = _llrs(code, 200, 4.0, seed=13)
    ref = _numba(code, llr, max_iter=25, early_stop=False)
    for isa in native.supported_isas("i8"):
        hard, iters, ok = native.decode(llr, code.row_ptr, code.col_idx, code.n, max_iter=25, early_stop=False,
                                        precision="i8", isa=isa)
        assert (iters == 25).all() and ok.all() and ref.converged.all()
        np.testing.assert_array_equal(hard, ref.bits)


def test_i8_saturates_huge_llrs(native):
    """|LLR| far beyond the int8 range (LdpcLayout gives shortened bits LLR 1000) still decodes."""
    code = get_ldpc(1944, "5/6")
    info = np.random.default_rng(3).integers(0, 2, (5, code.k), dtype=np.uint8)
    llr = 1e30 * (1.0 - 2.0 * code.encode(info))
    hard, iters, ok = native.decode(llr, code.row_ptr, code.col_idx, code.n, precision="i8")
    assert ok.all() and (iters == 1).all() and np.array_equal(hard[:, : code.k], info)


def test_bad_input_raises(native):
    code = get_ldpc(648, "3/4")
    rp, ci = code.row_ptr, code.col_idx
    with pytest.raises(ValueError, match="shape"):
        native.decode(np.zeros((2, 647)), rp, ci, 648)
    with pytest.raises(ValueError, match="shape"):
        code.decode(np.zeros((2, 649)), decoder="minsum-f32")
    with pytest.raises(ValueError, match="NaN or infinite"):
        native.decode(np.r_[np.zeros(647), np.nan], rp, ci, 648)
    with pytest.raises(ValueError, match="NaN or infinite"):
        code.decode(np.r_[np.zeros(647), -np.inf], decoder="minsum-i8")
    with pytest.raises(ValueError, match="real LLRs"):
        native.decode(np.zeros(648, complex), rp, ci, 648)
    with pytest.raises(ValueError, match="precision"):
        native.decode(np.zeros(648), rp, ci, 648, precision="f16")
    with pytest.raises(ValueError, match="instruction set"):
        native.decode(np.zeros(648), rp, ci, 648, isa="neon")
    with pytest.raises(ValueError, match="max_iter"):
        native.decode(np.zeros(648), rp, ci, 648, max_iter=0)
    with pytest.raises(ValueError, match="alpha"):
        native.decode(np.zeros(648), rp, ci, 648, alpha=2.0)
    with pytest.raises(ValueError, match="col_idx"):
        native.decode(np.zeros(648), rp, ci, 600)
    with pytest.raises(ValueError, match="malformed"):
        native.decode(np.zeros(648), np.array([0, 1, 3], np.int32), np.array([0, 1, 2], np.int32), 648)
    # integer LLRs are taken as the numba path takes them
    llr = (4 * (1 - 2 * code.encode(np.zeros(code.k, np.uint8)))).astype(np.int16)
    assert not code.decode(llr, decoder="minsum-f32").bits.any()


def test_fallback_to_numba_without_library(native, monkeypatch, caplog, tmp_path):
    code = get_ldpc(648, "2/3")
    _, llr = _llrs(code, 9, 2.5, seed=1)
    ref = code.decode(llr, decoder="minsum-numba")
    monkeypatch.setenv("SEMCOM_LDPC_LIB", str(tmp_path / "absent.so"))
    with caplog.at_level(logging.DEBUG, logger=ldpc_native.__name__):
        assert ldpc_native.get() is None and not ldpc_native.available()
    assert "not built" in caplog.text
    assert minsum_backend() == "numba"
    res = code.decode(llr)  # "minsum" quietly runs numba
    np.testing.assert_array_equal(res.bits, ref.bits)
    with pytest.raises(RuntimeError, match="build_kernels"):
        code.decode(llr, decoder="minsum-f32")
    monkeypatch.delenv("SEMCOM_LDPC_LIB")
    monkeypatch.setenv("SEMCOM_LDPC_NATIVE", "0")  # forces numba even where the library is built
    assert ldpc_native.get() is None and minsum_backend() == "numba"
    np.testing.assert_array_equal(code.decode(llr).bits, ref.bits)


def test_isa_cap_from_environment(native, monkeypatch, lib_path):
    monkeypatch.setenv("SEMCOM_LDPC_ISA", "portable")
    assert ldpc_native.NativeMinSum(lib_path).best_isa("f32") == "portable"
    monkeypatch.setenv("SEMCOM_LDPC_ISA", "avx9")
    with pytest.raises(ValueError, match="SEMCOM_LDPC_ISA"):
        ldpc_native.NativeMinSum(lib_path)


def test_build_script_and_abi_check(tmp_path):
    """scripts/build_kernels.sh builds a loadable library, and does nothing when it is up to date;
    a library of another ABI version is refused (numba then runs)."""
    out = _build(tmp_path / "libx.so")
    mtime = out.stat().st_mtime_ns
    assert ldpc_native.load(str(out)) is not None
    _build(out)
    assert out.stat().st_mtime_ns == mtime
    fake = tmp_path / "old.c"
    fake.write_text("int ldpc_minsum_abi_version(void) { return 999; }\n")
    subprocess.run([_compiler(), "-shared", "-fPIC", "-o", str(tmp_path / "old.so"), str(fake)], check=True)
    assert ldpc_native.load(str(tmp_path / "old.so")) is None
