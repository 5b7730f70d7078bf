"""MSVQ, the index selector/restorer, the bitstream and the BCR formula."""
import numpy as np
import pytest
import torch

from semcom_models.index_selector import Bitstream, bcr, codeword_cosine, pack, restore_indices, select_indices, unpack
from semcom_models.msvq import MSVQ, VARIANTS, MSVQConfig, load_msvq, save_msvq

torch.set_num_threads(1)
TINY = MSVQConfig("tiny", groups=2, dim=4, codebook_size=8, widths=(8, 8, 8))


def test_bcr_formula():
    # VQ-DeepVSC: BCR = (N + L_eta B + L_s (M - 1)) / (C H W 8 N)
    assert bcr(8, 100, 4, 50, 3) == (8 + 100 * 4 + 50 * 2) / (3 * 256 * 256 * 8 * 8)
    cfg = VARIANTS["msvq_g8_l16"]
    l_s, b = cfg.indices_per_frame(), cfg.bits_per_index
    assert (l_s, b) == (8192, 4)
    assert abs(bcr(8, 8 * l_s, b, l_s, 8) - 0.0254) < 5e-4        # every index of 8 frames sent
    with pytest.raises(ValueError):
        bcr(8, 10, 4, 50, 9)


def _clip(seed=0, n=6, l_s=40, size=8, change=0.3):
    rng = np.random.default_rng(seed)
    idx = np.empty((n, l_s), np.int64)
    idx[0] = rng.integers(0, size, l_s)
    for j in range(1, n):
        idx[j] = np.where(rng.random(l_s) < change, rng.integers(0, size, l_s), idx[j - 1])
    return idx, rng.normal(size=(size, 3))


def test_index_selector_extremes_and_restorer():
    idx, cb = _clip()
    n, l_s = idx.shape
    keys = np.ones(n, bool)
    everything = select_indices(idx, keys, cb, 1.0)
    assert everything.n_sent == n * l_s and everything.b_p.all()
    assert np.array_equal(restore_indices(everything), idx)
    nothing = select_indices(idx, keys, cb, -1.0)
    assert nothing.n_sent == l_s and not nothing.b_p.any()            # only the first coded frame
    assert np.array_equal(restore_indices(nothing), np.repeat(idx[:1], n, axis=0))
    mid = select_indices(idx, keys, cb, 0.5)
    rest = restore_indices(mid)
    cos = codeword_cosine(cb)
    assert np.array_equal(rest[0], idx[0])
    for j in range(1, n):                                             # kept codewords are similar
        assert np.all(cos[idx[j], rest[j]] >= 0.5)
    assert nothing.n_bits < mid.n_bits < everything.n_bits
    assert mid.n_bits == n + (n - 1) * l_s + mid.n_sent * 3


def test_keyframe_flags_and_pack_round_trip():
    idx, cb = _clip(1, n=5)
    flags = np.array([1, 0, 1, 0, 1], bool)
    bs = select_indices(idx, flags, cb, 0.3)
    assert bs.n_coded == 3 and bs.b_p.shape == (2, idx.shape[1])
    data = pack(bs)
    assert len(data) == -(-bs.n_bits // 8)
    back = unpack(data, 5, idx.shape[1], 3)
    assert np.array_equal(back.b_s, bs.b_s) and np.array_equal(back.b_p, bs.b_p)
    assert np.array_equal(back.b_v, bs.b_v)
    assert np.array_equal(restore_indices(back), restore_indices(bs))
    assert pack(back) == data
    with pytest.raises(ValueError, match="bytes"):
        unpack(data[:-1], 5, idx.shape[1], 3)
    with pytest.raises(ValueError):
        unpack(data + b"\x00", 5, idx.shape[1], 3)
    # coded rows only (M x L_s) are accepted as well
    assert np.array_equal(select_indices(idx[flags], flags, cb, 0.3).b_v, bs.b_v)


def test_selector_errors():
    idx, cb = _clip()
    with pytest.raises(ValueError, match="eta"):
        select_indices(idx, np.ones(len(idx), bool), cb, 1.5)
    with pytest.raises(ValueError, match="lie in"):
        select_indices(idx + 100, np.ones(len(idx), bool), cb, 0.5)
    with pytest.raises(ValueError, match="fit neither"):
        select_indices(idx[:2], np.ones(len(idx), bool), cb, 0.5)
    with pytest.raises(ValueError):
        restore_indices(Bitstream(np.ones(2, bool), np.zeros((1, 4), bool), np.zeros(3, np.int64), 4, 3))


def test_msvq_shapes_training_pass_and_errors():
    torch.manual_seed(0)
    m = MSVQ(TINY)
    x = torch.rand(2, 3, 32, 32)
    x_hat, commit, idx, v = m(x)
    assert x_hat.shape == x.shape and idx.shape == (2, 2, 4, 4) and v.shape == (2 * 2 * 4 * 4, 4)
    assert float(commit.detach()) >= 0
    (x_hat.mean() + commit).backward()
    assert m.enc["stem"].weight.grad is not None            # straight-through gradient reaches the encoder
    before = m.codebook.embedding.clone()
    m.codebook.ema_update(v.detach(), idx.reshape(-1))
    assert not torch.equal(before, m.codebook.embedding)
    m.eval()
    i = m.encode(x)
    assert i.dtype == torch.int64 and int(i.max()) < 8 and m.decode(i).shape == x.shape
    with pytest.raises(ValueError):
        m.encode(torch.rand(1, 3, 30, 32))
    bad = torch.rand(1, 3, 32, 32)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        m.encode(bad)
    with pytest.raises(ValueError, match="lie in"):
        m.decode(torch.full((1, 2, 4, 4), 9))
    with pytest.raises(ValueError, match="integer indices"):
        m.decode(torch.zeros(1, 3, 4, 4, dtype=torch.int64))


def test_msvq_weights_round_trip(tmp_path):
    torch.manual_seed(1)
    m = MSVQ(TINY).eval()
    p = save_msvq(m, tmp_path / "tiny.safetensors")
    back = load_msvq(p)
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(m.encode(x), back.encode(x))
    assert torch.equal(m.decode(m.encode(x)), back.decode(m.encode(x)))
    with pytest.raises(FileNotFoundError):
        load_msvq(tmp_path / "missing.safetensors")
    other = MSVQ(MSVQConfig("tiny2", groups=2, dim=4, codebook_size=8, widths=(8, 8, 16)))
    tensors = {k: v.contiguous() for k, v in other.state_dict().items()}
    from semcom_models.djscc import load_state_checked

    with pytest.raises(ValueError, match="shape mismatch"):
        load_state_checked(MSVQ(TINY), tensors, "test")
