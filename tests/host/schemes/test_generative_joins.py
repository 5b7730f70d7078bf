"""Where the schemes meet the generative receiver: LGVSC and GVSC encoded, carried by the ideal
channel, decoded with a tiny LTX-Video configured locally, and every pipeline call recorded (its
prompt, frame count, size, seed, the frames it is conditioned on). Losses fall back down the
decoder chain and the report says why."""
from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from helpers import tiny_models as tm  # noqa: E402
from helpers.clips import clip_frames  # noqa: E402
from semcom_host.schemes.common import ideal_received  # noqa: E402
from semcom_host.service.registry import get_scheme, load_builtin_schemes  # noqa: E402
from semcom_models import model_paths  # noqa: E402
from semcom_models.decoders.base import Conditioning, SemanticSegment  # noqa: E402
from semcom_models.decoders.registry import build_decoder  # noqa: E402

CAPTIONS = {(0, 8): "a yellow square slides over grey stripes", (8, 17): "the square reaches the right edge"}


@pytest.fixture(scope="module")
def ltx_path(tmp_path_factory):
    with tm.torch_threads(1):
        return tm.save_ltx(tmp_path_factory.mktemp("tiny") / "ltx")


@pytest.fixture
def only_ltx(ltx_path, monkeypatch, tmp_path):
    """A machine where LTX-Video is the one generative model configured."""
    for k in list(os.environ):
        if k.startswith("SEMCOM_") and k.endswith("_PATH") or k in ("SEMCOM_MODEL_DIR", "SEMCOM_MODELS_CONFIG"):
            monkeypatch.delenv(k)
    monkeypatch.setattr(model_paths, "DEFAULT_CONFIG", tmp_path / "absent.yaml")
    monkeypatch.setenv("SEMCOM_LTX_VIDEO_PATH", str(ltx_path))
    load_builtin_schemes()


@pytest.fixture
def calls(monkeypatch):
    """Every LTX pipeline call: which pipeline, prompt, frames, size, seed, conditioned indices."""
    from diffusers import LTXConditionPipeline, LTXImageToVideoPipeline, LTXPipeline

    seen = []
    for cls in (LTXPipeline, LTXImageToVideoPipeline, LTXConditionPipeline):
        original = cls.__call__

        def record(self, *args, _original=original, _cls=cls.__name__, **kw):
            conditions = kw.get("conditions") or []
            seen.append({"pipeline": _cls, "prompt": kw.get("prompt"), "num_frames": kw.get("num_frames"),
                         "size": (kw.get("height"), kw.get("width")), "seed": kw["generator"].initial_seed(),
                         "image": kw.get("image") is not None,
                         "frame_indices": [int(c.frame_index) for c in conditions]})
            return _original(self, *args, **kw)

        monkeypatch.setattr(cls, "__call__", record)
    return seen


def captions_file(tmp_path) -> str:
    path = tmp_path / "clip.captions.txt"
    path.write_text("".join(f"{a}-{b}: {text}\n" for (a, b), text in CAPTIONS.items()))
    return str(path)


def run(name, tmp_path, params=None, drop=lambda name: False):
    """Encode a 17-frame clip, deliver every unit but those ``drop`` names, decode; the report."""
    spec = get_scheme(name)
    p = spec.merge_params({"image_size": 64, "decoder_options": {"num_inference_steps": 2}, **(params or {})})
    p["fps"] = 8.0
    txs, ctx = spec.encoder(clip_frames(17, 64), dict(p))
    received = ideal_received(txs)
    for rx in received:
        rx["units"] = [u for u in rx["units"] if not drop(u["name"])]
    with tm.torch_threads(1):
        frames, report = spec.decoder(received, ctx, dict(p))
    assert frames.shape == (17, 64, 64, 3) and frames.dtype == np.uint8
    return report


def test_lgvsc_skim_prompts_each_generated_segment_with_its_own_caption(only_ltx, calls, tmp_path):
    report = run("lgvsc-skim", tmp_path, {"captions_file": captions_file(tmp_path), "interval": 8,
                                          "decoder_options": {"num_inference_steps": 2, "max_frames": 9}})
    assert report["decoder"] == "ltx-video"
    first = report["decoder_chain"][0]
    assert first["name"] == "wan2.1-vace" and "not configured" in first["reason"]
    assert report["decoder_chain"][-1] == {"name": "ltx-video"}
    # SFA: the model's own lengths (9 frames per pass here), each pass prompted by the semantic
    # segment it overlaps most, conditioned on the keyframes (0, 8, 16) where they fall
    assert [c["prompt"] for c in calls] == [CAPTIONS[(0, 8)], CAPTIONS[(8, 17)]]
    assert [c["num_frames"] for c in calls] == [9, 9] and all(c["size"] == (64, 64) for c in calls)
    assert [c["seed"] for c in calls] == [7777, 7778]
    assert [c["frame_indices"] for c in calls] == [[0, 8], [0, 8]]
    segs = report["segments"]
    assert [(s["start"], s["stop"], s["caption"]) for s in segs] == [(a, b, t) for (a, b), t in CAPTIONS.items()]
    assert segs[0]["prompt"] == CAPTIONS[(0, 8)] and segs[1]["gen_frames"] == [9]
    assert report["seconds_per_generated_second"] > 0


def test_a_lost_caption_borrows_its_neighbours_and_nothing_raises(only_ltx, calls, tmp_path):
    report = run("lgvsc-skim", tmp_path, {"captions_file": captions_file(tmp_path), "interval": 8,
                                          "decoder_options": {"num_inference_steps": 2, "max_frames": 9}},
                 drop=lambda name: name == "cap0")
    assert report["decoder"] == "ltx-video" and report["captions_ok"] == 1
    assert [c["prompt"] for c in calls] == [CAPTIONS[(8, 17)]] * 2
    assert report["segments"][0]["caption"] is None


def test_gvsc_first_frame_conditions_on_frame_0_and_falls_back_to_text_when_it_is_lost(only_ltx, calls, tmp_path):
    report = run("gvsc-first-frame", tmp_path, {"caption": "a yellow square on stripes"})
    assert report["decoder"] == "ltx-video" and calls[0]["pipeline"] == "LTXImageToVideoPipeline"
    assert calls[0]["prompt"] == "a yellow square on stripes" and calls[0]["num_frames"] == 17
    calls.clear()
    report = run("gvsc-first-frame", tmp_path, {"caption": "a yellow square on stripes"},
                 drop=lambda name: name.startswith("ff"))
    assert report["decoder"] == "ltx-video" and calls[0]["pipeline"] == "LTXPipeline"  # text to video


def test_a_composite_with_a_missing_component_is_skipped_down_to_the_sketch_render(only_ltx, calls, tmp_path):
    report = run("gvsc-sketch", tmp_path, {"caption": "a yellow square"})
    chain = report["decoder_chain"]
    assert chain[0]["name"] == "sketch+ltx-video" and chain[0]["reason"].startswith("could not load")
    assert chain[1] == {"name": "sketch+wan2.1-i2v", "reason": "weights not configured (semcom models list)"}
    assert report["decoder"] == chain[-1]["name"] == "sketch-render" and calls == []


def test_everything_lost_still_gives_a_video(only_ltx, calls, tmp_path):
    report = run("lgvsc-skim", tmp_path, {"caption": "x"}, drop=lambda name: name != "manifest")
    assert report["decoder"] == "none" and [c["name"] for c in report["decoder_chain"]][-1] == "none"
    assert calls == []


def test_unknown_decoder_options_are_refused_listing_the_known_ones(only_ltx, tmp_path):
    with pytest.raises(ValueError, match="num_inference_steps"):
        run("gvsc-desc", tmp_path, {"caption": "x", "decoder_options": {"steps": 2}})


def test_dsa_generates_each_semantic_segment_at_its_own_length(ltx_path, calls):
    """DSA at the decoder: semantic segments of 5 and 13 frames are generated separately, 5 and 13
    frames (LTX here: 4k+1), each with its own caption; SFA covers the clip in one pass."""
    dec = build_decoder("ltx-video", ltx_path, num_inference_steps=2)
    segs = [SemanticSegment(0, 4, "first"), SemanticSegment(4, 17, "second")]
    with tm.torch_threads(1):
        out = dec.decode(Conditioning(17, 32, 32, segments=segs, adaptation="dsa"))
    assert [(c["prompt"], c["num_frames"]) for c in calls] == [("first", 5), ("second", 13)]
    assert [(s["start"], s["stop"]) for s in out.notes["segments"]] == [(0, 5), (4, 17)]
    calls.clear()
    with tm.torch_threads(1):
        dec.decode(Conditioning(17, 32, 32, segments=segs, adaptation="sfa"))
    assert [(c["prompt"], c["num_frames"]) for c in calls] == [("second", 17)]


def test_gvsc_adaptive_sends_what_the_fed_back_snr_allows(tmp_path):
    from semcom_host.schemes.gvsc import adaptive_choice

    assert [adaptive_choice(s, [0.0, 6.0]) for s in (-3, 0, 5.9, 6)] == \
        ["gvsc-desc", "gvsc-sketch", "gvsc-sketch", "gvsc-first-frame"]
    with pytest.raises(ValueError, match="increasing"):
        adaptive_choice(3.0, [6.0, 0.0])
    load_builtin_schemes()
    spec = get_scheme("gvsc-adaptive")
    for snr, variant, units in ((-5.0, "gvsc-desc", set()), (2.0, "gvsc-sketch", {"sk0"}),
                                (9.0, "gvsc-first-frame", {"ff"})):
        p = spec.merge_params({"caption": "a square", "image_size": 64, "snr_db": snr,
                               "adaptive_thresholds_db": [0.0, 6.0]})
        p["fps"] = 8.0
        txs, ctx = spec.encoder(clip_frames(8, 64), dict(p))
        sent = {u.name.split(".")[0] for t in txs for u in t.units} - {"manifest", "text"}
        assert ctx["variant"] == variant and sent == units
        frames, report = spec.decoder(ideal_received(txs), {}, dict(p))  # the choice read from the manifest
        assert report["variant"] == variant and frames.shape == (8, 64, 64, 3)


def test_a_lost_sketch_leaves_the_composite_generating_from_the_text(only_ltx, calls, tmp_path, monkeypatch):
    base, control = tm.save_sd3_controlnet(tmp_path / "sd3", tmp_path / "sd3cn")
    monkeypatch.setenv("SEMCOM_SD3_5_PATH", str(base))
    monkeypatch.setenv("SEMCOM_SD3_5_CONTROLNET_CANNY_PATH", str(control))
    report = run("gvsc-sketch", tmp_path, {"caption": "a yellow square"})
    assert report["decoder"] == "sketch+ltx-video" and calls[0]["pipeline"] == "LTXImageToVideoPipeline"
    calls.clear()
    report = run("gvsc-sketch", tmp_path, {"caption": "a yellow square"}, drop=lambda name: name.startswith("sk"))
    assert report["decoder"] == "sketch+ltx-video" and report["arrived"]["sketches"] == 0
    assert [c["pipeline"] for c in calls] == ["LTXPipeline"] and calls[0]["prompt"] == "a yellow square"
