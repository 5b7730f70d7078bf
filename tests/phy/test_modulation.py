import numpy as np
import pytest

from semcom_blocks.phy.modulation import (
    LLR_MAX,
    MODULATIONS,
    bits_per_symbol,
    constellation,
    demodulate_llr,
    hard_decision,
    modulate,
)
from semcom_blocks.phy.snr import ebn0_to_esn0, esn0_from_noise_var, esn0_to_ebn0, noise_var_from_esn0

MODS = list(MODULATIONS)


@pytest.mark.parametrize("mod", MODS)
def test_unit_energy_and_gray(mod):
    pts = constellation(mod)
    m = bits_per_symbol(mod)
    assert len(pts) == 2**m
    assert np.isclose(np.mean(np.abs(pts) ** 2), 1.0)
    # Gray: every nearest neighbour differs in exactly one bit
    d = np.abs(pts[:, None] - pts[None, :])
    np.fill_diagonal(d, np.inf)
    dmin = d.min()
    for i, j in zip(*np.nonzero(np.isclose(d, dmin))):
        assert bin(i ^ j).count("1") == 1


def test_80211_mapping():
    s = np.sqrt(10)
    # 16-QAM: b0b1 -> I: 00 -3, 01 -1, 11 +1, 10 +3
    assert np.allclose(modulate(np.array([0, 0, 1, 0]), "16qam"), (-3 + 3j) / s)
    assert np.allclose(modulate(np.array([1, 1, 0, 1]), "16qam"), (1 - 1j) / s)
    assert np.allclose(modulate(np.array([0, 1]), "qpsk"), (-1 + 1j) / np.sqrt(2))
    assert np.allclose(modulate(np.array([0, 1]), "bpsk"), [-1, 1])


def _brute_llr(y, mod, n0, reduce=np.logaddexp.reduce):
    pts = constellation(mod)
    m = bits_per_symbol(mod)
    metric = -np.abs(y[:, None] - pts[None, :]) ** 2 / n0
    idx = np.arange(len(pts))
    out = []
    for j in range(m):
        bit = (idx >> (m - 1 - j)) & 1
        out.append(reduce(metric[:, bit == 0], 1) - reduce(metric[:, bit == 1], 1))
    return np.stack(out, 1).reshape(-1)


@pytest.mark.parametrize("mod", MODS)
def test_llrs_match_brute_force_and_sign_convention(mod):
    rng = np.random.default_rng(1)
    m = bits_per_symbol(mod)
    bits = rng.integers(0, 2, 600 * m, dtype=np.uint8)
    n0 = 0.2
    y = modulate(bits, mod) + np.sqrt(n0 / 2) * (rng.normal(size=600) + 1j * rng.normal(size=600))
    llr = demodulate_llr(y, mod, n0)
    y_used = y.real.astype(complex) if mod == "bpsk" else y  # BPSK ignores the quadrature noise
    assert np.allclose(llr, _brute_llr(y_used, mod, n0), rtol=1e-4, atol=1e-4)
    maxlog = demodulate_llr(y, mod, n0, exact=False)
    assert np.allclose(maxlog, _brute_llr(y_used, mod, n0, np.max), rtol=1e-4, atol=1e-4)
    # positive means 0: mostly right at this SNR
    assert np.mean(hard_decision(llr) == bits) > (0.7 if m == 6 else 0.85)


@pytest.mark.parametrize("mod", MODS)
def test_zero_noise_gives_finite_exact_llrs(mod):
    bits = np.random.default_rng(2).integers(0, 2, 60 * bits_per_symbol(mod), dtype=np.uint8)
    llr = demodulate_llr(modulate(bits, mod), mod, 0.0)
    assert np.all(np.isfinite(llr)) and np.abs(llr).max() <= LLR_MAX
    assert np.array_equal(hard_decision(llr), bits)


def test_per_symbol_noise_variance():
    y = modulate(np.array([0, 0, 0, 0]), "qpsk")
    llr = demodulate_llr(y, "qpsk", np.array([0.1, 1.0]))
    assert abs(llr[0]) > abs(llr[2])


def test_bad_input():
    with pytest.raises(ValueError, match="unknown modulation"):
        modulate(np.zeros(4, np.uint8), "8psk")
    with pytest.raises(ValueError, match="multiple"):
        modulate(np.zeros(3, np.uint8), "qpsk")
    with pytest.raises(ValueError, match="NaN"):
        demodulate_llr(np.array([np.nan + 0j]), "qpsk", 0.1)
    with pytest.raises(ValueError, match="noise_var"):
        demodulate_llr(np.array([1 + 0j]), "qpsk", -1)
    with pytest.raises(ValueError, match="noise_var"):
        demodulate_llr(np.array([1 + 0j]), "qpsk", np.inf)


def test_snr_helpers():
    assert np.isclose(ebn0_to_esn0(2.0, 0.5, 2), 2.0)
    assert np.isclose(ebn0_to_esn0(0.0, 0.75, 4), 10 * np.log10(3))
    assert np.isclose(esn0_to_ebn0(ebn0_to_esn0(1.3, 1 / 3, 2), 1 / 3, 2), 1.3)
    assert np.isclose(esn0_from_noise_var(noise_var_from_esn0(7.5)), 7.5)
    with pytest.raises(ValueError):
        ebn0_to_esn0(1.0, 1.5, 2)


def _gray_qam_ber_theory(mod, esn0_db):
    """Exact uncoded BER of hard decisions on Gray QAM over AWGN, from the decision regions of
    each axis (independent of the demapper: thresholds half-way between levels)."""
    from math import erfc, sqrt

    pts = constellation(mod)
    m = bits_per_symbol(mod)
    axis_bits = 1 if mod == "bpsk" else m // 2
    levels = np.unique(np.round(pts.real, 9))
    # bits of each level on the in-phase axis: read them off the constellation itself
    idx = np.array([np.flatnonzero(np.isclose(pts.real, lv))[0] for lv in levels])
    bits = ((idx[:, None] >> np.arange(m - 1, m - 1 - axis_bits, -1)) & 1)
    sigma = sqrt(10 ** (-esn0_db / 10) / 2)
    q = lambda x: 0.5 * erfc(x / sqrt(2))  # noqa: E731
    edges = np.r_[-np.inf, (levels[1:] + levels[:-1]) / 2, np.inf]
    wrong = 0.0
    for i, a in enumerate(levels):
        for r in range(len(levels)):
            p = q((edges[r] - a) / sigma) - q((edges[r + 1] - a) / sigma)
            wrong += p * np.count_nonzero(bits[i] != bits[r])
    return wrong / (len(levels) * axis_bits)


@pytest.mark.parametrize("mod,esn0_db", [("bpsk", 4.0), ("qpsk", 7.0), ("16qam", 12.0), ("64qam", 18.0)])
def test_uncoded_ber_matches_theory(mod, esn0_db):
    from semcom_host.experiments.ber import CodeSpec, simulate_point

    rec = simulate_point(CodeSpec("uncoded", k=6000), mod, esn0_db=esn0_db, target_frame_errors=10**9,
                         max_frames=40, seed=4)
    theory = _gray_qam_ber_theory(mod, esn0_db)
    errors = rec["bit_errors"]
    expected = theory * rec["frames"] * rec["k"]
    assert expected > 400
    assert abs(errors - expected) < 5 * np.sqrt(expected), (errors, expected)
