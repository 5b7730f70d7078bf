"""PiDiNet and HED sketches: the published checkpoints' layouts, the exact pixel-difference
convolutions, loading through the annotators folder, and the uint8 sketch contract.

The networks are full size with random weights (tests/helpers/tiny_models.py writes them in the
published files' layouts); no real weights are needed or downloaded.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.tiny_models import save_hed, save_pidinet, torch_threads
from semcom_models.hed import HED_FILE, ControlNetHED
from semcom_models.model_paths import ENV_CONFIG, ENV_ROOT, ModelNotFoundError, env_var
from semcom_models.pidinet import PIDINET_FILE, PiDiNet, PixelDifferenceConv
from semcom_models.sketch import (
    ANNOTATORS_MODEL,
    LEARNED_FILES,
    SKETCH_METHODS,
    extract_sketch,
    learned_sketches,
    load_sketch_network,
    sketch_frames,
    weights_file,
)

# A few tensors of lllyasviel/Annotators' files as the reference code (ControlNet's annotators,
# controlnet_aux) builds them: name -> shape. PiDiNet's are stored unconverted (every
# pixel-difference kernel 3 x 3, the rd ones included), inside "state_dict" with "module.".
PIDINET_KNOWN = {
    "init_block.weight": (60, 3, 3, 3),
    "block1_1.conv1.weight": (60, 1, 3, 3),
    "block1_1.conv2.weight": (60, 60, 1, 1),
    "block1_2.conv1.weight": (60, 1, 3, 3),
    "block2_1.shortcut.weight": (120, 60, 1, 1),
    "block2_1.shortcut.bias": (120,),
    "block3_1.shortcut.weight": (240, 120, 1, 1),
    "block4_1.shortcut.weight": (240, 240, 1, 1),
    "block4_4.conv2.weight": (240, 240, 1, 1),
    "dilations.0.conv1.weight": (24, 60, 1, 1),
    "dilations.3.conv1.weight": (24, 240, 1, 1),
    "dilations.0.conv2_4.weight": (24, 24, 3, 3),
    "attentions.0.conv1.weight": (4, 24, 1, 1),
    "attentions.0.conv2.weight": (1, 4, 3, 3),
    "conv_reduces.3.conv.weight": (1, 24, 1, 1),
    "conv_reduces.3.conv.bias": (1,),
    "classifier.weight": (1, 4, 1, 1),
    "classifier.bias": (1,),
}
HED_KNOWN = {
    "norm": (1, 3, 1, 1),
    "block1.convs.0.weight": (64, 3, 3, 3),
    "block1.convs.0.bias": (64,),
    "block1.projection.weight": (1, 64, 1, 1),
    "block3.convs.2.weight": (256, 256, 3, 3),
    "block5.convs.2.weight": (512, 512, 3, 3),
    "block5.projection.weight": (1, 512, 1, 1),
    "block5.projection.bias": (1,),
}


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def annotators(tmp_path_factory):
    """A folder with random-weight table5_pidinet.pth and ControlNetHED.pth."""
    folder = tmp_path_factory.mktemp("Annotators")
    save_pidinet(folder)
    save_hed(folder)
    return folder


@pytest.fixture
def no_model_config(tmp_path, monkeypatch):
    for v in (env_var(ANNOTATORS_MODEL), ENV_ROOT, ENV_CONFIG):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/semcom/models.yaml


def _frame(h=37, w=53, shift=0, seed=0):
    """A bright rectangle on a dark, slightly noisy background (uint8 RGB)."""
    img = np.full((h, w, 3), 30, np.uint8)
    img[10:25, 12 + shift:40 + shift] = (220, 180, 90)
    noise = np.random.default_rng(seed).integers(0, 20, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


# -- layouts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("net, known, count, params", [
    (PiDiNet, PIDINET_KNOWN, 83, 710_149),      # the paper's 0.71 M parameters
    (ControlNetHED, HED_KNOWN, 37, 14_716_168),  # VGG-16's 13 convolutions + 5 projections + norm
])
def test_state_dict_layout_matches_the_published_checkpoint(net, known, count, params):
    sd = net().state_dict()
    assert {k: tuple(sd[k].shape) for k in known if k in sd} == known
    assert len(sd) == count and sum(v.numel() for v in sd.values()) == params


def test_pidinet_has_shortcuts_only_where_it_pools():
    keys = PiDiNet().state_dict().keys()
    assert sorted(k for k in keys if "shortcut.weight" in k) == [
        "block2_1.shortcut.weight", "block3_1.shortcut.weight", "block4_1.shortcut.weight"]
    assert not any(k.startswith(("block1_4", "block5")) for k in keys)


def test_published_files_load_strictly(annotators):
    raw = torch.load(annotators / PIDINET_FILE, weights_only=True)
    assert set(raw) == {"epoch", "state_dict"} and all(k.startswith("module.") for k in raw["state_dict"])
    for method, raw_sd in (("pidinet", {k[len("module."):]: v for k, v in raw["state_dict"].items()}),
                           ("hed", torch.load(annotators / HED_FILE, weights_only=True))):
        net = load_sketch_network(method, annotators)
        own = net.state_dict()
        assert set(own) == set(raw_sd)
        assert all(torch.equal(own[k], raw_sd[k]) for k in own)
        fresh = PiDiNet() if method == "pidinet" else ControlNetHED()
        result = fresh.load_state_dict(raw_sd, strict=True)
        assert not result.missing_keys and not result.unexpected_keys


def test_mismatched_checkpoints_are_rejected(tmp_path):
    sd = ControlNetHED().state_dict()
    bad = dict(sd)
    del bad["block5.projection.bias"]
    bad["block6.projection.weight"] = torch.zeros(1, 512, 1, 1)
    torch.save(bad, tmp_path / HED_FILE)
    with pytest.raises(ValueError, match="missing 1 tensors.*block5.projection.bias.*unexpected"):
        load_sketch_network("hed", tmp_path)
    sd["norm"] = torch.zeros(1, 3)
    torch.save(sd, tmp_path / HED_FILE)
    with pytest.raises(ValueError, match="shape mismatch: norm"):
        load_sketch_network("hed", tmp_path)


def test_unreadable_files_are_a_clear_error(tmp_path):
    (tmp_path / PIDINET_FILE).write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_sketch_network("pidinet", tmp_path)
    (tmp_path / PIDINET_FILE).unlink()
    (tmp_path / "table5_pidinet.safetensors").write_bytes(b"nonsense")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_sketch_network("pidinet", tmp_path)


def test_safetensors_files_are_accepted(tmp_path, annotators):
    from safetensors.torch import save_file

    sd = torch.load(annotators / HED_FILE, weights_only=True)
    save_file(sd, str(tmp_path / "ControlNetHED.safetensors"))
    assert weights_file("hed", tmp_path).name == "ControlNetHED.safetensors"
    img = _frame()
    assert np.array_equal(extract_sketch(img, "hed", path=tmp_path, detect_resolution=None),
                          extract_sketch(img, "hed", path=annotators, detect_resolution=None))


# -- pixel-difference convolutions -----------------------------------------------------------
# Independent statement of the three differences (Su et al. 2021 and the reference code):
# ad pairs each ring tap with its clockwise successor; rd pairs outer and inner 5 x 5 taps
# (reference index lists) and uses stored taps 1..8.
_AD_NEXT = [1, 2, 5, 0, 4, 8, 3, 6, 7]
_RD_OUTER = [0, 2, 4, 10, 14, 20, 22, 24]
_RD_INNER = [6, 7, 8, 11, 13, 16, 17, 18]


def _pixel_difference(x, weight, op, groups):
    n, c, h, w = x.shape
    if op == "rd":
        p = F.unfold(x, 5, padding=2).view(n, c, 25, h * w)
        diffs = p[:, :, _RD_OUTER] - p[:, :, _RD_INNER]
        taps = weight.flatten(2)[:, :, 1:]
    else:
        p = F.unfold(x, 3, padding=1).view(n, c, 9, h * w)
        diffs = {"cv": p, "cd": p - p[:, :, 4:5], "ad": p - p[:, :, _AD_NEXT]}[op]
        taps = weight.flatten(2)
    out = []
    per = c // groups
    for g in range(groups):
        o = taps.shape[0] // groups
        out.append(torch.einsum("okt,nktl->nol", taps[g * o:(g + 1) * o], diffs[:, g * per:(g + 1) * per]))
    return torch.cat(out, 1).view(n, -1, h, w)


@pytest.mark.parametrize("op", ["cv", "cd", "ad", "rd"])
@pytest.mark.parametrize("groups", [1, 6])
def test_pixel_difference_convs_are_exact(op, groups):
    torch.manual_seed(1)
    conv = PixelDifferenceConv(op, 6, 12 if groups == 1 else 6, groups=groups).double()
    x = torch.randn(2, 6, 9, 11, dtype=torch.float64)
    with torch.no_grad():
        got = conv(x)
        want = _pixel_difference(x, conv.weight, op, groups)
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-12)


def test_rd_ignores_stored_tap_zero():
    conv = PixelDifferenceConv("rd", 1, 1)
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        before = conv(x)
        conv.weight[0, 0, 0, 0] += 5.0
        assert torch.equal(conv(x), before)


def test_hed_fuses_like_the_annotator(annotators):
    """Mean of the side outputs, each resized as cv2.resize(INTER_LINEAR) would, then a sigmoid."""
    import cv2

    net = load_sketch_network("hed", annotators)
    x = torch.from_numpy(_frame()).float().permute(2, 0, 1)[None]
    with torch.no_grad():
        sides = [s[0, 0].numpy() for s in net.side_outputs(x)]
        fused = net(x)[0, 0].numpy()
    want = 1 / (1 + np.exp(-np.mean([cv2.resize(s, (53, 37), interpolation=cv2.INTER_LINEAR) for s in sides], 0)))
    assert [s.shape for s in sides] == [(37, 53), (18, 26), (9, 13), (4, 6), (2, 3)]
    assert np.abs(fused - want).max() < 1e-5


# -- sketches --------------------------------------------------------------------------------
def test_learned_methods_are_listed():
    assert {"pidinet", "hed"} <= set(SKETCH_METHODS)
    assert LEARNED_FILES == {"pidinet": PIDINET_FILE, "hed": HED_FILE}
    assert (PIDINET_FILE, HED_FILE) == ("table5_pidinet.pth", "ControlNetHED.pth")


@pytest.mark.parametrize("method", ["pidinet", "hed"])
@pytest.mark.parametrize("res", [None, 64, 128])
def test_uint8_sketch_at_the_input_size(annotators, method, res):
    sk = extract_sketch(_frame(), method, path=annotators, detect_resolution=res)
    assert sk.shape == (37, 53) and sk.dtype == np.uint8
    assert sk.std() > 5  # not a constant map


@pytest.mark.parametrize("method", ["pidinet", "hed"])
def test_batches_equal_one_by_one_and_runs_repeat(annotators, method):
    frames = np.stack([_frame(shift=s, seed=s) for s in range(5)])
    opts = dict(path=annotators, detect_resolution=64)
    batched = learned_sketches(frames, method, batch_size=3, **opts)
    single = np.stack([extract_sketch(f, method, **opts) for f in frames])
    assert batched.shape == (5, 37, 53) and batched.dtype == np.uint8
    assert np.abs(batched.astype(int) - single).max() <= 1  # float rounding may move a level
    assert np.mean(batched != single) < 1e-3
    assert np.array_equal(batched, learned_sketches(frames, method, batch_size=3, **opts))
    sk = sketch_frames(frames, [4, 1], method, **opts)
    assert sorted(sk) == [1, 4] and np.abs(sk[4].astype(int) - batched[4]).max() <= 1


def test_safe_and_threshold_steps(annotators):
    img = _frame()
    soft = extract_sketch(img, "hed", path=annotators, detect_resolution=None)
    safe = extract_sketch(img, "hed", path=annotators, detect_resolution=None, safe=True)
    binary = extract_sketch(img, "pidinet", path=annotators, detect_resolution=None, threshold=0.5)
    assert set(np.unique(safe)) <= {0, 127, 255}
    assert np.mean((safe == 255) != (soft >= 170)) < 1e-3  # p >= 2/3 -> 255 (floor(255 p) >= 170)
    assert set(np.unique(binary)) <= {0, 255}
    with pytest.raises(ValueError, match="threshold"):
        extract_sketch(img, "pidinet", path=annotators, threshold=1.5)


def test_networks_are_built_once_per_file(annotators):
    assert load_sketch_network("pidinet", annotators) is load_sketch_network("pidinet", annotators)
    assert load_sketch_network("hed", annotators) is not load_sketch_network("pidinet", annotators)


def test_too_small_frames_are_refused(annotators):
    with pytest.raises(ValueError, match="at least 16 x 16"):
        extract_sketch(_frame(12, 40), "hed", path=annotators, detect_resolution=None)
    assert extract_sketch(_frame(12, 40), "hed", path=annotators, detect_resolution=64).shape == (12, 40)


# -- missing weights ---------------------------------------------------------------------------
@pytest.mark.usefixtures("no_model_config")
@pytest.mark.parametrize("method", ["pidinet", "hed"])
def test_missing_weights_name_the_variable(tmp_path, monkeypatch, method):
    var = env_var(ANNOTATORS_MODEL)
    assert var == "SEMCOM_ANNOTATORS_PATH"
    with pytest.raises(ModelNotFoundError, match=var):
        extract_sketch(_frame(), method)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        extract_sketch(_frame(), method, path=tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(var, str(empty))
    with pytest.raises(ModelNotFoundError, match=f"{LEARNED_FILES[method]}.*\\${var}"):
        sketch_frames(np.stack([_frame()]), method=method)


def test_env_var_finds_the_folder(annotators, monkeypatch, no_model_config):
    monkeypatch.setenv(env_var(ANNOTATORS_MODEL), str(annotators))
    assert weights_file("pidinet") == annotators / PIDINET_FILE
    assert extract_sketch(_frame(), "pidinet", detect_resolution=64).shape == (37, 53)


def test_unknown_methods():
    with pytest.raises(ValueError, match="unknown sketch method"):
        extract_sketch(_frame(), "dexined")
    with pytest.raises(ValueError, match="unknown sketch method"):
        sketch_frames(np.stack([_frame()]), method="dexined")


# -- GVSC ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["pidinet", "hed"])
def test_gvsc_sketcher_runs_the_learned_extractors(annotators, monkeypatch, no_model_config, method):
    from helpers.clips import clip_frames
    from semcom_host.service.registry import get_scheme, load_builtin_schemes

    load_builtin_schemes()
    spec = get_scheme("gvsc-sketch")
    p = spec.merge_params({"caption": "a square", "image_size": 64, "sketcher": method})
    with pytest.raises(ModelNotFoundError, match=env_var(ANNOTATORS_MODEL)):
        spec.encoder(clip_frames(), p)
    monkeypatch.setenv(env_var(ANNOTATORS_MODEL), str(annotators))
    txs, ctx = spec.encoder(clip_frames(), p)
    assert txs and ctx["stage_seconds"]["sketch"] > 0
