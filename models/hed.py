"""HED edge detection (Xie and Tu, "Holistically-Nested Edge Detection", ICCV 2015) in plain torch:
the network of ControlNet's Apache-2.0 HED annotator (``ControlNetHED_Apache2``, weights
``ControlNetHED.pth`` in lllyasviel/Annotators), an RGB-input re-training of HED.

Architecture: a learned per-channel offset ``norm`` (1 x 3 x 1 x 1) subtracted from the input,
then five VGG-16-style blocks of 2, 2, 3, 3, 3 3 x 3 convolutions (64, 128, 256, 512, 512
channels, each followed by a ReLU; blocks 2-5 start with 2 x 2 max pooling, floor), and after
each block a 1 x 1 ``projection`` to one side-output edge map (logits at that block's scale).
14,716,168 parameters in 37 tensors named as in the checkpoint: ``norm``,
``block1.convs.0.weight`` ... ``block5.convs.2.bias``, ``block1.projection.weight`` ...
``block5.projection.bias``, so ``ControlNetHED.pth`` (a plain state dict) loads strictly.

Units: input float N x 3 x H x W, **RGB in 0..255** (not rescaled: the annotator feeds the
uint8 values as floats); :meth:`ControlNetHED.side_outputs` gives the five logit maps,
:meth:`ControlNetHED.forward` the annotator's fused edge probability N x 1 x H x W in [0, 1]:
each side output resized bilinearly to H x W (half-pixel centres, as the annotator's
``cv2.resize(..., INTER_LINEAR)`` upsampling), their mean, then a sigmoid. H, W >= 16.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HED_FILE", "ControlNetHED"]

#: file name of the published weights (lllyasviel/Annotators)
HED_FILE = "ControlNetHED.pth"
MIN_SIZE = 16
_BLOCKS = ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3))  # (in, out, convs)


class _ConvBlock(nn.Module):
    """[2 x 2 max pool], ``n`` x (3 x 3 conv + ReLU), and a 1 x 1 projection to one logit map."""

    def __init__(self, in_ch: int, out_ch: int, n: int, pool: bool):
        super().__init__()
        self.pool = pool
        self.convs = nn.Sequential(*[nn.Conv2d(in_ch if i == 0 else out_ch, out_ch, 3, padding=1) for i in range(n)])
        self.projection = nn.Conv2d(out_ch, 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pool:
            x = F.max_pool2d(x, 2, 2)
        for conv in self.convs:
            x = F.relu(conv(x))
        return x, self.projection(x)


class ControlNetHED(nn.Module):
    """ControlNet's HED network (see the module docstring for layout and units)."""

    def __init__(self):
        super().__init__()
        self.norm = nn.Parameter(torch.zeros(1, 3, 1, 1))
        for i, (cin, cout, n) in enumerate(_BLOCKS, start=1):
            setattr(self, f"block{i}", _ConvBlock(cin, cout, n, pool=i > 1))

    def side_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """RGB float N x 3 x H x W in 0..255 -> five logit maps N x 1 x h_i x w_i (h_i = H // 2^(i-1))."""
        h, w = x.shape[-2:]
        if h < MIN_SIZE or w < MIN_SIZE:
            raise ValueError(f"HED needs images of at least {MIN_SIZE} x {MIN_SIZE} pixels, got {h} x {w}")
        x = x - self.norm
        out = []
        for i in range(1, len(_BLOCKS) + 1):
            x, side = getattr(self, f"block{i}")(x)
            out.append(side)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB float N x 3 x H x W in 0..255 -> fused edge probability float N x 1 x H x W."""
        h, w = x.shape[-2:]
        sides = [s if s.shape[-2:] == (h, w) else F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)
                 for s in self.side_outputs(x)]
        return torch.sigmoid(torch.stack(sides, dim=0).mean(dim=0))
