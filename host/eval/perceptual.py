"""Perceptual distances LPIPS and DISTS in plain torch (no torchvision), from local weight files.

Both metrics compare deep features of two images. Their backbones (AlexNet, VGG16) are defined
here layer for layer with torchvision's module indices, so the published checkpoints load as they
are: torchvision's ``features.N.weight`` / ``features.N.bias`` for the backbone, plus

- LPIPS v0.1 (Zhang et al., CVPR 2018): the lpips package's ``weights/v0.1/alex.pth`` or
  ``vgg.pth``, keys ``lin0.model.1.weight`` ... ``lin4.model.1.weight``, each 1 x C x 1 x 1.
- DISTS (Ding et al., TPAMI 2020): DISTS_pytorch's ``weights.pt``, keys ``alpha`` and ``beta``,
  each 1 x 1475 x 1 x 1 (1475 = 3 + 64 + 128 + 256 + 512 + 512 channels).

State dicts saved from whole lpips / DISTS modules (``net.sliceK.N.weight``, ``lins.K.model.1.weight``,
``stageK.N.weight``) load too: slices and stages keep torchvision's indices N.

Where the files live: :mod:`semcom_models.model_paths` names ``lpips-alex``, ``lpips-vgg`` and
``dists``; each resolves to a folder (or one file). Every ``*.pth``, ``*.pt`` and ``*.safetensors``
file in the folder is read (``torch.load(weights_only=True)`` or safetensors) and the keys are
sorted into backbone and head by their names, so the torchvision file and the metric's file can
keep their published names (e.g. ``alexnet-owt-7be5be79.pth`` + ``alex.pth``). A missing folder is
a :class:`~semcom_models.model_paths.ModelNotFoundError`; a folder without the backbone or the head
is a FileNotFoundError naming the file expected and the variable that sets the folder.

Conventions: inputs are uint8 RGB frames, H x W x 3 or T x H x W x 3, both arguments of one
shape; they are scaled to [0, 1] (``semcom_models.metrics.to_tensor``); LPIPS maps that to
[-1, 1] and applies its scaling layer, DISTS normalises with the ImageNet mean and std. No
resizing is done: both metrics average over space, so any size works from 32 x 32 (AlexNet) or
16 x 16 (VGG) up. Results are per frame (float64 array of length T, or a float for one frame);
0 means identical; LPIPS is unbounded above (typically < 1), DISTS lies in [0, 1] for the
published weights.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semcom_models import model_paths
from semcom_models.metrics import check_pair, to_tensor

# LPIPS' scaling layer: the [-1, 1] input is shifted and scaled per RGB channel.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
LPIPS_EPS = 1e-10          # in the per-pixel unit normalisation of the feature vectors
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DISTS_C1 = 1e-6
DISTS_C2 = 1e-6
DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)
_BATCH = 8

# torchvision's ``features`` layers: ("conv", in, out, kernel, stride, padding), ("relu",),
# ("pool", kernel, stride). The list index is the module index N of ``features.N``.
_ALEX_LAYERS = [
    ("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3, 2),
    ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3, 2),
    ("conv", 192, 384, 3, 1, 1), ("relu",),
    ("conv", 384, 256, 3, 1, 1), ("relu",),
    ("conv", 256, 256, 3, 1, 1), ("relu",), ("pool", 3, 2),
]
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _vgg16_layers() -> list[tuple]:
    layers, c = [], 3
    for v in _VGG16_CFG:
        if v == "M":
            layers.append(("pool", 2, 2))
        else:
            layers += [("conv", c, v, 3, 1, 1), ("relu",)]
            c = v
    return layers


# Feature taps: outputs after features[:end] for each end (LPIPS' slices: relu1 .. relu5 of
# AlexNet; relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of VGG16) and their channel counts.
BACKBONES: dict[str, dict[str, Any]] = {
    "alex": {"layers": _ALEX_LAYERS, "taps": (2, 5, 8, 10, 12), "channels": (64, 192, 384, 256, 256),
             "torchvision_file": "alexnet-owt-7be5be79.pth", "lpips_file": "alex.pth"},
    "vgg": {"layers": _vgg16_layers(), "taps": (4, 9, 16, 23, 30), "channels": (64, 128, 256, 512, 512),
            "torchvision_file": "vgg16-397923af.pth", "lpips_file": "vgg.pth"},
}
WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors")


class L2Pool(nn.Module):
    """DISTS' L2 pooling: sqrt of a 3 x 3 Hann-weighted (normalised) sum of squares, stride 2, pad 1."""

    def __init__(self, channels: int):
        super().__init__()
        a = torch.tensor([0.5, 1.0, 0.5], dtype=torch.float32)   # np.hanning(5)[1:-1]
        g = a[:, None] * a[None, :]
        self.register_buffer("filter", (g / g.sum()).expand(channels, 1, 3, 3).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x * x, self.filter, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class Backbone(nn.Module):
    """AlexNet or VGG16 convolutional ``features`` with torchvision's indices; returns the taps.

    ``l2pool=True`` (DISTS) replaces every max pooling before the last tap by :class:`L2Pool`.
    """

    def __init__(self, arch: str, l2pool: bool = False):
        super().__init__()
        if arch not in BACKBONES:
            raise ValueError(f"unknown backbone {arch!r}; expected one of {sorted(BACKBONES)}")
        spec = BACKBONES[arch]
        self.arch = arch
        self.taps = tuple(spec["taps"])
        mods: list[nn.Module] = []
        channels = 3
        for layer in spec["layers"]:
            if layer[0] == "conv":
                _, cin, cout, k, s, p = layer
                mods.append(nn.Conv2d(cin, cout, k, stride=s, padding=p))
                channels = cout
            elif layer[0] == "relu":
                mods.append(nn.ReLU(inplace=False))
            else:
                mods.append(L2Pool(channels) if l2pool else nn.MaxPool2d(layer[1], stride=layer[2]))
        self.features = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            if i >= self.taps[-1]:
                break
            x = layer(x)
            if i + 1 in self.taps:
                outs.append(x)
        return outs


# ------------------------------------------------------------------------------------------------
# Reading weight files and sorting their keys
# ------------------------------------------------------------------------------------------------

_FEATURE_KEY = re.compile(r"^(?:module\.)?(?:net\.)?(?:features|slice\d+|stage\d+)\.(\d+)\.(weight|bias)$")
_LIN_KEY = re.compile(r"^(?:module\.)?(?:lin(\d+)|lins\.(\d+))\.(?:model\.\d+\.)?weight$")


def read_weight_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors of one ``.safetensors`` file or ``.pth``/``.pt`` file (``torch.load(weights_only=True)``).

    A checkpoint that wraps its state dict under ``"state_dict"`` or ``"model"`` is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    obj = torch.load(str(path), map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a state dict (mapping of names to tensors), got {type(obj).__name__}")
    return {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def weight_files(path: str | os.PathLike) -> list[Path]:
    """The weight files of a model: ``path`` itself if it is a file, else every ``*.pth``, ``*.pt``
    and ``*.safetensors`` file directly in the folder (sorted by name)."""
    p = Path(path)
    if p.is_file():
        return [p]
    return sorted(f for f in p.iterdir() if f.is_file() and f.suffix in WEIGHT_SUFFIXES)


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Path]]:
    """All tensors of :func:`weight_files` merged, and the file each key came from.

    The same key in two files is an error unless the tensors are equal.
    """
    merged: dict[str, torch.Tensor] = {}
    origin: dict[str, Path] = {}
    for f in weight_files(path):
        for k, v in read_weight_file(f).items():
            if k in merged and not (merged[k].shape == v.shape and torch.equal(merged[k], v)):
                raise ValueError(f"key {k!r} differs between {origin[k]} and {f}")
            merged[k], origin[k] = v, f
    return merged, origin


def split_backbone(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Backbone tensors renamed to ``features.N.weight|bias`` (from torchvision's, lpips' slice or
    DISTS' stage layout)."""
    out = {}
    for k, v in state.items():
        m = _FEATURE_KEY.match(k)
        if m:
            out[f"features.{m.group(1)}.{m.group(2)}"] = v
    return out


def split_lins(state: Mapping[str, torch.Tensor]) -> dict[int, torch.Tensor]:
    """LPIPS' linear heads by layer index: ``linK.model.1.weight`` (or ``lins.K...``) -> weight."""
    out: dict[int, torch.Tensor] = {}
    for k, v in state.items():
        m = _LIN_KEY.match(k)
        if m:
            out[int(m.group(1) if m.group(1) is not None else m.group(2))] = v
    return out


def _how_to_set(name: str) -> str:
    return (f"set ${model_paths.env_var(name)} to the folder (or put a {model_paths.default_folder(name)!r} "
            f"folder under ${model_paths.ENV_ROOT}, or a '{name}:' entry in ${model_paths.ENV_CONFIG})")


def _load_backbone(module: Backbone, state: Mapping[str, torch.Tensor], where: str, name: str,
                   torchvision_file: str) -> None:
    feats = split_backbone(state)
    if not feats:
        raise FileNotFoundError(
            f"{name}: no backbone weights (keys features.N.weight/bias) in {where}; put torchvision's "
            f"{torchvision_file} there; {_how_to_set(name)}")
    own = module.state_dict()
    missing = sorted(set(own) - set(feats), key=_natural)
    if missing:
        raise ValueError(f"{name}: backbone weights in {where} lack {', '.join(missing)} "
                         f"(expected torchvision's {torchvision_file})")
    for k in own:
        if tuple(feats[k].shape) != tuple(own[k].shape):
            raise ValueError(f"{name}: {k} in {where} has shape {tuple(feats[k].shape)}, "
                             f"expected {tuple(own[k].shape)} ({module.arch} backbone)")
    module.load_state_dict({k: feats[k].float() for k in own})


def _natural(key: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


# ------------------------------------------------------------------------------------------------
# Frames
# ------------------------------------------------------------------------------------------------

class _PairMetric(nn.Module):
    """Shared per-frame driver: uint8 frames in, float64 distances out. Subclasses define
    ``forward(x, y)`` on float32 N x 3 x H x W images in [0, 1], returning N distances."""

    @torch.no_grad()
    def distance(self, reference: np.ndarray, reconstruction: np.ndarray):
        """Per-frame distance of uint8 RGB frames (float64 array of length T; float for one frame)."""
        a, b, single = check_pair(reference, reconstruction)
        dev = next(self.parameters()).device
        out = np.empty(len(a), dtype=np.float64)
        for i in range(0, len(a), _BATCH):
            x = to_tensor(a[i:i + _BATCH]).to(dev)
            y = to_tensor(b[i:i + _BATCH]).to(dev)
            out[i:i + _BATCH] = self(x, y).double().cpu().numpy()
        return float(out[0]) if single else out


class LPIPS(_PairMetric):
    """LPIPS v0.1 distance (linearly calibrated, 'lin' variant) on an AlexNet or VGG16 backbone.

    d(x, y) = sum_l mean_{h,w} sum_c w_{l,c} (xhat_{l,hwc} - yhat_{l,hwc})^2, where xhat_l are the
    layer-l features unit-normalised over channels at each pixel and w_l the learned (non-negative)
    head weights. Inputs in [0, 1] are mapped to [-1, 1], then (x - shift) / scale.
    """

    def __init__(self, net: str = "alex"):
        super().__init__()
        self.net_name = net
        self.net = Backbone(net)
        chans = BACKBONES[net]["channels"]
        self.lins = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1), requires_grad=False) for c in chans])
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    @classmethod
    def from_state_dict(cls, net: str, state: Mapping[str, torch.Tensor], where: str = "the state dict"
                        ) -> "LPIPS":
        """Build from one merged state dict (backbone + ``lin0..lin4``) in any layout this module reads."""
        name = f"lpips-{net}"
        spec = BACKBONES[net]
        model = cls(net)
        _load_backbone(model.net, state, where, name, spec["torchvision_file"])
        lins = split_lins(state)
        if not lins:
            raise FileNotFoundError(
                f"{name}: no LPIPS head weights (keys lin0.model.1.weight .. lin4.model.1.weight) in {where}; "
                f"put the lpips package's weights/v0.1/{spec['lpips_file']} there; {_how_to_set(name)}")
        for k, c in enumerate(spec["channels"]):
            if k not in lins:
                raise ValueError(f"{name}: lin{k} weights missing in {where}")
            w = lins[k]
            if w.numel() != c:
                raise ValueError(f"{name}: lin{k} in {where} has shape {tuple(w.shape)}, expected (1, {c}, 1, 1)")
            model.lins[k].data.copy_(w.reshape(1, c, 1, 1).float())
        return model

    def head_state_dict(self) -> dict[str, torch.Tensor]:
        """The head in the lpips package's published layout (``linK.model.1.weight``)."""
        return {f"lin{k}.model.1.weight": w.detach().clone() for k, w in enumerate(self.lins)}

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS of float32 N x 3 x H x W images in [0, 1]: a tensor of length N."""
        n = x.shape[0]
        z = (torch.cat([x, y]) * 2 - 1 - self.shift) / self.scale
        total = torch.zeros(n, device=x.device)
        for f, w in zip(self.net(z), self.lins):
            f = f / (f.pow(2).sum(1, keepdim=True).sqrt() + LPIPS_EPS)
            d = (f[:n] - f[n:]).pow(2)
            total = total + (d * w).sum(1).mean((1, 2))
        return total


class DISTS(_PairMetric):
    """DISTS: 1 - sum over layers and channels of alpha * S1 + beta * S2, where S1 compares the
    spatial means ("texture") and S2 the covariance ("structure") of the features of a VGG16 with
    L2 pooling; the input image itself counts as a 3-channel layer. alpha and beta are divided by
    their joint sum, so identical images give 0.
    """

    def __init__(self):
        super().__init__()
        self.net = Backbone("vgg", l2pool=True)
        total = sum(DISTS_CHANNELS)
        self.alpha = nn.Parameter(torch.zeros(1, total, 1, 1), requires_grad=False)
        self.beta = nn.Parameter(torch.zeros(1, total, 1, 1), requires_grad=False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], where: str = "the state dict") -> "DISTS":
        """Build from one merged state dict (VGG16 ``features.N`` + ``alpha`` + ``beta``)."""
        model = cls()
        _load_backbone(model.net, state, where, "dists", BACKBONES["vgg"]["torchvision_file"])
        ab = {k.split(".")[-1]: v for k, v in state.items() if k.split(".")[-1] in ("alpha", "beta")}
        if set(ab) != {"alpha", "beta"}:
            raise FileNotFoundError(
                f"dists: no alpha/beta weights in {where}; put DISTS_pytorch's weights.pt there; "
                f"{_how_to_set('dists')}")
        for key in ("alpha", "beta"):
            if ab[key].numel() != sum(DISTS_CHANNELS):
                raise ValueError(f"dists: {key} in {where} has {ab[key].numel()} values, "
                                 f"expected {sum(DISTS_CHANNELS)}")
            getattr(model, key).data.copy_(ab[key].reshape(1, -1, 1, 1).float())
        return model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """DISTS of float32 N x 3 x H x W images in [0, 1]: a tensor of length N."""
        n = x.shape[0]
        z = torch.cat([x, y])
        feats = [z] + self.net((z - self.mean) / self.std)
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, DISTS_CHANNELS, dim=1)
        betas = torch.split(self.beta / w_sum, DISTS_CHANNELS, dim=1)
        score = torch.zeros(n, device=x.device)
        for f, a, b in zip(feats, alphas, betas):
            fx, fy = f[:n], f[n:]
            mx, my = fx.mean((2, 3), keepdim=True), fy.mean((2, 3), keepdim=True)
            s1 = (2 * mx * my + DISTS_C1) / (mx ** 2 + my ** 2 + DISTS_C1)
            vx = ((fx - mx) ** 2).mean((2, 3), keepdim=True)
            vy = ((fy - my) ** 2).mean((2, 3), keepdim=True)
            cov = (fx * fy).mean((2, 3), keepdim=True) - mx * my
            s2 = (2 * cov + DISTS_C2) / (vx + vy + DISTS_C2)
            score = score + (a * s1 + b * s2).sum((1, 2, 3))
        return 1 - score


# ------------------------------------------------------------------------------------------------
# Loading from model_paths
# ------------------------------------------------------------------------------------------------

_CACHE: dict[tuple, nn.Module] = {}


def _device(device: str | None) -> str:
    return model_paths.torch_device_dtype(device, torch.float32)[0]


def load_lpips(net: str = "alex", path: str | os.PathLike | None = None, *,
               config: str | os.PathLike | None = None, device: str | None = None, cache: bool = True) -> LPIPS:
    """LPIPS with backbone ``net`` ("alex" or "vgg") from the local folder of model ``lpips-<net>``.

    Raises ModelNotFoundError (a FileNotFoundError) when the folder is not configured, and
    FileNotFoundError naming the expected file when the backbone or the head is missing.
    Loaded models are cached per (net, resolved path, device) unless ``cache=False``.
    """
    if net not in BACKBONES:
        raise ValueError(f"LPIPS net must be one of {sorted(BACKBONES)}, got {net!r}")
    name = f"lpips-{net}"
    p = model_paths.resolve_model_path(name, path, config=config)
    dev = _device(device)
    key = ("lpips", net, str(p.resolve()), dev)
    if cache and key in _CACHE:
        return _CACHE[key]  # type: ignore[return-value]
    state, _ = read_weights(p)
    model = LPIPS.from_state_dict(net, state, where=str(p)).to(dev)
    if cache:
        _CACHE[key] = model
    return model


def load_dists(path: str | os.PathLike | None = None, *, config: str | os.PathLike | None = None,
               device: str | None = None, cache: bool = True) -> DISTS:
    """DISTS from the local folder of model ``dists`` (VGG16 torchvision file + weights.pt)."""
    p = model_paths.resolve_model_path("dists", path, config=config)
    dev = _device(device)
    key = ("dists", str(p.resolve()), dev)
    if cache and key in _CACHE:
        return _CACHE[key]  # type: ignore[return-value]
    state, _ = read_weights(p)
    model = DISTS.from_state_dict(state, where=str(p)).to(dev)
    if cache:
        _CACHE[key] = model
    return model


def lpips(reference: np.ndarray, reconstruction: np.ndarray, model: LPIPS | None = None, *, net: str = "alex"):
    """Per-frame LPIPS of uint8 RGB frames; loads ``lpips-<net>`` when no model is given."""
    return (model or load_lpips(net)).distance(reference, reconstruction)


def dists(reference: np.ndarray, reconstruction: np.ndarray, model: DISTS | None = None):
    """Per-frame DISTS of uint8 RGB frames; loads ``dists`` when no model is given."""
    return (model or load_dists()).distance(reference, reconstruction)


def save_layout(module: LPIPS | DISTS, folder: str | os.PathLike, *, safetensors: bool = False
                ) -> list[Path]:
    """Write ``module``'s weights as the published files: torchvision's backbone file (keys
    ``features.N.*``) and the metric's head file (``linK.model.1.weight`` / ``alpha``, ``beta``).

    Useful for tests and for converting to safetensors; returns the paths written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(module, LPIPS):
        spec = BACKBONES[module.net_name]
        head = module.head_state_dict()
        head_name = spec["lpips_file"]
    else:
        spec = BACKBONES["vgg"]
        head = {"alpha": module.alpha.detach().clone(), "beta": module.beta.detach().clone()}
        head_name = "weights.pt"
    backbone = {k: v.detach().clone() for k, v in module.net.state_dict().items()}
    files = [(Path(spec["torchvision_file"]), backbone), (Path(head_name), head)]
    written = []
    for fname, sd in files:
        if safetensors:
            from safetensors.torch import save_file

            out = folder / fname.with_suffix(".safetensors").name
            save_file({k: v.contiguous() for k, v in sd.items()}, str(out))
        else:
            out = folder / fname.name
            torch.save(sd, str(out))
        written.append(out)
    return written
