"""Evaluation metrics (semcom_host.eval): known values, weight loading from local files, skips.

Every model is tiny and random, built here and saved to a temporary folder, then loaded back
through the same local-path code that real weights use (nothing is downloaded).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers import tiny_models as tm  # noqa: E402
from semcom_host import eval as ev
from semcom_host.eval import clip_score, perceptual, suite, text_metrics
from semcom_models import metrics as base_metrics
from semcom_models import model_paths

ENV_NAMES = ["lpips-alex", "lpips-vgg", "dists", "clip", "bertscore"]


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No model configured unless a test sets it; one torch thread; task registry restored."""
    for var in [model_paths.ENV_ROOT, model_paths.ENV_CONFIG] + [model_paths.env_var(n) for n in ENV_NAMES]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))   # no ~/.config/semcom/models.yaml
    saved = dict(suite._TASKS)
    suite._TASKS.clear()
    with tm.torch_threads(1):
        yield
    suite._TASKS.clear()
    suite._TASKS.update(saved)


def _video(seed=0, t=3, h=64, w=64):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def _noisy(frames, sigma, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(frames + rng.normal(0, sigma, frames.shape)), 0, 255).astype(np.uint8)


NO_MODELS = dict(lpips=False, dists=False, clip=False)


# ------------------------------------------------------------------------------------------------
# PSNR / SSIM / MS-SSIM through the suite
# ------------------------------------------------------------------------------------------------

def test_identical_frames_give_the_project_conventions():
    v = _video()
    m = ev.video_metrics(v, v, **NO_MODELS, per_frame=True)
    assert m["psnr_db"] == base_metrics.PSNR_CAP_DB          # 100 dB instead of infinity
    assert m["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert m["ms_ssim"] is None and "176" in m["skipped"]["ms_ssim"]   # 64 x 64 is too small
    assert m["frames"] == 3 and (m["height"], m["width"]) == (64, 64)
    assert m["per_frame"]["psnr_db"] == [100.0] * 3
    assert m["skipped"]["lpips"] == suite.DISABLED and m["skipped"]["clip_image"] == suite.DISABLED
    big = _video(t=1, h=180, w=180)
    assert ev.video_metrics(big, big, **NO_MODELS)["ms_ssim"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("sigma", [3.0, 8.0])
def test_psnr_of_gaussian_noise(sigma):
    ref = np.full((4, 64, 64, 3), 128, np.uint8)      # mid-grey: no clipping at 128 +- 5 sigma
    m = ev.video_metrics(ref, _noisy(ref, sigma), **NO_MODELS)
    # rounding to integers adds variance 1/12
    assert m["psnr_db"] == pytest.approx(10 * math.log10(255 ** 2 / sigma ** 2), abs=0.1)
    assert m["ssim"] < 1.0


def test_shape_and_dtype_checks():
    v = _video()
    with pytest.raises(ValueError, match="shape"):
        ev.video_metrics(v, v[:2], **NO_MODELS)
    with pytest.raises(ValueError, match="uint8"):
        ev.video_metrics(v, v.astype(np.float32), **NO_MODELS)


# ------------------------------------------------------------------------------------------------
# LPIPS and DISTS
# ------------------------------------------------------------------------------------------------

def _random_lpips(net="alex", seed=0):
    torch.manual_seed(seed)
    m = perceptual.LPIPS(net)
    for w in m.lins:                       # the published heads are non-negative
        w.data.uniform_(0.0, 1.0)
    return m


def _random_dists(seed=0):
    torch.manual_seed(seed)
    m = perceptual.DISTS()
    m.alpha.data.uniform_(0.01, 0.2)
    m.beta.data.uniform_(0.01, 0.2)
    return m


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_published_layout_round_trip(net, tmp_path, monkeypatch):
    model = _random_lpips(net)
    backbone_file, head_file = perceptual.save_layout(model, tmp_path / net)
    spec = perceptual.BACKBONES[net]
    assert (backbone_file.name, head_file.name) == (spec["torchvision_file"], spec["lpips_file"])
    # torchvision's keys: features.N.weight/bias at the conv indices
    bb = torch.load(backbone_file, weights_only=True)
    convs = [i for i, layer in enumerate(spec["layers"]) if layer[0] == "conv" and i < spec["taps"][-1]]
    assert sorted(bb) == sorted(f"features.{i}.{p}" for i in convs for p in ("weight", "bias"))
    if net == "alex":
        assert convs == [0, 3, 6, 8, 10] and tuple(bb["features.0.weight"].shape) == (64, 3, 11, 11)
    # lpips' keys: linK.model.1.weight, 1 x C x 1 x 1
    head = torch.load(head_file, weights_only=True)
    assert {k: tuple(v.shape) for k, v in head.items()} == {
        f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(spec["channels"])}

    monkeypatch.setenv(model_paths.env_var(f"lpips-{net}"), str(tmp_path / net))
    loaded = perceptual.load_lpips(net, cache=False)
    a, b = _video(), _noisy(_video(), 20)
    assert np.array_equal(loaded.distance(a, b), model.distance(a, b))
    assert np.allclose(loaded.distance(a, a), 0.0, atol=1e-7)


def test_lpips_loads_lpips_module_layout_and_safetensors(tmp_path):
    model = _random_lpips("alex", seed=3)
    a, b = _video(), _noisy(_video(), 20)
    want = model.distance(a, b)
    # a state dict of a whole lpips.LPIPS module: net.sliceK.N.*, lin0.model.1.weight and lins.K copies
    slices = {k: i for i, k in enumerate((2, 5, 8, 10, 12), start=1)}
    full = {}
    for key, v in model.net.state_dict().items():
        n = int(key.split(".")[1])
        k = min(s for s in slices if n < s)
        full[f"net.slice{slices[k]}.{n}.{key.split('.')[2]}"] = v
    for key, v in model.head_state_dict().items():
        full[key] = v
        full[key.replace("lin", "lins.", 1)] = v
    full["scaling_layer.shift"] = torch.tensor(perceptual.LPIPS_SHIFT).view(1, 3, 1, 1)
    torch.save(full, tmp_path / "lpips_full.pth")
    got = perceptual.load_lpips("alex", tmp_path / "lpips_full.pth", cache=False).distance(a, b)
    assert np.array_equal(got, want)
    perceptual.save_layout(model, tmp_path / "st", safetensors=True)
    names = sorted(p.name for p in (tmp_path / "st").iterdir())
    assert names == ["alex.safetensors", "alexnet-owt-7be5be79.safetensors"]
    assert np.array_equal(perceptual.load_lpips("alex", tmp_path / "st", cache=False).distance(a, b), want)


def test_lpips_properties():
    model = _random_lpips("alex")
    a = _video(seed=5)
    assert np.all(model.distance(a, a) == 0.0)
    b = _noisy(a, 20)
    assert np.allclose(model.distance(a, b), model.distance(b, a), rtol=1e-5)
    d = [float(np.mean(model.distance(a, _noisy(a, s)))) for s in (4, 16, 48)]
    assert 0 < d[0] < d[1] < d[2]
    assert isinstance(model.distance(a[0], b[0]), float)          # one frame -> a float


def test_lpips_matches_the_paper_formula_written_out():
    model = _random_lpips("alex", seed=7)
    a, b = _video(seed=8, t=2), _video(seed=9, t=2)
    x, y = base_metrics.to_tensor(a), base_metrics.to_tensor(b)
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    with torch.no_grad():
        fx, fy = model.net((2 * x - 1 - shift) / scale), model.net((2 * y - 1 - shift) / scale)
        assert [f.shape[1] for f in fx] == [64, 192, 384, 256, 256]
        want = torch.zeros(2)
        for layer, (u, v) in enumerate(zip(fx, fy)):
            u = u / (torch.linalg.vector_norm(u, dim=1, keepdim=True) + 1e-10)
            v = v / (torch.linalg.vector_norm(v, dim=1, keepdim=True) + 1e-10)
            w = model.lins[layer].view(-1)
            want += torch.einsum("nchw,c->nhw", (u - v) ** 2, w).mean(dim=(1, 2))
    assert np.allclose(model.distance(a, b), want.numpy(), rtol=1e-5)


def test_lpips_bad_weights_are_reported(tmp_path):
    model = _random_lpips("alex")
    backbone_file, head_file = perceptual.save_layout(model, tmp_path / "both")
    only_backbone = tmp_path / "only_backbone"
    only_backbone.mkdir()
    backbone_file.rename(only_backbone / backbone_file.name)
    with pytest.raises(FileNotFoundError, match=r"alex\.pth.*SEMCOM_LPIPS_ALEX_PATH"):
        perceptual.load_lpips("alex", only_backbone, cache=False)
    with pytest.raises(FileNotFoundError, match=r"alexnet-owt-7be5be79\.pth.*SEMCOM_LPIPS_ALEX_PATH"):
        perceptual.load_lpips("alex", head_file, cache=False)
    # a VGG head with an AlexNet backbone: wrong shapes from lin1 on
    vgg_head = _random_lpips("vgg").head_state_dict()
    torch.save(vgg_head, only_backbone / "vgg.pth")
    with pytest.raises(ValueError, match=r"lin1 .*expected \(1, 192, 1, 1\)"):  # lin0 has 64 in both
        perceptual.load_lpips("alex", only_backbone, cache=False)
    with pytest.raises(model_paths.ModelNotFoundError, match="SEMCOM_LPIPS_VGG_PATH"):
        perceptual.load_lpips("vgg")


def test_dists_round_trip_and_properties(tmp_path, monkeypatch):
    model = _random_dists()
    files = perceptual.save_layout(model, tmp_path / "dists")
    assert [f.name for f in files] == ["vgg16-397923af.pth", "weights.pt"]
    ab = torch.load(files[1], weights_only=True)
    assert {k: tuple(v.shape) for k, v in ab.items()} == {"alpha": (1, 1475, 1, 1), "beta": (1, 1475, 1, 1)}
    monkeypatch.setenv("SEMCOM_DISTS_PATH", str(tmp_path / "dists"))
    loaded = perceptual.load_dists(cache=False)
    a = _video(t=2)
    b = _noisy(a, 20)
    assert np.array_equal(loaded.distance(a, b), model.distance(a, b))
    assert np.allclose(loaded.distance(a, a), 0.0, atol=1e-5)
    assert np.allclose(loaded.distance(a, b), loaded.distance(b, a), rtol=1e-4)
    d = [float(np.mean(loaded.distance(a, _noisy(a, s)))) for s in (4, 16, 48)]
    assert 0 < d[0] < d[1] < d[2] < 1
    no_ab = tmp_path / "dists_no_ab"
    no_ab.mkdir()
    files[0].rename(no_ab / files[0].name)
    with pytest.raises(FileNotFoundError, match=r"weights\.pt.*SEMCOM_DISTS_PATH"):
        perceptual.load_dists(no_ab, cache=False)


def test_video_metrics_adds_lpips_when_configured_and_skips_it_otherwise(tmp_path, monkeypatch):
    a = _video(t=2)
    b = _noisy(a, 10)
    m = ev.video_metrics(a, b, clip=False, dists=False)
    assert "lpips" not in m
    assert "SEMCOM_LPIPS_ALEX_PATH" in m["skipped"]["lpips"] and "not found" in m["skipped"]["lpips"]
    model = _random_lpips("alex")
    perceptual.save_layout(model, tmp_path / "lp")
    monkeypatch.setenv("SEMCOM_LPIPS_ALEX_PATH", str(tmp_path / "lp"))
    m = ev.video_metrics(a, b, clip=False, dists=False, per_frame=True)
    assert "lpips" not in m["skipped"] and m["lpips_net"] == "alex"
    assert m["lpips"] == pytest.approx(float(np.mean(model.distance(a, b))), rel=1e-6)
    assert len(m["per_frame"]["lpips"]) == 2
    m = ev.video_metrics(a, b, lpips="vgg", clip=False, dists=False)
    assert "SEMCOM_LPIPS_VGG_PATH" in m["skipped"]["lpips"]
    assert ev.video_metrics(a, a, lpips=model, clip=False, dists=False)["lpips"] == 0.0


# ------------------------------------------------------------------------------------------------
# CLIP
# ------------------------------------------------------------------------------------------------

def test_clip_scores_from_a_local_folder(tmp_path, monkeypatch):
    model = tm.save_clip(tmp_path / "clip")
    monkeypatch.setenv("SEMCOM_CLIP_PATH", str(tmp_path / "clip"))
    scorer = clip_score.load_clip(cache=False)
    a = _video(t=3, h=50, w=70)
    # preprocessing: shortest side 32 (70 -> int(32 * 70 / 50) = 44), centre crop 32 x 32
    assert scorer.preprocess.output_size(50, 70) == (32, 44)
    px = scorer.preprocess(a)
    assert px.shape == (3, 3, 32, 32) and px.dtype == torch.float32
    try:
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    except ImportError:
        CLIPImageProcessorPil = None
    if CLIPImageProcessorPil is not None:       # transformers' own PIL pipeline, same config
        ref = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        assert torch.allclose(ref(list(a), return_tensors="pt")["pixel_values"], px, atol=1e-5)

    assert np.allclose(scorer.image_similarity(a, a), 1.0, atol=1e-5)
    inv = 255 - a
    sim = scorer.image_similarity(a, inv)
    with torch.no_grad():
        e = clip_score._features(model.get_image_features(pixel_values=torch.cat([px, scorer.preprocess(inv)])))
    e = torch.nn.functional.normalize(e, dim=-1)
    assert np.allclose(sim, (e[:3] * e[3:]).sum(-1).numpy(), atol=1e-5)
    assert np.all(sim < 1 - 1e-4)

    text = "a man walks a dog"
    t = scorer.text_similarity(text, a)
    with torch.no_grad():
        enc = scorer.tokenizer([text], return_tensors="pt")
        te = torch.nn.functional.normalize(clip_score._features(model.get_text_features(
            input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])), dim=-1)
    assert t.shape == (3,) and np.allclose(t, (e[:3] @ te[0]).numpy(), atol=1e-5)
    assert np.allclose(clip_score.clip_s([-0.2, 0.4]), [0.0, 1.0])

    m = ev.video_metrics(a, a, lpips=False, dists=False, text=text)
    assert m["clip_image"] == pytest.approx(1.0, abs=1e-5)
    assert m["clip_text"] == pytest.approx(float(t.mean()), abs=1e-5) == m["clip_text_reference"]
    assert "clip_image" not in m["skipped"]


def test_clip_missing_is_skipped_with_reason(tmp_path):
    a = _video(t=1)
    m = ev.video_metrics(a, a, lpips=False, dists=False, text="a dog")
    assert "SEMCOM_CLIP_PATH" in m["skipped"]["clip_image"] and "SEMCOM_CLIP_PATH" in m["skipped"]["clip_text"]
    (tmp_path / "empty_clip").mkdir()
    with pytest.raises(FileNotFoundError, match="preprocessor_config.json"):
        clip_score.CLIPScorer.load(path=tmp_path / "empty_clip")


# ------------------------------------------------------------------------------------------------
# BLEU, ROUGE-L
# ------------------------------------------------------------------------------------------------

# Papineni et al. (2002), example 1.
PAPINENI_CAND = "It is a guide to action which ensures that the military always obeys the commands of the party."
PAPINENI_REFS = [
    "It is a guide to action that ensures that the military will forever heed Party commands.",
    "It is the guiding principle which guarantees the military forces always being under the command of the Party.",
    "It is the practical guide for the army always to heed the directions of the party.",
]


def test_bleu_textbook_values():
    cand, refs = text_metrics.tokenize(PAPINENI_CAND), [text_metrics.tokenize(r) for r in PAPINENI_REFS]
    assert text_metrics.modified_precision(cand, refs, 1) == (17, 18)     # the paper's 17/18
    assert text_metrics.modified_precision(cand, refs, 2) == (10, 17)     # and 10/17
    the7 = text_metrics.tokenize("the the the the the the the")
    assert text_metrics.modified_precision(
        the7, [text_metrics.tokenize("The cat is on the mat."), text_metrics.tokenize("There is a cat on the mat.")],
        1) == (2, 7)
    # NLTK's documented sentence_bleu value for this example
    assert text_metrics.bleu(PAPINENI_CAND, PAPINENI_REFS) == pytest.approx(0.5045666840058485, abs=1e-12)
    # by hand: p = 5/5, 3/4, 2/3, 1/2; c = 5, r = 6 -> BP = exp(1 - 6/5)
    want = math.exp(-0.2) * (1 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert text_metrics.bleu("the cat sat on mat", "the cat sat on the mat") == pytest.approx(want, abs=1e-12)
    assert text_metrics.bleu("The cat sat on the mat.", "the cat sat on the mat") == 1.0
    # no 4-gram: 0 without smoothing; add-1 for n >= 2 gives BP only: exp(1 - 6/3)
    assert text_metrics.bleu("the cat sat", "the cat sat on the mat") == 0.0
    assert text_metrics.bleu("the cat sat", "the cat sat on the mat", smooth="add1") == pytest.approx(math.exp(-1))
    assert text_metrics.corpus_bleu([PAPINENI_CAND], [PAPINENI_REFS]) == text_metrics.bleu(PAPINENI_CAND, PAPINENI_REFS)
    # corpus BLEU sums counts: two half-matching sentences are not the mean of sentence scores
    c2 = ["the cat sat on mat", "the cat sat on the mat"]
    r2 = ["the cat sat on the mat", "the cat sat on the mat"]
    p = (11 / 11) * (8 / 9) * (6 / 7) * (4 / 5)
    assert text_metrics.corpus_bleu(c2, r2) == pytest.approx(math.exp(1 - 12 / 11) * p ** 0.25, abs=1e-12)
    with pytest.raises(ValueError):
        text_metrics.bleu("a", "a", smooth="bogus")


def test_rouge_l_textbook_values():
    # Lin (2004): S1 reference; S2 shares "police ... the gunman" (LCS 3), S3 only "the gunman" (2)
    s1, s2, s3 = "police killed the gunman", "police kill the gunman", "the gunman kill police"
    assert text_metrics.lcs_length(text_metrics.tokenize(s2), text_metrics.tokenize(s1)) == 3
    assert text_metrics.rouge_l(s2, s1, beta=1.0) == (0.75, 0.75, 0.75)
    assert text_metrics.rouge_l(s3, s1, beta=1.0).f == pytest.approx(0.5)
    # P = 1, R = 1/2: F1 = 2/3; F_1.2 = 2.44 * 0.5 / (0.5 + 1.44)
    assert text_metrics.rouge_l("the gunman", s1, beta=1.0).f == pytest.approx(2 / 3)
    assert text_metrics.rouge_l("the gunman", s1).f == pytest.approx(2.44 * 0.5 / 1.94)
    # several references: best P and best R separately
    r = text_metrics.rouge_l("the gunman", [s1, "the gunman fled"], beta=1.0)
    assert (r.precision, r.recall) == (1.0, pytest.approx(2 / 3))
    assert text_metrics.rouge_l("", s1) == (0.0, 0.0, 0.0)


# ------------------------------------------------------------------------------------------------
# BERTScore
# ------------------------------------------------------------------------------------------------

CAPTIONS = ["a man in a bowler hat walks a dog along the beach at sunset",
            "a red car drives down a street in the rain camera pans left",
            "the dog runs into the waves"]


def _greedy_by_hand(model, tok, layer, cand, ref):
    """BERTScore P, R, F1 written out directly: cosine matrix of all tokens, maxima over the
    non-special tokens."""
    def emb(text):
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            h = model(**enc, output_hidden_states=True).hidden_states[layer][0].double()
        return h / h.norm(dim=-1, keepdim=True)
    c, r = emb(cand), emb(ref)
    sim = c @ r.T
    p = sim[1:-1].max(dim=1).values.mean().item()       # drop [CLS] and [SEP] rows
    rc = sim[:, 1:-1].max(dim=0).values.mean().item()
    return p, rc, 2 * p * rc / (p + rc)


def test_bertscore_with_a_tiny_local_bert(tmp_path, monkeypatch):
    model, tok = tm.save_bert(tmp_path / "bert", corpus=CAPTIONS)
    monkeypatch.setenv("SEMCOM_BERTSCORE_PATH", str(tmp_path / "bert"))
    scorer = text_metrics.load_bertscore(cache=False)
    assert scorer.layer == 2                      # the last layer of an unknown checkpoint
    same = scorer.score_one(CAPTIONS[0], CAPTIONS[0])
    assert same.precision == pytest.approx(1.0, abs=1e-9) and same.f == pytest.approx(1.0, abs=1e-9)
    cand, ref = "a man walks a dog on the beach", CAPTIONS[0]
    got = scorer.score_one(cand, ref)
    assert got.f < 0.999
    assert got == pytest.approx(_greedy_by_hand(model, tok, 2, cand, ref), abs=1e-9)
    swapped = scorer.score_one(ref, cand)
    assert swapped.precision == pytest.approx(got.recall, abs=1e-12) and swapped.f == pytest.approx(got.f, abs=1e-12)
    layer1 = text_metrics.BERTScorer(scorer.model, scorer.tokenizer, layer=1)
    assert layer1.score_one(cand, ref) == pytest.approx(_greedy_by_hand(model, tok, 1, cand, ref), abs=1e-9)
    # batch = one at a time (padding does not leak into the scores)
    batch = scorer.score([cand, "the dog runs"], [ref, CAPTIONS[2]])
    assert batch[0] == pytest.approx(got, abs=1e-9)
    assert batch[1] == pytest.approx(scorer.score_one("the dog runs", CAPTIONS[2]), abs=1e-9)
    # several references: the best F
    assert scorer.score_one(cand, [CAPTIONS[1], ref]).f == pytest.approx(got.f, abs=1e-12)
    # idf over a reference corpus; identical captions still give 1
    table = scorer.idf_table(CAPTIONS)
    assert table[0][tok.convert_tokens_to_ids("dog")] == pytest.approx(math.log(4 / 3))
    assert scorer.score_one(ref, ref, idf=table).f == pytest.approx(1.0, abs=1e-9)
    assert scorer.score_one(cand, ref, idf=table).f != pytest.approx(got.f, abs=1e-6)
    with pytest.raises(ValueError, match="idf"):
        scorer.score_one(ref, ref, idf=True)        # one reference: every idf is 0
    # baseline rescaling
    base = (0.5, 0.6, 0.55)
    scaled = text_metrics.BERTScorer(scorer.model, scorer.tokenizer, baseline=base).score_one(cand, ref)
    assert scaled == pytest.approx([(v - b) / (1 - b) for v, b in zip(got, base)], abs=1e-12)
    csv = tmp_path / "baseline.tsv"
    csv.write_text("LAYER,P,R,F\n1,0.1,0.1,0.1\n2,0.5,0.6,0.55\n")
    assert text_metrics.read_baseline(csv, 2) == base
    assert text_metrics.load_bertscore(baseline=csv, cache=False).baseline == base

    cm = ev.caption_metrics(ref, cand)
    assert cm["bertscore_f1"] == pytest.approx(got.f, abs=1e-12) and cm["skipped"] == {}
    assert cm["rouge_l"] == text_metrics.rouge_l(cand, ref).f and cm["bleu4"] == text_metrics.bleu(cand, ref)


def test_caption_metrics_without_bertscore():
    m = ev.caption_metrics("the cat sat on the mat", "the cat sat on the mat")
    assert m["bleu4"] == 1.0 and m["rouge_l"] == 1.0
    assert "bertscore_f1" not in m and "SEMCOM_BERTSCORE_PATH" in m["skipped"]["bertscore"]
    m = ev.caption_metrics(["a dog", "the cat sat"], "the cat sat", bert=False)
    assert m["skipped"]["bertscore"] == suite.DISABLED and m["bleu4"] == 0.0    # 3 words: no 4-gram
    assert m["rouge_l"] == 1.0


# ------------------------------------------------------------------------------------------------
# Downstream-task hooks
# ------------------------------------------------------------------------------------------------

def _brightness_classifier(frames):
    """Three classes by mean brightness: scores peak at the class of the mean level."""
    m = float(np.mean(frames)) / 255.0
    return -np.abs(np.array([0.15, 0.5, 0.85]) - m)


def test_classification_task_and_aggregate():
    ev.register_task("action", ev.classification_task(_brightness_classifier, top_k=(1, 2)))
    dark, mid = np.full((2, 16, 16, 3), 30, np.uint8), np.full((2, 16, 16, 3), 128, np.uint8)
    same = ev.run_tasks(mid, mid)["action"]
    assert same == {"agreement": 1.0, "label_from_reference": 1.0, "top1": 1.0, "top2": 1.0}
    wrong = ev.run_tasks(mid, dark, context={"label": 1})["action"]
    # dark -> class 0, second best class 1: top-1 wrong, top-2 right
    assert wrong == {"agreement": 0.0, "label_from_reference": 0.0, "reference_top1": 1.0, "top1": 0.0, "top2": 1.0}
    bright = np.full((2, 16, 16, 3), 250, np.uint8)
    assert ev.run_tasks(dark, bright, context={"label": 0})["action"]["top2"] == 0.0
    acc = ev.aggregate([same, wrong])
    assert acc["top1"] == 0.5 and acc["top2"] == 1.0 and acc["reference_top1"] == 1.0
    # a classifier that returns a label only
    ev.register_task("label_only", ev.classification_task(lambda f: int(f.mean() > 100)))
    assert ev.run_tasks(mid, dark, ["label_only"])["label_only"]["top1"] == 0.0


def test_depth_task_known_errors():
    def depth(frames):                           # depth from brightness, T x H x W, > 0
        return frames.mean(axis=-1) / 255.0 + 1.0
    ev.register_task("depth", ev.depth_task(depth))
    ref = _video(t=2, h=16, w=16)
    r = ev.run_tasks(ref, ref)["depth"]
    assert r["abs_rel"] == 0.0 and r["rmse"] == 0.0 and r["delta1"] == 1.0
    target = depth(ref)
    r = ev.run_tasks(ref, ref, context={"depth": target / 1.5})["depth"]   # prediction 1.5 x the truth
    # ratio 1.5: above 1.25, below 1.25^2
    assert r["abs_rel"] == pytest.approx(0.5) and r["delta1"] == 0.0 and r["delta2"] == 1.0
    assert r["rmse_log"] == pytest.approx(math.log(1.5))
    assert r["rmse"] == pytest.approx(float(np.sqrt(np.mean((target / 3) ** 2))))
    aligned = ev.depth_errors(target, target / 2, align="median")
    assert aligned["abs_rel"] == pytest.approx(0.0, abs=1e-12)
    # invalid target pixels are ignored
    t = target.copy()
    t[0, 0, 0] = np.nan
    assert ev.depth_errors(target, t)["abs_rel"] == 0.0


def test_captioning_task_and_registry_rules():
    captions = {30: "a dark room", 128: "a grey wall"}
    captioner = ev.captioning_task(lambda f: captions[int(f[0, 0, 0, 0])], bert=False)
    ev.register_task("caption", captioner)
    dark, mid = np.full((1, 16, 16, 3), 30, np.uint8), np.full((1, 16, 16, 3), 128, np.uint8)
    r = ev.run_tasks(mid, mid)["caption"]
    assert r["caption"] == r["reference_caption"] == "a grey wall" and r["rouge_l"] == 1.0
    r = ev.run_tasks(mid, dark, context={"caption": "a dark room at night"})["caption"]
    assert r["reference_caption"] == "a dark room at night"
    assert r["rouge_l"] == text_metrics.rouge_l("a dark room", "a dark room at night").f
    assert r["bleu4"] == text_metrics.bleu("a dark room", "a dark room at night", smooth="add1") > 0
    # video_metrics runs the registered tasks
    m = ev.video_metrics(mid, dark, **NO_MODELS)
    assert m["tasks"]["caption"]["caption"] == "a dark room"
    assert "tasks" not in ev.video_metrics(mid, dark, **NO_MODELS, tasks=())
    with pytest.raises(ValueError, match="already registered"):
        ev.register_task("caption", captioner)
    ev.register_task("caption", lambda a, b, c: {"x": 1.0}, replace=True)
    assert ev.run_tasks(mid, mid)["caption"] == {"x": 1.0}
    ev.register_task("bad", lambda a, b, c: 3.0)
    with pytest.raises(TypeError, match="bad"):
        ev.run_tasks(mid, mid, ["bad"])
    ev.unregister_task("bad")
    assert ev.registered_tasks() == ("caption",)
    with pytest.raises(KeyError):
        ev.run_tasks(mid, mid, ["nope"])
    with pytest.raises(TypeError):
        ev.register_task("x", "not callable")


# ------------------------------------------------------------------------------------------------
# Descriptions sent against the reconstruction (what `semcom run` reports as clip_text, bertscore)
# ------------------------------------------------------------------------------------------------

class _FixedCaptioner:
    """Stands in for a VLM: records the spans it is asked to describe, answers fixed texts."""

    def __init__(self, texts):
        self.texts, self.asked = list(texts), []

    def caption_segments(self, video, segments):
        self.asked.append((video.shape, list(segments)))
        return self.texts[:len(segments)]


def test_description_metrics_score_each_caption_against_its_own_frames(tmp_path, monkeypatch):
    tm.save_clip(tmp_path / "clip")
    tm.save_bert(tmp_path / "bert", corpus=CAPTIONS)
    monkeypatch.setenv("SEMCOM_CLIP_PATH", str(tmp_path / "clip"))
    monkeypatch.setenv("SEMCOM_BERTSCORE_PATH", str(tmp_path / "bert"))
    a, b = _video(0, t=4), _video(1, t=4)
    segments = [(0, 1, CAPTIONS[0]), (1, 4, CAPTIONS[1])]
    captioner = _FixedCaptioner([CAPTIONS[0], CAPTIONS[2]])
    m = suite.description_metrics(segments, a, b, captioner=captioner)
    scorer = clip_score.load_clip()
    per_frame = np.concatenate([scorer.text_similarity(CAPTIONS[0], b[:1]), scorer.text_similarity(CAPTIONS[1], b[1:])])
    assert m["clip_text"] == pytest.approx(float(per_frame.mean()), abs=1e-6)
    assert captioner.asked == [((4, 64, 64, 3), [(0, 1), (1, 4)])]
    bert = text_metrics.load_bertscore()
    want = np.mean([bert.score_one(CAPTIONS[0], [CAPTIONS[0]]).f, bert.score_one(CAPTIONS[2], [CAPTIONS[1]]).f])
    assert m["bertscore"] == pytest.approx(float(want), abs=1e-9) and m["skipped"] == {}
    assert m["captions_of_reconstruction"] == [CAPTIONS[0], CAPTIONS[2]]


def test_description_metrics_say_why_they_did_not_run(tmp_path):
    a = _video(0, t=2)
    m = suite.description_metrics([(0, 2, "a caption")], a, a, clip=False, captioner=None)
    assert "disabled" in m["skipped"]["clip_text"] and "captioner" in m["skipped"]["bertscore"]
    assert suite.description_metrics([], a, a)["skipped"]["clip_text"] == "no description was sent"
