"""The seed's conditional GAN: multilayer perceptrons with the one-hot label concatenated.

G: [z, onehot(y)] -> 128 -> 256 -> 512 -> 1024 -> C*H*W (batch norm from 256 on, LeakyReLU, tanh).
D: [flatten(x), onehot(y)] -> 512 -> 512 -> 512 -> 1 (dropout, with layers.Dropout's cheaper CPU mask),
the classic layer sizes of the well-known implementations (Mirza & Osindero 2014 as written in
PyTorch-GAN), so numbers compare.
With `num_classes=0` both are the vanilla GAN the seed contrasts with.
"""

from __future__ import annotations

import torch
from torch import nn

from condgan.models.layers import ConditionalDiscriminator, DiscriminatorHead, Dropout, check_conditioning, one_hot


class MLPGenerator(nn.Module):
    def __init__(self, *, z_dim: int, num_classes: int, image_size: int, channels: int):
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.image_shape = (channels, image_size, image_size)
        sizes = [z_dim + num_classes, 128, 256, 512, 1024]
        layers: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(fan_in, fan_out))
            if i > 0:
                layers.append(nn.BatchNorm1d(fan_out))
            layers.append(nn.LeakyReLU(0.2))
        layers += [nn.Linear(1024, channels * image_size * image_size), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        inputs = z  # (B, z_dim)
        if self.num_classes:
            inputs = torch.cat([z, one_hot(labels, self.num_classes, z.dtype)], 1)  # (B, z_dim + K)
        return self.net(inputs).view(-1, *self.image_shape)  # (B, C, H, W)


class MLPDiscriminator(ConditionalDiscriminator):
    def __init__(
        self,
        *,
        num_classes: int,
        image_size: int,
        channels: int,
        conditioning: str = "concat",
        dropout: float = 0.4,
        spectral_norm: bool = False,
    ):
        super().__init__()
        check_conditioning(conditioning)
        self.num_classes = num_classes
        self.concat = bool(num_classes) and conditioning == "concat"
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        fan_in = channels * image_size * image_size + (num_classes if self.concat else 0)
        self.body = nn.Sequential(
            wrap(nn.Linear(fan_in, 512)),
            nn.LeakyReLU(0.2),
            wrap(nn.Linear(512, 512)),
            Dropout(dropout),
            nn.LeakyReLU(0.2),
            wrap(nn.Linear(512, 512)),
            Dropout(dropout),
            nn.LeakyReLU(0.2),
        )
        self.head = DiscriminatorHead(512, num_classes, conditioning, spectral_norm)

    def features(self, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        inputs = images.flatten(1)  # (B, C*H*W)
        if self.concat:
            inputs = torch.cat([inputs, one_hot(labels, self.num_classes, images.dtype)], 1)
        return self.body(inputs)  # (B, 512)
