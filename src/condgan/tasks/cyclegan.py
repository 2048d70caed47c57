"""The CycleGAN task (Zhu et al. 2017): translation between two unpaired image sets, A and B.

A batch is (real_a, real_b): images of the two sides in [-1, 1], drawn independently (no pairs).
G_AB maps A to B and G_BA maps B to A; D_A judges A images and D_B judges B images (single-image
PatchGANs; the reference's "D_A" is our D_B: it judges G_A's output). With d/g the adversarial pair
of `loss.kind` scaled as the reference's GANLoss (losses.d_cyclegan, g_cyclegan), lambda =
`loss.cycle_weight` and w = `loss.identity_weight`:

    G loss   = g(D_B(G_AB(a))) + g(D_A(G_BA(b)))
             + lambda * (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1)          cycle consistency
             + w * lambda * (|G_BA(a) - a|_1 + |G_AB(b) - b|_1)                    identity (w = 0: off)
    D_A loss = 0.5 * d(D_A(a), D_A(pool_a(G_BA(b))))       D_B loss = 0.5 * d(D_B(b), D_B(pool_b(G_AB(a))))

One step, as the reference: the generators' update (one Adam over both, the discriminators frozen),
then the discriminators' (one Adam over both), on this step's generated images or, half of the time
each, on an older one from that discriminator's image pool (tasks/image_pool.py; kept in the
checkpoint, so a resumed run is exact). The pools draw from their own generators, seeded from
train.seed and the process's rank. Under torchrun each rank keeps its own pools; the trainer gathers
every rank's into the checkpoint and gives each rank its own back, so a resumed torchrun run is exact
too. Resumed with another number of processes, rank r continues saved rank r's pools, the other ranks
start with empty ones and the pools of saved ranks beyond the new count are dropped (one warning line).
With loss.pool_size=0, N processes of batch B train as one process of batch N x B.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from condgan import distributed
from condgan.config import Config
from condgan.errors import ConfigError
from condgan.losses import CYCLEGAN_LOSSES, d_cyclegan, g_cycle, g_cyclegan, g_identity, l1
from condgan.tasks.cgan import frozen, has_batch_statistics
from condgan.tasks.image_pool import ImagePool
from condgan.tasks.players import Player

SAMPLE_IMAGES = 8  # columns of the sample sheet
SAMPLE_ROWS = ("A", "A>B", "A>B>A", "B", "B>A", "B>A>B")


class CycleGANTask:
    name = "cyclegan"
    bf16_on_amx = False  # train.precision=auto stays fp32 on the CPU: bf16 not measured for CycleGAN there

    def __init__(
        self,
        config: Config,
        generator_ab: nn.Module,
        generator_ba: nn.Module,
        discriminator_a: nn.Module,
        discriminator_b: nn.Module,
    ):
        loss, d = config.loss, config.data
        if loss.kind not in CYCLEGAN_LOSSES:
            raise ConfigError(f"cyclegan supports loss.kind {', '.join(CYCLEGAN_LOSSES)}; got {loss.kind!r}")
        if config.train.d_steps != 1:
            raise ConfigError(
                f"cyclegan updates its discriminators once per step, on the images its generators just made; "
                f"got train.d_steps={config.train.d_steps}, use 1"
            )
        if loss.identity_weight > 0 and d.source_channels != d.channels:
            raise ConfigError(
                f"the identity loss feeds B images to G_AB, but side A has {d.source_channels} channel(s) and side "
                f"B {d.channels}; set loss.identity_weight=0, or data.source_channels and data.channels to one value"
            )
        self.config = config
        self.generator_ab, self.generator_ba = generator_ab, generator_ba
        self.discriminator_a, self.discriminator_b = discriminator_a, discriminator_b
        self.kind, self.cycle_weight, self.identity_weight = loss.kind, loss.cycle_weight, loss.identity_weight
        seed = config.train.seed * 1_000_003 + 2 * distributed.rank()
        self.pool_a = ImagePool(loss.pool_size, seed=seed)  # G_BA's images, shown to D_A
        self.pool_b = ImagePool(loss.pool_size, seed=seed + 1)  # G_AB's images, shown to D_B
        self.joint_d = not has_batch_statistics(discriminator_a)  # one D pass over real and generated
        self._fakes: tuple[torch.Tensor, torch.Tensor] | None = None
        self._samples: tuple[torch.Tensor, torch.Tensor] | None = None

    def modules(self) -> dict[str, nn.Module]:
        return {
            "generator_ab": self.generator_ab,
            "generator_ba": self.generator_ba,
            "discriminator_a": self.discriminator_a,
            "discriminator_b": self.discriminator_b,
        }

    def players(self) -> dict[str, Player]:
        """Both generators, then both discriminators (the reference's order); D reuses G's batch and images."""
        return {"g": Player("generator", ("generator_ab", "generator_ba"), self.g_loss),
                "d": Player("discriminator", ("discriminator_a", "discriminator_b"), self.d_loss)}  # fmt: skip

    # ------------------------------------------------------------------ losses
    def g_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        real_a, real_b = batch  # (B, C_A, S, S), (B, C_B, S, S)
        fake_b = self.generator_ab(real_a)  # (B, C_B, S, S)
        reconstructed_a = self.generator_ba(fake_b)  # (B, C_A, S, S)
        fake_a = self.generator_ba(real_b)  # (B, C_A, S, S)
        reconstructed_b = self.generator_ab(fake_a)  # (B, C_B, S, S)
        self._fakes = (fake_a.detach(), fake_b.detach())
        # gradients through the discriminators' inputs only: frozen plain modules (no work for D's weights, no
        # DDP sync), as in the cGAN task
        discriminator_a = distributed.unwrap(self.discriminator_a)
        discriminator_b = distributed.unwrap(self.discriminator_b)
        with frozen(discriminator_a), frozen(discriminator_b):
            adversarial_ab = g_cyclegan(discriminator_b(fake_b), self.kind)  # G_AB fools D_B
            adversarial_ba = g_cyclegan(discriminator_a(fake_a), self.kind)  # G_BA fools D_A
        cycle = g_cycle(real_a, reconstructed_a, real_b, reconstructed_b, weight=self.cycle_weight)
        loss = adversarial_ab + adversarial_ba + cycle
        logs = {"g_ab": adversarial_ab.item(), "g_ba": adversarial_ba.item(),
                "cycle_a": l1(reconstructed_a.detach(), real_a).item(),
                "cycle_b": l1(reconstructed_b.detach(), real_b).item()}  # fmt: skip
        if self.identity_weight:
            same_a = self.generator_ba(real_a)  # (B, C_A, S, S): G_BA should leave an A image alone
            same_b = self.generator_ab(real_b)  # (B, C_B, S, S)
            identity = g_identity(real_a, same_a, real_b, same_b, weight=self.identity_weight,
                                  cycle_weight=self.cycle_weight)  # fmt: skip
            loss = loss + identity
            logs["identity"] = identity.item()
        return loss, {"g_loss": loss.item(), **logs}

    def _judge(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor):
        """D's logits on the real and on the generated images: one pass over both when D has no batch
        statistics (the same results, bigger matrix products), else two."""
        if not self.joint_d:
            return discriminator(real), discriminator(fake)
        logits = discriminator(torch.cat([real, fake]))  # (2B, 1, P, P)
        return logits[: real.shape[0]], logits[real.shape[0] :]

    def d_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        real_a, real_b = batch  # (B, C_A, S, S), (B, C_B, S, S)
        if self._fakes is None:  # no generator step before this one: this batch's images, made now
            with torch.no_grad():
                self._fakes = (self.generator_ba(real_b), self.generator_ab(real_a))
        fake_a, fake_b = self._fakes
        self._fakes = None
        real_logits_a, fake_logits_a = self._judge(self.discriminator_a, real_a, self.pool_a.query(fake_a))
        real_logits_b, fake_logits_b = self._judge(self.discriminator_b, real_b, self.pool_b.query(fake_b))
        loss_a = d_cyclegan(real_logits_a, fake_logits_a, self.kind)
        loss_b = d_cyclegan(real_logits_b, fake_logits_b, self.kind)
        loss = loss_a + loss_b
        return loss, {"d_loss": loss.item(), "d_a": loss_a.item(), "d_b": loss_b.item()}

    # ------------------------------------------------------------------ checkpointed state
    def state_dict(self) -> dict:
        """This process's pools (the trainer keeps one such state per rank); {} without pools."""
        if not self.pool_a.size:  # loss.pool_size=0: nothing is kept between steps
            return {}
        return {"pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.pool_a.load_state_dict(state["pool_a"])
            self.pool_b.load_state_dict(state["pool_b"])

    # ------------------------------------------------------------------ pictures
    def sample_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed images of each side for the sample sheets: the first of the test split (else train)."""
        if self._samples is None:
            from condgan.data.unaligned import load_sample_sides

            real_a, real_b = load_sample_sides(self.config, limit=SAMPLE_IMAGES).float_sides()
            count = min(len(real_a), len(real_b))
            self._samples = (real_a[:count], real_b[:count])
        return self._samples

    @torch.no_grad()
    def write_samples(self, path: Path, generator_ab: nn.Module, generator_ba: nn.Module, step: int) -> None:
        """Six rows: a | G_AB(a) | G_BA(G_AB(a)) and b | G_BA(b) | G_AB(G_BA(b)), one column per image."""
        from condgan.plots import save_image

        real_a, real_b = self.sample_images()
        device = next(generator_ab.parameters()).device
        modes = (generator_ab.training, generator_ba.training)
        generator_ab.eval(), generator_ba.eval()
        try:
            fake_b = generator_ab(real_a.to(device))  # (N, C_B, S, S)
            fake_a = generator_ba(real_b.to(device))  # (N, C_A, S, S)
            rows = [real_a, fake_b, generator_ba(fake_b), real_b, fake_a, generator_ab(fake_a)]
        finally:
            generator_ab.train(modes[0]), generator_ba.train(modes[1])
        save_image(cycle_grid([row.float().cpu() for row in rows], title=f"step {step}"), path)


def cycle_grid(rows: list[torch.Tensor], title: str = ""):
    """A PIL grid of SAMPLE_ROWS' six rows (floats in [-1, 1]; gray rows shown as RGB beside RGB ones)."""
    from condgan.plots import class_grid

    channels = max(row.shape[1] for row in rows)
    images = torch.cat([row.expand(-1, channels, -1, -1) for row in rows])  # (6N, C, S, S)
    return class_grid(images, list(SAMPLE_ROWS), cols=rows[0].shape[0], title=title)
