"""Differentiable channel layers for training analog (deep JSCC) codecs.

SNR is Es/N0 per complex symbol in dB (docs/architecture.md, "Conventions"; tested in
tests/models/test_djscc.py): unit-power symbols (:func:`normalize_power`) plus circularly
symmetric complex Gaussian noise of variance N0 (``semcom_blocks.phy.snr.noise_var_from_esn0``).

Symbols are complex64 tensors N x K (one row per example). SNRs are float tensors of shape N
(one SNR per example, in dB) or a Python number for all of them.

- :class:`AWGNChannel`: y = z + n.
- :class:`RayleighBlockFading`: y = h z + n with h ~ CN(0, 1) constant over each block of
  symbols (``blocks`` blocks per example, independent across blocks and examples). The
  receiver knows h (perfect CSI) and equalises, y_eq = y conj(h) / |h|^2, so noise on block b
  has variance N0 / |h_b|^2. The layer reports the effective SNR per example (dB), the mean over
  blocks of |h_b|^2 SNR taken in linear units, which decoders are conditioned on.

Both layers return ``(y, snr_db_effective)``; gradients flow through y to the transmitter.
Randomness comes from an optional ``torch.Generator`` so that runs are reproducible.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from semcom_blocks.phy.snr import noise_var_from_esn0

__all__ = ["normalize_power", "noise_variance", "sample_snr_db", "as_snr_tensor", "AWGNChannel",
           "RayleighBlockFading", "make_channel", "CHANNELS"]


def normalize_power(z: torch.Tensor) -> torch.Tensor:
    """Scale each row of complex ``z`` (N x K) to average power exactly 1: z sqrt(K) / ||z||."""
    if not torch.is_complex(z) or z.ndim != 2:
        raise ValueError(f"expected complex N x K symbols, got {z.dtype} {tuple(z.shape)}")
    power = z.abs().square().mean(dim=1, keepdim=True)
    return z / torch.sqrt(power.clamp_min(1e-12))


def noise_variance(snr_db) -> torch.Tensor | float:
    """Complex noise variance N0 = 10^(-SNR/10) for unit-power symbols (Es/N0 = SNR)."""
    if isinstance(snr_db, torch.Tensor):
        return torch.pow(10.0, -snr_db / 10.0)
    return noise_var_from_esn0(snr_db)


def sample_snr_db(n: int, low: float, high: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` SNRs (dB) drawn uniformly in [low, high] dB, one per training example."""
    if high < low:
        raise ValueError(f"SNR range must have low <= high, got [{low}, {high}]")
    return low + (high - low) * torch.rand(n, generator=generator)


def as_snr_tensor(snr_db, n: int, device=None) -> torch.Tensor:
    """SNR (a number or a length-n tensor/sequence, dB) as a float32 tensor of shape n."""
    s = torch.as_tensor(snr_db, dtype=torch.float32, device=device)
    if s.ndim == 0:
        s = s.expand(n)
    if s.shape != (n,):
        raise ValueError(f"expected one SNR per example ({n}), got shape {tuple(s.shape)}")
    if not torch.all(torch.isfinite(s)):
        raise ValueError("SNR (dB) must be finite")
    return s.contiguous()


def _complex_gaussian(shape, generator, device) -> torch.Tensor:
    """CN(0, 1) samples: unit complex variance (1/2 per real dimension)."""
    re = torch.randn(shape, generator=generator, device=device)
    im = torch.randn(shape, generator=generator, device=device)
    return torch.complex(re, im) * math.sqrt(0.5)


class AWGNChannel(nn.Module):
    """y = z + n, n ~ CN(0, N0), N0 = 10^(-SNR/10) per complex symbol."""

    name = "awgn"

    def forward(self, z: torch.Tensor, snr_db, generator: torch.Generator | None = None):
        if not torch.is_complex(z) or z.ndim != 2:
            raise ValueError(f"expected complex N x K symbols, got {z.dtype} {tuple(z.shape)}")
        snr = as_snr_tensor(snr_db, z.shape[0], z.device)
        std = torch.sqrt(noise_variance(snr))[:, None]
        return z + std * _complex_gaussian(z.shape, generator, z.device), snr


class RayleighBlockFading(nn.Module):
    """y = h z + n, h ~ CN(0, 1) per block, equalised with perfect CSI (see module note).

    blocks: independent fading blocks per example (1 = one coefficient for the whole frame).
    """

    name = "rayleigh"

    def __init__(self, blocks: int = 1):
        super().__init__()
        if blocks < 1:
            raise ValueError(f"blocks must be >= 1, got {blocks}")
        self.blocks = int(blocks)

    def forward(self, z: torch.Tensor, snr_db, generator: torch.Generator | None = None):
        if not torch.is_complex(z) or z.ndim != 2:
            raise ValueError(f"expected complex N x K symbols, got {z.dtype} {tuple(z.shape)}")
        n, k = z.shape
        if k % self.blocks:
            raise ValueError(f"{k} symbols do not split into {self.blocks} equal fading blocks")
        snr = as_snr_tensor(snr_db, n, z.device)
        h = _complex_gaussian((n, self.blocks), generator, z.device)
        gain = h.abs().square().clamp_min(1e-6)                       # |h_b|^2, N x B
        noise = _complex_gaussian(z.shape, generator, z.device) * torch.sqrt(noise_variance(snr))[:, None]
        hz = h.repeat_interleave(k // self.blocks, dim=1)
        y = hz * z + noise
        y_eq = y * hz.conj() / gain.repeat_interleave(k // self.blocks, dim=1)
        snr_eff = 10.0 * torch.log10((gain * torch.pow(10.0, snr / 10.0)[:, None]).mean(dim=1))
        return y_eq, snr_eff


CHANNELS = {"awgn": AWGNChannel, "rayleigh": RayleighBlockFading}


def make_channel(name: str, **kwargs) -> nn.Module:
    """Channel layer by name: "awgn" or "rayleigh" (kwargs: blocks)."""
    if name not in CHANNELS:
        raise ValueError(f"unknown channel {name!r}; choose from {sorted(CHANNELS)}")
    return CHANNELS[name](**kwargs)
