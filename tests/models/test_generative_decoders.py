"""Generative decoders on tiny random models built offline, loaded back through gr-semcom's
local-path loading: shapes, dtypes, determinism with the seed, conditioning paths, segmentation,
missing-path errors, the registry, and Open-Sora's command line and subprocess plumbing."""
import os
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from helpers import tiny_models as tm  # noqa: E402
from semcom_models import model_paths  # noqa: E402
from semcom_models.decoders.base import Capability, Conditioning, DecodedVideo  # noqa: E402
from semcom_models.decoders.registry import build_decoder, capabilities, decoder_class, list_decoders, register_decoder  # noqa: E402

STEPS = dict(num_inference_steps=2)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    with tm.torch_threads(1):
        yield


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for k in list(os.environ):
        if k.startswith("SEMCOM_"):
            monkeypatch.delenv(k)
    monkeypatch.setattr(model_paths, "DEFAULT_CONFIG", tmp_path / "absent.yaml")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny checkpoints, built once per module, lazily."""
    root = tmp_path_factory.mktemp("tiny")
    built = {}

    def get(name):
        if name not in built:
            p = root / name
            {"ltx": lambda: tm.save_ltx(p), "wan": lambda: tm.save_wan_i2v(p),
             "flf": lambda: tm.save_wan_i2v(p, first_last=True), "vace": lambda: tm.save_wan_vace(p),
             "svd": lambda: tm.save_svd(p, num_frames=6), "cog": lambda: tm.save_cogvideox(p),
             "cogi": lambda: tm.save_cogvideox(p, image_to_video=True),
             "sd3": lambda: tm.save_sd3_controlnet(root / "sd3", root / "sd3cn")}[name]()
            built[name] = p
        return built[name]
    return get


def frame(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def spans(out: DecodedVideo) -> list[tuple[int, int, int]]:
    """(start, stop, gen_frames) of each generated segment, as the decoder's notes record them."""
    return [(c["start"], c["stop"], c["gen_frames"]) for c in out.notes["segments"]]


def check(out: DecodedVideo, cond: Conditioning):
    assert isinstance(out, DecodedVideo)
    assert out.frames.dtype == np.uint8 and out.frames.shape == (cond.num_frames, cond.height, cond.width, 3)
    assert out.seconds > 0 and np.isfinite(out.seconds_per_generated_second)
    return out.frames


def test_ltx_text_image_and_keyframes(models):
    dec = build_decoder("ltx-video", models("ltx"), **STEPS)
    assert dec.capabilities == (Capability.TEXT | Capability.FIRST_FRAME | Capability.FIRST_LAST
                                | Capability.KEYFRAMES)
    cond = Conditioning(num_frames=9, height=32, width=32, caption="a man walks a dog", fps=8)
    a = check(dec.decode(cond), cond)
    assert np.array_equal(a, check(dec.decode(cond), cond))                     # same seed, same video
    assert not np.array_equal(a, dec.decode(Conditioning(9, 32, 32, caption="a man walks a dog", seed=1)).frames)
    i2v = Conditioning(9, 32, 32, caption="a man", keyframes={0: frame(32, 32)})
    b = check(dec.decode(i2v), i2v)
    assert not np.array_equal(a, b)
    kf = Conditioning(9, 32, 32, caption="a man", keyframes={0: frame(32, 32), 4: frame(32, 32, 1),
                                                             8: frame(32, 32, 2)})
    out = dec.decode(kf)
    check(out, kf)
    assert spans(out) == [(0, 9, 9)] and out.notes["fps"] == 8.0
    assert out.notes["segments"][0]["prompt"] == "a man" and out.notes["segments"][0]["images_at"] == [0, 4, 8]


def test_ltx_segments_and_sizes(models):
    dec = build_decoder("ltx-video", models("ltx"), max_frames=9, **STEPS)
    cond = Conditioning(num_frames=20, height=24, width=40, caption="a red car", keyframes={0: frame(24, 40)})
    out = dec.decode(cond)
    check(out, cond)
    assert out.notes["gen_size"] == (32, 64)
    segs = spans(out)
    assert len(segs) == 3 and segs[0][0] == 0 and segs[-1][1] == 20
    assert all(g == 9 and stop - start <= 9 for start, stop, g in segs)


def test_wan_image_to_video(models):
    dec = build_decoder("wan2.1-i2v", models("wan"), **STEPS)
    with pytest.raises(ValueError, match="first frame"):
        dec.decode(Conditioning(9, 16, 16, caption="a man"))
    cond = Conditioning(9, 16, 16, caption="a man", keyframes={0: frame(16, 16)})
    a = check(dec.decode(cond), cond)
    assert np.array_equal(a, dec.decode(cond).frames)
    # A keyframe mid-clip starts a new segment for a first-frame-only model.
    cond = Conditioning(13, 16, 16, caption="a man", keyframes={0: frame(16, 16), 6: frame(16, 16, 1)})
    out = dec.decode(cond)
    check(out, cond)
    assert spans(out) == [(0, 7, 9), (6, 13, 9)]


def test_wan_first_last(models):
    dec = build_decoder("wan2.1-flf2v", models("flf"), **STEPS)
    assert Capability.FIRST_LAST in dec.capabilities and Capability.KEYFRAMES in dec.capabilities
    cond = Conditioning(17, 16, 16, caption="a man", keyframes={0: frame(16, 16), 8: frame(16, 16, 1),
                                                                16: frame(16, 16, 2)})
    out = dec.decode(cond)
    check(out, cond)
    assert spans(out) == [(0, 9, 9), (8, 17, 9)]
    assert np.array_equal(out.frames, dec.decode(cond).frames)


def test_wan_vace_keyframes_and_sketches(models):
    dec = build_decoder("wan2.1-vace", models("vace"), **STEPS)
    assert Capability.SKETCHES in dec.capabilities
    sketch = np.zeros((16, 16), np.uint8)
    sketch[4:12, 8] = 255
    cond = Conditioning(9, 16, 16, caption="a man", keyframes={0: frame(16, 16)}, sketches={4: sketch, 8: sketch})
    a = check(dec.decode(cond), cond)
    assert np.array_equal(a, dec.decode(cond).frames)
    t2v = Conditioning(9, 16, 16, caption="a man")
    assert not np.array_equal(a, check(dec.decode(t2v), t2v))


def test_svd_fixed_length_segments(models):
    dec = build_decoder("svd", models("svd"), **STEPS)
    assert dec.capabilities == Capability.FIRST_FRAME
    cond = Conditioning(10, 32, 32, fps=7, keyframes={0: frame(32, 32)})
    out = dec.decode(cond)
    a = check(out, cond)
    assert spans(out) == [(0, 6, 6), (5, 10, 6)]
    assert np.array_equal(a, dec.decode(cond).frames)
    with pytest.raises(ValueError, match="first frame"):
        dec.decode(Conditioning(6, 32, 32))


def test_cogvideox_text_and_image(models):
    dec = build_decoder("cogvideox", models("cog"), **STEPS)
    with pytest.raises(ValueError, match="caption"):
        dec.decode(Conditioning(9, 16, 16))
    cond = Conditioning(9, 16, 16, caption="a red car")
    a = check(dec.decode(cond), cond)
    assert np.array_equal(a, dec.decode(cond).frames)
    dec = build_decoder("cogvideox-i2v", models("cogi"), **STEPS)
    assert dec.native_size() == (16, 16)            # learned positions fix the size
    cond = Conditioning(9, 24, 24, caption="a red car", keyframes={0: frame(24, 24)})
    out = dec.decode(cond)
    check(out, cond)
    assert out.notes["gen_size"] == (16, 16)


def test_sketch_then_animate(models):
    models("sd3")
    root = models("ltx").parent
    dec = build_decoder("sketch+ltx-video", models("ltx"), sketch_opts=dict(
        base_path=root / "sd3", controlnet_path=root / "sd3cn", num_inference_steps=2), **STEPS)
    assert Capability.SKETCHES in dec.capabilities and dec.name == "sketch+ltx-video"
    sketch = np.zeros((32, 32), np.uint8)
    sketch[8:24, 16] = 255
    cond = Conditioning(9, 32, 32, caption="a man", sketches={0: sketch, 8: sketch})
    a = check(dec.decode(cond), cond)
    assert np.array_equal(a, dec.decode(cond).frames)
    img = dec.image_generator.generate(sketch, "a man", 7777)
    assert img.dtype == np.uint8 and img.shape == (32, 32, 3)
    with pytest.raises(ValueError, match="cannot start from a frame"):
        capabilities("sketch+cogvideox")


def test_registry_and_missing_paths(models, tmp_path, monkeypatch):
    names = list_decoders()
    assert {"ltx-video", "wan2.1-i2v", "wan2.1-flf2v", "wan2.1-vace", "cogvideox", "cogvideox-i2v", "svd",
            "opensora"} <= set(names)
    assert names["svd"] == Capability.FIRST_FRAME
    assert capabilities("sketch+svd") == Capability.FIRST_FRAME | Capability.SKETCHES
    with pytest.raises(KeyError, match="unknown decoder"):
        decoder_class("sora")
    with pytest.raises(TypeError):
        register_decoder("bad", object)
    with pytest.raises(model_paths.ModelNotFoundError, match="SEMCOM_LTX_VIDEO_PATH"):
        build_decoder("ltx-video")
    with pytest.raises(model_paths.ModelNotFoundError, match="does not exist"):
        build_decoder("svd", tmp_path / "nope")
    # Found through the environment, no path argument.
    monkeypatch.setenv("SEMCOM_LTX_VIDEO_PATH", str(models("ltx")))
    assert build_decoder("ltx-video", **STEPS).path == models("ltx")


# ---- Open-Sora: command line, errors, and the subprocess round trip with a stand-in script ----

FAKE_SCRIPT = textwrap.dedent('''
    """Stand-in for Open-Sora's inference script: writes a video of the requested frame count."""
    import csv, sys, pathlib
    import av, numpy as np
    args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
    n = int(args["--sampling_option.num_frames"])
    rows = list(csv.DictReader(open(args["--dataset.data_path"])))
    assert rows[0]["text"] and args["--cond_type"] in ("t2v", "i2v_head", "i2v_loop")
    out = pathlib.Path(args["--save-dir"]) / "video_256px"
    out.mkdir(parents=True)
    with av.open(str(out / "semcom_0000.mp4"), "w") as c:
        s = c.add_stream("mpeg4", rate=int(args["--fps_save"]))
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        for i in range(n):
            img = np.full((64, 64, 3), (7 * i + int(args["--seed"])) % 256, np.uint8)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode())
''')


def fake_opensora(tmp_path):
    repo, ckpt = tmp_path / "Open-Sora", tmp_path / "ckpt"
    (repo / "scripts/diffusion").mkdir(parents=True)
    (repo / "scripts/diffusion/inference.py").write_text(FAKE_SCRIPT)
    (repo / "configs/diffusion/inference").mkdir(parents=True)
    (repo / "configs/diffusion/inference/256px.py").write_text("")
    for f in ("Open_Sora_v2.safetensors", "hunyuan_vae.safetensors"):
        (ckpt / f).parent.mkdir(parents=True, exist_ok=True)
        (ckpt / f).write_bytes(b"")
    for d in ("google/t5-v1_1-xxl", "openai/clip-vit-large-patch14"):
        (ckpt / d).mkdir(parents=True)
    return repo, ckpt


def test_opensora_errors(tmp_path):
    with pytest.raises(model_paths.ModelNotFoundError, match="SEMCOM_OPENSORA_REPO_PATH"):
        build_decoder("opensora")
    repo, ckpt = fake_opensora(tmp_path)
    with pytest.raises(model_paths.ModelNotFoundError, match="SEMCOM_OPENSORA_PATH"):
        build_decoder("opensora", repo)
    with pytest.raises(FileNotFoundError, match="not an Open-Sora 2.0 checkout"):
        build_decoder("opensora", tmp_path, checkpoint_path=ckpt)
    (ckpt / "hunyuan_vae.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="hunyuan_vae"):
        build_decoder("opensora", repo, checkpoint_path=ckpt)


def test_opensora_command_line(tmp_path, monkeypatch):
    repo, ckpt = fake_opensora(tmp_path)
    monkeypatch.setenv("SEMCOM_OPENSORA_REPO_PATH", str(repo))
    monkeypatch.setenv("SEMCOM_OPENSORA_PATH", str(ckpt))
    monkeypatch.setenv("SEMCOM_OPENSORA_PYTHON", "/opt/os/bin/python")
    dec = build_decoder("opensora", num_steps=30, motion_score=5)
    cmd = dec.command("p.csv", "out", 33, "i2v_loop", 7777, "16:9", 7.6)
    assert cmd[:7] == ["/opt/os/bin/python", "-m", "torch.distributed.run", "--nproc_per_node", "1",
                       "--standalone", "scripts/diffusion/inference.py"]
    args = dict(zip(cmd[8::2], cmd[9::2]))
    assert cmd[7] == "configs/diffusion/inference/256px.py"
    assert args["--cond_type"] == "i2v_loop" and args["--sampling_option.num_frames"] == "33"
    assert args["--sampling_option.aspect_ratio"] == "16:9" and args["--seed"] == "7777"
    assert args["--sampling_option.num_steps"] == "30" and args["--fps_save"] == "8"
    assert args["--model.from_pretrained"] == str(ckpt / "Open_Sora_v2.safetensors")
    assert args["--clip.from_pretrained"] == str(ckpt / "openai/clip-vit-large-patch14")
    assert args["--motion_score"] == "5"
    with pytest.raises(ValueError, match="4k\\+1"):
        dec.command("p.csv", "out", 32, "t2v", 0, "1:1", 8)
    from semcom_models.decoders.opensora import cond_type, nearest_aspect_ratio
    assert nearest_aspect_ratio(256, 256) == "1:1" and nearest_aspect_ratio(480, 832) == "16:9"
    assert nearest_aspect_ratio(832, 480) == "9:16"
    assert [cond_type(a, b) for a in (False, True) for b in (False, True)] == ["t2v", "i2v_tail", "i2v_head",
                                                                            "i2v_loop"]


def test_opensora_subprocess_round_trip(tmp_path):
    repo, ckpt = fake_opensora(tmp_path)
    dec = build_decoder("opensora", repo, checkpoint_path=ckpt, python=sys.executable, launcher=[])
    cond = Conditioning(12, 48, 48, caption='a "quoted", comma caption', fps=8,
                        keyframes={0: frame(48, 48), 6: frame(48, 48, 1)})
    out = dec.decode(cond)
    check(out, cond)
    assert np.array_equal(out.frames, dec.decode(cond).frames)
    failing = build_decoder("opensora", repo, checkpoint_path=ckpt, python=sys.executable,
                            launcher=["-c", "import sys; sys.exit('boom')"])
    with pytest.raises(RuntimeError, match="exit 1"):
        failing.decode(Conditioning(5, 16, 16, caption="x"))
