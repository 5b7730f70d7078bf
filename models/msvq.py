"""MSVQ: multi-channel vector quantization with one shared codebook (VQ-DeepVSC's key-frame codec).

The encoder (convolutions, residual blocks, an attention block) turns a frame into a feature
map of ``groups * dim`` channels at (H/8) x (W/8); each position holds ``groups`` vectors of
``dim`` dimensions, and every one of them is replaced by its nearest entry of ONE shared
codebook of ``codebook_size`` (L) entries. A frame is thus L_s = (H/8)(W/8) groups indices of
B = log2(L) bits. The decoder rebuilds the frame from the quantized features with
spatially conditioned normalisation (SPADE-like): after each parameter-free group
normalisation, a per-pixel scale and shift computed from the quantized feature map itself
(upsampled to the layer's resolution) re-injects the spatial layout (at H/8 and H/4; the
last, full-resolution/2 stage is a plain transposed convolution + PReLU for speed).

Training (models/codec_train.py, ``model: msvq``): loss = k MSE + (1 - k)(1 - MS-SSIM) +
commitment beta ||z - sg(e)||^2; the codebook follows the encoder by exponential moving averages
(decay 0.99, Laplace-smoothed counts) and unused entries are restarted at random encoder
vectors; gradients pass the quantizer straight through.

Shipped variant (``VARIANTS``), for 256 x 256 frames: ``msvq_g8_l16``: 32 x 32 positions x 8
groups = 8,192 indices of 4 bits = 32,768 bits per frame (0.5 bit per pixel). An 8-frame clip
with every frame's indices sent has BCR (8 + 8*32768 + 7*8192) / (3*256*256*8*8) = 0.0254
(index_selector.bcr); the index selector lowers it by sending only changed indices (the
paper's ~0.023 is reached with eta a little below 1; docs/codecs.md).

Tensors: frames float32 N x 3 x H x W in [0, 1] (H, W multiples of 8); indices int64
N x groups x H/8 x W/8 (row-major over groups, then rows, then columns when flattened).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .djscc import check_images, load_state_checked, weights_path

__all__ = ["MSVQConfig", "MSVQ", "VARIANTS", "save_msvq", "load_msvq", "build_msvq_task"]


@dataclass(frozen=True)
class MSVQConfig:
    """groups: vectors per latent position; dim: their dimension; codebook_size: L (a power of
    two, B = log2 L bits per index); widths: encoder channels at H/2, H/4, H/8 (decoder mirrors);
    beta: commitment weight; decay: EMA decay of the codebook."""

    name: str = "msvq_g8_l16"
    groups: int = 8
    dim: int = 8
    codebook_size: int = 16
    widths: tuple[int, ...] = (32, 48, 80)
    beta: float = 0.25
    decay: float = 0.99
    image_size: tuple[int, int] = (256, 256)

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "image_size", tuple(int(s) for s in self.image_size))
        if self.codebook_size < 2 or self.codebook_size & (self.codebook_size - 1):
            raise ValueError(f"codebook_size must be a power of two >= 2, got {self.codebook_size}")
        if len(self.widths) != 3:
            raise ValueError(f"widths needs 3 entries (H/2, H/4, H/8), got {self.widths}")
        if self.groups < 1 or self.dim < 1:
            raise ValueError("groups and dim must be >= 1")

    @property
    def downsample(self) -> int:
        return 8

    @property
    def bits_per_index(self) -> int:
        return int(math.log2(self.codebook_size))

    def indices_per_frame(self, height: int | None = None, width: int | None = None) -> int:
        """L_s: indices per frame of height x width pixels."""
        h = self.image_size[0] if height is None else height
        w = self.image_size[1] if width is None else width
        return (h // 8) * (w // 8) * self.groups

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MSVQConfig":
        return cls(**json.loads(text))


VARIANTS = {"msvq_g8_l16": MSVQConfig()}


# -- blocks ------------------------------------------------------------------------------------
class ResBlock(nn.Module):
    """x + conv(PReLU(conv(x))) with 3x3 convolutions."""

    def __init__(self, c: int):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.PReLU(c)

    def forward(self, x):
        return x + self.c2(self.act(self.c1(x)))


class Attention(nn.Module):
    """Channel and spatial attention (squeeze-excitation, then a 7x7 spatial gate)."""

    def __init__(self, c: int):
        super().__init__()
        h = max(8, c // 4)
        self.mlp = nn.Sequential(nn.Linear(c, h), nn.ReLU(inplace=True), nn.Linear(h, c), nn.Sigmoid())
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x):
        x = x * self.mlp(x.mean(dim=(2, 3)))[:, :, None, None]
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(s))


class SpatialNorm(nn.Module):
    """SPADE-like: GroupNorm(x) (no affine) * (1 + gamma(q)) + beta(q), gamma and beta computed
    from the quantized features q at their own (H/8) resolution and upsampled bilinearly."""

    def __init__(self, c: int, cond: int, hidden: int = 32):
        super().__init__()
        self.norm = nn.GroupNorm(min(8, c), c, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(cond, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.gamma = nn.Conv2d(hidden, c, 3, padding=1)
        self.beta = nn.Conv2d(hidden, c, 3, padding=1)

    def forward(self, x, q):
        h = self.shared(q)
        g, b = self.gamma(h), self.beta(h)
        if g.shape[2:] != x.shape[2:]:
            g = F.interpolate(g, size=x.shape[2:], mode="bilinear", align_corners=False)
            b = F.interpolate(b, size=x.shape[2:], mode="bilinear", align_corners=False)
        xn = self.norm(x).contiguous(memory_format=torch.channels_last)
        return torch.addcmul(b, xn, g + 1)


class SpadeBlock(nn.Module):
    """Residual block with spatially conditioned normalisation before each convolution."""

    def __init__(self, c: int, cond: int):
        super().__init__()
        self.n1, self.n2 = SpatialNorm(c, cond), SpatialNorm(c, cond)
        self.c1, self.c2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x, q):
        h = self.c1(F.leaky_relu(self.n1(x, q), 0.2))
        return x + self.c2(F.leaky_relu(self.n2(h, q), 0.2))


class SharedCodebook(nn.Module):
    """One codebook of L x dim vectors shared by every group, EMA-updated during training."""

    def __init__(self, size: int, dim: int, decay: float):
        super().__init__()
        self.decay = decay
        self.register_buffer("embedding", torch.randn(size, dim) * 0.5)
        self.register_buffer("ema_count", torch.ones(size))
        self.register_buffer("ema_sum", self.embedding.clone())

    def nearest(self, v: torch.Tensor) -> torch.Tensor:
        """Indices (int64) of the nearest entries (Euclidean) for vectors v (..., dim)."""
        e = self.embedding
        d = (v * v).sum(-1, keepdim=True) - 2 * v @ e.t() + (e * e).sum(-1)
        return d.argmin(dim=-1)

    @torch.no_grad()
    def ema_update(self, v: torch.Tensor, idx: torch.Tensor) -> float:
        """One EMA step from flattened vectors v (M x dim) and their indices; dead entries are
        restarted at random vectors of v. Returns the fraction of entries used in this batch."""
        size = self.embedding.shape[0]
        onehot = F.one_hot(idx, size).type_as(v)
        count = onehot.sum(0)
        self.ema_count.mul_(self.decay).add_(count, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ v, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + 1e-5) / (n + size * 1e-5) * n
        self.embedding.copy_(self.ema_sum / smoothed[:, None])
        dead = self.ema_count < 1e-3 * n / size
        if dead.any():
            pick = torch.randint(0, v.shape[0], (int(dead.sum()),), device=v.device)
            self.embedding[dead] = v[pick]
            self.ema_sum[dead] = v[pick]
            self.ema_count[dead] = 1.0
        return float((count > 0).float().mean())


# -- model -------------------------------------------------------------------------------------
class MSVQ(nn.Module):
    """Encoder -> shared-codebook quantizer -> SPADE-like decoder (see module note)."""

    def __init__(self, cfg: MSVQConfig):
        super().__init__()
        self.cfg = cfg
        w1, w2, w3 = cfg.widths
        lat = cfg.groups * cfg.dim
        self.enc = nn.ModuleDict({
            "stem": nn.Conv2d(12, w1, 3, padding=1), "act0": nn.PReLU(w1),
            "down1": nn.Conv2d(w1, w2, 3, stride=2, padding=1), "act1": nn.PReLU(w2),
            "down2": nn.Conv2d(w2, w3, 3, stride=2, padding=1), "act2": nn.PReLU(w3), "res2": ResBlock(w3),
            "att": Attention(w3), "head": nn.Conv2d(w3, lat, 1)})
        self.codebook = SharedCodebook(cfg.codebook_size, cfg.dim, cfg.decay)
        self.dec = nn.ModuleDict({
            "stem": nn.Conv2d(lat, w3, 3, padding=1), "spade3": SpadeBlock(w3, lat),
            "up2": nn.ConvTranspose2d(w3, w2, 3, stride=2, padding=1, output_padding=1), "n2": SpatialNorm(w2, lat),
            "up1": nn.ConvTranspose2d(w2, w1, 3, stride=2, padding=1, output_padding=1), "act1": nn.PReLU(w1),
            "head": nn.Conv2d(w1, 12, 3, padding=1)})
        self.to(memory_format=torch.channels_last)

    # -- halves ------------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Frames N x 3 x H x W -> continuous features N x (groups*dim) x H/8 x W/8."""
        x = check_images(x, 3, 8, "frames")
        e = self.enc
        h = e["act0"](e["stem"](F.pixel_unshuffle(x.contiguous(memory_format=torch.channels_last), 2)))
        h = e["act1"](e["down1"](h))
        h = e["att"](e["res2"](e["act2"](e["down2"](h))))
        return e["head"](h)

    def _split(self, z: torch.Tensor) -> torch.Tensor:
        n, _, h, w = z.shape
        return z.reshape(n, self.cfg.groups, self.cfg.dim, h, w).permute(0, 1, 3, 4, 2)   # N G h w d

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Indices N x G x h x w -> quantized features N x (G*dim) x h x w."""
        self.check_indices(idx)
        q = self.codebook.embedding[idx]                       # N G h w d
        n, g, h, w, d = q.shape
        return q.permute(0, 1, 4, 2, 3).reshape(n, g * d, h, w)

    def check_indices(self, idx: torch.Tensor) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int64, torch.int32) or idx.ndim != 4 \
                or idx.shape[1] != self.cfg.groups:
            raise ValueError(f"expected integer indices N x {self.cfg.groups} x h x w, got "
                             f"{getattr(idx, 'dtype', type(idx))} {tuple(getattr(idx, 'shape', ()))}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.cfg.codebook_size):
            raise ValueError(f"indices must lie in [0, {self.cfg.codebook_size})")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Frames N x 3 x H x W in [0, 1] -> int64 indices N x groups x H/8 x W/8."""
        return self.codebook.nearest(self._split(self.features(x))).contiguous()

    def decode_features(self, q: torch.Tensor) -> torch.Tensor:
        d = self.dec
        q = q.contiguous(memory_format=torch.channels_last)
        h = d["spade3"](d["stem"](q), q)
        h = F.leaky_relu(d["n2"](d["up2"](h), q), 0.2)
        h = d["act1"](d["up1"](h))
        return torch.sigmoid(F.pixel_shuffle(d["head"](h), 2)).contiguous()

    def decode(self, idx: torch.Tensor) -> torch.Tensor:
        """int64 indices N x groups x h x w -> frames N x 3 x 8h x 8w in [0, 1]."""
        return self.decode_features(self.lookup(idx))

    def forward(self, x: torch.Tensor):
        """Training pass: returns (x_hat, commitment loss, indices, flattened encoder vectors)."""
        z = self.features(x)
        v = self._split(z)                                      # N G h w d
        idx = self.codebook.nearest(v)
        q = self.codebook.embedding[idx]
        commit = F.mse_loss(v, q.detach())
        q_st = v + (q - v).detach()                             # straight-through estimator
        n, g, h, w, dd = q_st.shape
        x_hat = self.decode_features(q_st.permute(0, 1, 4, 2, 3).reshape(n, g * dd, h, w))
        return x_hat, commit, idx, v.reshape(-1, dd)

    # -- uint8 frames -----------------------------------------------------------------------
    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        """uint8 T x H x W x 3 -> int64 indices T x groups x H/8 x W/8 (numpy)."""
        from .frames_dataset import to_float
        from .video_io import check_frames

        return self.encode(to_float(check_frames(frames))).numpy()

    @torch.no_grad()
    def decode_frames(self, indices: np.ndarray) -> np.ndarray:
        """indices T x groups x h x w -> uint8 T x 8h x 8w x 3."""
        x = self.decode(torch.as_tensor(np.asarray(indices), dtype=torch.int64))
        return (x * 255 + 0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


# -- weights ------------------------------------------------------------------------------------
def save_msvq(model: MSVQ, path, extra_metadata: dict | None = None) -> Path:
    """Weights and codebook as safetensors with the config in the metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "semcom-msvq-v1", "config": model.cfg.to_json()}
    meta.update({k: str(v) for k, v in (extra_metadata or {}).items()})
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp), metadata=meta)
    os.replace(tmp, path)
    return path


def load_msvq(name_or_path="msvq_g8_l16") -> MSVQ:
    """Load an MSVQ model (eval mode, CPU) from a shipped name or a .safetensors path; raises
    FileNotFoundError for a missing file, ValueError for a mismatch (see djscc.load_djscc)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = Path(name_or_path)
    if p.suffix != ".safetensors":
        p = weights_path(str(name_or_path))
    if not p.is_file():
        raise FileNotFoundError(f"MSVQ weights not found: {p} (train them with `semcom train`)")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise ValueError(f"{p}: not a readable safetensors file ({exc})") from exc
    if meta.get("format") != "semcom-msvq-v1" or "config" not in meta:
        raise ValueError(f"{p}: not a gr-semcom MSVQ checkpoint (metadata format {meta.get('format')!r})")
    model = MSVQ(MSVQConfig.from_json(meta["config"]))
    load_state_checked(model, load_file(str(p)), str(p))
    return model.eval()


# -- training task (used by codec_train) ---------------------------------------------------------
def build_msvq_task(cfg: dict, eval_data, ms_ssim_loss, psnr_batch, task_cls):
    """The codec_train task for ``model: msvq`` (variant from VARIANTS, overrides in cfg['msvq'])."""
    if cfg["variant"] not in VARIANTS:
        raise ValueError(f"unknown MSVQ variant {cfg['variant']!r}; choose from {sorted(VARIANTS)}")
    mcfg = VARIANTS[cfg["variant"]]
    if cfg.get("msvq"):
        mcfg = MSVQConfig(**{**asdict(mcfg), **cfg["msvq"]})
    model = MSVQ(mcfg)
    k = cfg["loss_k"]

    def step_fn(x, gen):
        x_hat, commit, idx, v = model(x)
        loss = k * F.mse_loss(x_hat, x) + (1 - k) * ms_ssim_loss(x_hat, x) + mcfg.beta * commit
        used = model.codebook.ema_update(v.detach(), idx.reshape(-1))
        return loss, {"psnr": psnr_batch(x_hat, x), "commit": float(commit.detach()), "codebook_used": used}

    @torch.no_grad()
    def eval_fn():
        if eval_data is None:
            return {}
        model.eval()
        x_hat = model.decode(model.encode(eval_data))
        model.train()
        return {"psnr_error_free": float(np.mean([psnr_batch(a[None], b[None]) for a, b in zip(x_hat, eval_data)]))}

    return task_cls(model, "rgb", step_fn, eval_fn, lambda p, meta: save_msvq(model, p, meta), cfg["variant"])
