"""Deep JSCC and its channel layers: budgets, unit power, the SNR convention, errors, weights."""
import math

import numpy as np
import pytest
import torch

from semcom_models import metrics
from semcom_models.channel_layers import (
    AWGNChannel,
    RayleighBlockFading,
    make_channel,
    noise_variance,
    normalize_power,
    sample_snr_db,
)
from semcom_models.codec_train import ms_ssim_loss
from semcom_models.djscc import (
    VARIANTS,
    DeepJSCC,
    DJSCCConfig,
    load_djscc,
    load_state_checked,
    save_djscc,
    weights_path,
)

torch.set_num_threads(1)
TINY = DJSCCConfig("tiny", 3, 8, 4, (8, 8, 8), image_size=(32, 32))


def tiny(seed=0, cfg=TINY):
    torch.manual_seed(seed)
    return DeepJSCC(cfg).eval()


def test_variant_budgets():
    ff, sk, rgb = VARIANTS["djscc_first_frame"], VARIANTS["djscc_sketch"], VARIANTS["djscc_rgb"]
    assert ff.num_symbols() == 7808 and abs(ff.num_symbols() / 7800 - 1) < 0.01
    assert sk.num_symbols() == 32 * 32 * 2 // 2 == 1024 and sk.in_channels == 1
    assert rgb.num_symbols() == 1152
    assert math.isclose(ff.cbr(), 7808 / (3 * 256 * 256))
    # the RGB baseline's per-frame CBR matches GVSC's First Frame+Desc CBR (0.0057) within 3 %
    assert abs(rgb.cbr() / 0.0057 - 1) < 0.03


def test_encode_unit_power_and_shapes():
    m = tiny()
    x = torch.rand(3, 3, 32, 32)
    z = m.encode(x, 5.0)
    assert z.dtype == torch.complex64 and z.shape == (3, TINY.num_symbols(32, 32))
    assert torch.allclose(z.abs().square().mean(dim=1), torch.ones(3), atol=1e-5)
    with torch.no_grad():
        y = m.decode(z, torch.tensor([0.0, 5.0, 10.0]), (32, 32))
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    # the in-place inference path computes what the training path computes
    with torch.no_grad():
        fast = m.decode(m.encode(x, 5.0), 5.0, (32, 32))
    assert torch.allclose(fast, m.decode(m.encode(x, 5.0), 5.0, (32, 32)).detach(), atol=1e-6)
    # SNR conditioning reaches the decoder
    assert not torch.allclose(m.decode(z, 0.0, (32, 32)), m.decode(z, 20.0, (32, 32)))
    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    sym = m.encode_frames(frames, 3.0)
    assert sym.dtype == np.complex64 and sym.shape == (2, TINY.num_symbols(32, 32))
    out = m.decode_symbols(sym, 3.0, (32, 32))
    assert out.dtype == np.uint8 and out.shape == frames.shape


def test_awgn_snr_convention_measured():
    gen = torch.Generator().manual_seed(3)
    z = normalize_power(torch.complex(torch.randn(4, 50000), torch.randn(4, 50000)))
    snr = torch.tensor([0.0, 3.0, 10.0, 20.0])
    y, snr_rx = AWGNChannel()(z, snr, generator=gen)
    n = y - z
    measured = n.abs().square().mean(dim=1)
    assert torch.allclose(measured, noise_variance(snr), rtol=0.03)
    # N0/2 on each of the real and imaginary parts
    assert torch.allclose(n.real.var(dim=1), noise_variance(snr) / 2, rtol=0.04)
    assert torch.allclose(n.imag.var(dim=1), noise_variance(snr) / 2, rtol=0.04)
    est = 10 * torch.log10(z.abs().square().mean(dim=1) / measured)
    assert torch.allclose(est, snr, atol=0.15)
    assert torch.equal(snr_rx, snr)


def test_rayleigh_block_fading():
    gen = torch.Generator().manual_seed(4)
    z = normalize_power(torch.complex(torch.randn(2000, 8), torch.randn(2000, 8)))
    ch = RayleighBlockFading(blocks=2)
    y, snr_eff = ch(z, 60.0, generator=gen)
    assert float((y - z).abs().median()) < 0.01       # equalised, almost noiseless
    # E|h|^2 = 1: the mean effective SNR in linear units is the nominal one
    assert abs(float(torch.pow(10, snr_eff / 10).mean()) / 1e6 - 1) < 0.1
    with pytest.raises(ValueError):
        ch(z[:, :7], 10.0)
    with pytest.raises(ValueError):
        make_channel("rician")


def test_sample_snr_range():
    s = sample_snr_db(1000, 0.0, 10.0, torch.Generator().manual_seed(0))
    assert float(s.min()) >= 0 and float(s.max()) <= 10 and 4 < float(s.mean()) < 6


def test_clear_errors():
    m = tiny()
    with pytest.raises(ValueError, match="N x 3"):
        m.encode(torch.rand(1, 1, 32, 32), 5.0)
    with pytest.raises(ValueError, match="multiples of 8"):
        m.encode(torch.rand(1, 3, 30, 32), 5.0)
    x = torch.rand(1, 3, 32, 32)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        m.encode(x, 5.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.encode(torch.rand(1, 3, 32, 32) * 255, 5.0)
    with pytest.raises(ValueError, match="one SNR per example"):
        m.encode(torch.rand(2, 3, 32, 32), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="symbols"):
        m.decode(torch.zeros(1, 10, dtype=torch.complex64), 5.0, (32, 32))
    bad = torch.full((1, TINY.num_symbols(32, 32)), complex(float("nan"), 0), dtype=torch.complex64)
    with pytest.raises(ValueError, match="NaN"):
        m.decode(bad, 5.0, (32, 32))
    with pytest.raises(ValueError, match="uint8"):
        m.encode_frames(np.zeros((1, 32, 32, 3), np.float32), 5.0)


def test_safetensors_round_trip_and_weight_errors(tmp_path, monkeypatch):
    m = tiny(1)
    p = save_djscc(m, tmp_path / "tiny.safetensors")
    back = load_djscc(p)
    x = torch.rand(2, 3, 32, 32)
    z = m.encode(x, 4.0)
    assert torch.equal(z, back.encode(x, 4.0))
    assert torch.equal(m.decode(z, 4.0, (32, 32)), back.decode(z, 4.0, (32, 32)))
    # by name from $SEMCOM_WEIGHTS_DIR; missing names are clear errors
    monkeypatch.setenv("SEMCOM_WEIGHTS_DIR", str(tmp_path))
    assert weights_path("tiny") == p
    assert isinstance(load_djscc("tiny"), DeepJSCC)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_djscc("djscc_first_frame")
    # mismatched architecture against the expected variant
    with pytest.raises(ValueError, match="does not match"):
        load_djscc(p, expect=VARIANTS["djscc_rgb"])
    # missing and wrongly shaped tensors
    state = dict(m.state_dict())
    state.pop("encoder.head.bias")
    with pytest.raises(ValueError, match="missing 1 tensors"):
        load_state_checked(tiny(), state, "test")
    state = dict(m.state_dict())
    state["encoder.head.weight"] = torch.zeros(5, 8, 3, 3)
    with pytest.raises(ValueError, match="shape mismatch"):
        load_state_checked(tiny(), state, "test")
    # a safetensors file that is not a DJSCC checkpoint
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a gr-semcom DJSCC"):
        load_djscc(tmp_path / "other.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable"):
        load_djscc(tmp_path / "junk.safetensors")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_shipped_weights(name):
    p = weights_path(name)
    if not p.is_file():
        pytest.skip(f"{p} not trained yet")
    assert p.stat().st_size <= 25 * 2 ** 20
    assert p.with_suffix(".md").is_file(), "every shipped weight file has a model card"
    m = load_djscc(name)
    h, w = m.cfg.image_size
    z = m.encode(torch.rand(1, m.cfg.in_channels, h, w), 5.0)
    assert z.shape == (1, VARIANTS[name].num_symbols())


def test_ms_ssim_loss_matches_metrics():
    rng = np.random.default_rng(5)
    t = rng.integers(0, 256, (1, 176, 176, 3), dtype=np.uint8)
    t = np.ascontiguousarray(np.cumsum(t, axis=2) // 176).astype(np.uint8)       # smooth content
    p = np.clip(t.astype(int) + rng.normal(0, 12, t.shape), 0, 255).astype(np.uint8)
    ref = float(metrics.ms_ssim(p[0], t[0]))
    ours = 1 - float(ms_ssim_loss(metrics.to_tensor(p), metrics.to_tensor(t)))
    assert abs(ref - ours) < 0.01
