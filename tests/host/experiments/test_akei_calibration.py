"""`semcom calibrate akei` (semcom_host.experiments.akei_calibration): the best-ratio rule and the
fit on constructed quality tables, the calibration file's writer and loader, and the command end
to end on a tiny synthetic clip (8 frames, 64 x 64, PSNR) through the PHY engine."""
from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest

from helpers.clips import clip_frames
from semcom_host.cli import build_parser, main
from semcom_host.commands import COMMANDS
from semcom_host.experiments import akei_calibration as akei
from semcom_models.keyframes import KeyframeRatioPolynomial


# -- best ratio and fit --------------------------------------------------------------------------
def test_best_ratio_argmax_ties_to_smallest_and_smoothed():
    ratios = [0.05, 0.1, 0.2, 0.3]
    q = [[0.5, 0.7, 0.6, 0.4],      # plain maximum at 0.1
         [0.8, 0.8, 0.8, 0.6],      # a three-way tie: the smallest ratio
         [0.1, 0.2, 0.3, 0.9]]      # the largest
    best, top = akei.best_ratios(q, ratios)
    assert best.tolist() == [0.1, 0.05, 0.3]
    assert top.tolist() == [0.7, 0.8, 0.9]
    # smoothed: within 0.15 of 0.7 are 0.1 (weight 0.15) and 0.2 (weight 0.05)
    best, _ = akei.best_ratios(q, ratios, tolerance=0.15)
    assert best[0] == pytest.approx((0.15 * 0.1 + 0.05 * 0.2) / 0.2)
    assert best[1] == pytest.approx((0.05 + 0.1 + 0.2) / 3)      # equal weights on a flat top
    assert best[2] == pytest.approx(0.3)                          # nothing else within the tolerance
    with pytest.raises(ValueError, match="non-finite"):
        akei.best_ratios([[0.1, float("nan")]], [0.1, 0.2])
    with pytest.raises(ValueError, match="tolerance"):
        akei.best_ratios([[0.1, 0.2]], [0.1, 0.2], tolerance=-1)
    with pytest.raises(ValueError, match="ratios"):
        akei.best_ratios([[0.1, 0.2, 0.3]], [0.1, 0.2])


def _table(snrs, ratios, optimum):
    """Quality with its peak at optimum(SNR): minus the distance in ratio."""
    r = np.asarray(ratios)
    return [(-np.abs(r - optimum(s))).tolist() for s in snrs]


def test_fit_reproduces_a_known_optimum_with_l2_and_l1():
    true = np.array([0.1, 0.01, 0.001])                 # r* = 0.1 + 0.01 s + 0.001 s^2
    snrs = [-2.0, 0.0, 2.0, 4.0, 6.0, 8.0]

    def optimum(s):
        return float(np.polynomial.polynomial.polyval(s, true))

    ratios = sorted({round(optimum(s), 10) for s in snrs} | {0.03, 0.5})
    q = _table(snrs, ratios, optimum)
    for penalty in ("l2", "l1"):
        fit = akei.fit_ratios(snrs, q, ratios, degree=2, penalty=penalty, lam=0.0)
        assert fit["best_ratio"] == pytest.approx([optimum(s) for s in snrs])
        assert fit["coeffs"] == pytest.approx(true.tolist(), abs=1e-6)
        assert fit["fitted_ratio"] == pytest.approx(fit["best_ratio"], abs=1e-6)
        assert fit["rms_residual"] < 1e-6
        assert isinstance(fit["polynomial"], KeyframeRatioPolynomial)
    # both penalties shrink: a strong L1 zeroes the slopes (the constant = the mean best ratio)
    ridge = akei.fit_ratios(snrs, q, ratios, degree=2, penalty="l2", lam=10.0)
    lasso = akei.fit_ratios(snrs, q, ratios, degree=2, penalty="l1", lam=10.0)
    mean = np.mean([optimum(s) for s in snrs])
    assert lasso["coeffs"] == pytest.approx([mean, 0.0, 0.0], abs=1e-12)
    assert ridge["rms_residual"] > 1e-3 and abs(ridge["coeffs"][1]) < 0.01
    assert lasso["residuals"] == pytest.approx((np.asarray(lasso["fitted_ratio"]) - lasso["best_ratio"]).tolist())
    assert lasso["rms_residual"] == pytest.approx(math.sqrt(np.mean(np.square(lasso["residuals"]))))


def test_smoothed_best_on_a_symmetric_peak_lands_between_grid_points():
    ratios = [0.05, 0.1, 0.15, 0.2, 0.25]
    q = [[0.5, 0.8, 0.8, 0.5, 0.2]]           # a plateau across 0.1 and 0.15
    assert akei.best_ratios(q, ratios)[0][0] == 0.1
    assert akei.best_ratios(q, ratios, tolerance=0.1)[0][0] == pytest.approx(0.125)


def test_parsers_and_settings_errors():
    assert akei.parse_snrs("-2:12:2") == [-2, 0, 2, 4, 6, 8, 10, 12]
    assert akei.parse_ratios("0.3,0.03,0.1") == [0.03, 0.1, 0.3]
    assert akei.parse_seeds("1,2") == [1, 2]
    for bad, match in (("4:0:1", "bad SNR list"), ("0,0", "repeats"), ("nan", "finite")):
        with pytest.raises(akei.CalibrationError, match=match):
            akei.parse_snrs(bad)
    for bad, match in (("0,0.5", r"\(0, 1\]"), ("1.5", r"\(0, 1\]"), ("a,b", "comma"), ("0.1,0.1", "repeats")):
        with pytest.raises(akei.CalibrationError, match=match):
            akei.parse_ratios(bad)
    base = dict(clips=["x.mp4"], snrs=[0.0, 4.0, 8.0], ratios=[0.1, 0.2], size=64, metric="psnr")
    akei.AkeiCalibration(**base).check()
    for over, match in (({"metric": "lpips"}, "unknown metric"), ({"degree": 3}, "at least 4 distinct SNRs"),
                        ({"penalty": "l0"}, "penalty"), ({"metric": "ms_ssim"}, "MS-SSIM needs"),
                        ({"channels": ["moon"]}, "unknown scenario"), ({"ratios": [0.1]}, "at least 2 ratios"),
                        ({"params": {"ratio_coeffs": [0.1]}}, "set by the calibration"),
                        ({"keyframe_ratio": 0.0}, "keyframe-ratio"), ({"lam": -1.0}, "lam")):
        with pytest.raises(akei.CalibrationError, match=match):
            akei.AkeiCalibration(**{**base, **over}).check()


# -- the command end to end ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from semcom_models.video_io import write_video

    return write_video(tmp_path_factory.mktemp("clip") / "square.mp4", clip_frames(8, 64), 25.0)


def _argv(clip, tmp, *extra):
    return ["calibrate", "akei", str(clip), "--snrs=-2,10", "--ratios", "0.25,0.5", "--frames", "8", "--size", "64",
            "--metric", "psnr", "--degree", "1", "--no-progress", "--out", str(tmp / "cal" / "akei.json"),
            "--work", str(tmp / "work"), *extra]


@pytest.fixture(scope="module")
def calibrated(clip, tmp_path_factory):
    """One tiny calibration through the command: (folder, --json output, stderr)."""
    tmp = tmp_path_factory.mktemp("calibrate")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(_argv(clip, tmp, "--json"))
    assert rc == 0, err.getvalue()
    return tmp, out.getvalue(), err.getvalue()


def test_cli_writes_file_card_markdown_and_plot(calibrated, clip):
    tmp, stdout, stderr = calibrated
    path = tmp / "cal" / "akei.json"
    doc = json.loads(path.read_text())
    assert json.loads(stdout) == doc                      # --json: the written file, one line
    assert len(stdout.strip().splitlines()) == 1
    assert "4 points" in stderr and "[4/4]" in stderr     # progress on stderr
    assert doc["kind"] == akei.KIND and doc["version"] == akei.VERSION
    assert doc["degree"] == 1 and doc["penalty"] == "l2" and doc["lam"] == 1e-3 and doc["min_ratio"] == 0.02
    assert len(doc["coeffs"]) == 2
    card = doc["card"]
    assert card["snrs_db"] == [-2.0, 10.0] and card["ratios"] == [0.25, 0.5] and card["seeds"] == [1]
    assert card["channels"] == ["awgn"] and card["metric"] == "psnr" and card["keyframe_ratio"] == 0.1
    assert card["clips"][0]["name"] == "square" and card["clips"][0]["path"] == str(clip.resolve())
    assert card["clips"][0]["frames"] == 8 and card["clips"][0]["size"] == [64, 64]
    assert card["clips"][0]["keyframes_allowed"] == {"0.25": 2, "0.5": 4}
    q = np.asarray(card["quality"])
    assert q.shape == (2, 2) and np.isfinite(q).all() and card["quality_n"] == [[1, 1], [1, 1]]
    assert card["quality_by_channel"]["awgn"] == card["quality"] == card["quality_by_clip"]["square"]
    assert np.asarray(card["quality_std"]).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    best, _ = akei.best_ratios(q, card["ratios"])
    assert card["best_ratio"] == best.tolist()
    poly = KeyframeRatioPolynomial(np.asarray(doc["coeffs"]), doc["min_ratio"])
    assert card["fitted_ratio"] == pytest.approx(poly(np.asarray(card["snrs_db"])).tolist())
    assert card["residuals"] == pytest.approx((np.asarray(card["fitted_ratio"]) - best).tolist())
    assert card["rms_residual"] == pytest.approx(math.sqrt(np.mean(np.square(card["residuals"]))))
    assert card["scheme"] == "vq-deepvsc" and card["scheme_params"]["image_size"] == 64
    assert "ratio_coeffs" not in card["scheme_params"] and card["scheme_params"]["keyframe_ratio"] == 0.1
    assert card["fit"] == {"degree": 1, "penalty": "l2", "lam": 1e-3, "min_ratio": 0.02}
    assert card["command"].startswith("semcom calibrate akei ") and "--snrs=-2,10" in card["command"]
    assert card["date"] and "git_commit" in card and card["points"] == 4
    md = (tmp / "cal" / "akei.md").read_text()
    assert "| SNR (dB) | r=0.25 | r=0.5 |" in md and "coeffs" in md and card["command"] in md
    assert (tmp / "cal" / "akei.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_rerun_resumes_without_running_points(calibrated, clip, capsys):
    tmp, _, _ = calibrated
    assert main(_argv(clip, tmp)) == 0
    captured = capsys.readouterr()
    doc = json.loads((tmp / "cal" / "akei.json").read_text())
    assert doc["card"]["points_run_now"] == 0 and doc["card"]["points_from_before"] == 4
    assert "best" in captured.out and "coeffs" in captured.out
    assert "4 points were finished before" in captured.err and "reused" in captured.err


def test_loader_round_trip_and_errors(calibrated, tmp_path):
    tmp, _, _ = calibrated
    doc = json.loads((tmp / "cal" / "akei.json").read_text())
    coeffs, card = akei.load_akei_calibration(tmp / "cal" / "akei.json")
    assert coeffs == doc["coeffs"] and card == doc["card"]
    written = akei.write_calibration(doc, tmp_path / "again.json")
    assert akei.load_akei_calibration(written["json"]) == (coeffs, card)
    assert (tmp_path / "again.md").is_file() and (tmp_path / "again.png").is_file()

    with pytest.raises(FileNotFoundError, match="semcom calibrate akei"):
        akei.load_akei_calibration(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    for text, match in (("{not json", "not JSON"), ("[1, 2]", "JSON object"),
                        (json.dumps({**doc, "kind": "other"}), "not an AKEI calibration"),
                        (json.dumps({**doc, "version": 99}), "version"),
                        (json.dumps({k: v for k, v in doc.items() if k != "lam"}), "missing fields"),
                        (json.dumps({**doc, "coeffs": []}), "coeffs"),
                        (json.dumps({**doc, "coeffs": [0.1, "x"]}), "coeffs"),
                        (json.dumps({**doc, "coeffs": [0.1, float("nan")]}), "coeffs"),
                        (json.dumps({**doc, "degree": 2}), "does not match"),
                        (json.dumps({**doc, "min_ratio": 0}), "min_ratio"),
                        (json.dumps({**doc, "penalty": "l3"}), "penalty"),
                        (json.dumps({**doc, "lam": -1}), "lam"),
                        (json.dumps({**doc, "card": []}), "card")):
        bad.write_text(text)
        with pytest.raises(akei.CalibrationFileError, match=match):
            akei.load_akei_calibration(bad)


@pytest.mark.parametrize("extra, message", [
    (["--snrs", "12:-2:2"], "bad SNR list"),
    (["--ratios", "0.1,1.5"], "(0, 1]"),
    (["--metric", "lpips"], "unknown metric 'lpips'"),
    (["--degree", "2"], "at least 3 distinct SNRs"),
    (["--metric", "ms_ssim"], "MS-SSIM needs"),
    (["--penalty", "l0"], "penalty"),
    (["--channel", "moon"], "unknown scenario"),
    (["--param", "snr_db=3"], "set by the calibration"),
    (["--param", "no_such_param=1"], "no parameter 'no_such_param'"),
])
def test_cli_bad_settings_exit_2_with_one_line(clip, tmp_path, capsys, extra, message):
    assert main(_argv(clip, tmp_path, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("semcom calibrate: error:") and message in err
    assert not (tmp_path / "work").exists()               # nothing ran


def test_cli_missing_clip_and_bad_out(clip, tmp_path, capsys):
    argv = _argv(clip, tmp_path)
    argv[2] = str(tmp_path / "nope.mp4")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.mp4" in err and "does not exist" in err
    argv = _argv(clip, tmp_path)
    argv[argv.index("--out") + 1] = str(tmp_path / "akei.yaml")
    assert main(argv) == 2
    assert ".json" in capsys.readouterr().err


def test_cli_failed_points_exit_1(clip, tmp_path, capsys):
    assert main(_argv(clip, tmp_path, "--param", "model=no_such_model")) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "4 of 4 points failed" in err and "run the same command again" in err
    assert not (tmp_path / "cal" / "akei.json").exists()


def test_help_negative_snrs_and_command_order(capsys):
    assert COMMANDS.index("calibrate") == COMMANDS.index("eval") + 1
    for argv, words in ((["calibrate", "--help"], ["akei"]),
                        (["calibrate", "akei", "--help"], ["Es/N0", "dB", "--keyframe-ratio", "symbol budget"])):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert all(w in out for w in words)
    args = build_parser().parse_args(["calibrate", "akei", "a.mp4", "--snrs", "-2:12:2", "--out", "x.json"])
    assert args.snrs == "-2:12:2" and args.clips == ["a.mp4"] and args.channel is None
