"""Convolutional class-conditional G and D (DCGAN, Radford et al. 2016) for 28, 32 and 64 px.

G: z -> linear -> (4w*..., s0, s0) -> [transposed conv x2 up, (conditional) batch norm, ReLU]... -> conv -> tanh.
   s0 is 7 for 28 px and 4 for 32/64 px. With `conditional_bn` the class enters through the
   batch-norm scale and shift of every block; otherwise its one-hot is concatenated to z.
D: [conv /2, LeakyReLU]... down to s0 -> flatten -> head. The class enters as one-hot label maps
   concatenated to the image (`concat`), as a projection at the output (`projection`), or as an
   auxiliary classifier head (`acgan`); see layers.DiscriminatorHead.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from condgan.models.folding import ChannelsLastUnflatten, WithReLU, folded_conv, folded_linear, norm_affine
from condgan.models.layers import (
    ConditionalBatchNorm2d,
    ConditionalDiscriminator,
    DiscriminatorHead,
    Dropout,
    MinibatchStd,
    check_conditioning,
    one_hot,
)

START_SIZES = {28: 7, 32: 4, 64: 4}


def _num_stages(image_size: int) -> int:
    if image_size not in START_SIZES:
        from condgan.errors import ConfigError

        sizes = ", ".join(str(s) for s in START_SIZES)
        raise ConfigError(f"dcgan supports image sizes {sizes}, got {image_size}; set data.image_size to one of them")
    return (image_size // START_SIZES[image_size]).bit_length() - 1  # 28 -> 2, 32 -> 3, 64 -> 4


class _UpBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_classes: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False)
        self.norm = ConditionalBatchNorm2d(out_channels, num_classes) if num_classes else nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(x)  # (B, C_out, 2H, 2W)
        x = self.norm(x, labels) if isinstance(self.norm, ConditionalBatchNorm2d) else self.norm(x)
        return torch.relu(x)


class DCGANGenerator(nn.Module):
    def __init__(
        self,
        *,
        z_dim: int,
        num_classes: int,
        image_size: int,
        channels: int,
        width: int = 32,
        conditional_bn: bool = True,
    ):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        stages = _num_stages(image_size)
        self.start = START_SIZES[image_size]
        self.start_channels = width * 2**stages
        self.cbn = bool(num_classes) and conditional_bn
        block_classes = num_classes if self.cbn else 0
        z_in = z_dim + (num_classes if num_classes and not self.cbn else 0)
        self.project = nn.Linear(z_in, self.start_channels * self.start**2, bias=False)
        self.project_norm = (
            ConditionalBatchNorm2d(self.start_channels, num_classes)
            if self.cbn
            else nn.BatchNorm2d(self.start_channels)
        )
        self.blocks = nn.ModuleList(
            _UpBlock(width * 2 ** (stages - i), width * 2 ** (stages - i - 1), block_classes) for i in range(stages)
        )
        self.to_image = nn.Conv2d(width, channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes and not self.cbn:
            z = torch.cat([z, one_hot(labels, self.num_classes, z.dtype)], 1)  # (B, z_dim + K)
        x = self.project(z).view(-1, self.start_channels, self.start, self.start)  # (B, C0, s0, s0)
        x = self.project_norm(x, labels) if self.cbn else self.project_norm(x)
        x = torch.relu(x)
        for block in self.blocks:
            x = block(x, labels if self.cbn else None)  # (B, C/2, 2H, 2W)
        return torch.tanh(self.to_image(x))  # (B, channels, H, W)

    @torch.no_grad()
    def fold_class(self, label: int | None) -> nn.Sequential:
        """This generator for images of class `label` (None: unconditional) in eval mode, as a plain
        network of z: the batch norms folded into the layers before them, the label into the first
        layer's bias (models/folding.py). Its images are forward(z, label)'s up to float rounding."""
        channels, s = self.start_channels, self.start
        scale, shift = norm_affine(self.project_norm, label)  # (C0,) each
        concat = bool(self.num_classes) and not self.cbn
        project = folded_linear(
            self.project,
            scale.repeat_interleave(s * s),
            shift.repeat_interleave(s * s),
            z_dim=self.z_dim if concat else 0,
            label=label,
        )
        # rows pixel by pixel, (p, c), instead of channel by channel, (c, p): a channels-last output
        order = torch.arange(channels * s * s).view(channels, s * s).t().reshape(-1)
        project.weight.data, project.bias.data = project.weight.data[order], project.bias.data[order]
        layers: list[nn.Module] = [WithReLU(project), ChannelsLastUnflatten(channels, s, s)]
        for block in self.blocks:
            layers.append(WithReLU(folded_conv(block.conv, *norm_affine(block.norm, label))))
        return nn.Sequential(*layers, copy.deepcopy(self.to_image), nn.Tanh()).eval()


class DCGANDiscriminator(ConditionalDiscriminator):
    def __init__(
        self,
        *,
        num_classes: int,
        image_size: int,
        channels: int,
        width: int = 32,
        conditioning: str = "projection",
        spectral_norm: bool = False,
        dropout: float = 0.0,
        minibatch_std: int = 0,
    ):
        super().__init__()
        check_conditioning(conditioning)
        self.num_classes = num_classes
        self.concat = bool(num_classes) and conditioning == "concat"
        stages = _num_stages(image_size)
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        in_channels = channels + (num_classes if self.concat else 0)
        for i in range(stages):
            out_channels = width * 2**i
            layers += [wrap(nn.Conv2d(in_channels, out_channels, 4, 2, 1)), nn.LeakyReLU(0.2)]
            if dropout:
                layers.append(Dropout(dropout))
            in_channels = out_channels
        if minibatch_std:  # one more feature map before the head: the spread of a group of images
            layers.append(MinibatchStd(minibatch_std))
            in_channels += 1
        self.body = nn.Sequential(*layers)
        features = in_channels * START_SIZES[image_size] ** 2
        self.head = DiscriminatorHead(features, num_classes, conditioning, spectral_norm)

    def features(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.concat:
            maps = one_hot(labels, self.num_classes, images.dtype)[:, :, None, None]  # (B, K, 1, 1)
            images = torch.cat([images, maps.expand(-1, -1, *images.shape[2:])], 1)  # (B, C+K, H, W)
        return self.body(images).flatten(1)  # (B, C_last * s0 * s0)
