"""The native (C, SIMD across codewords) max-log-MAP turbo decoder against the numba reference.

It runs the numba kernel's float32 arithmetic in the same order, so hard decisions, iteration
counts and convergence flags must agree bit for bit, on every instruction set this CPU has, with
every option (early stopping, CRC stopping, extrinsic scaling) and at any batch size.
"""
import logging
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from semcom_blocks.phy import turbo, turbo_native
from semcom_blocks.phy.crc import crc_attach_bits, get_crc
from semcom_blocks.phy.turbo import (
    TurboCode,
    _crc_params,
    turbo_decode_payload,
    turbo_decode_payloads,
    turbo_encode_payload,
)

ROOT = Path(__file__).resolve().parents[2]


def _compiler():
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


def _build(out: Path) -> Path:
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler: the native turbo decoder cannot be built here")
    subprocess.run(["bash", str(ROOT / "scripts" / "build_kernels.sh"), "--turbo", str(out)], check=True,
                   env={**os.environ, "CC": cc}, capture_output=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def lib_path(tmp_path_factory):
    """The library this checkout built (make setup), else one built now into a temporary folder."""
    default = turbo_native.KERNEL_DIR / turbo_native.LIB_NAME
    if turbo_native.load(str(default)) is not None:
        return default
    return _build(tmp_path_factory.mktemp("kernels") / turbo_native.LIB_NAME)


@pytest.fixture
def native(lib_path, monkeypatch):
    """The native decoder, and TurboCode.decode("maxlog") routed to it (whatever the environment)."""
    monkeypatch.setenv("SEMCOM_TURBO_LIB", str(lib_path))
    monkeypatch.delenv("SEMCOM_TURBO_NATIVE", raising=False)
    monkeypatch.delenv("SEMCOM_TURBO_ISA", raising=False)
    lib = turbo_native.load(str(lib_path))
    assert lib is not None
    return lib


def _llrs(code, info, ebn0_db, rng):
    """float32 BPSK AWGN channel LLRs 2y/sigma^2 (positive means 0) at Eb/N0 per information bit."""
    sigma2 = 1.0 / (2.0 * code.rate * 10 ** (ebn0_db / 10))
    y = 1.0 - 2.0 * code.encode(info) + rng.normal(0.0, np.sqrt(sigma2), (info.shape[0], code.n))
    return (2.0 * y / sigma2).astype(np.float32)


def _frames(k, count, ebn0_db, seed, crc=None):
    code = TurboCode(k)
    rng = np.random.default_rng(seed)
    if crc is None:
        info = rng.integers(0, 2, (count, k), dtype=np.uint8)
    else:  # information bits that end with their own CRC, so that the CRC test can pass
        width = get_crc(crc).width
        info = np.stack([crc_attach_bits(rng.integers(0, 2, k - width, dtype=np.uint8), crc) for _ in range(count)])
    return code, info, _llrs(code, info, ebn0_db, rng)


def _run(native, code, llr, isa, iterations=8, scaling=0.75, early_stop=True, crc=None):
    poly, width = _crc_params(crc)
    return native.run(llr, code.perm, code._tail_idx, iterations, scaling, early_stop, poly, width, isa=isa)


def _assert_same(ref, bits, iters, conv):
    np.testing.assert_array_equal(bits, ref.bits)
    np.testing.assert_array_equal(iters, ref.iterations)
    np.testing.assert_array_equal(conv, ref.converged)


@pytest.mark.parametrize("k,ebn0", [(40, 1.0), (1024, 0.6), (6144, 0.45)])
def test_bit_exact_to_numba_every_isa(native, k, ebn0):
    """A batch that is not a multiple of any lane count, at an SNR where some frames fail and
    others converge after few or many iterations; plus frames of zeros and of -0.0 (ties)."""
    code, _, llr = _frames(k, 37 if k < 6144 else 19, ebn0, seed=k)
    llr[3] = 0.0
    llr[4] = -0.0
    llr[5, ::2] = -0.0
    ref = code.decode(llr, algorithm="maxlog-numba")
    assert (~ref.converged).sum() >= 1 and len(set(ref.iterations.tolist())) >= 3
    for isa in native.supported_isas():
        _assert_same(ref, *_run(native, code, llr, isa))


@pytest.mark.parametrize("options", [{"early_stop": False, "iterations": 5}, {"scaling": 0.6, "iterations": 3},
                                     {"iterations": 1}, {"scaling": 1.0, "iterations": 12}])
def test_bit_exact_with_options(native, options):
    code, _, llr = _frames(512, 21, 0.7, seed=3)
    ref = code.decode(llr, algorithm="maxlog-numba", **options)
    for isa in native.supported_isas():
        _assert_same(ref, *_run(native, code, llr, isa, **options))


@pytest.mark.parametrize("crc", ["crc24a", "crc24b", "crc16"])
def test_crc_stopping_bit_exact(native, crc):
    """At 1.2 dB many frames pass their CRC before their decisions settle."""
    for k in (1024, 1008):
        code, info, llr = _frames(k, 30, 1.2, seed=k, crc=crc)
        ref = code.decode(llr, algorithm="maxlog-numba", crc=crc)
        plain = code.decode(llr, algorithm="maxlog-numba")
        assert (ref.iterations < plain.iterations).any()  # the CRC did stop some frames earlier
        for isa in native.supported_isas():
            _assert_same(ref, *_run(native, code, llr, isa, crc=crc))


@pytest.mark.parametrize("k", [1005, 1001])
def test_crc_of_lengths_not_a_multiple_of_8(native, k):
    """Every LTE K is a multiple of 8; the library takes any K >= 8 and any interleaver, and its
    CRC then starts with k mod 8 bits one at a time before going a byte at a time: the same as the
    numba kernel, run here on the same (non-LTE) code."""
    rng = np.random.default_rng(k)
    perm, tail_idx = rng.permutation(k), turbo._tail_indices(k)
    info = np.stack([crc_attach_bits(rng.integers(0, 2, k - 24, dtype=np.uint8), "crc24a") for _ in range(25)])
    coded = np.empty((info.shape[0], 3 * k + 12), np.uint8)
    turbo._encode_kernel(info, perm, tail_idx, coded)
    sigma2 = 1.0 / (2.0 / 3.0 * 10 ** 0.25)  # Eb/N0 2.5 dB
    llr = (2.0 * (1.0 - 2.0 * coded + rng.normal(0, np.sqrt(sigma2), coded.shape)) / sigma2).astype(np.float32)
    poly, width = _crc_params("crc24a")
    out = np.zeros((info.shape[0], k), np.uint8), np.zeros(info.shape[0], np.int32), np.zeros(info.shape[0], bool)
    turbo._turbo_decode_kernel(llr, perm, tail_idx, 8, False, 0.75, True, poly, width, *out)
    assert (out[1] == 1).any() and out[2].all()  # some stopped by the CRC alone (iteration 1)
    for isa in native.supported_isas():
        got = native.run(llr, perm, tail_idx, 8, 0.75, True, poly, width, isa=isa)
        for g, want in zip(got, out):
            np.testing.assert_array_equal(g, want)


def test_default_maxlog_is_native_and_identical(native):
    code, _, llr = _frames(1024, 40, 0.8, seed=9)
    assert turbo_native.backend() == f"native-{native.best_isa()}"
    assert turbo_native.backend("maxlog", 3) == f"native-{native.best_isa(3)}"
    assert turbo_native.backend("maxlog-numba") == turbo_native.backend("logmap") == "numba"
    res, ref = code.decode(llr), code.decode(llr, algorithm="maxlog-numba")
    for got, want in zip((res.bits, res.iterations, res.converged), (ref.bits, ref.iterations, ref.converged)):
        np.testing.assert_array_equal(got, want)
    single = code.decode(llr[7], algorithm="maxlog-native")  # one 1-D codeword
    assert single.bits.shape == (code.k,) and np.array_equal(single.bits, ref.bits[7])
    assert int(single.iterations) == ref.iterations[7] and bool(single.converged) == ref.converged[7]


def test_batch_sizes_around_the_lane_count(native):
    code, _, llr = _frames(256, 70, 0.8, seed=2)
    ref = code.decode(llr, algorithm="maxlog-numba")
    for isa in native.supported_isas():
        w = native.lanes(isa)
        for b in sorted({0, 1, w - 1, w + 1, 2 * w + 3}):
            bits, iters, conv = _run(native, code, llr[:b], isa)
            assert bits.shape == (b, code.k) and bits.dtype == np.uint8
            assert iters.shape == (b,) and iters.dtype == np.int32 and conv.shape == (b,) and conv.dtype == np.bool_
            _assert_same(type(ref)(ref.bits[:b], ref.iterations[:b], ref.converged[:b]), bits, iters, conv)
    simd = native.supported_isas()[1:]
    if simd:  # small batches take the narrowest SIMD set with enough lanes
        assert native.best_isa(1) == simd[0] and native.best_isa(10**6) == simd[-1] == native.isa


def test_early_stopping_per_codeword(native):
    """Noiseless frames stop after two iterations (decisions stable) while noisy ones in the same
    batch go on; each stopped codeword is what it had after its last iteration."""
    code, info, llr = _frames(1024, 40, 0.5, seed=5)
    llr[::4] = 8.0 * (1.0 - 2.0 * code.encode(info[::4]))
    bits, iters, conv = _run(native, code, llr, None)
    assert (iters[::4] == 2).all() and conv[::4].all()
    np.testing.assert_array_equal(bits[::4], info[::4])
    assert iters.max() == 8 and iters[1::4].max() > 2
    for b in np.flatnonzero(conv)[:8]:
        again = _run(native, code, llr[b:b + 1], None, iterations=int(iters[b]), early_stop=False)
        np.testing.assert_array_equal(again[0][0], bits[b])


def test_payloads_batch_their_code_blocks(native, monkeypatch):
    """turbo_decode_payloads decodes the blocks of one K (and CRC) of every payload in one call,
    each as turbo_decode_payload decodes it alone (C = 1 and C > 1, with filler, through noise
    where some blocks fail)."""
    rng = np.random.default_rng(4)
    lens = [200, 6200, 20000, 200, 13000]  # blocks: 224; 3136 x2; 4992, 5056 x3; 224; 4352 x2, 4416
    items = []
    for i, n in enumerate(lens):
        coded = turbo_encode_payload(rng.integers(0, 2, n, dtype=np.uint8))
        sigma = 1.25 if i == 2 else 1.0  # Eb/N0 about -0.7 dB and 1.8 dB
        y = 1.0 - 2.0 * coded + sigma * rng.standard_normal(coded.size)
        items.append(((2 * y / sigma**2).astype(np.float32), n))
    alone = [turbo_decode_payload(llr, n) for llr, n in items]
    calls = []
    real = TurboCode.decode
    monkeypatch.setattr(TurboCode, "decode",
                        lambda self, x, **kw: calls.append((self.k, len(x))) or real(self, x, **kw))
    together = turbo_decode_payloads(items)
    assert sorted(calls) == [(224, 2), (3136, 2), (4352, 2), (4416, 1), (4992, 1), (5056, 3)]
    oks = np.concatenate([a[1] for a in alone])
    assert 0 < oks.sum() < oks.size
    for got, want in zip(together, alone):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_bad_input_raises(native):
    code, _, llr = _frames(40, 3, 1.0, seed=1)
    perm, tail = code.perm, code._tail_idx
    with pytest.raises(ValueError, match="invalid"):
        native.run(llr, np.zeros(40, np.int32), tail)  # not a permutation
    with pytest.raises(ValueError, match="invalid"):
        native.run(llr, perm, tail, scaling=1.5)
    with pytest.raises(ValueError, match="invalid"):
        native.run(llr, perm, tail, max_iter=0)
    with pytest.raises(ValueError, match="invalid"):
        native.run(llr, perm, np.full(12, 500, np.int32))
    with pytest.raises(ValueError, match="C-contiguous float32"):
        native.run(llr.astype(np.float64), perm, tail)
    with pytest.raises(ValueError, match="C-contiguous float32"):
        native.run(llr[:, :-1], perm, tail)
    with pytest.raises(ValueError, match="unknown instruction set"):
        native.run(llr, perm, tail, isa="avx9")
    with pytest.raises(ValueError):
        code.decode(np.full(code.n, np.nan))  # refused before any decoder runs


def test_fallback_to_numba_without_library(native, monkeypatch, caplog, tmp_path):
    code, _, llr = _frames(128, 9, 0.8, seed=1)
    ref = code.decode(llr, algorithm="maxlog-numba")
    monkeypatch.setenv("SEMCOM_TURBO_LIB", str(tmp_path / "absent.so"))
    with caplog.at_level(logging.DEBUG, logger=turbo_native.__name__):
        assert turbo_native.get() is None and not turbo_native.available()
    assert "not built" in caplog.text
    assert turbo_native.backend() == "numba"
    np.testing.assert_array_equal(code.decode(llr).bits, ref.bits)  # "maxlog" quietly runs numba
    with pytest.raises(RuntimeError, match="build_kernels"):
        code.decode(llr, algorithm="maxlog-native")
    monkeypatch.delenv("SEMCOM_TURBO_LIB")
    monkeypatch.setenv("SEMCOM_TURBO_NATIVE", "0")  # forces numba even where the library is built
    assert turbo_native.get() is None and turbo_native.backend() == "numba"
    np.testing.assert_array_equal(code.decode(llr).bits, ref.bits)


def test_isa_cap_from_environment(native, monkeypatch, lib_path):
    monkeypatch.setenv("SEMCOM_TURBO_ISA", "portable")
    assert turbo_native.NativeTurbo(lib_path).best_isa() == "portable"
    monkeypatch.setenv("SEMCOM_TURBO_ISA", "avx9")
    with pytest.raises(ValueError, match="SEMCOM_TURBO_ISA"):
        turbo_native.NativeTurbo(lib_path)


def test_build_script_and_abi_check(tmp_path):
    """scripts/build_kernels.sh --turbo builds a loadable library, and does nothing when it is up
    to date; a library of another ABI version is refused (numba then runs)."""
    out = _build(tmp_path / "liby.so")
    mtime = out.stat().st_mtime_ns
    assert turbo_native.load(str(out)) is not None
    _build(out)
    assert out.stat().st_mtime_ns == mtime
    fake = tmp_path / "old.c"
    fake.write_text("int turbo_maxlog_abi_version(void) { return 999; }\n")
    subprocess.run([_compiler(), "-shared", "-fPIC", "-o", str(tmp_path / "old.so"), str(fake)], check=True)
    assert turbo_native.load(str(tmp_path / "old.so")) is None


@pytest.mark.parametrize("crc", ["crc24a", "crc24b", "crc16"])
def test_payload_crc_verdict_is_crc_check_bits(crc):
    """turbo_decode_payloads checks block CRCs with the numba remainder: the verdict of
    crc.crc_check_bits on valid, corrupted and random blocks of any length."""
    from semcom_blocks.phy.crc import crc_check_bits

    rng = np.random.default_rng(7)
    poly, width = _crc_params(crc)
    for n in (0, 1, 7, 8, 100, 6120):
        good = crc_attach_bits(rng.integers(0, 2, n, dtype=np.uint8), crc)
        for bits in (good, np.bitwise_xor(good, np.eye(1, good.size, rng.integers(good.size), dtype=np.uint8)[0]),
                     rng.integers(0, 2, good.size, dtype=np.uint8)):
            assert (turbo._crc_remainder(bits, poly, width) == 0) == crc_check_bits(bits, crc)
        assert turbo._crc_remainder(good, poly, width) == 0
