"""802.11n LDPC: structure, encoder, both decoders against published error rates, layouts."""
import numpy as np
import pytest

from semcom_blocks.phy.ldpc import LDPC_LENGTHS, LDPC_RATES, LdpcCode, LdpcLayout, get_ldpc
from semcom_host.experiments.ber import CodeSpec, simulate_point
from semcom_host.references import LDPC648_FER1E2_EBN0

ALL = [(n, r) for n in LDPC_LENGTHS for r in LDPC_RATES]


def _gf2_rank(h):
    a = h.copy().astype(np.uint8)
    rank = 0
    for col in range(a.shape[1]):
        pivot = np.flatnonzero(a[rank:, col])
        if pivot.size == 0:
            continue
        p = rank + pivot[0]
        a[[rank, p]] = a[[p, rank]]
        rows = np.flatnonzero(a[:, col])
        rows = rows[rows != rank]
        a[rows] ^= a[rank]
        rank += 1
        if rank == a.shape[0]:
            break
    return rank


@pytest.mark.parametrize("n,rate", ALL)
def test_encoder_gives_codewords(n, rate):
    code = get_ldpc(n, rate)
    assert code.n == n and code.k == round(n * code.rate)
    info = np.random.default_rng(0).integers(0, 2, (20, code.k), dtype=np.uint8)
    cw = code.encode(info)
    assert np.array_equal(cw[:, : code.k], info)  # systematic
    h = code.parity_check_matrix()
    assert not np.any((h.astype(np.int64) @ cw.T.astype(np.int64)) % 2)
    assert code.syndrome_ok(cw).all()
    cw[3, 5] ^= 1
    assert not code.syndrome_ok(cw)[3]


@pytest.mark.parametrize("rate", LDPC_RATES)
def test_648_matches_shared_prototypes_and_has_full_rank(rate, shared_dir):
    code = get_ldpc(648, rate)
    assert _gf2_rank(code.parity_check_matrix()) == code.m
    tag = {"1/2": "r12", "2/3": "r23", "3/4": "r34", "5/6": "r56"}[rate]
    ref = shared_dir / "data" / "ldpc" / f"ieee80211n_n648_z27_{tag}.txt"
    rows = [[int(v) for v in line.split()] for line in ref.read_text().splitlines() if line and line[0] != "#"]
    assert np.array_equal(code.proto, np.array(rows))


@pytest.mark.parametrize("n,rate", ALL)
@pytest.mark.parametrize("decoder", ["minsum", "spa"])
def test_noiseless_and_sign_convention(n, rate, decoder):
    code = get_ldpc(n, rate)
    info = np.random.default_rng(1).integers(0, 2, (3, code.k), dtype=np.uint8)
    llr = 4.0 * (1.0 - 2.0 * code.encode(info))  # positive LLR means bit 0
    res = code.decode(llr, decoder=decoder)
    assert np.array_equal(res.bits, info)
    assert res.converged.all() and (res.iterations == 1).all()


@pytest.mark.parametrize("n,rate", ALL)
def test_minsum_corrects_errors_every_code(n, rate):
    """About 0.6 dB above FER 1e-2 the decoder fixes frames that arrive with many raw errors
    (hard-decision BER there is 1.5 % to 9 %: every frame is corrupted before decoding)."""
    ebn0 = {"1/2": 2.5, "2/3": 3.3, "3/4": 3.8, "5/6": 4.5}[rate]
    rec = simulate_point(CodeSpec("ldpc", n, rate, decoder="minsum"), "qpsk", ebn0_db=ebn0,
                         target_frame_errors=30, max_frames=300, seed=3)
    assert rec["fer"] < 0.03, rec


@pytest.mark.parametrize("rate", LDPC_RATES)
def test_spa_648_fer_band_around_published_point(rate):
    """Anchors: FER 1e-2 at 1.89 / 2.66 / 3.19 / 3.91 dB. Above it by 0.3 dB the FER must be
    small; 0.6 dB below it, large. A decoder 0.3 dB off either way fails one of the two."""
    x = LDPC648_FER1E2_EBN0[rate]
    spec = CodeSpec("ldpc", 648, rate, decoder="spa")
    good = simulate_point(spec, "bpsk", ebn0_db=x + 0.3, target_frame_errors=25, max_frames=800, seed=11)
    bad = simulate_point(spec, "bpsk", ebn0_db=x - 0.6, target_frame_errors=25, max_frames=800, seed=12)
    assert good["fer"] < 0.012, good
    assert bad["fer"] > 0.02, bad


def test_minsum_close_to_spa():
    spec_ms = CodeSpec("ldpc", 648, "1/2", decoder="minsum")
    spec_spa = CodeSpec("ldpc", 648, "1/2", decoder="spa")
    ms = simulate_point(spec_ms, "bpsk", ebn0_db=1.75, target_frame_errors=10**6, max_frames=1500, seed=5)
    spa = simulate_point(spec_spa, "bpsk", ebn0_db=1.75, target_frame_errors=10**6, max_frames=1500, seed=5)
    assert spa["fer"] <= ms["fer"] <= 6 * spa["fer"] + 0.01


def test_offset_minsum_and_no_early_stop():
    code = get_ldpc(648, "1/2")
    rng = np.random.default_rng(8)
    info = rng.integers(0, 2, (50, code.k), dtype=np.uint8)
    sig2 = 1 / (2 * 0.5 * 10 ** 0.3)
    llr = 2 * ((1 - 2.0 * code.encode(info)) + rng.normal(0, np.sqrt(sig2), (50, 648))) / sig2
    res = code.decode(llr, alpha=1.0, offset=0.5, early_stop=False, max_iter=20)
    assert (res.iterations == 20).all()
    assert np.mean((res.bits != info).any(1)) < 0.2
    assert np.array_equal(res.converged, code.syndrome_ok(code.decode(llr, alpha=1.0, offset=0.5, max_iter=20,
                                                                      return_codeword=True).bits))


def test_bad_input_raises():
    code = get_ldpc(648, "3/4")
    with pytest.raises(ValueError, match="shape"):
        code.decode(np.zeros((2, 647)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        code.decode(np.full(648, np.nan))
    with pytest.raises(ValueError, match="NaN or infinite"):
        code.decode(np.r_[np.zeros(647), np.inf])
    with pytest.raises(ValueError, match="decoder"):
        code.decode(np.zeros(648), decoder="magic")
    with pytest.raises(ValueError, match="max_iter"):
        code.decode(np.zeros(648), max_iter=0)
    with pytest.raises(ValueError, match="unknown LDPC rate"):
        LdpcCode(648, "7/8")
    with pytest.raises(ValueError, match="unknown LDPC length"):
        LdpcCode(600, "1/2")
    with pytest.raises(ValueError, match="0 or 1"):
        code.encode(np.full(code.k, 2))
    with pytest.raises(ValueError, match="shape"):
        code.encode(np.zeros(10, np.uint8))


@pytest.mark.parametrize("payload,coded", [(1, None), (100, None), (486, None), (487, None), (5000, None),
                                           (1000, 1800), (1000, 3000), (300, 700)])
def test_layout_shortening_puncturing_repetition(payload, coded):
    code = get_ldpc(648, "3/4")
    layout = LdpcLayout(code, payload, coded)
    if coded is not None:
        assert layout.coded_bits == coded
    rng = np.random.default_rng(payload)
    bits = rng.integers(0, 2, payload, dtype=np.uint8)
    tx = layout.encode(bits)
    assert tx.size == layout.coded_bits
    decoded, ok, _ = layout.decode(6.0 * (1.0 - 2.0 * tx))
    assert np.array_equal(decoded, bits) and ok.all()
    # mild noise: still decoded (punctured bits start at LLR 0, repeated ones add up)
    noisy = 2.0 * (1.0 - 2.0 * tx + rng.normal(0, 0.5, tx.size)) / 0.25
    decoded, ok, _ = layout.decode(noisy)
    assert np.array_equal(decoded, bits)


def test_layout_refuses_too_much_puncturing():
    with pytest.raises(ValueError, match="too few"):
        LdpcLayout(get_ldpc(648, "1/2"), 324, 400)
    with pytest.raises(ValueError, match="at least one bit"):
        LdpcLayout(get_ldpc(648, "1/2"), 0)


def test_alist_export(tmp_path):
    code = get_ldpc(648, "5/6")
    path = tmp_path / "h.alist"
    code.write_alist(path)
    lines = path.read_text().splitlines()
    assert lines[0] == "648 108"
    assert sum(int(v) for v in lines[2].split()) == code.col_idx.size


@pytest.mark.parametrize("modulation,rate,esn0_at_1e2", [("qpsk", "1/2", 1.9), ("qpsk", "3/4", 4.95),
                                                          ("16qam", "1/2", 7.3), ("16qam", "3/4", 11.2)])
def test_coded_qam_fer_band_against_published_es_n0(modulation, rate, esn0_at_1e2):
    """Anchors: Es/N0 for FER 1e-2 with Gray QAM and SPA. 0.4 dB above it the FER is small,
    0.6 dB below it large: a wrong demapper scale or bit order fails one of the two."""
    spec = CodeSpec("ldpc", 648, rate, decoder="spa")
    good = simulate_point(spec, modulation, esn0_db=esn0_at_1e2 + 0.4, target_frame_errors=25, max_frames=600,
                          seed=21)
    bad = simulate_point(spec, modulation, esn0_db=esn0_at_1e2 - 0.6, target_frame_errors=25, max_frames=600,
                         seed=22)
    assert good["fer"] < 0.012, good
    assert bad["fer"] > 0.02, bad
