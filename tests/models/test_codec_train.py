"""Codec training (2 steps on tiny data, checkpoint and resume) and eval_codec on tiny frames."""
import json

import numpy as np
import pytest
import torch

from semcom_host.experiments.codec_eval import eval_codec, jpeg_fit, reference_payload_bytes
from semcom_models.codec_train import load_config, train
from semcom_models.djscc import DeepJSCC, DJSCCConfig, load_djscc, save_djscc
from semcom_models.msvq import MSVQ, MSVQConfig, load_msvq, save_msvq
from semcom_models.video_io import write_video

torch.set_num_threads(1)


@pytest.fixture
def tiny_clip(tmp_path):
    """A 6-frame 48 x 64 clip with moving gradients (written with the project's video I/O)."""
    yy, xx = np.mgrid[0:48, 0:64]
    frames = np.stack([np.stack([(xx * 4 + 9 * t) % 256, (yy * 5) % 256, (xx + yy + 20 * t) % 256], -1)
                       for t in range(6)]).astype(np.uint8)
    return str(write_video(tmp_path / "tiny.mp4", frames, fps=6))


def _cfg(clip, **kw):
    return {"variant": "djscc_first_frame", "steps": 2, "batch_size": 2, "crop": 32, "clips": [clip],
            "clip_stride": 1, "eval_every": 0, "checkpoint_every": 1, "log_every": 1, "threads": 1,
            "warmup": 1, **kw}


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown config keys"):
        load_config({"stepz": 3})
    with pytest.raises(ValueError, match="model"):
        load_config({"model": "gan"})
    p = tmp_path / "c.yaml"
    p.write_text("variant: djscc_sketch\nsteps: 7\n")
    cfg = load_config(p)
    assert cfg["steps"] == 7 and cfg["variant"] == "djscc_sketch" and cfg["loss_k"] == 0.3


def test_train_checkpoint_and_resume(tmp_path, tiny_clip):
    out = tmp_path / "run"
    r1 = train(_cfg(tiny_clip, steps=3), out, progress=False, steps=2)   # stop at 2 of 3 ...
    assert r1["step"] == 2 and r1["done"]
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 2 and len(state["history"]) == 2
    for name in ("checkpoint.safetensors", "optimizer.safetensors", "curves.png"):
        assert (out / name).is_file()
    r2 = train(_cfg(tiny_clip, steps=3), out, progress=False)             # ... and resume to 3
    assert r2["step"] == 3 and r2["done"]
    state = json.loads((out / "state.json").read_text())
    assert [h["step"] for h in state["history"]] == [1, 2, 3]
    m = load_djscc(r2["weights"])
    assert m.cfg.latent_channels == 61
    with pytest.raises(ValueError, match="holds a djscc"):
        train(_cfg(tiny_clip, variant="djscc_rgb"), out, progress=False)


def test_train_msvq_two_steps(tmp_path, tiny_clip):
    cfg = _cfg(tiny_clip, model="msvq", variant="msvq_g8_l16",
               msvq={"groups": 2, "dim": 4, "codebook_size": 8, "widths": [8, 8, 8]})
    r = train(cfg, tmp_path / "vq", progress=False)
    assert r["done"] and "codebook_used" in r["last"]
    assert load_msvq(r["weights"]).cfg.groups == 2


def test_jpeg_reference_budget():
    from semcom_blocks.phy.fec import PayloadCoder

    coder = PayloadCoder("ldpc", n=648, rate="1/2", modulation="qpsk", crc="crc32")
    nbytes = reference_payload_bytes(coder, 7808)
    assert coder.n_symbols(nbytes) <= 7808 < coder.n_symbols(nbytes + 1)
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data, q, side = jpeg_fit(img, 900)
    assert len(data) <= 900 and 1 <= q <= 100 and side in (32, 48, 64)
    assert jpeg_fit(img, 10) is None


def test_eval_codec_fields(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_WEIGHTS_DIR", str(tmp_path))
    torch.manual_seed(0)
    save_djscc(DeepJSCC(DJSCCConfig("djscc_tiny", 3, 8, 4, (8, 8, 8), image_size=(176, 176))),
               tmp_path / "djscc_tiny.safetensors")
    yy, xx = np.mgrid[0:176, 0:176]
    frames = np.stack([np.stack([xx, yy, (xx + yy) // 2], -1) + 20 * t for t in range(2)]).astype(np.uint8)
    rows = eval_codec("djscc_tiny", [0, 10], tmp_path / "r.jsonl", tmp_path / "r.png", frames=frames,
                      latency_repeats=2)
    lines = [json.loads(s) for s in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert lines == json.loads(json.dumps(rows)) and (tmp_path / "r.png").is_file()
    model_rows = [r for r in lines if r["model"] == "djscc_tiny"]
    ref_rows = [r for r in lines if "ldpc" in r["model"]]
    assert [r["snr_db"] for r in model_rows] == [0.0, 10.0]
    assert [r["snr_db"] for r in ref_rows] == [None, 0.0, 10.0]
    for r in lines:
        assert {"model", "snr_db", "psnr", "ssim", "ms_ssim", "symbols", "cbr", "ms_per_frame"} <= set(r)
    assert model_rows[0]["symbols"] == 22 * 22 * 4 // 2 and model_rows[0]["ms_per_frame"] > 0
    assert ref_rows[1]["lost"] == 1.0          # 0 dB is below LDPC R1/2 QPSK's threshold: lost
    assert ref_rows[2]["lost"] == 0.0          # 10 dB: decoded


def test_eval_codec_msvq(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMCOM_WEIGHTS_DIR", str(tmp_path))
    torch.manual_seed(0)
    save_msvq(MSVQ(MSVQConfig("msvq_tiny", groups=2, dim=4, codebook_size=8, widths=(8, 8, 8))),
              tmp_path / "msvq_tiny.safetensors")
    yy, xx = np.mgrid[0:176, 0:176]
    clip = np.stack([np.stack([xx, yy, (xx + yy) // 2], -1) + 3 * t for t in range(3)]).astype(np.uint8)
    rows = eval_codec("msvq_tiny", [10], clips=[clip], eta=0.9, latency_repeats=2)
    assert [r["snr_db"] for r in rows] == [None, 10.0]
    assert 0 < rows[0]["bcr"] < 1 and rows[1]["lost"] == 0.0
    assert rows[0]["ms_ssim"] == pytest.approx(rows[1]["ms_ssim"])


def test_msvq_eta_sweep(tmp_path, monkeypatch):
    from semcom_host.experiments.codec_eval import msvq_eta_sweep

    monkeypatch.setenv("SEMCOM_WEIGHTS_DIR", str(tmp_path))
    torch.manual_seed(0)
    save_msvq(MSVQ(MSVQConfig("msvq_tiny", groups=2, dim=4, codebook_size=8, widths=(8, 8, 8))),
              tmp_path / "msvq_tiny.safetensors")
    yy, xx = np.mgrid[0:176, 0:176]
    clip = np.stack([np.stack([xx, yy, (xx + yy) // 2], -1) + 9 * t for t in range(3)]).astype(np.uint8)
    rows = msvq_eta_sweep("msvq_tiny", [1.0, -1.0], clips=[clip])
    assert rows[0]["sent_fraction"] == 1.0 and rows[1]["sent_fraction"] == pytest.approx(1 / 3)
    assert rows[0]["bcr"] > rows[1]["bcr"]
