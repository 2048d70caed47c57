"""ResNet generator of pix2pix/CycleGAN (Johnson et al. 2016's fast style transfer network).

    stem        7x7 conv (reflect-padded) -> norm -> ReLU                   (B, w, H, W)
    downsample  2 x [3x3 conv /2 -> norm -> ReLU]                           (B, 4w, H/4, W/4)
    blocks      num_blocks x residual [conv -> norm -> ReLU [-> dropout] -> conv -> norm] + x
    upsample    2 x [3x3 conv^T x2 -> norm -> ReLU]                         (B, w, H, W)
    head        7x7 conv (reflect-padded) -> tanh                           (B, out_channels, H, W)

The reference pads with separate ReflectionPad2d layers; we use the convolution's own
`padding_mode`, which computes the same thing. `padding` ("reflect" | "replicate" | "zero")
applies to the residual blocks only; stem and head always reflect, as in the reference.
H and W must be multiples of 4 so that the output has the input's size.
The ReLUs work in place on the norm's output (the reference's ReLU(True)): a norm's backward needs its
input, not its output, so autograd keeps one tensor per layer instead of two.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from condgan.models.norms import check_image_input, check_norm, conv_bias, norm_layer

PADDINGS = {"reflect": "reflect", "replicate": "replicate", "zero": "zeros"}  # ours -> Conv2d padding_mode
NUM_DOWNSAMPLINGS = 2


class ResnetBlock(nn.Module):
    """x + F(x) with F = 3x3 conv -> norm -> ReLU [-> dropout] -> 3x3 conv -> norm; keeps (B, C, H, W)."""

    def __init__(self, *, channels: int, norm: str, dropout: bool, padding: str):
        super().__init__()
        bias = conv_bias(norm)
        mode = PADDINGS[padding]
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode=mode, bias=bias)
        self.norm1 = norm_layer(norm, channels)
        self.act = nn.ReLU(inplace=True)  # on the norm's output, which its backward does not need
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, padding_mode=mode, bias=bias)
        self.norm2 = norm_layer(norm, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.act(self.norm1(self.conv1(x))))  # (B, C, H, W)
        return x + self.norm2(self.conv2(h))  # (B, C, H, W)


def _conv_norm_relu(conv: nn.Module, norm: str, channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(conv=conv, norm=norm_layer(norm, channels), act=nn.ReLU(inplace=True)))


class ResnetGenerator(nn.Module):
    """(B, in_channels, H, W) -> (B, out_channels, H, W) in [-1, 1]; H and W multiples of 4."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        width: int = 64,
        norm: str = "batch",
        dropout: bool = False,
        num_blocks: int = 9,
        padding: str = "reflect",
    ):
        super().__init__()
        check_norm(norm)
        if padding not in PADDINGS:
            raise ValueError(f"unknown padding {padding!r}; valid choices: {', '.join(PADDINGS)}")
        if num_blocks < 0:
            raise ValueError(f"ResnetGenerator needs num_blocks >= 0, got {num_blocks}")
        self.in_channels, self.out_channels, self.width = in_channels, out_channels, width
        self.norm, self.dropout, self.num_blocks, self.padding = norm, dropout, num_blocks, padding
        bias = conv_bias(norm)

        stem_conv = nn.Conv2d(in_channels, width, 7, padding=3, padding_mode="reflect", bias=bias)
        self.stem = _conv_norm_relu(stem_conv, norm, width)
        self.downsample = nn.ModuleList()
        for i in range(NUM_DOWNSAMPLINGS):
            channels = width * 2**i
            conv = nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1, bias=bias)
            self.downsample.append(_conv_norm_relu(conv, norm, 2 * channels))
        inner = width * 2**NUM_DOWNSAMPLINGS
        self.blocks = nn.Sequential(
            *(ResnetBlock(channels=inner, norm=norm, dropout=dropout, padding=padding) for _ in range(num_blocks))
        )
        self.upsample = nn.ModuleList()
        for i in range(NUM_DOWNSAMPLINGS):
            channels = inner // 2**i
            conv = nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1, bias=bias)
            self.upsample.append(_conv_norm_relu(conv, norm, channels // 2))
        head_conv = nn.Conv2d(width, out_channels, 7, padding=3, padding_mode="reflect")  # always has a bias
        self.head = nn.Sequential(OrderedDict(conv=head_conv, out=nn.Tanh()))

    @property
    def size_multiple(self) -> int:
        """Height and width of inputs must be multiples of this (4)."""
        return 2**NUM_DOWNSAMPLINGS

    def check_input(self, source: torch.Tensor) -> None:
        """ValueError unless `source` is (B, in_channels, H, W) with H, W multiples of 4."""
        check_image_input(self, source, self.in_channels, self.size_multiple, "")

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        self.check_input(source)
        h = self.stem(source)  # (B, w, H, W)
        for down in self.downsample:
            h = down(h)  # (B, 2C, H/2, W/2)
        h = self.blocks(h)  # (B, 4w, H/4, W/4)
        for up in self.upsample:
            h = up(h)  # (B, C/2, 2H, 2W)
        return self.head(h)  # (B, out_channels, H, W)
