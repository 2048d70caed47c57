"""Building blocks shared by the class-conditional models."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CONDITIONINGS = ("concat", "projection", "acgan", "contrastive")
CONTRASTIVE_DIM = 256  # `contrastive`: length of D's class embedding (ReACGAN: 512 for CIFAR-10's wider D)


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B,) int64 -> (B, num_classes) float. Float (B, num_classes) class weights (a class mixture, as the
    web demo's class morph uses) pass through as they are."""
    if labels.is_floating_point():
        return labels.to(dtype)
    return F.one_hot(labels, num_classes).to(dtype)


class Dropout(nn.Module):
    """nn.Dropout (zero each element with probability p in training, scale the rest by 1/(1-p)) with a
    cheaper mask on the CPU.

    torch's CPU dropout draws one 32-bit random number per element (`bernoulli_`), which made the
    mlp D's two dropout layers a tenth of its training step. Here each 64-bit draw of the same
    torch generator gives four 16-bit numbers, each compared with p * 2^16: the same distribution
    (p rounded to a multiple of 2^-16), `torch.manual_seed` still fixes the masks, and the RNG does
    a quarter of the work. On other devices, and in eval mode, it is exactly `F.dropout`.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.threshold = round(p * 65536) - 32768  # a uniform int16 is >= this with probability 1 - p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return F.dropout(x, self.p, self.training)
        count = x.numel()
        draws = torch.empty((count + 3) // 4, dtype=torch.int64).random_(-(2**63), None)  # all 64 bits random
        keep = draws.view(torch.int16)[:count].view(x.shape) >= self.threshold
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are looked up per class (de Vries et al. 2017)."""

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_features, affine=False)
        self.scale = nn.Embedding(num_classes, num_features)
        self.shift = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.scale.weight)
        nn.init.zeros_(self.shift.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out = self.norm(x)  # (B, C, H, W)
        if labels.is_floating_point():  # (B, K) class weights: the weighted mix of the classes' scale and shift
            scale = (labels @ self.scale.weight)[:, :, None, None]  # (B, K) @ (K, C) -> (B, C, 1, 1)
            shift = (labels @ self.shift.weight)[:, :, None, None]
        else:
            scale = self.scale(labels)[:, :, None, None]  # (B, C, 1, 1)
            shift = self.shift(labels)[:, :, None, None]
        return out * scale + shift


class MinibatchStd(nn.Module):
    """Appends one feature map: how much the images of a small group differ (Karras et al. 2018).

    Groups are `group` consecutive images (fewer when the batch does not divide; the largest size
    that does), so a batch of real images followed by generated ones keeps the two apart. Per group,
    the standard deviation of every feature over its images, averaged to one number, is broadcast
    as an extra channel: a generator that makes the same image over and over is easy to spot."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        group = max(g for g in range(1, min(self.group, b) + 1) if b % g == 0)
        # (B/G, G, C*H*W): the mean over features below does not care in which order they lie. The variance is
        # written out: torch.var over dim 1 of this 5-d view made the 28 px D's forward and backward at batch 128
        # take ~80 ms on a CPU instead of ~45 (`var` alone ~25 ms); written out it costs nothing measurable
        grouped = x.reshape(b // group, group, c * h * w).float()
        centred = grouped - grouped.mean(dim=1, keepdim=True)
        spread = (centred.square().mean(dim=1) + 1e-8).sqrt().mean(dim=1)  # (B/G,)
        spread = spread.to(x.dtype).repeat_interleave(group).view(b, 1, 1, 1).expand(b, 1, h, w)
        return torch.cat([x, spread], 1)  # (B, C + 1, H, W)


class DiscriminatorHead(nn.Module):
    """Turns D's features into a real/fake logit, conditioned at the output.

    - `concat` / unconditional: a linear layer (the label entered at D's input instead);
    - `projection`: linear(h) + <embed(y), h> (Miyato & Koyama 2018);
    - `acgan`: linear(h) for real/fake plus a class head (Odena et al. 2017); D ignores labels;
    - `contrastive`: linear(h) for real/fake plus a unit-length embedding of h and a unit-length proxy
      of the class, for ReACGAN's data-to-data cross-entropy (Kang et al. 2021; losses.d2d_ce).
    """

    def __init__(self, features: int, num_classes: int, conditioning: str, spectral_norm: bool = False):
        super().__init__()
        self.conditioning = conditioning if num_classes else "none"
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        self.linear = wrap(nn.Linear(features, 1))
        if self.conditioning == "projection":
            self.embed = wrap(nn.Embedding(num_classes, features))
            nn.init.normal_(self.embed.weight, std=0.02)
        if self.conditioning == "acgan":
            self.classifier = wrap(nn.Linear(features, num_classes))
        if self.conditioning == "contrastive":
            self.embedding = wrap(nn.Linear(features, CONTRASTIVE_DIM))
            self.proxies = wrap(nn.Embedding(num_classes, CONTRASTIVE_DIM))

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        logits = self.linear(features).squeeze(1)  # (B,)
        if self.conditioning == "projection":
            logits = logits + (self.embed(labels) * features).sum(1)  # (B,)
        return logits

    def classify(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The class term's input: acgan's class logits (B, K); contrastive's unit-length embeddings
        of the images and proxies of their labels, stacked (B, 2, CONTRASTIVE_DIM)."""
        if self.conditioning == "contrastive":
            pair = torch.stack([self.embedding(features), self.proxies(labels)], 1)  # (B, 2, E)
            return F.normalize(pair.float(), dim=2)
        return self.classifier(features)  # (B, num_classes)


def check_conditioning(conditioning: str) -> None:
    if conditioning not in CONDITIONINGS:
        from condgan.errors import ConfigError

        raise ConfigError(f"unknown conditioning {conditioning!r}; valid choices: {', '.join(CONDITIONINGS)}")


class ConditionalDiscriminator(nn.Module):
    """Shared forward of the class-conditional discriminators: subclasses define `features(images,
    labels)` -> (B, F) and a `head` (DiscriminatorHead)."""

    head: DiscriminatorHead

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None, with_classes: bool = False):
        """(B,) logits; with `with_classes` also the class term's input (DiscriminatorHead.classify),
        through `forward` so that DistributedDataParallel sees the call."""
        features = self.features(images, labels)
        if with_classes:
            return self.head(features, labels), self.head.classify(features, labels)
        return self.head(features, labels)  # (B,)

    def forward_with_classes(self, images: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        return self(images, labels, with_classes=True)
