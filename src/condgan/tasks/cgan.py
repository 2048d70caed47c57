"""The class-conditional GAN task: a batch is (real_images, labels).

D sees (image, label) pairs: real pairs should score real, generated pairs fake; its loss is
the sum of the two terms. G makes images for the batch's labels and is rewarded for fooling D.
The fake batch made for the D step is reused (through its graph) by the following G step, as in
the reference DCGAN loop, so each step runs G forward once.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from condgan.config import Config
from condgan.distributed import batch_noise, unwrap
from condgan.losses import get_loss, gradient_penalty, r1_penalty


class CGANTask:
    name = "cgan"

    def __init__(self, config: Config, generator: nn.Module, discriminator: nn.Module):
        self.config = config
        self.generator = generator
        self.discriminator = discriminator
        self.num_classes = config.model.num_classes
        self.z_dim = config.model.z_dim
        self.d_loss_fn, self.g_loss_fn = get_loss(config.loss.kind)
        self.acgan = bool(self.num_classes) and config.model.conditioning == "acgan"
        self._fake: tuple[torch.Tensor, torch.Tensor | None] | None = None

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def _discriminate(self, images: torch.Tensor, labels: torch.Tensor | None, discriminator: nn.Module | None = None):
        discriminator = discriminator or self.discriminator
        if self.acgan:
            return discriminator(images, labels, with_classes=True)  # forward, so DDP sees the call
        return discriminator(images, labels), None

    def d_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        real_images, labels = batch  # (B, C, H, W), (B,)
        labels = labels if self.num_classes else None
        z = batch_noise(real_images.shape[0], self.z_dim, real_images.device)  # this rank's rows of the global z
        fake_images = self.generator(z, labels)  # graph kept for the G step
        self._fake = (fake_images, labels)
        loss_cfg = self.config.loss
        if loss_cfg.r1_gamma:
            real_images = real_images.detach().requires_grad_(True)
        real_logits, real_classes = self._discriminate(real_images, labels)
        fake_logits, fake_classes = self._discriminate(fake_images.detach(), labels)
        adversarial = self.d_loss_fn(real_logits, fake_logits)
        loss = adversarial
        logs = {"d_loss": adversarial.item(), **_scores(real_logits, fake_logits, loss_cfg.kind)}
        if loss_cfg.kind == "wgan-gp":
            penalty = gradient_penalty(lambda x: self.discriminator(x, labels), real_images, fake_images)
            loss = loss + loss_cfg.gp_weight * penalty
            logs["gradient_penalty"] = penalty.item()
        if loss_cfg.r1_gamma:
            penalty = r1_penalty(real_logits, real_images)
            loss = loss + loss_cfg.r1_gamma * penalty
            logs["r1"] = penalty.item()
        if self.acgan:
            aux = F.cross_entropy(real_classes, labels)
            if loss_cfg.aux_on_fake:
                aux = aux + F.cross_entropy(fake_classes, labels)
            loss = loss + loss_cfg.aux_weight * aux
            logs["d_aux"] = aux.item()
            logs["d_class_acc"] = (real_classes.argmax(1) == labels).float().mean().item()
        return loss, logs

    def g_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        if self._fake is None:  # no D step before this one: make a fresh fake batch
            self.d_loss(batch)
        fake_images, labels = self._fake
        self._fake = None
        # G's loss needs gradients through D's input, not for D's weights: the plain module (no DDP
        # sync) with frozen weights skips a third of D's backward work.
        discriminator = unwrap(self.discriminator)
        with frozen(discriminator):
            fake_logits, fake_classes = self._discriminate(fake_images, labels, discriminator)
        loss = self.g_loss_fn(fake_logits)
        logs = {"g_loss": loss.item()}
        if self.acgan:
            aux = F.cross_entropy(fake_classes, labels)
            loss = loss + self.config.loss.aux_weight * aux
            logs["g_aux"] = aux.item()
        return loss, logs

    @torch.no_grad()
    def write_samples(self, path: Path, generator: nn.Module, step: int) -> None:
        """A fixed-noise grid: one row per class (or a plain grid when unconditional)."""
        from condgan.plots import class_grid, save_image

        device = next(generator.parameters()).device
        images = sample_grid_images(generator, self.num_classes, self.z_dim, device)
        save_image(class_grid(images, self.config.data.class_names, title=f"step {step}"), path)


@contextmanager
def frozen(module: nn.Module):
    """Parameters that need no gradient inside the block (the autograd graph built there keeps that)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in params:
            p.requires_grad_(True)


def _scores(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> dict[str, float]:
    """D(x) and D(G(z)): probabilities for bce, raw scores for the other losses."""
    if kind == "bce":
        return {"d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}
    return {"d_real": real_logits.mean().item(), "d_fake": fake_logits.mean().item()}


def sample_grid_images(
    generator: nn.Module, num_classes: int, z_dim: int, device, per_class: int = 10, seed: int = 0
) -> torch.Tensor:
    """(rows*cols, C, H, W) in [-1, 1]: row r is class r, column c uses noise c (shared by all rows)."""
    rows = num_classes or per_class
    noise = torch.randn(per_class, z_dim, generator=torch.Generator().manual_seed(seed))
    z = noise.repeat(rows, 1).to(device)  # (rows*cols, z_dim)
    labels = torch.arange(rows).repeat_interleave(per_class).to(device) if num_classes else None
    if not num_classes:
        z = torch.randn(rows * per_class, z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    was_training = generator.training
    generator.eval()
    images = generator(z, labels)
    generator.train(was_training)
    return images.cpu()
