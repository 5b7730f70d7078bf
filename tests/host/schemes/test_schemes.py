"""The papers' schemes end to end: every built-in scheme through the video loopback flowgraph on a
short clip (every digital unit bit-exact at 20 dB), through the PHY engine with units lost, a
missing manifest, presets, the grcc-compiled video_loopback flowgraph and `semcom run`."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers import REPO  # noqa: E402
from helpers.clips import clip_frames  # noqa: E402
from semcom_blocks.phy.loopback import simulate
from semcom_host.run import load_preset, preset_names, run_video
from semcom_host.service.registry import get_scheme, load_builtin_schemes, received_to_dict, scheme_names
from semcom_models.video_io import write_video

CAPTION = "a bright square drifts to the right across a striped background"
#: built-in schemes that need nothing but the shipped weights (lgvsc-skem needs a VLM: own test)
SCHEMES = ("gvsc-desc", "gvsc-first-frame", "gvsc-sketch", "gvsc-sketches", "lgvsc-text", "lgvsc-skim",
           "vq-deepvsc", "djscc-rgb")
EXPECTED_DECODER = {"gvsc-desc": "none", "lgvsc-text": "none", "gvsc-sketch": "sketch-render",
                    "gvsc-sketches": "sketch-render", "djscc-rgb": "djscc"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, clip_frames(), fps=8.0, crf=0)
    return path


def scheme_params(name: str) -> dict:
    load_builtin_schemes()
    return {"caption": CAPTION} if "caption" in (get_scheme(name).defaults or {}) else {}


def test_every_builtin_scheme_is_registered():
    load_builtin_schemes()
    assert set(SCHEMES) | {"lgvsc-skem", "raw-analog"} <= set(scheme_names())
    from semcom_models.decoders.registry import build_decoder, capabilities, decoder_names

    assert {"interpolating", "repetition"} <= set(decoder_names())     # weight-free receivers by name
    assert build_decoder("repetition").name == "repetition" and capabilities("interpolating")


@pytest.mark.gnuradio
@pytest.mark.parametrize("name", SCHEMES)
def test_scheme_through_the_video_loopback_flowgraph(clip, tmp_path, name):
    pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio")
    r = run_video(clip, name, snr_db=20.0, params=scheme_params(name), frames=8, size=64, out_dir=tmp_path)
    assert r["transmissions_received"] == r["transmissions_sent"] > 0
    assert r["digital_units_sent"] > 0 and r["digital_units_exact"] == r["digital_units_sent"]
    assert r["decoder"] == EXPECTED_DECODER.get(name, "interpolating")
    assert 0 < r["cbr_paper"] <= r["cbr_net"] < r["cbr_gross"]
    assert abs(r["snr_est_db"] - 20) < 1.5
    for key in ("scheme", "channel", "snr_db", "psnr", "ssim", "ms_ssim", "stage_seconds"):
        assert key in r
    assert r["ms_ssim"] is None and "ms_ssim" in r["metrics_skipped"]      # 64 x 64 < 176 pixels
    if r["decoder_chain"] is not None:   # the schemes with a generative receiver: what ran ends the chain
        assert r["decoder_chain"][-1] == {"name": r["decoder"]}
    if "caption" in (get_scheme(name).defaults or {}):   # sent text, no CLIP or captioner here: said so
        assert "clip_text" in r["metrics_skipped"] and "captioner" in r["metrics_skipped"]["bertscore"]
    assert r["stage_seconds"]["flowgraph"] > 0 and r["stage_seconds"]["total"] >= r["stage_seconds"]["flowgraph"]
    for f in ("reconstructed.mp4", "strip.png", "report.json"):
        assert (tmp_path / f).stat().st_size > 0
    assert json.loads((tmp_path / "report.json").read_text())["scheme"] == name
    if r["decoder"] in ("interpolating", "djscc"):       # the clip's content came through: far above mid-grey
        from semcom_models.metrics import psnr

        grey = float(np.mean(psnr(np.full_like(clip_frames(), 128), clip_frames())))
        assert r["psnr"] > grey + 3, (r["psnr"], grey)


def engine(name: str, snr_db: float = 20.0, frames=None, **params):
    """(encoder context, received dicts, merged params) of ``name`` over the PHY engine."""
    load_builtin_schemes()
    spec = get_scheme(name)
    p = spec.merge_params({**scheme_params(name), "image_size": 64, **params})
    p["fps"] = 8.0
    txs, ctx = spec.encoder(clip_frames() if frames is None else frames, p)
    rx, _ = simulate(txs, snr_db, "awgn", seed=3)
    return spec, ctx, [received_to_dict(f) for f in rx], p


@pytest.mark.parametrize("name", ["lgvsc-skim", "djscc-rgb", "gvsc-first-frame"])
def test_without_manifest_or_context_the_size_is_unknown(name):
    spec, ctx, received, p = engine(name)
    for rx in received:
        rx["units"] = [u for u in rx["units"] if u["name"] != "manifest"]
    with pytest.raises(ValueError, match="manifest"):
        spec.decoder(received, {}, p)
    frames, report = spec.decoder(received, ctx, p)       # the context describes the clip
    assert frames.shape == (8, 64, 64, 3) and report["manifest_from"] == "context"


def test_vq_deepvsc_lost_keyframe_units_are_counted_and_the_clip_still_decodes():
    spec, ctx, received, p = engine("vq-deepvsc", keyframe_ratio=0.5)
    keys = ctx["manifest"]["keys"]
    assert len(keys) >= 3
    lost = f"kf{keys[1]}"
    for rx in received:
        for u in rx["units"]:
            if u["name"] == lost:
                u["crc_ok"] = False
    frames, report = spec.decoder(received, ctx, p)
    assert report["keyframe_units_lost"] == [keys[1]]
    assert keys[1] not in report["keyframes_rebuilt"] and keys[0] in report["keyframes_rebuilt"]
    assert frames.shape == (8, 64, 64, 3)
    # the first keyframe carries every index: without it nothing can be rebuilt
    for rx in received:
        for u in rx["units"]:
            if u["name"] == f"kf{keys[0]}":
                u["crc_ok"] = False
    frames, report = spec.decoder(received, ctx, p)
    assert report["keyframes_rebuilt"] == [] and report["decoder"] == "none"


def test_djscc_rgb_conceals_frames_that_did_not_arrive():
    spec, ctx, received, p = engine("djscc-rgb", max_symbols_per_transmission=600)
    kept = [rx for rx in received if not any(u["name"].startswith("f3.") for u in rx["units"])]
    assert len(kept) < len(received)
    frames, report = spec.decoder(kept, ctx, p)
    assert report["frames_concealed"] >= 1 and np.array_equal(frames[3], frames[2])


def test_gvsc_sketch_arrives_as_an_edge_drawing():
    spec, ctx, received, p = engine("gvsc-sketch")
    frames, report = spec.decoder(received, ctx, p)
    assert report["decoder"] == "sketch-render" and report["caption_received"] == CAPTION
    assert np.all(frames == frames[0]) and frames.std() > 10        # one sketch, drawn on every frame


def test_text_schemes_need_a_caption():
    load_builtin_schemes()
    spec = get_scheme("gvsc-desc")
    with pytest.raises(ValueError, match="caption"):
        spec.encoder(clip_frames(), spec.merge_params({}))


def test_captions_per_segment_from_a_sidecar(tmp_path):
    side = tmp_path / "clip.captions.txt"
    side.write_text("0-4: first half\n4-8: second half\n")
    spec, ctx, received, p = engine("lgvsc-text", interval=4, caption="", captions_file=str(side))
    frames, report = spec.decoder(received, ctx, p)
    assert report["captions_received"] == ["first half", "second half"]


def test_lgvsc_skem_with_a_tiny_vision_language_model(tmp_path):
    pytest.importorskip("transformers")
    from helpers import tiny_models as tm

    with tm.torch_threads(1):
        path = tm.save_qwen_vl(tmp_path / "vlm", version="2.5")
        spec, ctx, received, p = engine("lgvsc-skem", vlm_path=str(path), eta=-1.0)   # every frame differs
        frames, report = spec.decoder(received, ctx, p)
    assert report["keyframes"] == list(range(8)) and report["decoder"] == "interpolating"
    assert frames.shape == (8, 64, 64, 3)


def test_skem_without_local_weights_is_a_clear_error(monkeypatch, tmp_path):
    from semcom_models.model_paths import ModelNotFoundError

    (tmp_path / "models.yaml").write_text("models: {}\n")
    monkeypatch.setenv("SEMCOM_MODELS_CONFIG", str(tmp_path / "models.yaml"))
    monkeypatch.delenv("SEMCOM_MODEL_DIR", raising=False)
    monkeypatch.delenv("SEMCOM_QWEN2_5_VL_PATH", raising=False)
    load_builtin_schemes()
    spec = get_scheme("lgvsc-skem")
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        spec.encoder(clip_frames(), spec.merge_params({"caption": CAPTION}))


@pytest.mark.parametrize("name", preset_names())
def test_presets_name_a_scheme_and_valid_params(name):
    load_builtin_schemes()
    preset = load_preset(name)
    get_scheme(preset["scheme"]).merge_params(preset["params"])
    assert preset["description"] and preset["paper"]


def test_unknown_preset_and_bad_params_are_clear_errors(clip):
    with pytest.raises(ValueError, match="unknown preset"):
        load_preset("no-such-preset")
    with pytest.raises(ValueError, match="no parameter"):
        run_video(clip, "djscc-rgb", params={"bogus": 1}, via="engine")
    with pytest.raises(FileNotFoundError):
        run_video(clip.with_name("missing.mp4"), "djscc-rgb", via="engine")


def test_semcom_run_cli_engine_json(clip, capsys):
    from semcom_host.cli import main

    assert main(["run", str(clip), "--scheme", "vq-deepvsc", "--via", "engine", "--frames", "8", "--size", "64",
                 "--param", "keyframe_ratio=0.25", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["scheme"] == "vq-deepvsc" and rec["via"] == "engine" and rec["params"]["keyframe_ratio"] == 0.25
    assert rec["digital_units_exact"] == rec["digital_units_sent"] and rec["bcr_paper"] > 0
    assert main(["run", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert "lgvsc-skim" in listed["schemes"] and "vq-deepvsc-16qam" in listed["presets"]


@pytest.mark.gnuradio
@pytest.mark.skipif(shutil.which("grcc") is None, reason="grcc (GNU Radio Companion compiler) not found")
def test_video_loopback_grc_runs_headless_against_a_service(clip, tmp_path):
    pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio")
    from helpers.grc import grc_env
    from semcom_host.service import Server

    env = grc_env()
    subprocess.run([shutil.which("grcc"), "-o", str(tmp_path), str(REPO / "flowgraphs" / "video_loopback_nogui.grc")],
                   env=env, check=True, capture_output=True, timeout=120)
    server = Server("tcp://127.0.0.1:*")
    address = server.start()
    try:
        run_env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        out = tmp_path / "rx.npy"
        proc = subprocess.run([sys.executable, str(tmp_path / "video_loopback_nogui.py"), "--address", address,
                               "--video", str(clip), "--scheme", "lgvsc-skim",
                               "--params", json.dumps({"caption": CAPTION, "image_size": 64}),
                               "--size", "64", "--max-frames", "8", "--output", str(out), "--snr-db", "20"],
                              env=run_env, capture_output=True, text=True, timeout=180)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert np.load(out).shape == (8, 64, 64, 3)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["report"]["decoder"] == "interpolating" and report["trigger"] == "complete"


@pytest.mark.gnuradio
def test_a_clip_lost_on_the_air_is_a_data_point_not_an_error(clip):
    """Far below every scheme's threshold nothing arrives; with the source's ctx the receiver
    still reports (concealed frames, quality of nothing) so that sweeps record the cliff."""
    pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio")
    r = run_video(clip, "djscc-rgb", snr_db=-12.0, frames=8, size=64)
    assert r["transmissions_received"] == 0 and r["scheme_report"]["frames_concealed"] == 8
    assert r["digital_units_exact"] == 0 and r["psnr"] < 20


def test_receiver_takes_the_chunk_size_from_the_manifest():
    """Over the air the receiver's params need not match the sender's: the manifest says how
    the analog symbols were cut."""
    spec, ctx, received, p = engine("djscc-rgb", max_symbols_per_transmission=600)
    frames, report = spec.decoder(received, {}, spec.merge_params({}))
    assert report["manifest_from"] == "received" and report["frames_concealed"] == 0


def test_the_transmitter_is_told_the_receivers_estimate_not_the_channels_snr(clip):
    r = run_video(clip, "djscc-rgb", snr_db=10.0, frames=4, size=64, via="engine")
    assert r["tx_snr_db"] == r["probe_snr_est_db"] != 10.0 and abs(r["tx_snr_db"] - 10.0) < 1.5
    assert r["params"]["snr_db"] == r["tx_snr_db"]
    fixed = run_video(clip, "djscc-rgb", snr_db=10.0, frames=4, size=64, via="engine", params={"snr_db": 3.0})
    assert fixed["tx_snr_db"] == 3.0 and fixed["probe_snr_est_db"] is None   # a design point given: no probe
    lost = run_video(clip, "djscc-rgb", snr_db=-15.0, frames=4, size=64, via="engine")
    assert lost["probe_snr_est_db"] is None and lost["tx_snr_db"] == -5.0    # nothing fed back: the floor


def test_vq_deepvsc_keeps_its_budget_and_its_keyframes_at_low_snr(clip):
    lo = run_video(clip, preset="vq-deepvsc", snr_db=2.0, frames=8, size=64, via="engine")
    hi = run_video(clip, preset="vq-deepvsc", snr_db=10.0, frames=8, size=64, via="engine")
    fixed = run_video(clip, preset="vq-deepvsc", snr_db=2.0, frames=8, size=64, via="engine",
                      params={"link_adaptation": False})
    la = lo["scheme_report"]["link_adaptation"]
    assert la["adapted"] and (la["modulation"], la["ldpc_rate"]) == ("bpsk", "1/2")
    assert la["symbols"] <= la["symbols_budget"] and abs(lo["cbr_net"] / hi["cbr_net"] - 1) < 0.15
    assert lo["scheme_report"]["keyframes_rebuilt"] and not fixed["scheme_report"]["keyframes_rebuilt"]
    assert lo["psnr"] > fixed["psnr"] + 3


def test_a_closed_loop_run_reports_each_decision(clip):
    r = run_video(clip, "djscc-rgb", snr_db="12:0", frames=8, size=64, via="engine", link_adaptation=True,
                  feedback_delay=2, feedback_loss=0.1)
    assert r["snr_db"] == "12:0" and len(r["link_decisions"]) == r["transmissions_sent"]
    assert r["feedback"]["delay"] == 2 and all("measured_snr_db" in d for d in r["link_decisions"])
    with pytest.raises(ValueError, match="engine"):
        run_video(clip, "djscc-rgb", snr_db="12:0", frames=8, size=64)


@pytest.mark.gnuradio
def test_the_loopback_flowgraph_closes_the_loop_too(clip):
    pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio")
    r = run_video(clip, "vq-deepvsc", snr_db=10.0, frames=8, size=64, link_adaptation=True, feedback_delay=1,
                  params={"link_adaptation": False})
    decisions = r["link_decisions"]
    assert len(decisions) == r["transmissions_sent"] and all(d["rate"] for d in decisions)
    assert decisions[0]["snr_db"] == r["tx_snr_db"] and r["receiver"]["feedback_malformed"] == 0


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_the_adaptive_codec_baseline_stays_decodable_below_the_fixed_ones_cliff(clip, codec):
    fixed = run_video(clip, codec, snr_db=1.0, frames=8, size=64, via="engine")
    adaptive = run_video(clip, f"{codec}-adaptive", snr_db=1.0, frames=8, size=64, via="engine")
    la = adaptive["scheme_report"]["link_adaptation"]
    assert (la["modulation"], la["ldpc_rate"]) == ("bpsk", "1/2")
    assert adaptive["scheme_report"]["scheme"] == f"{codec}-adaptive"
    assert fixed["scheme_report"]["failed"] and not adaptive["scheme_report"]["failed"]
    assert adaptive["psnr"] > fixed["psnr"] + 5  # (at 64 x 64 the smallest stream exceeds the budget: CBR not compared)
