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
from condgan.losses import d2d_ce, get_loss, gradient_penalty, mode_seeking, r1_penalty
from condgan.models.layers import MinibatchStd
from condgan.tasks.augment import augment, parse
from condgan.tasks.players import Player

CLASS_TERMS = ("acgan", "contrastive")  # conditionings whose D has a class loss beside the adversarial one


class CGANTask:
    name = "cgan"

    def __init__(self, config: Config, generator: nn.Module, discriminator: nn.Module):
        self.config = config
        self.generator = generator
        self.discriminator = discriminator
        self.num_classes = config.model.num_classes
        self.z_dim = config.model.z_dim
        self.d_loss_fn, self.g_loss_fn = get_loss(config.loss.kind)
        # acgan | contrastive: D also has a class term (its head's classify), in D's loss and in G's
        conditioning = config.model.conditioning
        self.class_term = conditioning if self.num_classes and conditioning in CLASS_TERMS else ""
        self._fake: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor] | None = None  # images, labels, z
        self.joint_d = not has_batch_statistics(discriminator)  # one D pass over real and fake together
        # minibatch std groups consecutive images: the joint pass keeps real and fake apart when B divides
        self.spread_groups = [m.group for m in discriminator.modules() if isinstance(m, MinibatchStd)]
        self.augments = parse(config.loss.augment)  # D's view of every image, in D's loss and in G's
        # train.precision=auto on an AMX CPU: bf16 autocast for convolutional networks (measured: more steps a
        # minute and better quality at equal minutes, docs/results/recipe.md); the MLP gains nothing from it
        self.bf16_on_amx = config.model.generator == "dcgan" and config.model.discriminator == "dcgan"

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def players(self) -> dict[str, Player]:
        """D's update(s), then G's, each step (the trainer's order; G reuses D's batch and fake images)."""
        return {"d": Player("discriminator", ("discriminator",), self.d_loss),
                "g": Player("generator", ("generator",), self.g_loss)}  # fmt: skip

    def _discriminate(self, images: torch.Tensor, labels: torch.Tensor | None, discriminator: nn.Module | None = None):
        discriminator = discriminator or self.discriminator
        if self.class_term:
            return discriminator(images, labels, with_classes=True)  # forward, so DDP sees the call
        return discriminator(images, labels), None

    def _discriminate_both(self, real_images: torch.Tensor, fake_images: torch.Tensor, labels: torch.Tensor | None):
        """D on the real and on the generated batch: ((logits, classes) real, (logits, classes) fake).

        A D without batch statistics scores each image on its own, so both halves go through one
        pass over the 2B images: the same results as two passes, in bigger, faster matrix products
        (a D with batch norm would see a mixed batch, so it gets two passes)."""
        b = real_images.shape[0]
        if not self.joint_d or any(b % group for group in self.spread_groups):
            return self._discriminate(real_images, labels), self._discriminate(fake_images, labels)
        both_labels = None if labels is None else torch.cat([labels, labels])
        logits, classes = self._discriminate(torch.cat([real_images, fake_images]), both_labels)
        if classes is None:
            return (logits[:b], None), (logits[b:], None)
        return (logits[:b], classes[:b]), (logits[b:], classes[b:])

    def d_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        real_images, labels = batch  # (B, C, H, W), (B,)
        labels = labels if self.num_classes else None
        z = batch_noise(real_images.shape[0], self.z_dim, real_images.device)  # this rank's rows of the global z
        fake_images = self.generator(z, labels)  # graph kept for the G step
        self._fake = (fake_images, labels, z)
        loss_cfg = self.config.loss
        if loss_cfg.r1_gamma:
            real_images = real_images.detach().requires_grad_(True)
        (real_logits, real_classes), (fake_logits, fake_classes) = self._discriminate_both(
            augment(real_images, self.augments), augment(fake_images.detach(), self.augments), labels
        )
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
        if self.class_term:
            aux = self._class_loss(real_classes, labels)
            if loss_cfg.aux_on_fake:
                aux = aux + self._class_loss(fake_classes, labels)
            loss = loss + loss_cfg.aux_weight * aux
            logs["d_aux"] = aux.item()
            if self.class_term == "acgan":
                logs["d_class_acc"] = (real_classes.argmax(1) == labels).float().mean().item()
        return loss, logs

    def g_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        if self._fake is None:  # no D step before this one: make a fresh fake batch
            self.d_loss(batch)
        fake_images, labels, z = self._fake
        self._fake = None
        # G's loss needs gradients through D's input, not for D's weights: the plain module (no DDP
        # sync) with frozen weights skips a third of D's backward work.
        discriminator = unwrap(self.discriminator)
        with frozen(discriminator):
            fake_logits, fake_classes = self._discriminate(augment(fake_images, self.augments), labels, discriminator)
        loss = self.g_loss_fn(fake_logits)
        logs = {"g_loss": loss.item()}
        if self.class_term:
            aux = self._class_loss(fake_classes, labels)
            loss = loss + self.config.loss.aux_weight * aux
            logs["g_aux"] = aux.item()
        if self.config.loss.mode_seeking:
            seeking = mode_seeking(fake_images, z, labels)
            loss = loss + self.config.loss.mode_seeking * seeking
            logs["mode_seeking"] = seeking.item()
        return loss, logs

    def _class_loss(self, classes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """acgan: cross-entropy of D's class logits (B, K); contrastive: ReACGAN's data-to-data
        cross-entropy of D's (image embedding, class proxy) pairs (B, 2, E)."""
        if self.class_term == "acgan":
            return F.cross_entropy(classes, labels)
        return d2d_ce(classes[:, 0], classes[:, 1], labels)

    def calibration_batches(self, device: torch.device, batches: int = 8, batch_size: int = 256):
        """G's inputs for recomputing batch-norm statistics (precise_bn): noise as in training, the
        classes in equal shares; from a fixed seed of their own, so training's random stream is untouched."""
        generator = torch.Generator().manual_seed(0)
        labels = torch.arange(batch_size) % self.num_classes if self.num_classes else None
        for _ in range(batches):
            z = torch.randn(batch_size, self.z_dim, generator=generator)
            yield z.to(device), None if labels is None else labels.to(device)

    @torch.no_grad()
    def write_samples(self, path: Path, generator: nn.Module, step: int) -> None:
        """A fixed-noise grid: one row per class (or a plain grid when unconditional)."""
        from condgan.models.grid import grid_images
        from condgan.plots import class_grid, save_image

        images = grid_images(generator, self.num_classes, self.z_dim)  # the grid of `condgan sample --grid`
        save_image(class_grid(images, self.config.data.class_names, title=f"step {step}"), path)


def has_batch_statistics(module: nn.Module) -> bool:
    """True when the module's output for one item depends on the rest of the batch (batch norm)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


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
