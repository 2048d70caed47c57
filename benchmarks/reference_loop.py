"""The reference: a conditional-GAN training loop written the way the common tutorials write it.

Same generator and discriminator modules as condgan's `mlp` (built from the same config), but fed
the tutorial way: a `torch.utils.data.DataLoader` (batch 64, shuffle, no workers) over a dataset
that turns each item into a PIL image and then a normalised tensor, as torchvision's
`ToTensor()` + `Normalize((0.5,), (0.5,))` do; plain Adam (not fused), no EMA; the G step first,
then the D step on the same fake batch detached, as PyTorch-GAN's cgan.py does (with the
BCE-with-logits loss of condgan's recipe instead of its MSE). torchvision is not a dependency, so
the two transforms are written out here exactly as torchvision computes them.
"""

from __future__ import annotations

import numpy as np
import torch
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


class ReferenceLoop:
    """The tutorial loop; `step(real_images, labels)` trains one G step and one D step."""

    def __init__(self, config: Config, dataset: ImageDataset, device: torch.device, batch_size: int = 64):
        if config.loss.kind != "bce":
            raise ValueError(f"the reference loop uses the BCE loss; this recipe uses {config.loss.kind!r}")
        torch.manual_seed(config.train.seed)
        self.device = device
        self.z_dim, self.num_classes = config.model.z_dim, config.model.num_classes
        self.generator = build_generator(config).to(device)
        self.discriminator = build_discriminator(config).to(device)
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
