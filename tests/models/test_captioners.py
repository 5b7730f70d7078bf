"""Captioners: a tiny random VLM (text is gibberish, but a deterministic str) and sidecars."""
import json

import numpy as np
import pytest

from semcom_models.captioners import WHOLE_CLIP, SidecarCaptioner, VLMCaptioner, parse_sidecar, pick_frames


def test_pick_frames():
    assert pick_frames(9, 1) == [4] and pick_frames(8, 1) == [3]
    assert pick_frames(9, 3) == [0, 4, 8]
    assert pick_frames(2, 5) == [0, 1]
    with pytest.raises(ValueError):
        pick_frames(5, 0)


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    pytest.importorskip("transformers")
    from helpers import tiny_models as tm
    from semcom_models.vlm import VLM

    with tm.torch_threads(1):
        yield VLM.load("qwen2.5-vl", tm.save_qwen_vl(tmp_path_factory.mktemp("vlm") / "q", "2.5"))


def test_vlm_captioner(vlm):
    from helpers import tiny_models as tm

    video = np.random.default_rng(1).integers(0, 256, (12, 56, 56, 3), dtype=np.uint8)
    with tm.torch_threads(1):
        cap = VLMCaptioner(vlm, max_new_tokens=6)
        a = cap.caption(video[:6])
        assert isinstance(a, str) and a == cap.caption(video[:6])          # greedy: deterministic
        assert cap.mode == "video" and cap.caption(video[3]) == cap.caption(video[3:4])   # one frame: a 1-frame video
        frame = VLMCaptioner(vlm, max_new_tokens=6, mode="frame")
        assert frame.caption(video[:6]) == frame.caption(video[2])          # mode "frame": the middle one
        segs = [(0, 6), (6, 12)]
        batched = cap.caption_segments(video, segs)
        assert batched == [cap.caption(video[s:e]) for s, e in segs]
        few = VLMCaptioner(vlm, max_new_tokens=6, num_frames=3)
        assert isinstance(few.caption(video), str) and "video" in few.prompt
        with pytest.raises(ValueError, match="uint8"):
            cap.caption(video.astype(np.float32))


def test_sidecar_text_format(tmp_path):
    p = tmp_path / "clip.txt"
    p.write_text("# captions per segment\n0-8: a man walks a dog\n\n8-16 : the dog runs into the waves\n")
    cap = SidecarCaptioner.from_file(p)
    assert cap.caption(segment=(0, 8)) == "a man walks a dog"
    assert cap.caption(None, (8, 16)) == "the dog runs into the waves"
    assert cap.caption(None, (4, 12)) == "a man walks a dog"         # tie in overlap: the earliest
    assert cap.caption(None, (7, 16)) == "the dog runs into the waves"
    assert cap.caption_segments(np.zeros((16, 2, 2, 3), np.uint8), [(0, 8), (8, 16)]) == [
        "a man walks a dog", "the dog runs into the waves"]
    with pytest.raises(ValueError, match="segment="):
        cap.caption(np.zeros((8, 2, 2, 3), np.uint8))
    with pytest.raises(KeyError, match="16..19"):
        cap.caption(None, (16, 20))


def test_sidecar_whole_clip_and_json(tmp_path):
    p = tmp_path / "one.txt"
    p.write_text("a man in a bowler hat\n")
    assert SidecarCaptioner.from_file(p).caption(None, (40, 48)) == "a man in a bowler hat"
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"0-4": "first", "4-9": "second"}))
    cap = SidecarCaptioner.from_file(j)
    assert cap.caption(None, (5, 9)) == "second"
    j.write_text(json.dumps("whole clip"))
    assert SidecarCaptioner.from_file(j).caption() == "whole clip"
    assert SidecarCaptioner("given").caption() == "given"
    assert SidecarCaptioner({(0, 10): "only"}).caption() == "only"


def test_sidecar_errors(tmp_path):
    with pytest.raises(ValueError, match="START-END"):
        parse_sidecar("0-8: a\nno range here\n")
    with pytest.raises(ValueError, match="twice"):
        parse_sidecar("0-8: a\n0-8: b\n")
    with pytest.raises(ValueError, match="empty range"):
        parse_sidecar("8-8: a\n")
    with pytest.raises(ValueError, match="object or a string"):
        parse_sidecar("[1, 2]", json_format=True)
    with pytest.raises(ValueError, match="mixed"):
        SidecarCaptioner({WHOLE_CLIP: "a", (0, 4): "b"})
    with pytest.raises(FileNotFoundError, match="sidecar"):
        SidecarCaptioner.from_file(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="no captions"):
        SidecarCaptioner({})


def test_vlm_loading_errors(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from transformers import LlavaOnevisionConfig

    from helpers import tiny_models as tm
    from semcom_models import model_paths
    from semcom_models.vlm import VLM

    for k in [k for k in __import__("os").environ if k.startswith("SEMCOM_")]:
        monkeypatch.delenv(k)
    monkeypatch.setattr(model_paths, "DEFAULT_CONFIG", tmp_path / "absent.yaml")
    with pytest.raises(model_paths.ModelNotFoundError, match="SEMCOM_QWEN2_5_VL_PATH"):
        VLMCaptioner.load()
    # A non-Qwen VLM goes through its AutoProcessor; without one, a clear error (no download).
    LlavaOnevisionConfig().save_pretrained(tmp_path / "llava")
    tm.qwen_tokenizer().save_pretrained(tmp_path / "llava")
    with pytest.raises(RuntimeError, match="processor of .*llava_onevision"):
        VLM.load("llava-onevision", tmp_path / "llava")
