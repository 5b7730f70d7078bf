"""Every scheme x every generative decoder in its preference list, end to end through the video
loopback flowgraph (`semcom run`, the service in this process) on tiny random models, with every
generation recorded: the prompt each call gets is its own segment's caption (or the clip's), the
frames it is conditioned on, the frame count, the size and the seed; losses fall down the chain."""
from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")
pytest.importorskip("gnuradio.gr", reason="needs Debian's GNU Radio")

from helpers.clips import clip_frames  # noqa: E402
from semcom_host.run import run_video  # noqa: E402
from semcom_models import model_paths  # noqa: E402
from semcom_models.decoders import registry  # noqa: E402
from semcom_models.decoders.diffusers_video import DiffusersVideoDecoder  # noqa: E402
from semcom_models.decoders.sd35_controlnet import SD35ControlNetImageGenerator  # noqa: E402
from semcom_models.tiny import write_tiny_models  # noqa: E402
from semcom_models.video_io import write_video  # noqa: E402

pytestmark = [pytest.mark.gnuradio, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("grcc") is None, reason="GNU Radio not installed")]

CAPTIONS = {(0, 8): "a yellow square slides over grey stripes", (8, 17): "the square reaches the right edge"}
CLIP_CAPTION = "a yellow square on grey stripes"
#: (scheme, decoder) as the schemes prefer them (host/schemes/*.py VARIANTS / PREFERENCES)
PAIRS = [("lgvsc-skim", d) for d in ("wan2.1-vace", "ltx-video", "wan2.1-flf2v")] + \
        [("lgvsc-text", d) for d in ("ltx-video", "cogvideox")] + \
        [("gvsc-desc", d) for d in ("ltx-video", "cogvideox")] + \
        [("gvsc-first-frame", d) for d in ("ltx-video", "wan2.1-i2v", "svd", "cogvideox-i2v")] + \
        [("gvsc-sketch", d) for d in ("sketch+ltx-video", "sketch+wan2.1-i2v")] + \
        [("gvsc-sketches", "wan2.1-vace")] + \
        [("vq-deepvsc", d) for d in ("wan2.1-vace", "ltx-video", "wan2.1-flf2v")]
MODELS = ["ltx-video", "wan2.1-vace", "wan2.1-flf2v", "wan2.1-i2v", "cogvideox", "cogvideox-i2v", "svd", "sd3.5"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    results = write_tiny_models(root, MODELS)
    assert not [r for r in results if "error" in r], results
    return root


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    path = folder / "clip.mp4"
    write_video(path, clip_frames(17, 64), fps=8.0, crf=0)
    (folder / "clip.captions.txt").write_text("".join(f"{a}-{b}: {t}\n" for (a, b), t in CAPTIONS.items()))
    return path


@pytest.fixture
def configured(model_dir, monkeypatch, tmp_path):
    for k in list(os.environ):
        if k.startswith("SEMCOM_") and (k.endswith("_PATH") or k in ("SEMCOM_MODEL_DIR", "SEMCOM_MODELS_CONFIG")):
            monkeypatch.delenv(k)
    monkeypatch.setattr(model_paths, "DEFAULT_CONFIG", tmp_path / "absent.yaml")
    monkeypatch.setenv("SEMCOM_MODEL_DIR", str(model_dir))


@pytest.fixture
def calls(monkeypatch):
    """Every generation: the decoder class, prompt, frame count, size, seed, conditioned indices."""
    seen = []
    classes = {k for c in (registry.decoder_class(n) for n in registry.decoder_names())
               if issubclass(c, DiffusersVideoDecoder) for k in c.__mro__ if "_generate" in vars(k)
               and k is not DiffusersVideoDecoder}   # each class that defines it, once
    for cls in classes:
        original = cls._generate

        def record(self, job, _original=original, _cls=cls.__name__):
            seen.append({"decoder": _cls, "prompt": job.prompt, "num_frames": job.num_frames,
                         "size": (job.height, job.width), "seed": job.generator.initial_seed(),
                         "images_at": sorted(job.images), "sketches_at": sorted(job.sketches)})
            return _original(self, job)

        monkeypatch.setattr(cls, "_generate", record)
    original_image = SD35ControlNetImageGenerator.generate

    def record_image(self, sketch, caption, seed):
        seen.append({"decoder": "SD35ControlNetImageGenerator", "prompt": caption, "seed": seed})
        return original_image(self, sketch, caption, seed)

    monkeypatch.setattr(SD35ControlNetImageGenerator, "generate", record_image)
    return seen


def _run(clip, scheme, decoder, **params):
    p = {"decoder_preferences": [decoder], "decoder_options": {"num_inference_steps": 1}, **params}
    if scheme.startswith("gvsc"):
        p.setdefault("caption", CLIP_CAPTION)
    if scheme == "lgvsc-skim":
        p.setdefault("interval", 8)
    return run_video(clip, scheme, snr_db=20.0, frames=17, size=64, params=p, seed=1)


@pytest.mark.parametrize("scheme,decoder", PAIRS, ids=[f"{s}+{d}" for s, d in PAIRS])
def test_each_scheme_reaches_each_of_its_generative_decoders(configured, calls, clip, scheme, decoder):
    r = _run(clip, scheme, decoder)
    assert r["decoder"] == decoder, r["decoder_chain"]
    assert r["decoder_chain"][-1] == {"name": decoder} and r["seconds_per_generated_second"] > 0
    video_calls = [c for c in calls if "num_frames" in c]
    # at the clip's size rounded to the model's multiple (a model with a fixed native size: that size)
    assert video_calls and all(c["size"][0] % 16 == 0 and c["size"][1] % 16 == 0 for c in video_calls)
    assert [c["seed"] for c in video_calls] == list(range(7777, 7777 + len(video_calls)))
    prompts = [c["prompt"] for c in calls]
    if scheme.startswith("lgvsc"):        # each generation prompted by the segment it overlaps most
        passes = r["scheme_report"]["decoder_notes"]["segments"]
        assert [p["prompt"] for p in passes] == [c["prompt"] for c in video_calls]
        for p in passes:
            overlap = {t: min(p["stop"], b) - max(p["start"], a) for (a, b), t in CAPTIONS.items()}
            assert p["prompt"] == max(overlap, key=overlap.get)
        segs = r["scheme_report"]["segments"]
        assert [(s["start"], s["stop"], s["caption"]) for s in segs] == [(a, b, t) for (a, b), t in CAPTIONS.items()]
    elif scheme.startswith("gvsc"):
        assert set(prompts) == {CLIP_CAPTION}
    if scheme == "gvsc-first-frame":
        assert video_calls[0]["images_at"] == [0]          # conditioned on the received first frame
    if scheme == "gvsc-sketch":
        assert calls[0]["decoder"] == "SD35ControlNetImageGenerator"   # the sketch drawn into a first frame
        assert video_calls[0]["images_at"] == [0]
    if scheme == "gvsc-sketches":
        assert video_calls[0]["sketches_at"]                # the sketches reach the control video
