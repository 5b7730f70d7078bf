"""PiDiNet (Su et al., "Pixel Difference Networks for Efficient Edge Detection", ICCV 2021) in plain
torch: the ``table5_pidinet`` model that ControlNet's soft-edge annotator runs.

Configuration (the paper's Table 5 "PiDiNet", the annotator's ``pidinet()``): 60 base channels,
15 depthwise pixel-difference blocks in 4 stages (3, 4, 4, 4 blocks) of 60, 120, 240, 240
channels (stages 2-4 start with 2 x 2 max pooling and a 1 x 1 shortcut convolution), 16
operators ``cd, ad, rd, cv`` repeated four times (the ``carv4`` layout: the first drives the
initial 3 -> 60 convolution, the others the blocks in order), and on each stage's output a
CDCM (24 channels, dilations 5, 7, 9, 11), a CSAM (4 hidden channels) and a 1 x 1 reduction to
one edge map, upsampled bilinearly to the input size; a 1 x 1 classifier fuses the four maps
and a sigmoid gives the edge probability. 710,149 parameters (the paper's 0.71 M).

Pixel-difference convolutions (3 x 3 weight ``w`` as stored in the checkpoint, taps numbered
0..8 in raster order, 4 the centre) are evaluated as the vanilla convolutions they equal
exactly, at every pixel including the zero-padded border:

- ``cv``: ``w`` itself;
- ``cd`` (central difference, sum_i w_i (x_i - x_centre)): ``w`` with its centre tap lowered
  by ``sum(w)``;
- ``ad`` (angular difference, sum_i w_i (x_i - x_next(i)) around the ring of 8 neighbours,
  next = clockwise successor): tap i becomes ``w_i - w_prev(i)``, the centre 0;
- ``rd`` (radial difference): a 5 x 5 kernel (padding 2) holding, for the 8 directions
  (dy, dx) in raster order, ``+w_k`` at (2 dy, 2 dx) and ``-w_k`` at (dy, dx), with k = 1..8
  the stored taps in order (the published weights' convention; tap 0 is unused).

The state dict keeps the checkpoint's layout (``init_block.weight``, ``block1_1.conv1.weight``,
``dilations.0.conv2_1.weight``, ``attentions.0.conv1.bias``, ``conv_reduces.0.conv.weight``,
``classifier.bias``, ...; 83 tensors), so lllyasviel/Annotators' ``table5_pidinet.pth`` loads
strictly after :func:`checkpoint_state_dict` removes its ``state_dict`` wrapper and the
``module.`` prefix of DataParallel.

Input: float N x 3 x H x W, **BGR** in [0, 1] (the annotator flips the RGB frame and divides by
255); output: float N x 1 x H x W edge probability in [0, 1] (the fused map, the annotator's
``[-1]``). H, W >= 8 (three 2 x 2 poolings, floor).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PIDINET_FILE", "TABLE5_OPERATORS", "PixelDifferenceConv", "PiDiNet", "checkpoint_state_dict",
           "vanilla_kernel"]

#: file name of the published weights (lllyasviel/Annotators)
PIDINET_FILE = "table5_pidinet.pth"
#: operator of the initial convolution and of the 15 blocks, in order (``carv4``)
TABLE5_OPERATORS = ("cd", "ad", "rd", "cv") * 4
MIN_SIZE = 8

# ad: raster index of each tap's predecessor on the clockwise ring 0 1 2 5 8 7 6 3 (centre 4: itself)
_RING = (0, 1, 2, 5, 8, 7, 6, 3)
_PREV = [4] * 9
for _k, _tap in enumerate(_RING):
    _PREV[_tap] = _RING[_k - 1]
# rd: the 8 directions in raster order -> outer (2 dy, 2 dx) and inner (dy, dx) taps of a 5 x 5 kernel
_DIRS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
_RD_OUTER = [(2 + 2 * dy) * 5 + (2 + 2 * dx) for dy, dx in _DIRS]
_RD_INNER = [(2 + dy) * 5 + (2 + dx) for dy, dx in _DIRS]


def vanilla_kernel(weight: torch.Tensor, op: str) -> tuple[torch.Tensor, int]:
    """(kernel, padding) of the vanilla convolution equal to pixel-difference operator ``op``
    ("cv", "cd", "ad", "rd") with 3 x 3 ``weight`` (out x in/groups x 3 x 3); see the module
    docstring. Dilation 1."""
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f"pixel-difference weights must be 3 x 3, got {tuple(weight.shape)}")
    if op == "cv":
        return weight, 1
    flat = weight.flatten(2)
    if op == "cd":
        centre = torch.zeros_like(flat)
        centre[:, :, 4] = flat.sum(dim=2)
        return (flat - centre).view_as(weight), 1
    if op == "ad":
        return (flat - flat[:, :, _PREV]).view_as(weight), 1
    if op == "rd":
        big = flat.new_zeros(flat.shape[0], flat.shape[1], 25)
        big[:, :, _RD_OUTER] = flat[:, :, 1:]
        big[:, :, _RD_INNER] = -flat[:, :, 1:]
        return big.view(flat.shape[0], flat.shape[1], 5, 5), 2
    raise ValueError(f"unknown pixel-difference operator {op!r}; choose from cv, cd, ad, rd")


class PixelDifferenceConv(nn.Module):
    """A bias-free 3 x 3 pixel-difference convolution (stride 1), stored as the checkpoint stores
    it (``weight``: out x in/groups x 3 x 3) and run as its exact vanilla equivalent."""

    def __init__(self, op: str, in_channels: int, out_channels: int, groups: int = 1):
        super().__init__()
        vanilla_kernel(torch.zeros(1, 1, 3, 3), op)  # validates op
        self.op, self.groups = op, groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, 3, 3))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, pad = vanilla_kernel(self.weight, self.op)
        return F.conv2d(x, kernel, padding=pad, groups=self.groups)


class _Block(nn.Module):
    """Depthwise pixel-difference conv, ReLU, pointwise conv, plus the (pooled, projected) input."""

    def __init__(self, op: str, in_ch: int, out_ch: int, downsample: bool = False):
        super().__init__()
        self.downsample = downsample
        if downsample:
            self.shortcut = nn.Conv2d(in_ch, out_ch, 1)
        self.conv1 = PixelDifferenceConv(op, in_ch, in_ch, groups=in_ch)
        self.conv2 = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample:
            x = F.max_pool2d(x, 2, 2)
        y = self.conv2(F.relu(self.conv1(x)))
        return y + (self.shortcut(x) if self.downsample else x)


class _CDCM(nn.Module):
    """Compact dilated convolution module: ReLU, 1 x 1 conv, sum of four dilated 3 x 3 convs."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 1)
        for i, d in enumerate((5, 7, 9, 11), start=1):
            setattr(self, f"conv2_{i}", nn.Conv2d(out_ch, out_ch, 3, padding=d, dilation=d, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(F.relu(x))
        return self.conv2_1(x) + self.conv2_2(x) + self.conv2_3(x) + self.conv2_4(x)


class _CSAM(nn.Module):
    """Compact spatial attention: x * sigmoid(conv3x3(conv1x1(relu(x))))."""

    def __init__(self, ch: int, hidden: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, hidden, 1)
        self.conv2 = nn.Conv2d(hidden, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv2(self.conv1(F.relu(x))))


class _MapReduce(nn.Module):
    """1 x 1 convolution to one edge map (logits)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class PiDiNet(nn.Module):
    """PiDiNet with CDCM and CSAM (the ``table5_pidinet`` model by default); see the module docstring.

    operators: 16 operators, the initial convolution's then one per block;
    width: base channels C (stages C, 2C, 4C, 4C); dil: CDCM channels.
    """

    def __init__(self, operators: tuple[str, ...] = TABLE5_OPERATORS, width: int = 60, dil: int = 24):
        super().__init__()
        if len(operators) != 16:
            raise ValueError(f"PiDiNet needs 16 operators, got {len(operators)}")
        self.init_block = PixelDifferenceConv(operators[0], 3, width)
        stages = (width, 2 * width, 4 * width, 4 * width)
        in_ch = width
        # stage 1: blocks 1_1..1_3 (operators 1..3); stage s > 1: blocks s_1..s_4 (4(s-1) .. 4(s-1)+3)
        for s, ch in enumerate(stages, start=1):
            for b in range(1, 5 if s > 1 else 4):
                op = operators[b] if s == 1 else operators[4 * (s - 1) + b - 1]
                setattr(self, f"block{s}_{b}", _Block(op, in_ch, ch, downsample=(s > 1 and b == 1)))
                in_ch = ch
        self.dilations = nn.ModuleList(_CDCM(ch, dil) for ch in stages)
        self.attentions = nn.ModuleList(_CSAM(dil) for _ in stages)
        self.conv_reduces = nn.ModuleList(_MapReduce(dil) for _ in stages)
        self.classifier = nn.Conv2d(4, 1, 1)

    def _stage(self, s: int, x: torch.Tensor) -> torch.Tensor:
        for b in range(1, 5 if s > 1 else 4):
            x = getattr(self, f"block{s}_{b}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """BGR float N x 3 x H x W in [0, 1] -> edge probability float N x 1 x H x W."""
        h, w = x.shape[-2:]
        if h < MIN_SIZE or w < MIN_SIZE:
            raise ValueError(f"PiDiNet needs images of at least {MIN_SIZE} x {MIN_SIZE} pixels, got {h} x {w}")
        x = self.init_block(x)
        maps = []
        for s in range(4):
            x = self._stage(s + 1, x)
            e = self.conv_reduces[s](self.attentions[s](self.dilations[s](x)))
            maps.append(F.interpolate(e, size=(h, w), mode="bilinear", align_corners=False))
        return torch.sigmoid(self.classifier(torch.cat(maps, dim=1)))


def checkpoint_state_dict(obj: dict) -> dict[str, torch.Tensor]:
    """The tensors of a PiDiNet checkpoint as this module names them: the ``state_dict`` entry
    when there is one (the published file also holds training state), keys without ``module.``."""
    if not isinstance(obj, dict):
        raise ValueError(f"a PiDiNet checkpoint is a dict, got {type(obj).__name__}")
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict):
        raise ValueError("the PiDiNet checkpoint's 'state_dict' entry is not a dict")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()
            if isinstance(v, torch.Tensor)}
