"""LTE turbo code (3GPP TS 36.212 5.1.3.2) and code-block segmentation (5.1.2)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from semcom_blocks.phy import turbo
from semcom_blocks.phy.crc import crc_attach_bits
from semcom_blocks.phy.turbo import (
    TurboCode,
    segment_sizes,
    turbo_decode_payload,
    turbo_encode_payload,
    turbo_payload_coded_len,
)
from semcom_blocks.phy.turbo_qpp import QPP_PARAMS, QPP_TABLE, TURBO_BLOCK_SIZES, qpp_permutation

# ---------------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------------

def _random_bits(rng, shape) -> np.ndarray:
    return rng.integers(0, 2, shape, dtype=np.uint8)


def _noiseless_llr(coded: np.ndarray, magnitude: float = 8.0) -> np.ndarray:
    """BPSK 0 -> +1, 1 -> -1 without noise, as LLRs (positive means 0)."""
    return magnitude * (1.0 - 2.0 * coded.astype(np.float32))


def _awgn_llr(coded: np.ndarray, rate: float, ebn0_db: float, rng) -> np.ndarray:
    """Channel LLRs 2y/sigma^2 of BPSK (0 -> +1) over AWGN at Eb/N0 (dB) for code rate ``rate``."""
    sigma2 = 1.0 / (2.0 * rate * 10.0 ** (ebn0_db / 10.0))
    y = 1.0 - 2.0 * coded.astype(np.float64) + rng.normal(0.0, np.sqrt(sigma2), coded.shape)
    return (2.0 * y / sigma2).astype(np.float32)


def _reference_rsc(bits: list[int]) -> tuple[list[int], list[int]]:
    """36.212 Figure 5.1.3-2, one constituent encoder, bit by bit: (x, z) including the tail.

    The shift register holds D, D^2, D^3; the register input is the information bit plus the
    feedback g0 = 1 + D^2 + D^3; the parity output is g1 = 1 + D + D^3 of the register input.
    For termination the switch takes the feedback as the input, which shifts zeros in.
    """
    reg = [0, 0, 0]
    x, z = [], []
    for bit in bits:
        a = bit ^ reg[1] ^ reg[2]
        x.append(bit)
        z.append(a ^ reg[0] ^ reg[2])
        reg = [a, reg[0], reg[1]]
    for _ in range(3):
        bit = reg[1] ^ reg[2]
        a = 0
        x.append(bit)
        z.append(a ^ reg[0] ^ reg[2])
        reg = [a, reg[0], reg[1]]
    assert reg == [0, 0, 0]
    return x, z


def _reference_encode(c: list[int]) -> list[int]:
    """36.212 5.1.3.2 written out: interleaver, both encoders, tail arrangement, [d0 | d1 | d2]."""
    k = len(c)
    f1, f2 = QPP_PARAMS[k]
    c_prime = [c[(f1 * i + f2 * i * i) % k] for i in range(k)]
    x, z = _reference_rsc(c)
    xp, zp = _reference_rsc(c_prime)
    d0 = x[:k] + [x[k], z[k + 1], xp[k], zp[k + 1]]
    d1 = z[:k] + [z[k], x[k + 2], zp[k], xp[k + 2]]
    d2 = zp[:k] + [x[k + 1], z[k + 2], xp[k + 1], zp[k + 2]]
    return d0 + d1 + d2


# ---------------------------------------------------------------------------------------------
# QPP interleaver table.
# ---------------------------------------------------------------------------------------------

def test_qpp_table_has_the_188_block_sizes_of_36212():
    expected = (list(range(40, 513, 8)) + list(range(528, 1025, 16))
                + list(range(1056, 2049, 32)) + list(range(2112, 6145, 64)))
    assert len(QPP_TABLE) == 188
    assert [k for k, _, _ in QPP_TABLE] == expected
    assert list(TURBO_BLOCK_SIZES) == expected


@pytest.mark.parametrize("k, f1, f2", [(40, 3, 10), (48, 7, 12), (512, 31, 64), (1024, 31, 64),
                                       (2048, 31, 64), (6144, 263, 480)])
def test_qpp_table_spot_checks(k, f1, f2):
    assert QPP_PARAMS[k] == (f1, f2)


def test_every_qpp_map_is_a_permutation():
    for k, f1, f2 in QPP_TABLE:
        perm = qpp_permutation(k)
        i = np.arange(k, dtype=np.int64)
        np.testing.assert_array_equal(perm, (f1 * i + f2 * i * i) % k)
        assert np.array_equal(np.sort(perm), i), f"K={k} is not a permutation"


# ---------------------------------------------------------------------------------------------
# Encoder.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [40, 1024])
def test_encoder_matches_reference_written_from_the_standard(k):
    rng = np.random.default_rng(k)
    info = _random_bits(rng, (4, k))
    coded = TurboCode(k).encode(info)
    for row, out in zip(info, coded):
        assert out.tolist() == _reference_encode(row.tolist())


def test_encoder_parity_streams_match_scikit_commpy():
    convcode = pytest.importorskip("commpy.channelcoding.convcode")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # int feedback: the 13/15 RSC form
        trellis = convcode.Trellis(np.array([3]), np.array([[0o13, 0o15]]), 0o13, "rsc")
    k = 1024
    code = TurboCode(k)
    info = _random_bits(np.random.default_rng(5), k)
    d0, d1, d2 = code.encode(info).reshape(3, k + 4)
    first = convcode.conv_encode(info, trellis, "cont")
    second = convcode.conv_encode(info[qpp_permutation(k)], trellis, "cont")
    np.testing.assert_array_equal(d0[:k], first[0::2])
    np.testing.assert_array_equal(d1[:k], first[1::2])
    np.testing.assert_array_equal(d2[:k], second[1::2])


@pytest.mark.parametrize("k", [40, 1056, 6144])
def test_encoder_output_shape_systematic_and_terminated(k):
    code = TurboCode(k)
    assert (code.n, code.rate) == (3 * k + 12, k / (3 * k + 12))
    info = _random_bits(np.random.default_rng(1), (3, k))
    coded = code.encode(info)
    assert coded.shape == (3, 3 * k + 12) and coded.dtype == np.uint8
    np.testing.assert_array_equal(coded[:, :k], info)
    np.testing.assert_array_equal(code.encode(info[1]), coded[1])
    # Re-encode each constituent code from its systematic bits, tail included: the parity must
    # agree and the register must end in the zero state.
    for row, out in zip(info, coded):
        d0, d1, d2 = out.reshape(3, k + 4).tolist()
        tail_x1, tail_z1 = [d0[k], d2[k], d1[k + 1]], [d1[k], d0[k + 1], d2[k + 1]]
        tail_x2, tail_z2 = [d0[k + 2], d2[k + 2], d1[k + 3]], [d1[k + 2], d0[k + 3], d2[k + 3]]
        for systematic, parity in ((row.tolist() + tail_x1, d1[:k] + tail_z1),
                                   (row[qpp_permutation(k)].tolist() + tail_x2, d2[:k] + tail_z2)):
            reg = [0, 0, 0]
            for bit, expected in zip(systematic, parity):
                a = bit ^ reg[1] ^ reg[2]
                assert a ^ reg[0] ^ reg[2] == expected
                reg = [a, reg[0], reg[1]]
            assert reg == [0, 0, 0]


# ---------------------------------------------------------------------------------------------
# Decoder.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("exact", [False, True])
def test_constituent_bcjr_matches_brute_force_map(exact):
    """The SISO kernel against an exhaustive search over all 2^k terminated paths (k = 8)."""
    k = 8
    rng = np.random.default_rng(int(exact))
    sys, par = (rng.normal(0.5, 2.0, k + 3).astype(np.float32) for _ in range(2))
    apr = rng.normal(0.0, 1.0, k).astype(np.float32)
    ext = np.zeros(k, np.float32)
    turbo._siso(sys, par, apr, k, exact, np.zeros((k + 1, 8), np.float32),
                np.zeros(8, np.float32), np.zeros(8, np.float32), ext)

    prior = np.concatenate([sys[:k] + apr, sys[k:]]).astype(np.float64)
    paths = np.array([[(m >> (k - 1 - t)) & 1 for t in range(k)] for m in range(2 ** k)])
    metrics = []
    for u in paths:
        x, z = _reference_rsc(u.tolist())
        signs_x, signs_z = 1 - 2 * np.array(x), 1 - 2 * np.array(z)
        metrics.append(0.5 * (np.dot(signs_x, prior) + np.dot(signs_z, par)))
    metrics = np.array(metrics)
    combine = np.logaddexp.reduce if exact else np.max
    app = np.array([combine(metrics[paths[:, t] == 0]) - combine(metrics[paths[:, t] == 1])
                    for t in range(k)])
    np.testing.assert_allclose(ext, app - prior[:k], atol=2e-4)


def test_decoder_reads_the_tail_bits_where_the_standard_puts_them():
    k = 40
    code = TurboCode(k)
    row = np.arange(code.n, dtype=np.float32)  # each LLR holds its own position
    sys1, par1, sys2, par2 = (np.zeros(k + 3, np.float32) for _ in range(4))
    turbo._demux(row, code.perm, code._tail_idx, sys1, par1, sys2, par2)
    d0, d1, d2 = 0, k + 4, 2 * (k + 4)  # stream offsets
    assert sys1[k:].tolist() == [d0 + k, d2 + k, d1 + k + 1]  # x_K, x_K+1, x_K+2
    assert par1[k:].tolist() == [d1 + k, d0 + k + 1, d2 + k + 1]  # z_K, z_K+1, z_K+2
    assert sys2[k:].tolist() == [d0 + k + 2, d2 + k + 2, d1 + k + 3]  # x'_K, x'_K+1, x'_K+2
    assert par2[k:].tolist() == [d1 + k + 2, d0 + k + 3, d2 + k + 3]  # z'_K, z'_K+1, z'_K+2
    np.testing.assert_array_equal(sys2[:k], code.perm)
    np.testing.assert_array_equal(par2[:k], d2 + np.arange(k))


@pytest.mark.parametrize("algorithm", ["maxlog", "logmap"])
@pytest.mark.parametrize("k", [40, 1024, 6144])
def test_noiseless_llrs_decode_exactly(k, algorithm):
    code = TurboCode(k)
    info = _random_bits(np.random.default_rng(k + 1), (2, k))
    result = code.decode(_noiseless_llr(code.encode(info)), algorithm=algorithm)
    np.testing.assert_array_equal(result.bits, info)
    assert result.bits.dtype == np.uint8
    assert result.converged.all()
    np.testing.assert_array_equal(result.iterations, [2, 2])  # stable after two iterations


def test_single_codeword_and_early_stop_options():
    code = TurboCode(40)
    info = _random_bits(np.random.default_rng(2), 40)
    llr = _noiseless_llr(code.encode(info))
    single = code.decode(llr)
    np.testing.assert_array_equal(single.bits, info)
    assert single.iterations == 2 and single.converged
    assert code.decode(llr, iterations=5, early_stop=False).iterations == 5


def test_crc_stops_after_one_iteration_when_it_passes():
    code = TurboCode(1024)
    rng = np.random.default_rng(3)
    with_crc = crc_attach_bits(_random_bits(rng, 1000), "crc24b")
    without = _random_bits(rng, 1024)
    without[-24:] ^= crc_attach_bits(without[:1000], "crc24b")[-24:] ^ 1  # CRC surely wrong
    llr = _noiseless_llr(code.encode(np.stack([with_crc, without])))
    result = code.decode(llr, crc="crc24b")
    np.testing.assert_array_equal(result.iterations, [1, 2])
    assert result.converged.all()


def test_decoder_corrects_errors_at_1p5_db_and_fails_often_at_0_db():
    """A statistical check that a broken (or cheating) decoder would fail."""
    code = TurboCode(1024)
    rng = np.random.default_rng(2024)
    info = _random_bits(rng, (200, 1024))
    coded = code.encode(info)
    good = code.decode(_awgn_llr(coded, code.rate, 1.5, rng))  # expected FER ~1e-4
    assert np.count_nonzero((good.bits != info).any(axis=1)) <= 4
    assert good.iterations.max() <= 8 and good.iterations.mean() < 5
    bad = code.decode(_awgn_llr(coded, code.rate, 0.0, rng))  # expected FER ~0.8
    assert np.mean((bad.bits != info).any(axis=1)) > 0.5


def test_logmap_is_at_least_as_good_as_maxlog():
    code = TurboCode(1024)
    rng = np.random.default_rng(7)
    info = _random_bits(rng, (300, 1024))
    llr = _awgn_llr(code.encode(info), code.rate, 0.7, rng)  # max-log FER ~4e-2, log-MAP ~1e-2
    errors = {alg: code.decode(llr, algorithm=alg).bits != info for alg in ("maxlog", "logmap")}
    assert errors["logmap"].sum() <= errors["maxlog"].sum()
    assert errors["logmap"].any(axis=1).sum() <= errors["maxlog"].any(axis=1).sum()


@pytest.mark.slow
def test_fer_at_0p82_db_is_near_1e_minus_2():
    """The design point: K=1024, 8 iterations, max-log-MAP, scaling 0.75, FER 1e-2 at ~0.82 dB."""
    code = TurboCode(1024)
    rng = np.random.default_rng(11)
    frame_errors = frames = 0
    while frames < 10000:
        info = _random_bits(rng, (1000, 1024))
        result = code.decode(_awgn_llr(code.encode(info), code.rate, 0.82, rng))
        frame_errors += np.count_nonzero((result.bits != info).any(axis=1))
        frames += 1000
    assert 3e-3 < frame_errors / frames < 3e-2


# ---------------------------------------------------------------------------------------------
# Segmentation.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload_len, sizes", [
    (0, [40]),                             # B = 24 < 40: 16 filler bits
    (1, [40]),
    (100, [128]),
    (6120, [6144]),                        # B = 6144: one block, no CRC-24B
    (6121, [3072, 3136]),                  # C = 2, B' = 6193, K- = 3072, K+ = 3136, F = 15
    (20000, [4992, 5056, 5056, 5056]),     # C = 4, B' = 20120, C- = 1, F = 40
])
def test_segment_sizes_follow_36212(payload_len, sizes):
    assert segment_sizes(payload_len) == sizes


def test_coded_length_drops_the_filler_nulls():
    assert turbo_payload_coded_len(1) == 3 * 40 + 12 - 2 * 15
    assert turbo_payload_coded_len(6120) == 3 * 6144 + 12
    assert turbo_payload_coded_len(6121) == 3 * 3072 + 12 + 3 * 3136 + 12 - 2 * 15


@pytest.mark.parametrize("payload_len", [0, 1, 100, 6120, 6145, 20000])
def test_payload_round_trip(payload_len):
    payload = _random_bits(np.random.default_rng(payload_len), payload_len)
    coded = turbo_encode_payload(payload)
    assert coded.shape == (turbo_payload_coded_len(payload_len),) and coded.dtype == np.uint8
    bits, crc_ok, iterations = turbo_decode_payload(_noiseless_llr(coded), payload_len)
    np.testing.assert_array_equal(bits, payload)
    assert crc_ok.shape == iterations.shape == (len(segment_sizes(payload_len)),)
    assert crc_ok.all()
    assert (iterations == 1).all()  # each block's CRC stops it after one iteration


def test_payload_round_trip_through_noise():
    payload_len = 6145
    rng = np.random.default_rng(9)
    payload = _random_bits(rng, payload_len)
    coded = turbo_encode_payload(payload)
    rate = payload_len / coded.size
    bits, crc_ok, iterations = turbo_decode_payload(_awgn_llr(coded, rate, 2.0, rng), payload_len,
                                                    iterations=8)
    np.testing.assert_array_equal(bits, payload)
    assert crc_ok.all() and (iterations <= 8).all()


@pytest.mark.parametrize("payload_len, block", [(100, 0), (20000, 2)])
def test_payload_crc_detects_a_corrupted_block(payload_len, block):
    rng = np.random.default_rng(4)
    payload = _random_bits(rng, payload_len)
    llr = _noiseless_llr(turbo_encode_payload(payload))
    sizes = segment_sizes(payload_len)
    n_filler = sum(sizes) - payload_len - 24 - (24 * len(sizes) if len(sizes) > 1 else 0)
    lens = [3 * k + 12 - (2 * n_filler if r == 0 else 0) for r, k in enumerate(sizes)]
    start = sum(lens[:block])
    llr[start:start + lens[block]] = 20.0 * rng.choice([-1.0, 1.0], lens[block])  # garbage
    _, crc_ok, _ = turbo_decode_payload(llr, payload_len)
    expected = np.ones(len(sizes), dtype=bool)
    expected[block] = False
    np.testing.assert_array_equal(crc_ok, expected)


# ---------------------------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [0, 39, 41, 520, 6152, 6145, "1024", 1024.0, True])
def test_unsupported_block_size_is_refused(k):
    with pytest.raises(ValueError, match="Table 5.1.3-3"):
        TurboCode(k)


def test_wrong_lengths_are_refused():
    code = TurboCode(40)
    with pytest.raises(ValueError):
        code.encode(np.zeros(41, np.uint8))
    with pytest.raises(ValueError):
        code.encode(np.full(40, 2, np.uint8))
    with pytest.raises(ValueError):
        code.decode(np.zeros(code.n - 1, np.float32))
    with pytest.raises(ValueError):
        code.decode(np.zeros((2, 1, code.n), np.float32))
    with pytest.raises(ValueError):
        turbo_decode_payload(np.zeros(turbo_payload_coded_len(100) + 1, np.float32), 100)
    with pytest.raises(ValueError):
        turbo_encode_payload(np.zeros((2, 10), np.uint8))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_llrs_are_refused(bad):
    code = TurboCode(40)
    llr = np.zeros(code.n, np.float32)
    llr[7] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        code.decode(llr)
    payload_llr = np.zeros(turbo_payload_coded_len(10), np.float32)
    payload_llr[3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        turbo_decode_payload(payload_llr, 10)


@pytest.mark.parametrize("options", [
    {"algorithm": "bcjr"}, {"algorithm": "MAXLOG"}, {"iterations": 0}, {"iterations": 2.5},
    {"scaling": 0.0}, {"scaling": 1.5}, {"scaling": float("nan")}, {"crc": "crc32"}, {"crc": "md5"},
])
def test_bad_decoder_options_are_refused(options):
    code = TurboCode(40)
    with pytest.raises(ValueError):
        code.decode(np.zeros(code.n, np.float32), **options)


@pytest.mark.parametrize("payload_len", [-1, 2.0, True, "8"])
def test_bad_payload_length_is_refused(payload_len):
    with pytest.raises(ValueError, match="payload_len"):
        segment_sizes(payload_len)
