"""The receiver's compiled kernels against the plain numpy they replace (same arithmetic)."""
import numpy as np
import pytest

from semcom_blocks.phy.fec import PayloadCoder
from semcom_blocks.phy.frame import SIG_WHITENING, TABLE_WHITENING, FrameFormat, whiten
from semcom_blocks.phy.ldpc import LdpcLayout, get_ldpc
from semcom_blocks.phy.modulation import LLR_MAX, N0_MIN, demodulate_llr
from semcom_blocks.phy.ofdm import OfdmParams
from semcom_blocks.phy.receiver import _axis_scale, _Whitener, decode_codewords, decode_payload
from semcom_blocks.phy.rx_kernels import append_clean, derotate_blocks, linear_llr, ltf_search, stf_detect, tile_span

RNG = np.random.default_rng(0)


def cgauss(n, rng=RNG):
    return ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)).astype(np.complex64)


@pytest.mark.parametrize("seed", [SIG_WHITENING, TABLE_WHITENING, 1, 127])
def test_cached_whitening_is_frame_whiten(seed):
    white, small = _Whitener(seed), _Whitener(seed, max_bytes=100)  # the latter grows its mask
    for n in (0, 1, 11, 126, 127, 128, 255, 1000, 0xFFFF):
        data = RNG.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert white(data) == small(data) == whiten(data, seed)


def _reference_detect(r, L, B, j_first, threshold):
    """The detector in plain numpy over the whole buffer (as the receiver once computed it)."""
    nb = (r.size - L) // L
    if nb < B + 3:
        return -1, 0.0
    prod = (np.conj(r[: nb * L]) * r[L: nb * L + L]).reshape(nb, L).sum(axis=1, dtype=np.complex128)
    energy = (np.abs(r[: nb * L + L]) ** 2).reshape(nb + 1, L).sum(axis=1, dtype=np.float64)
    ones = np.ones(B)
    corr = np.convolve(prod, ones, "valid")
    early, late = np.convolve(energy[:nb], ones, "valid"), np.convolve(energy[1:nb + 1], ones, "valid")
    rho = np.minimum(np.abs(corr) / (np.sqrt(early * late) + 1e-30), 1.0)
    above = rho[j_first:] > threshold
    hits = np.flatnonzero(above[:-2] & above[1:-1] & above[2:])
    if hits.size == 0:
        return -1, 0.0
    j0 = j_first + int(hits[0])
    peak = j0 + int(np.argmax(rho[j0:j0 + 4]))
    return j0, float(np.angle(corr[peak]) / (2 * np.pi * L))


def test_stf_detect_matches_numpy():
    L, B = 16, 8
    r = cgauss(5000)
    for start in (1000, 3000, 4840):  # periodic stretches, the last at the very end
        r[start:start + 160] = np.tile(r[start:start + 16], 10) * np.exp(0.3j * np.arange(160) / 16)
    nb = (r.size - L) // L
    prod, energy, have = np.empty(nb, np.complex128), np.empty(nb + 1), np.zeros(nb + 1, np.uint8)
    j = 0
    found = []
    while True:  # searches move forward over the same caches, as the receiver's do
        got = stf_detect(r, L, B, j, 0.5, prod, energy, have)
        ref = _reference_detect(r, L, B, j, 0.5)
        assert got[0] == ref[0] and got[1] == pytest.approx(ref[1], abs=1e-9)
        if got[0] < 0:
            break
        found.append(got[0])
        j = got[0] + 20
    assert len(found) == 3 and not have.all()  # blocks skipped over were never summed
    assert stf_detect(r[:100], L, B, 0, 0.5, prod, energy, have)[0] == -1  # too short: nothing
    assert stf_detect(r, L, B, 0, 0.999, np.empty(nb, np.complex128), np.empty(nb + 1),
                      np.zeros(nb + 1, np.uint8))[0] == -1


def test_ltf_search_matches_numpy():
    p = OfdmParams()
    N = p.fft_len
    cfo = 0.003
    x = np.concatenate([cgauss(300) * 0.1, p.ltf, cgauss(400) * 0.1])
    r = (x * np.exp(2j * np.pi * cfo * np.arange(x.size))).astype(np.complex64)
    lo, n = 50, 600
    best, both, energy, dphi = ltf_search(r, lo, n, cfo * 0.9, p.ltf_symbol.astype(np.complex128))
    seg = r[lo:lo + n] * np.exp(-2j * np.pi * cfo * 0.9 * np.arange(n))
    xc = np.abs(np.correlate(seg, p.ltf_symbol, "valid"))
    ref = xc[:-N] + xc[N:]
    assert best == int(np.argmax(ref)) == 300 + N // 2 - lo
    assert both == pytest.approx(ref[best], rel=1e-6)
    assert energy == pytest.approx(float(np.sum(np.abs(seg[best:best + 2 * N]) ** 2)), rel=1e-6)
    assert dphi == pytest.approx(float(np.angle(np.vdot(seg[best:best + N], seg[best + N:best + 2 * N]))), abs=1e-6)
    assert dphi / (2 * np.pi * N) == pytest.approx(cfo * 0.1, abs=1e-6)


def test_derotate_blocks():
    r = cgauss(1000)
    out = derotate_blocks(r, 100, 5, 80, 16, 64, 0.01, 37)
    t = 37 + 80 * np.arange(5)[:, None] + 16 + np.arange(64)[None, :]
    idx = 100 + 80 * np.arange(5)[:, None] + 16 + np.arange(64)[None, :]
    assert np.allclose(out, r[idx] * np.exp(-2j * np.pi * 0.01 * t), atol=1e-6)


@pytest.mark.parametrize("mod", ["bpsk", "qpsk"])
def test_linear_llr_is_demodulate_llr(mod):
    n_sym, n_data = 7, 48
    zf = (cgauss(n_sym * n_data) * 2).reshape(n_sym, n_data)
    zf[0, 0] = 50  # clipped
    nv = RNG.uniform(0.01, 2, n_data).astype(np.float32)
    nv[3] = 0  # floored
    start, count = 30, 200
    got = linear_llr(zf, nv, start, count, 1 if mod == "bpsk" else 2, _axis_scale(mod), LLR_MAX, N0_MIN)
    ref = demodulate_llr(zf.reshape(-1)[start:start + count], mod, tile_span(nv, start, count))
    assert got.dtype == ref.dtype == np.float32 and np.array_equal(got, ref)
    assert np.array_equal(tile_span(nv, start, count), nv[(start + np.arange(count)) % n_data])


def test_append_clean_zeroes_and_counts_non_finite():
    head = cgauss(5)
    x = cgauss(20)
    x[[3, 7, 8]] = [np.nan, np.inf, complex(1, -np.inf)]
    out, bad = append_clean(head, x)
    assert bad == 3 and out.dtype == np.complex64
    assert np.array_equal(out[:5], head) and np.all(out[5:][[3, 7, 8]] == 0)
    keep = np.setdiff1d(np.arange(20), [3, 7, 8])
    assert np.array_equal(out[5:][keep], x[keep])
    out, bad = append_clean(np.zeros(0, np.complex64), x[:0])
    assert out.size == 0 and bad == 0


@pytest.mark.parametrize("coder", [PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32"),
                                   PayloadCoder("ldpc", 1296, "3/4", "16qam", "crc24a"),
                                   PayloadCoder("ldpc", 1944, "5/6", "64qam", "crc16"),
                                   PayloadCoder("ldpc", 648, "2/3", "bpsk", None),
                                   PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32", decoder="spa", max_iter=20),
                                   PayloadCoder("turbo", modulation="qpsk", crc="crc24a"),
                                   PayloadCoder("none", modulation="qpsk", crc="crc16")])
def test_decode_payload_is_decode_llr(coder):
    """The syndrome shortcut changes nothing: clean, noisy and undecodable LLRs alike."""
    rng = np.random.default_rng(1)
    for nbytes in (0, 1, 40, 200):
        bits = coder.encode_bits(rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes())
        for sigma in (0.0, 0.5, 0.9, 1.5):
            llr = ((1 - 2.0 * bits) * 2 + sigma * 2 * rng.standard_normal(bits.size)).astype(np.float32)
            llr = np.concatenate([llr, np.ones(5, np.float32)])  # trailing padding LLRs are ignored
            ref = coder.decode_llr(llr, nbytes)
            assert decode_payload(coder, llr, nbytes) == (ref.data, ref.crc_ok)


def test_decode_payload_uses_the_decoder_only_where_needed(monkeypatch):
    from semcom_blocks.phy import ldpc

    coder = PayloadCoder("ldpc", 648, "1/2", "qpsk", "crc32")
    bits = coder.encode_bits(bytes(range(96)))  # 3 codewords
    llr = (1 - 2.0 * bits) * 4
    calls = []
    real = ldpc.LdpcCode.decode
    monkeypatch.setattr(ldpc.LdpcCode, "decode", lambda self, x, **kw: calls.append(len(x)) or real(self, x, **kw))
    assert decode_payload(coder, llr, 96) == (bytes(range(96)), True) and calls == []
    llr[5] *= -1  # one wrong bit in the first codeword
    assert decode_payload(coder, llr, 96) == (bytes(range(96)), True) and calls == [1]
    with pytest.raises(ValueError):
        decode_payload(coder, np.full(bits.size, np.nan), 96)


@pytest.mark.parametrize("layout", [FrameFormat().sig_layout,  # shortened and punctured
                                    LdpcLayout(get_ldpc(648, "1/2"), 300, 1400)])  # repeated
def test_decode_codewords_is_layout_decode(layout):
    rng = np.random.default_rng(2)
    for sigma in (0.0, 0.7, 1.2, 3.0):
        bits = layout.encode(rng.integers(0, 2, layout.payload_bits).astype(np.uint8))
        llr = ((1 - 2.0 * bits) * 2 + sigma * 2 * rng.standard_normal(bits.size)).astype(np.float32)
        payload, _, _, tx = layout.decode(llr, return_tx_bits=True)
        cw = decode_codewords(layout, llr)
        assert np.array_equal(cw[:, :layout.code.k].reshape(-1)[layout.payload_index], payload)
        assert np.array_equal(cw.reshape(-1)[layout.tx_index], tx)
