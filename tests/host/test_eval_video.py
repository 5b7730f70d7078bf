"""`semcom eval video`: a received video scored against the clip that was sent."""
from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.clips import clip_frames
from semcom_host.cli import main
from semcom_models.metrics import psnr
from semcom_models.video_io import read_video, write_video


def test_a_received_video_is_scored_against_its_source(tmp_path, capsys):
    src = clip_frames(10, 96)
    write_video(tmp_path / "sent.mp4", src, fps=8.0, crf=0)
    noisy = np.clip(src[:8].astype(int) + np.random.default_rng(0).integers(-20, 21, (8, 96, 96, 3)), 0, 255)
    small = noisy.astype(np.uint8)[:, ::2, ::2]   # the receiver's output: 8 frames of 48 x 48
    write_video(tmp_path / "rx.mp4", small, fps=8.0, crf=0)
    assert main(["eval", "video", str(tmp_path / "sent.mp4"), str(tmp_path / "rx.mp4"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames_compared"] == 8 and out["size"] == [48, 48]
    ref, _ = read_video(tmp_path / "sent.mp4", max_frames=8, size=(48, 48))
    rec, _ = read_video(tmp_path / "rx.mp4")
    assert out["psnr_db"] == pytest.approx(float(np.mean(psnr(rec, ref))), abs=1e-6)
    assert out["ms_ssim"] is None and "ms_ssim" in out["skipped"]
