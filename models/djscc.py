"""Attention deep joint source-channel coding (ADJSCC-style) for images, GVSC's analog path.

The encoder maps an image to complex channel symbols of unit average power; the channel
(models/channel_layers.py) adds noise at SNR = Es/N0 per complex symbol; the decoder rebuilds
the image. Both halves carry SNR-conditioned attention feature (AF) modules (Xu et al.,
"Wireless image transmission using deep source channel coding with attention modules", 2021):
global average pooling of the features, concatenated with the SNR in dB, through a small MLP
and a sigmoid that rescales each channel. One model therefore serves a whole SNR range.

Architecture (all 3x3 convolutions, GDN-like divisive normalisation + PReLU between them):
pixel-unshuffle by 2 (no information lost, cheap full-resolution stage), stride-2 convolutions
down to H/ds x W/ds, a last convolution to ``latent_channels`` real channels; the decoder mirrors
it with stride-2 transposed convolutions and ends with a pixel shuffle and a sigmoid.

Bandwidth: the latent holds (H/ds)(W/ds) * latent_channels real values, paired into
K = (H/ds)(W/ds) * latent_channels / 2 complex symbols (row-major flattening of the latent,
value 2i is the real part and 2i+1 the imaginary part of symbol i). Shipped variants
(``VARIANTS``), for 256 x 256 frames:

=================  =======  ====  ======  =========  =========================================
name               input    ds    latent  symbols K  CBR = K / (3 H W) per RGB frame
=================  =======  ====  ======  =========  =========================================
djscc_first_frame  RGB       16   61      7,808      0.0397 (GVSC First Frame: ~7,817)
djscc_sketch       1 ch       8    2      1,024      0.0052 (GVSC Sketch: 32x32x2 = 1,024)
djscc_rgb          RGB       16    9      1,152      0.00586 per frame ~ First Frame+Desc 0.0057
=================  =======  ====  ======  =========  =========================================

Tensors: images are float32 N x C x H x W in [0, 1]; symbols complex64 N x K; SNR a float
tensor of shape N (dB) or a number. uint8 helpers (``encode_frames``/``decode_symbols``) take
and give frames as uint8 N x H x W x 3 (RGB) or N x H x W (one channel).

Weights live in ``models/weights/<name>.safetensors`` with the configuration in the file's
metadata and a model card ``<name>.md`` beside it; :func:`load_djscc` checks every tensor's
name and shape and raises a clear error for a missing file or a mismatch.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .channel_layers import as_snr_tensor, normalize_power

__all__ = ["DJSCCConfig", "DeepJSCC", "VARIANTS", "WEIGHTS_DIR", "WEIGHTS_ENV", "save_djscc",
           "load_djscc", "load_state_checked", "check_images", "weights_path"]

# Folder of the shipped weights; $SEMCOM_WEIGHTS_DIR overrides it.
WEIGHTS_ENV = "SEMCOM_WEIGHTS_DIR"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class DJSCCConfig:
    """Hyper-parameters of one deep JSCC model.

    in_channels: 3 (RGB) or 1 (sketch). downsample: total spatial reduction ds (a power of two
    >= 4; the first factor 2 is a pixel unshuffle). latent_channels: real channels of the
    latent (K = H W latent_channels / (2 ds^2) complex symbols). widths: feature channels after
    each stride-2 stage (log2(ds) - 1 entries) with widths[0] also used at full/2 resolution.
    snr_range_db: SNR range the model is trained over (informational; it runs at any SNR).
    """

    name: str = "djscc"
    in_channels: int = 3
    downsample: int = 16
    latent_channels: int = 61
    widths: tuple[int, ...] = (32, 64, 96, 128)
    snr_range_db: tuple[float, float] = (0.0, 10.0)
    image_size: tuple[int, int] = (256, 256)

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "snr_range_db", tuple(float(s) for s in self.snr_range_db))
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        ds = self.downsample
        if ds < 4 or ds & (ds - 1):
            raise ValueError(f"downsample must be a power of two >= 4, got {ds}")
        stages = ds.bit_length() - 2          # stride-2 stages after the pixel unshuffle
        if len(self.widths) != stages + 1:
            raise ValueError(f"downsample {ds} needs {stages + 1} widths, got {self.widths}")
        if self.in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if self.latent_channels < 1:
            raise ValueError("latent_channels must be >= 1")
        h, w = self.image_size
        if (h // ds) * (w // ds) * self.latent_channels % 2:
            raise ValueError("the latent of the nominal image size has an odd number of real values")

    def num_symbols(self, height: int | None = None, width: int | None = None) -> int:
        """Complex symbols K for an image of height x width pixels (default: image_size)."""
        h = self.image_size[0] if height is None else height
        w = self.image_size[1] if width is None else width
        return (h // self.downsample) * (w // self.downsample) * self.latent_channels // 2

    def cbr(self, height: int | None = None, width: int | None = None) -> float:
        """Channel bandwidth ratio K / (3 H W) of one frame, counted against the RGB frame (as
        the papers do, also for the one-channel sketch that stands for it)."""
        h = self.image_size[0] if height is None else height
        w = self.image_size[1] if width is None else width
        return self.num_symbols(h, w) / (3 * h * w)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DJSCCConfig":
        return cls(**json.loads(text))


VARIANTS: dict[str, DJSCCConfig] = {
    "djscc_first_frame": DJSCCConfig("djscc_first_frame", 3, 16, 61, (32, 64, 96, 128)),
    "djscc_sketch": DJSCCConfig("djscc_sketch", 1, 8, 2, (24, 48, 64)),
    "djscc_rgb": DJSCCConfig("djscc_rgb", 3, 16, 9, (32, 64, 96, 128)),
}


# -- building blocks ---------------------------------------------------------------------------
class GDN(nn.Module):
    """Diagonal generalised divisive normalisation (a cheap form of Balle et al.'s GDN).

    y_c = x_c / sqrt(beta_c + gamma_c x_c^2), or times it (``inverse=True``: IGDN); beta and
    gamma are kept non-negative by squaring their parameters. Element-wise, so it costs a few
    percent of a 3x3 convolution (the full GDN's 1x1 cross-channel term doubled CPU latency).
    """

    def __init__(self, channels: int, inverse: bool = False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.gamma = nn.Parameter(torch.full((1, channels, 1, 1), 0.3162))   # gamma = 0.1

    def forward(self, x):
        if torch.is_grad_enabled():
            d = torch.addcmul(self.beta.square() + 1e-6, self.gamma.square(), x * x)
            return x * (torch.sqrt(d) if self.inverse else torch.rsqrt(d))
        # inference: the same arithmetic in place (fewer 2 MB temporaries, ~15 % faster on CPU)
        d = x.square().mul_(self.gamma.square()).add_(self.beta.square() + 1e-6)
        d = d.sqrt_() if self.inverse else d.rsqrt_()
        return d.mul_(x)


class AttentionFeature(nn.Module):
    """SNR-conditioned channel attention (ADJSCC's AF module): x * sigmoid(MLP([mean(x), snr]))."""

    def __init__(self, channels: int):
        super().__init__()
        hidden = max(16, channels // 4)
        self.mlp = nn.Sequential(nn.Linear(channels + 1, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x, snr_db):
        ctx = torch.cat([x.mean(dim=(2, 3)), snr_db[:, None] / 10.0], dim=1)
        gain = self.mlp(ctx)[:, :, None, None]
        return x * gain if torch.is_grad_enabled() else x.mul_(gain)


class _Stage(nn.Module):
    """conv (stride 1 or 2, or transposed stride 2) -> (I)GDN -> PReLU."""

    def __init__(self, cin, cout, stride=1, transposed=False, inverse=False):
        super().__init__()
        if transposed:
            self.conv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        else:
            self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.gdn = GDN(cout, inverse=inverse)
        self.act = nn.PReLU(cout)

    def forward(self, x):
        return self.act(self.gdn(self.conv(x)))


class Encoder(nn.Module):
    def __init__(self, cfg: DJSCCConfig):
        super().__init__()
        w = cfg.widths
        self.stem = _Stage(cfg.in_channels * 4, w[0])
        self.down = nn.ModuleList(_Stage(w[i], w[i + 1], stride=2) for i in range(len(w) - 1))
        self.att = nn.ModuleList(AttentionFeature(c) for c in w[1:])
        self.mid = _Stage(w[-1], w[-1])
        self.att_mid = AttentionFeature(w[-1])
        self.head = nn.Conv2d(w[-1], cfg.latent_channels, 3, padding=1)

    def forward(self, x, snr_db):
        x = self.stem(F.pixel_unshuffle(x, 2))
        for stage, att in zip(self.down, self.att):
            x = att(stage(x), snr_db)
        x = self.att_mid(self.mid(x), snr_db)
        return self.head(x)


class Decoder(nn.Module):
    def __init__(self, cfg: DJSCCConfig):
        super().__init__()
        w = cfg.widths[::-1]
        self.stem = _Stage(cfg.latent_channels, w[0], inverse=True)
        self.att_stem = AttentionFeature(w[0])
        self.mid = _Stage(w[0], w[0], inverse=True)
        self.att_mid = AttentionFeature(w[0])
        self.up = nn.ModuleList(_Stage(w[i], w[i + 1], transposed=True, inverse=True) for i in range(len(w) - 1))
        self.att = nn.ModuleList(AttentionFeature(c) for c in w[1:-1])
        self.head = nn.Conv2d(w[-1], cfg.in_channels * 4, 3, padding=1)

    def forward(self, y, snr_db):
        x = self.att_stem(self.stem(y), snr_db)
        x = self.att_mid(self.mid(x), snr_db)
        for i, stage in enumerate(self.up):
            x = stage(x)
            if i < len(self.att):
                x = self.att[i](x, snr_db)
        return torch.sigmoid(F.pixel_shuffle(self.head(x), 2))


def check_images(x: torch.Tensor, channels: int, multiple: int, name: str = "images") -> torch.Tensor:
    """Validate float N x C x H x W images in [0, 1] (H, W multiples of ``multiple``), no NaN."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != channels or x.shape[0] == 0:
        raise ValueError(f"{name}: expected N x {channels} x H x W, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name}: expected float32 in [0, 1], got {x.dtype}")
    h, w = x.shape[2:]
    if h % multiple or w % multiple or h < multiple or w < multiple:
        raise ValueError(f"{name}: height and width must be positive multiples of {multiple}, got {h} x {w}")
    if not torch.all(torch.isfinite(x)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{name}: values must lie in [0, 1] (uint8 / 255), got [{lo:.3g}, {hi:.3g}]")
    return x.float()


class DeepJSCC(nn.Module):
    """Attention deep JSCC: ``encode`` -> unit-power complex symbols -> ``decode``."""

    def __init__(self, cfg: DJSCCConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        # channels-last convolutions run 1.5-3x faster on CPU (oneDNN) at these sizes
        self.to(memory_format=torch.channels_last)

    # -- float tensors ---------------------------------------------------------------------
    def encode(self, x: torch.Tensor, snr_db) -> torch.Tensor:
        """Images N x C x H x W in [0, 1] -> complex symbols N x K of unit average power."""
        x = check_images(x, self.cfg.in_channels, self.cfg.downsample)
        snr = as_snr_tensor(snr_db, x.shape[0], x.device)
        lat = self.encoder(x.contiguous(memory_format=torch.channels_last), snr).contiguous().flatten(1)
        z = torch.view_as_complex(lat.reshape(lat.shape[0], -1, 2).contiguous())
        return normalize_power(z)

    def decode(self, y: torch.Tensor, snr_db, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Received complex symbols N x K (SNR in dB per example) -> images N x C x H x W in [0, 1].

        size: (height, width) of the image sent (default: the config's image_size).
        """
        h, w = self.cfg.image_size if size is None else size
        ds, lc = self.cfg.downsample, self.cfg.latent_channels
        k = self.cfg.num_symbols(h, w)
        if not torch.is_complex(y) or y.ndim != 2 or y.shape[1] != k:
            raise ValueError(f"expected complex N x {k} symbols for {h} x {w} images, got {y.dtype} {tuple(y.shape)}")
        if not torch.all(torch.isfinite(torch.view_as_real(y))):
            raise ValueError("received symbols contain NaN or infinite values")
        snr = as_snr_tensor(snr_db, y.shape[0], y.device)
        lat = torch.view_as_real(y).reshape(y.shape[0], lc, h // ds, w // ds)
        return self.decoder(lat.contiguous(memory_format=torch.channels_last), snr).contiguous()

    def forward(self, x: torch.Tensor, snr_db, channel: nn.Module, generator=None) -> torch.Tensor:
        """End to end through a channel layer (training and simulation); returns x_hat."""
        snr = as_snr_tensor(snr_db, x.shape[0], x.device)
        z = self.encode(x, snr)
        y, snr_rx = channel(z, snr, generator=generator)
        return self.decode(y, snr_rx, size=tuple(x.shape[2:]))

    # -- uint8 frames <-> numpy symbols ------------------------------------------------------
    def frames_to_tensor(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 N x H x W x 3 (RGB models) or N x H x W (sketch) -> float32 N x C x H x W in [0, 1]."""
        a = np.asarray(frames)
        if a.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames, got {a.dtype}")
        if not a.flags.writeable:  # e.g. a view of a service request's buffer: torch wants its own
            a = a.copy()
        if self.cfg.in_channels == 3:
            if a.ndim == 3:
                a = a[None]
            if a.ndim != 4 or a.shape[-1] != 3:
                raise ValueError(f"expected uint8 N x H x W x 3 RGB frames, got {a.shape}")
            t = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)
        else:
            if a.ndim == 2:
                a = a[None]
            if a.ndim != 3:
                raise ValueError(f"expected uint8 N x H x W single-channel frames, got {a.shape}")
            t = torch.from_numpy(np.ascontiguousarray(a))[:, None]
        return t.float().div_(255.0)

    #: frames per forward pass in encode_frames / decode_symbols: bounds the activations' memory
    #: (about 4.5 MB per 256 x 256 frame) whatever the clip's length; results do not depend on it
    FRAMES_PER_BATCH = 16

    def _batches(self, n: int, snr_db):
        """(slice, SNR for that slice) over ``n`` examples; ``snr_db`` a scalar or one per example."""
        per_example = np.ndim(snr_db) > 0
        for start in range(0, n, self.FRAMES_PER_BATCH):
            sl = slice(start, min(n, start + self.FRAMES_PER_BATCH))
            yield sl, (np.asarray(snr_db)[sl] if per_example else snr_db)

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray, snr_db) -> np.ndarray:
        """uint8 frames (see module note) -> complex64 N x K numpy symbols of unit average power."""
        frames = np.asarray(frames)
        if frames.ndim == (3 if self.cfg.in_channels == 3 else 2):
            frames = frames[None]
        parts = [self.encode(self.frames_to_tensor(frames[sl]), snr).numpy().astype(np.complex64)
                 for sl, snr in self._batches(len(frames), snr_db)]
        if not parts:
            raise ValueError("no frames to encode")
        return np.concatenate(parts)

    @torch.no_grad()
    def decode_symbols(self, symbols: np.ndarray, snr_db, size: tuple[int, int] | None = None) -> np.ndarray:
        """complex N x K symbols (as received) -> uint8 frames N x H x W x 3 (or N x H x W)."""
        symbols = np.atleast_2d(symbols)
        parts = []
        for sl, snr in self._batches(len(symbols), snr_db):
            y = torch.from_numpy(np.ascontiguousarray(symbols[sl]).astype(np.complex64))
            out = (self.decode(y, snr, size) * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8)
            out = out.permute(0, 2, 3, 1) if self.cfg.in_channels == 3 else out[:, 0]
            parts.append(out.numpy())
        if not parts:
            raise ValueError("no symbols to decode")
        return np.concatenate(parts)


# -- weights ----------------------------------------------------------------------------------
def weights_path(name: str, suffix: str = ".safetensors") -> Path:
    """Path of a shipped weight file: $SEMCOM_WEIGHTS_DIR or models/weights/, ``name + suffix``."""
    root = Path(os.environ.get(WEIGHTS_ENV) or WEIGHTS_DIR)
    return root / f"{name}{suffix}"


def load_state_checked(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Load ``tensors`` into ``model``; raise ValueError naming missing, unexpected or
    wrongly shaped tensors (never a silent partial load)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    wrong = [f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}"
             for k in sorted(set(own) & set(tensors)) if tuple(own[k].shape) != tuple(tensors[k].shape)]
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {', '.join(missing[:3])})")
        if extra:
            parts.append(f"unexpected {len(extra)} tensors (e.g. {', '.join(extra[:3])})")
        if wrong:
            parts.append(f"shape mismatch: {'; '.join(wrong[:3])}")
        raise ValueError(f"{source}: weights do not match the model: " + "; ".join(parts))
    for k, v in tensors.items():
        if not torch.all(torch.isfinite(v)):
            raise ValueError(f"{source}: tensor {k} contains NaN or infinite values")
    model.load_state_dict(tensors, strict=True)
    return model


def save_djscc(model: DeepJSCC, path: str | os.PathLike, extra_metadata: dict | None = None) -> Path:
    """Write ``model``'s weights as safetensors with its config in the metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "semcom-djscc-v1", "config": model.cfg.to_json()}
    meta.update({k: str(v) for k, v in (extra_metadata or {}).items()})
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def load_djscc(name_or_path: str | os.PathLike, expect: DJSCCConfig | None = None) -> DeepJSCC:
    """Load a DJSCC model in eval mode, on the CPU.

    name_or_path: a shipped variant name (``djscc_first_frame``, ``djscc_sketch``,
    ``djscc_rgb``: looked up as ``models/weights/<name>.safetensors`` or in
    $SEMCOM_WEIGHTS_DIR) or a path to a .safetensors file.
    expect: when given, the file's config must equal it (e.g. ``VARIANTS[name]``).
    Raises FileNotFoundError for a missing file and ValueError for a file that is not a DJSCC
    checkpoint or whose tensors do not match the architecture.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = Path(name_or_path)
    if p.suffix != ".safetensors":
        p = weights_path(str(name_or_path))
        if expect is None and str(name_or_path) in VARIANTS:
            expect = VARIANTS[str(name_or_path)]
    if not p.is_file():
        raise FileNotFoundError(f"DJSCC weights not found: {p} (shipped weights live in {WEIGHTS_DIR}, "
                                f"or set ${WEIGHTS_ENV}; train them with `semcom train`)")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise ValueError(f"{p}: not a readable safetensors file ({exc})") from exc
    if meta.get("format") != "semcom-djscc-v1" or "config" not in meta:
        raise ValueError(f"{p}: not a gr-semcom DJSCC checkpoint (metadata format {meta.get('format')!r})")
    cfg = DJSCCConfig.from_json(meta["config"])
    if expect is not None and (cfg.in_channels, cfg.downsample, cfg.latent_channels, cfg.widths) != (
            expect.in_channels, expect.downsample, expect.latent_channels, expect.widths):
        raise ValueError(f"{p}: config {cfg} does not match the expected {expect}")
    model = DeepJSCC(cfg)
    load_state_checked(model, load_file(str(p)), str(p))
    return model.eval()
