"""The pix2pix task (Isola et al. 2017): a batch is (source, target), images in [-1, 1].

G maps the source x to an output G(x). D judges pairs, concatenated on channels:
(x, y) is real, (x, G(x)) is fake, and, with `loss.mismatch_weight` w > 0, (x, y') is fake
too, y' the real target of another item of the batch (the seed's mismatched pairs; the
matching-aware discriminator of Reed et al. 2016):

    D loss = 0.5 * [ d(D(x, y), D(x, G(x))) + w * d(D(x, y), D(x, y')) ]
    G loss = gan_weight * g(D(x, G(x))) + l1_weight * |G(x) - y|_1

with d/g the adversarial loss pair of `loss.kind` (losses.py). The 0.5 is the paper's halving
of D's objective; each negative kind is paired with the real term, so with w = 1 the D loss is
exactly Reed et al.'s real + (fake + mismatched) / 2. `gan_weight = 0` trains the L1-only
baseline: D is then never run. The noise is G's dropout (pix2pix has no z). The fake batch
made for the D step is reused by the following G step, and G's step runs D with frozen weights,
as in the cGAN task.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from condgan.config import Config
from condgan.distributed import unwrap
from condgan.errors import ConfigError
from condgan.losses import get_loss
from condgan.tasks.cgan import frozen
from condgan.tasks.players import Player

PIX2PIX_LOSSES = ("bce", "lsgan", "hinge")
SAMPLE_PAIRS = 8  # columns of the input | output | target grid


class Pix2PixTask:
    name = "pix2pix"
    bf16_on_amx = False  # train.precision=auto stays fp32 on the CPU: bf16 not measured for pix2pix there

    def __init__(self, config: Config, generator: nn.Module, discriminator: nn.Module):
        loss = config.loss
        if loss.kind not in PIX2PIX_LOSSES:
            raise ConfigError(f"pix2pix supports loss.kind {', '.join(PIX2PIX_LOSSES)}; got {loss.kind!r}")
        if loss.l1_weight < 0 or loss.gan_weight < 0 or loss.mismatch_weight < 0:
            raise ConfigError("loss.l1_weight, loss.gan_weight and loss.mismatch_weight must be >= 0")
        if loss.mismatch_weight > 0 and config.train.batch_size < 2:
            raise ConfigError(
                "loss.mismatch_weight > 0 takes the mismatched target from another item of the batch; "
                "use train.batch_size >= 2"
            )
        self.config = config
        self.generator = generator
        self.discriminator = discriminator
        self.d_loss_fn, self.g_loss_fn = get_loss(loss.kind)
        self.l1_weight, self.gan_weight, self.mismatch_weight = loss.l1_weight, loss.gan_weight, loss.mismatch_weight
        self._fake: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._samples: tuple[torch.Tensor, torch.Tensor] | None = None

    def modules(self) -> dict[str, nn.Module]:
        return {"generator": self.generator, "discriminator": self.discriminator}

    def players(self) -> dict[str, Player]:
        """D's update(s), then G's, each step (the trainer's order; G reuses D's batch and fake images)."""
        return {"d": Player("discriminator", ("discriminator",), self.d_loss),
                "g": Player("generator", ("generator",), self.g_loss)}  # fmt: skip

    def _judge(self, source: torch.Tensor, image: torch.Tensor, discriminator: nn.Module | None = None) -> torch.Tensor:
        discriminator = discriminator or self.discriminator
        return discriminator(torch.cat([source, image], dim=1))  # (B, Cs + Ct, S, S) -> patch logits

    def d_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor | None, dict[str, float]]:
        source, target = batch  # (B, Cs, S, S), (B, Ct, S, S)
        fake = self.generator(source)  # (B, Ct, S, S); graph kept for the G step
        self._fake = (source, target, fake)
        if self.gan_weight == 0:  # L1-only baseline: nothing for D to learn; the trainer skips D's update
            return None, {}
        real_logits = self._judge(source, target)
        fake_logits = self._judge(source, fake.detach())
        adversarial = self.d_loss_fn(real_logits, fake_logits)
        logs = _scores(real_logits, fake_logits, self.config.loss.kind)
        if self.mismatch_weight:
            other = target.roll(1, dims=0)  # the real target of the previous item: a wrong pair
            mismatch_logits = self._judge(source, other)
            adversarial = adversarial + self.mismatch_weight * self.d_loss_fn(real_logits, mismatch_logits)
            logs["d_mismatch"] = _score(mismatch_logits, self.config.loss.kind)
        loss = 0.5 * adversarial
        return loss, {"d_loss": loss.item(), **logs}

    def g_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        if self._fake is None:  # no D step before this one
            source, target = batch
            self._fake = (source, target, self.generator(source))
        source, target, fake = self._fake
        self._fake = None
        l1 = (fake - target).abs().mean()
        loss = self.l1_weight * l1
        logs = {"l1": l1.item()}
        if self.gan_weight:
            # gradients through D's input only, as in the cGAN task: no work for D's weights, no DDP sync
            discriminator = unwrap(self.discriminator)
            with frozen(discriminator):
                adversarial = self.g_loss_fn(self._judge(source, fake, discriminator))
            loss = loss + self.gan_weight * adversarial
            logs["g_loss"] = adversarial.item()
        return loss, logs

    # ------------------------------------------------------------------ pictures
    def sample_pairs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed (source, target) pairs for the progress grids: the first of the test split
        (else val, else train), without jitter."""
        if self._samples is None:
            from condgan.data.paired import load_split

            dataset, _ = load_split(self.config, prefer="test", limit=SAMPLE_PAIRS)
            self._samples = dataset.float_pairs()
        return self._samples

    @torch.no_grad()
    def write_samples(self, path: Path, generator: nn.Module, step: int) -> None:
        """Three rows: input | output | target, one column per fixed pair."""
        from condgan.plots import save_image

        source, target = self.sample_pairs()
        device = next(generator.parameters()).device
        was_training = generator.training
        generator.eval()
        output = generator(source.to(device)).float().cpu()
        generator.train(was_training)
        save_image(triplet_grid(source, output, target, title=f"step {step}"), path)


def triplet_grid(source: torch.Tensor, output: torch.Tensor, target: torch.Tensor, title: str = ""):
    """A PIL grid with rows input, output, target (floats in [-1, 1]; gray inputs shown as RGB if needed)."""
    from condgan.plots import class_grid

    channels = max(source.shape[1], output.shape[1], target.shape[1])
    rows = [images.expand(-1, channels, -1, -1) for images in (source, output, target)]
    return class_grid(torch.cat(rows), ["input", "output", "target"], cols=source.shape[0], title=title)


def _score(logits: torch.Tensor, kind: str) -> float:
    return (torch.sigmoid(logits) if kind == "bce" else logits).mean().item()


def _scores(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> dict[str, float]:
    """D(x, y) and D(x, G(x)): probabilities for bce, raw scores for the other losses."""
    return {"d_real": _score(real_logits, kind), "d_fake": _score(fake_logits, kind)}
