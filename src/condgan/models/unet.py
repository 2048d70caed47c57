"""U-Net generator of pix2pix (Isola et al. 2017), the encoder-decoder with skip connections.

Level i (0 = outermost) halves the image and has c_i = width * min(2**i, 8) channels, so for
width 64: 64, 128, 256, 512, 512, ... After `num_downs` levels a 2**num_downs image is 1x1
(unet_256: num_downs=8, unet_128: 7; 5 for 32 px).

    down_blocks[0]        conv /2                        -> LeakyReLU(0.2)
    down_blocks[i]        conv /2 -> norm                -> LeakyReLU(0.2)   0 < i < n-1
    down_blocks[n-1]      conv /2                                            (bottleneck)
    up_blocks[n-1]        ReLU -> conv^T x2 -> norm
    up_blocks[i]          ReLU -> conv^T x2 -> norm [-> dropout]             0 < i < n-1
    up_blocks[0]          ReLU -> conv^T x2 -> tanh

All convolutions are 4x4, stride 2, padding 1. The output of up block i+1 is concatenated after
the output of down block i (skip first, as in the reference), so up block i sees 2 * c_i
channels (the innermost sees just the bottleneck's c_{n-1}). The skip carries the
LeakyReLU-activated down features, as in the reference (whose in-place LeakyReLU changes the
tensor it later concatenates); the next up block starts with ReLU, and
ReLU(LeakyReLU(x)) = ReLU(x), so either choice computes the same output.
Dropout (p=0.5) sits only in the middle levels whose channels are already capped at 8 * width
(levels 4 .. n-2), as in the reference.

The activations work in place, on tensors no other layer keeps (a norm's or a convolution's output, a
concatenation): neither of those needs its output for its backward, so autograd keeps one tensor per
layer where a separate activation output would keep two. At 256 px, batch 1, that is part of what
makes condgan's pix2pix step leaner than the reference's (benchmarks/translation_256.py).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from condgan.models.norms import check_image_input, check_norm, conv_bias, norm_layer

MIN_DROPOUT_LEVEL = 4  # first level whose channels are capped at 8 * width on both sides


def level_channels(width: int, level: int) -> int:
    """Channels c_level of the U-Net's encoder at `level` (0 = outermost)."""
    return width * min(2**level, 8)


def _down_block(in_channels: int, out_channels: int, norm: str, *, outermost: bool, innermost: bool) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv"] = nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=conv_bias(norm))
    if not (outermost or innermost):
        layers["norm"] = norm_layer(norm, out_channels)
    if not innermost:
        layers["act"] = nn.LeakyReLU(0.2, inplace=True)  # on the norm's (or conv's) output, which nothing else keeps
    return nn.Sequential(layers)


def _up_block(in_channels: int, out_channels: int, norm: str, *, outermost: bool, dropout: bool) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["act"] = nn.ReLU(inplace=True)  # on the concatenation (or the unused bottleneck skip)
    bias = True if outermost else conv_bias(norm)
    layers["conv"] = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)
    if outermost:
        layers["out"] = nn.Tanh()
    else:
        layers["norm"] = norm_layer(norm, out_channels)
        if dropout:
            layers["dropout"] = nn.Dropout(0.5)
    return nn.Sequential(layers)


class UNetGenerator(nn.Module):
    """pix2pix U-Net: (B, in_channels, H, W) -> (B, out_channels, H, W) in [-1, 1].

    H and W must be multiples of 2**num_downs.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        num_downs: int,
        width: int = 64,
        norm: str = "batch",
        dropout: bool = False,
    ):
        super().__init__()
        check_norm(norm)
        if num_downs < 2:
            raise ValueError(f"UNetGenerator needs num_downs >= 2, got {num_downs}")
        self.in_channels, self.out_channels, self.num_downs = in_channels, out_channels, num_downs
        self.width, self.norm, self.dropout = width, norm, dropout
        innermost = num_downs - 1
        channels = [level_channels(width, level) for level in range(num_downs)]

        self.down_blocks = nn.ModuleList()
        self.up_blocks = nn.ModuleList()  # indexed by level; applied innermost first
        for level in range(num_downs):
            outer = in_channels if level == 0 else channels[level - 1]
            self.down_blocks.append(
                _down_block(outer, channels[level], norm, outermost=level == 0, innermost=level == innermost)
            )
            up_in = channels[level] if level == innermost else 2 * channels[level]  # skip + up features
            up_out = out_channels if level == 0 else channels[level - 1]
            use_dropout = dropout and MIN_DROPOUT_LEVEL <= level < innermost
            self.up_blocks.append(_up_block(up_in, up_out, norm, outermost=level == 0, dropout=use_dropout))

    @property
    def size_multiple(self) -> int:
        """Height and width of inputs must be multiples of this (2**num_downs)."""
        return 2**self.num_downs

    def check_input(self, source: torch.Tensor) -> None:
        """ValueError unless `source` is (B, in_channels, H, W) with H, W multiples of 2**num_downs."""
        check_image_input(self, source, self.in_channels, self.size_multiple, f" with num_downs={self.num_downs}")

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        self.check_input(source)
        skips: list[torch.Tensor] = []
        h = source  # (B, in_channels, H, W)
        for down in self.down_blocks:
            h = down(h)  # (B, c_i, H / 2**(i+1), W / 2**(i+1))
            skips.append(h)
        for level in reversed(range(self.num_downs)):
            h = self.up_blocks[level](h)  # (B, c_{i-1}, H / 2**i, W / 2**i); level 0: (B, out_channels, H, W)
            if level > 0:
                h = torch.cat([skips[level - 1], h], dim=1)  # (B, 2 * c_{i-1}, H / 2**i, W / 2**i)
        return h
