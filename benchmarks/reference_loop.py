"""The reference: a conditional-GAN training loop written the way the common tutorials write it.

The same architecture as condgan's `mlp` (configs/mlp-cgan.yaml: the same layers, sizes and
initial weights, copied from condgan's modules), written as PyTorch-GAN's cgan.py writes it:
`nn.Sequential` blocks of Linear, BatchNorm1d, in-place LeakyReLU and `nn.Dropout`, the one-hot
label concatenated. Fed the tutorial way: a `torch.utils.data.DataLoader` (batch 64, shuffle, no
workers) over a dataset that turns each item into a PIL image and then a normalised tensor, as
torchvision's `ToTensor()` + `Normalize((0.5,), (0.5,))` do; plain Adam (not fused), no EMA; the
G step first, then the D step on the same fake batch detached, as cgan.py does (with the
BCE-with-logits loss of condgan's recipe instead of its MSE). torchvision is not a dependency, so
the two transforms are written out here exactly as torchvision computes them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from condgan.config import Config
from condgan.data.datasets import ImageDataset
from condgan.models import build_discriminator, build_generator


class TutorialDataset(Dataset):
    """Per item: uint8 array -> PIL image -> float tensor in [0, 1] -> normalised to [-1, 1]."""

    def __init__(self, dataset: ImageDataset):
        self.images = dataset.images[:, 0].numpy()  # (N, H, W) uint8, like torchvision's MNIST .data
        self.labels = dataset.labels.numpy()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(self.images[index], mode="L")  # what torchvision's MNIST __getitem__ does
        tensor = torch.from_numpy(np.array(image, np.uint8, copy=True)).view(image.size[1], image.size[0], 1)
        tensor = tensor.permute(2, 0, 1).contiguous().to(torch.float32).div(255)  # ToTensor: (1, H, W) in [0, 1]
        tensor = tensor.sub(0.5).div(0.5)  # Normalize((0.5,), (0.5,))
        return tensor, int(self.labels[index])


class TutorialGenerator(nn.Module):
    """cgan.py's Generator: [z, one-hot] -> 128 -> 256 -> 512 -> 1024 -> pixels, BN from 256 on, tanh."""

    def __init__(self, z_dim: int, num_classes: int, image_shape: tuple[int, int, int]):
        super().__init__()
        self.num_classes, self.image_shape = num_classes, image_shape

        def block(in_features: int, out_features: int, normalize: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Linear(in_features, out_features)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_features))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(z_dim + num_classes, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(np.prod(image_shape))),
            nn.Tanh(),
        )

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gen_input = torch.cat((noise, F.one_hot(labels, self.num_classes).float()), -1)
        return self.model(gen_input).view(noise.shape[0], *self.image_shape)


class TutorialDiscriminator(nn.Module):
    """cgan.py's Discriminator: [flattened image, one-hot] -> 512 -> 512 -> 512 -> 1, dropout 0.4."""

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], dropout: float):
        super().__init__()
        self.num_classes = num_classes
        self.model = nn.Sequential(
            nn.Linear(num_classes + int(np.prod(image_shape)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 512),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 512),
            nn.Dropout(dropout),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 1),
        )

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        d_in = torch.cat((images.view(images.shape[0], -1), F.one_hot(labels, self.num_classes).float()), -1)
        return self.model(d_in).view(-1)


def copy_weights(source: nn.Module, target: nn.Module) -> nn.Module:
    """`target` with `source`'s parameters and buffers, matched in order (the same architecture)."""
    source_state, target_state = source.state_dict(), target.state_dict()
    shapes = [tuple(t.shape) for t in source_state.values()], [tuple(t.shape) for t in target_state.values()]
    if shapes[0] != shapes[1]:
        raise ValueError(f"{type(target).__name__} is not {type(source).__name__}'s architecture: {shapes}")
    target.load_state_dict(dict(zip(target_state, source_state.values(), strict=True)))
    return target


class ReferenceLoop:
    """The tutorial loop; `step(real_images, labels)` trains one G step and one D step."""

    def __init__(self, config: Config, dataset: ImageDataset, device: torch.device, batch_size: int = 64):
        if config.loss.kind != "bce":
            raise ValueError(f"the reference loop uses the BCE loss; this recipe uses {config.loss.kind!r}")
        torch.manual_seed(config.train.seed)
        self.device = device
        self.z_dim, self.num_classes = config.model.z_dim, config.model.num_classes
        m, d = config.model, config.data
        if (m.generator, m.discriminator, m.conditioning) != ("mlp", "mlp", "concat") or not m.num_classes:
            raise ValueError("the reference loop is the class-conditional mlp with concat conditioning")
        image_shape = (d.channels, d.image_size, d.image_size)
        generator = TutorialGenerator(m.z_dim, m.num_classes, image_shape)
        discriminator = TutorialDiscriminator(m.num_classes, image_shape, m.dropout)
        # condgan's initial weights, so that the two loops start from the same point
        self.generator = copy_weights(build_generator(config), generator).to(device)
        self.discriminator = copy_weights(build_discriminator(config), discriminator).to(device)
        t = config.train
        self.optimizer_g = torch.optim.Adam(self.generator.parameters(), lr=t.lr, betas=(t.beta1, t.beta2))
        self.optimizer_d = torch.optim.Adam(
            self.discriminator.parameters(), lr=t.d_lr or t.lr, betas=(t.beta1, t.beta2)
        )
        self.adversarial_loss = nn.BCEWithLogitsLoss()
        self.loader = DataLoader(TutorialDataset(dataset), batch_size=batch_size, shuffle=True)
        self.batch_size = batch_size

    def step(self, real_images: torch.Tensor, labels: torch.Tensor) -> None:
        real_images, labels = real_images.to(self.device), labels.to(self.device)
        batch = real_images.shape[0]
        valid = torch.ones(batch, device=self.device)
        fake = torch.zeros(batch, device=self.device)
        # Train the generator
        self.optimizer_g.zero_grad()
        z = torch.randn(batch, self.z_dim, device=self.device)
        generated_labels = torch.randint(0, self.num_classes, (batch,), device=self.device)
        generated_images = self.generator(z, generated_labels)
        g_loss = self.adversarial_loss(self.discriminator(generated_images, generated_labels), valid)
        g_loss.backward()
        self.optimizer_g.step()
        # Train the discriminator
        self.optimizer_d.zero_grad()
        real_loss = self.adversarial_loss(self.discriminator(real_images, labels), valid)
        fake_loss = self.adversarial_loss(self.discriminator(generated_images.detach(), generated_labels), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        self.optimizer_d.step()

    def run(self, on_step) -> int:
        """Train epoch after epoch; after each step call `on_step(steps_done)`, which returns True to stop."""
        steps = 0
        while True:
            for real_images, labels in self.loader:
                self.step(real_images, labels)
                steps += 1
                if on_step(steps):
                    return steps
