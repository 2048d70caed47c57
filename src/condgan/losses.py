"""Adversarial losses as pure functions of D's logits.

Sign convention: every function returns a loss to *minimise*. `d_<kind>(real_logits, fake_logits)`
is the discriminator's loss, the sum of its loss on real pairs and its loss on generated pairs
(the seed's definition); `g_<kind>(fake_logits)` is the generator's. Logits are raw scores, any
shape (PatchGAN maps too); means are taken over all elements.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from condgan.errors import ConfigError


def d_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE(D(x), 1) + BCE(D(G(z)), 0) = E[softplus(-real)] + E[softplus(fake)]."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_bce(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating: BCE(D(G(z)), 1) = E[softplus(-fake)] (Goodfellow et al. 2014, sec. 3)."""
    return F.softplus(-fake_logits).mean()


def d_lsgan(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Least squares (Mao et al. 2017): 0.5 E[(real - 1)^2] + 0.5 E[fake^2]."""
    return 0.5 * (real_logits - 1).pow(2).mean() + 0.5 * fake_logits.pow(2).mean()


def g_lsgan(fake_logits: torch.Tensor) -> torch.Tensor:
    """0.5 E[(fake - 1)^2]."""
    return 0.5 * (fake_logits - 1).pow(2).mean()


def d_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge (Lim & Ye 2017; Miyato et al. 2018): E[relu(1 - real)] + E[relu(1 + fake)]."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def g_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[fake]."""
    return -fake_logits.mean()


def d_wgan(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Wasserstein critic (Arjovsky et al. 2017): E[fake] - E[real]; add gradient_penalty (wgan-gp)."""
    return fake_logits.mean() - real_logits.mean()


def g_wgan(fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[fake]."""
    return -fake_logits.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad critic(x_hat)|| - 1)^2], x_hat on real-fake lines."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): 0.5 E[||grad_x D(x)||^2] on real data; weight it by gamma.

    `real_inputs` must have requires_grad=True before D saw them.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real_inputs, create_graph=True)
    return 0.5 * grad.flatten(1).pow(2).sum(1).mean()


def d2d_ce(
    embeddings: torch.Tensor,
    proxies: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 0.5,
    positive_margin: float = 0.98,
    negative_margin: float = 0.02,
) -> torch.Tensor:
    """ReACGAN's data-to-data cross-entropy (Kang et al. 2021, eq. 8), the class term of `contrastive` D.

    embeddings, proxies: (B, E) unit vectors, D's embedding of each image and its class's proxy;
    labels: (B,). Each image should be nearer its class proxy than the batch's images of *other*
    classes: a softmax cross-entropy over [its proxy, those images] whose logits are cosine similarities
    over the temperature. The margins stop the pull once the proxy is near enough (cosine >=
    positive_margin) and the push once another class's image is far enough (cosine <= negative_margin),
    so easy pairs stop steering D. Same-class images are never pushed apart: unlike acgan's classifier,
    the term leaves room for variety inside a class.
    """
    embeddings, proxies = embeddings.float(), proxies.float()
    positive = ((embeddings * proxies).sum(1) - positive_margin).clamp(max=0) / temperature  # (B,)
    negatives = (embeddings @ embeddings.t() - negative_margin).clamp(min=0) / temperature  # (B, B)
    negatives = negatives.masked_fill(labels[:, None] == labels[None, :], float("-inf"))  # same class: left out
    return (torch.logsumexp(torch.cat([positive[:, None], negatives], 1), 1) - positive).mean()


def mode_seeking(
    images: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None, eps: float = 1e-5
) -> torch.Tensor:
    """MSGAN's mode-seeking term for G (Mao et al. 2019): 1 / (d_images / d_z + eps).

    Pairs of the batch that share a class (all pairs when labels is None) are compared: d_images is the mean
    absolute difference of their images, d_z that of their noise vectors. G lowers the term by making images
    that differ as much as the noise that made them, so it cannot answer many z with one image of a class.
    0, with no gradient, when no two images of the batch share a class.
    """
    order = torch.arange(len(z), device=z.device) if labels is None else torch.argsort(labels, stable=True)
    same = torch.ones(len(z) - 1, dtype=torch.bool, device=z.device)
    if labels is not None:
        same = labels[order[1:]] == labels[order[:-1]]  # neighbours in class order: a pair of one class
    first, second = order[:-1][same], order[1:][same]
    if not len(first):
        return images.new_zeros((), dtype=torch.float32)
    d_images = (images[first].float() - images[second].float()).abs().mean()
    d_z = (z[first] - z[second]).abs().mean()
    return 1 / (d_images / d_z + eps)


LOSSES: dict[str, tuple[Callable, Callable]] = {
    "bce": (d_bce, g_bce),
    "lsgan": (d_lsgan, g_lsgan),
    "hinge": (d_hinge, g_hinge),
    "wgan-gp": (d_wgan, g_wgan),
}


# ---------------------------------------------------------------- CycleGAN (Zhu et al. 2017)
# The reference code's GANLoss is the plain MSE for lsgan (and BCE for bce); our lsgan pair carries Mao
# et al.'s 1/2. The factor below turns ours into the reference's, so that lambda = 10 weighs the cycle
# terms against the adversarial ones as in the paper.
REFERENCE_SCALE = {"bce": 1.0, "lsgan": 2.0, "hinge": 1.0}
CYCLEGAN_LOSSES = tuple(REFERENCE_SCALE)


def d_cyclegan(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """One CycleGAN discriminator's loss, halved as in the paper: 0.5 * (loss on real + loss on fake);
    lsgan: 0.5 * (E[(real - 1)^2] + E[fake^2]); bce: 0.5 * (E[softplus(-real)] + E[softplus(fake)])."""
    return 0.5 * REFERENCE_SCALE[kind] * LOSSES[kind][0](real_logits, fake_logits)


def g_cyclegan(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """A CycleGAN generator's adversarial loss: lsgan E[(fake - 1)^2]; bce E[softplus(-fake)]; hinge -E[fake]."""
    return REFERENCE_SCALE[kind] * LOSSES[kind][1](fake_logits)


def l1(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference E|output - target| (CycleGAN's cycle and identity terms, pix2pix's L1)."""
    return (output - target).abs().mean()


def g_cycle(
    real_a: torch.Tensor, reconstructed_a: torch.Tensor, real_b: torch.Tensor, reconstructed_b: torch.Tensor,
    *, weight: float,
) -> torch.Tensor:  # fmt: skip
    """Cycle consistency: weight * (E|G_BA(G_AB(a)) - a| + E|G_AB(G_BA(b)) - b|), lambda = 10 in the paper."""
    return weight * (l1(reconstructed_a, real_a) + l1(reconstructed_b, real_b))


def g_identity(
    real_a: torch.Tensor, same_a: torch.Tensor, real_b: torch.Tensor, same_b: torch.Tensor,
    *, weight: float, cycle_weight: float,
) -> torch.Tensor:  # fmt: skip
    """Identity: weight * cycle_weight * (E|G_BA(a) - a| + E|G_AB(b) - b|), 0.5 * lambda in the paper."""
    return weight * cycle_weight * (l1(same_a, real_a) + l1(same_b, real_b))


def get_loss(kind: str) -> tuple[Callable, Callable]:
    """(d_loss, g_loss) for a loss name; ConfigError naming the valid ones otherwise."""
    if kind not in LOSSES:
        raise ConfigError(f"unknown loss {kind!r}; valid choices: {', '.join(LOSSES)}")
    return LOSSES[kind]
