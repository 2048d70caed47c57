"""PatchGAN discriminators of pix2pix: one real/fake logit per image patch (or per pixel).

PatchDiscriminator (the reference's NLayerDiscriminator), all convolutions 4x4 with padding 1:

    layers[0]            conv /2 (bias)                   -> LeakyReLU(0.2)     (B, w, H/2, W/2)
    layers[k]            conv /2 -> norm                  -> LeakyReLU(0.2)     1 <= k < n_layers
    layers[n_layers]     conv stride 1 -> norm            -> LeakyReLU(0.2)
    head                 conv stride 1 (bias) -> 1 logit map

Channels are width * min(2**k, 8). With n_layers=3 each logit sees a 70x70 patch of the input
(the "70x70 PatchGAN"); n_layers=1 sees 16x16, n_layers=5 sees 286x286.

PixelDiscriminator (1x1 PatchGAN): 1x1 conv -> LeakyReLU -> 1x1 conv -> norm -> LeakyReLU ->
1x1 conv, one logit per pixel.

Both return raw logits (no sigmoid); the loss functions apply it. The discriminator of pix2pix
sees the pair (source, target) concatenated on channels, so `in_channels` is usually
source channels + target channels.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from condgan.models.norms import check_norm, conv_bias, norm_layer


def patch_channels(width: int, layer: int) -> int:
    """Channels of PatchDiscriminator's layers[layer]."""
    return width * min(2**layer, 8)


def receptive_field(n_layers: int) -> int:
    """Side of the input patch that one logit of PatchDiscriminator(n_layers=...) sees (70 for 3)."""
    field = 1
    strides = [2] * n_layers + [1, 1]  # layers[0..n_layers-1] stride 2, layers[n_layers] and head stride 1
    for stride in reversed(strides):
        field = (field - 1) * stride + 4
    return field


def _conv_block(conv: nn.Conv2d, norm: str | None) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(conv=conv)
    if norm is not None:
        layers["norm"] = norm_layer(norm, conv.out_channels)
    layers["act"] = nn.LeakyReLU(0.2, inplace=True)  # on the conv's or norm's output: neither backward needs it
    return nn.Sequential(layers)


class PatchDiscriminator(nn.Module):
    """(B, in_channels, H, W) -> logits (B, 1, H / 2**n_layers - 2, W / 2**n_layers - 2)."""

    def __init__(self, *, in_channels: int, width: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        check_norm(norm)
        if n_layers < 1:
            raise ValueError(f"PatchDiscriminator needs n_layers >= 1, got {n_layers}")
        self.in_channels, self.width, self.n_layers, self.norm = in_channels, width, n_layers, norm
        bias = conv_bias(norm)
        blocks = [_conv_block(nn.Conv2d(in_channels, width, 4, stride=2, padding=1), norm=None)]
        for layer in range(1, n_layers + 1):
            stride = 2 if layer < n_layers else 1
            conv = nn.Conv2d(
                patch_channels(width, layer - 1),
                patch_channels(width, layer),
                4,
                stride,
                padding=1,
                bias=bias,
            )
            blocks.append(_conv_block(conv, norm))
        self.layers = nn.Sequential(*blocks)
        self.head = nn.Conv2d(patch_channels(width, n_layers), 1, 4, stride=1, padding=1)

    @property
    def min_size(self) -> int:
        """Smallest height/width that yields a 1x1 logit map."""
        return 3 * 2**self.n_layers

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if min(height, width) < self.min_size:
            raise ValueError(
                f"PatchDiscriminator with n_layers={self.n_layers} needs images of at least "
                f"{self.min_size}x{self.min_size}, got {height}x{width}; use fewer layers or larger images"
            )
        h = self.layers(images)  # (B, C, H / 2**n_layers - 1, W / 2**n_layers - 1)
        return self.head(h)  # (B, 1, H / 2**n_layers - 2, W / 2**n_layers - 2)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN: (B, in_channels, H, W) -> logits (B, 1, H, W)."""

    def __init__(self, *, in_channels: int, width: int = 64, norm: str = "batch"):
        super().__init__()
        check_norm(norm)
        self.in_channels, self.width, self.norm = in_channels, width, norm
        bias = conv_bias(norm)
        self.layers = nn.Sequential(
            _conv_block(nn.Conv2d(in_channels, width, 1), norm=None),
            _conv_block(nn.Conv2d(width, 2 * width, 1, bias=bias), norm),
        )
        self.head = nn.Conv2d(2 * width, 1, 1, bias=bias)  # the reference's last layer has no bias with batch norm

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        h = self.layers(images)  # (B, 2w, H, W)
        return self.head(h)  # (B, 1, H, W)
