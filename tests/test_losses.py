import math

import pytest
import torch

from condgan import losses
from condgan.errors import ConfigError


def test_bce_on_known_logits():
    real, fake = torch.tensor([0.0]), torch.tensor([0.0])
    # D(x) = D(G(z)) = 0.5: each BCE term is log 2, and D's loss is their sum (the seed's definition)
    assert losses.d_bce(real, fake).item() == pytest.approx(2 * math.log(2))
    assert losses.g_bce(fake).item() == pytest.approx(math.log(2))
    # a confident, correct D has a small loss; the non-saturating G loss is then large
    assert losses.d_bce(torch.tensor([10.0]), torch.tensor([-10.0])).item() < 1e-3
    assert losses.g_bce(torch.tensor([-10.0])).item() == pytest.approx(10.0, abs=1e-3)


def test_bce_matches_torch_reference():
    real, fake = torch.randn(16), torch.randn(16)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(real, torch.ones(16)) + bce(fake, torch.zeros(16))
    assert losses.d_bce(real, fake).item() == pytest.approx(expected.item(), rel=1e-6)
    assert losses.g_bce(fake).item() == pytest.approx(bce(fake, torch.ones(16)).item(), rel=1e-6)


def test_lsgan_hinge_wgan_on_known_values():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert losses.d_lsgan(real, fake).item() == pytest.approx(0.5 * (0 + 4) / 2 + 0.5 * (0 + 4) / 2)
    assert losses.g_lsgan(fake).item() == pytest.approx(0.5 * (1 + 9) / 2)
    assert losses.d_hinge(real, fake).item() == pytest.approx((0 + 0) / 2 + (1 + 0) / 2)
    assert losses.g_hinge(fake).item() == pytest.approx(1.0)
    assert losses.d_wgan(real, fake).item() == pytest.approx(-1.0 - 2.0)
    assert losses.g_wgan(fake).item() == pytest.approx(1.0)


def test_gradient_penalty_of_a_linear_critic():
    weight = torch.tensor([3.0, 4.0])  # ||grad|| = 5 everywhere, so the penalty is (5 - 1)^2
    penalty = losses.gradient_penalty(lambda x: x @ weight, torch.randn(8, 2), torch.randn(8, 2))
    assert penalty.item() == pytest.approx(16.0)


def test_r1_penalty_of_a_quadratic_critic():
    x = torch.randn(4, 3, requires_grad=True)
    logits = (x**2).sum(1)  # grad = 2x, so 0.5 E||2x||^2 = 2 E||x||^2
    assert losses.r1_penalty(logits, x).item() == pytest.approx(2 * x.detach().pow(2).sum(1).mean().item(), rel=1e-5)


# ---------------------------------------------------------------- ReACGAN's class term
def test_d2d_ce_on_known_embeddings():
    # two images of two classes, each on its proxy (cosine 1, past the 0.98 margin: no pull) and at right
    # angles to the other (cosine 0, under the 0.02 margin: no push): every logit is 0, the loss is log 2
    units = torch.eye(2)
    assert losses.d2d_ce(units, units, torch.tensor([0, 1])).item() == pytest.approx(math.log(2))
    # images of one class have no negatives: nothing to tell apart, no loss
    assert losses.d2d_ce(units, units, torch.tensor([3, 3])).item() == pytest.approx(0.0)


def test_d2d_ce_is_the_papers_sum_written_out():
    torch.manual_seed(0)
    embeddings = torch.nn.functional.normalize(torch.randn(12, 5), dim=1)
    proxies = torch.nn.functional.normalize(torch.randn(12, 5), dim=1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 3, 0])
    tau, m_p, m_n = 0.5, 0.98, 0.02
    rows = []
    # -log(e^{min(f.v - m_p, 0)/tau} / (that + the sum over other classes' j of e^{max(f.f_j - m_n, 0)/tau}))
    for i in range(12):
        positive = math.exp(min(float(embeddings[i] @ proxies[i]) - m_p, 0) / tau)
        others = [j for j in range(12) if labels[j] != labels[i]]
        negatives = sum(math.exp(max(float(embeddings[i] @ embeddings[j]) - m_n, 0) / tau) for j in others)
        rows.append(-math.log(positive / (positive + negatives)))
    assert losses.d2d_ce(embeddings, proxies, labels).item() == pytest.approx(sum(rows) / 12, rel=1e-5)


def test_d2d_ce_pulls_images_to_their_proxies_and_apart_from_other_classes():
    torch.manual_seed(0)
    weights = torch.randn(6, 8, requires_grad=True)  # six images' free embeddings, three classes
    proxies = torch.nn.functional.normalize(torch.randn(3, 8), dim=1)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    optimizer = torch.optim.SGD([weights], lr=0.5)
    for _ in range(300):
        optimizer.zero_grad()
        losses.d2d_ce(torch.nn.functional.normalize(weights, dim=1), proxies[labels], labels).backward()
        optimizer.step()
    embeddings = torch.nn.functional.normalize(weights.detach(), dim=1)
    assert (embeddings * proxies[labels]).sum(1).min() > 0.9  # at their class's proxy
    other_class = labels[:, None] != labels[None, :]
    assert (embeddings @ embeddings.t())[other_class].max() < 0.3  # away from the other classes' images


# ---------------------------------------------------------------- MSGAN's mode-seeking term
def test_mode_seeking_compares_only_images_of_one_class():
    images = torch.tensor([[0.0, 0.0], [9.0, 9.0], [1.0, 1.0], [5.0, 5.0]])  # (B, pixels)
    z = torch.tensor([[0.0], [0.0], [2.0], [7.0]])
    labels = torch.tensor([4, 1, 4, 2])
    # one pair shares a class, images 0 and 2: d_images = 1, d_z = 2, so the term is 1 / (1/2 + eps)
    assert losses.mode_seeking(images, z, labels).item() == pytest.approx(2.0, rel=1e-4)
    # unconditional: every neighbour is a pair, (0,1), (1,2), (2,3): d_images = (9 + 8 + 4) / 3, d_z = (0 + 2 + 5) / 3
    assert losses.mode_seeking(images, z, None).item() == pytest.approx(7 / 21, rel=1e-4)
    # no two images of one class: nothing to compare
    assert losses.mode_seeking(images, z, torch.tensor([0, 1, 2, 3])).item() == 0.0


def test_mode_seeking_rewards_images_that_differ_as_their_noise_does():
    z = torch.randn(8, 4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    collapsed = torch.zeros(8, 16) + 0.01 * z[:, :1]  # one image per class, whatever z says
    varied = z.repeat(1, 4)  # images as far apart as their z
    assert losses.mode_seeking(varied, z, labels) < 1.01 < losses.mode_seeking(collapsed, z, labels)


def test_unknown_loss_lists_choices():
    with pytest.raises(ConfigError, match="valid choices: bce, lsgan, hinge, wgan-gp"):
        losses.get_loss("nope")


# ---------------------------------------------------------------- CycleGAN's terms, by hand
def test_cyclegan_discriminator_loss_is_the_reference_halved():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    # lsgan, the reference's MSE: 0.5 * (mean((real - 1)^2) + mean(fake^2)) = 0.5 * ((0 + 4) / 2 + (0 + 4) / 2)
    assert losses.d_cyclegan(real, fake, "lsgan").item() == pytest.approx(2.0)
    # bce: 0.5 * (mean(softplus(-real)) + mean(softplus(fake)))
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    expected = 0.5 * ((softplus(-1) + softplus(-3)) / 2 + (softplus(0) + softplus(-2)) / 2)
    assert losses.d_cyclegan(real, fake, "bce").item() == pytest.approx(expected)
    assert losses.d_cyclegan(real, fake, "hinge").item() == pytest.approx(0.5 * (0 + (1 + 0) / 2))


def test_cyclegan_generator_adversarial_loss_is_the_reference():
    fake = torch.tensor([0.0, -2.0])
    assert losses.g_cyclegan(fake, "lsgan").item() == pytest.approx((1 + 9) / 2)  # mean((fake - 1)^2)
    assert losses.g_cyclegan(fake, "bce").item() == pytest.approx((math.log(2) + math.log1p(math.exp(2))) / 2)
    assert losses.g_cyclegan(fake, "hinge").item() == pytest.approx(1.0)


def test_cycle_and_identity_terms_by_hand():
    real_a, real_b = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    reconstructed_a = torch.tensor([[[[0.5, -0.5], [0.0, 1.0]]]])  # E|.| = (0.5 + 0.5 + 0 + 1) / 4 = 0.5
    reconstructed_b = torch.full((1, 1, 2, 2), 0.75)  # E|0.75 - 1| = 0.25
    assert losses.l1(reconstructed_a, real_a).item() == pytest.approx(0.5)
    assert losses.g_cycle(real_a, reconstructed_a, real_b, reconstructed_b, weight=10).item() == pytest.approx(7.5)
    # identity: 0.5 * lambda * (E|G_BA(a) - a| + E|G_AB(b) - b|) = 0.5 * 10 * (0.5 + 0.25)
    same = losses.g_identity(real_a, reconstructed_a, real_b, reconstructed_b, weight=0.5, cycle_weight=10)
    assert same.item() == pytest.approx(3.75)
    assert losses.g_identity(real_a, reconstructed_a, real_b, reconstructed_b, weight=0, cycle_weight=10).item() == 0
