import dataclasses

import pytest
import torch

from condgan.config import load_config
from condgan.errors import ConfigError
from condgan.models import build_discriminator, build_generator
from condgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from condgan.models.layers import CONTRASTIVE_DIM, Dropout
from condgan.models.mlp import MLPDiscriminator, MLPGenerator


def linear(fan_in, fan_out):
    return fan_in * fan_out + fan_out


def test_mlp_has_the_classic_layer_sizes():
    z, k, pixels = 100, 10, 28 * 28
    generator = MLPGenerator(z_dim=z, num_classes=k, image_size=28, channels=1)
    expected_g = (
        linear(z + k, 128) + linear(128, 256) + 2 * 256 + linear(256, 512) + 2 * 512
        + linear(512, 1024) + 2 * 1024 + linear(1024, pixels)
    )  # fmt: skip
    assert sum(p.numel() for p in generator.parameters()) == expected_g
    discriminator = MLPDiscriminator(num_classes=k, image_size=28, channels=1)
    expected_d = linear(pixels + k, 512) + 2 * linear(512, 512) + linear(512, 1)
    assert sum(p.numel() for p in discriminator.parameters()) == expected_d


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("conditioning", ["concat", "projection", "acgan", "contrastive"])
def test_dcgan_shapes(size, channels, conditioning):
    generator = DCGANGenerator(z_dim=16, num_classes=10, image_size=size, channels=channels, width=8)
    discriminator = DCGANDiscriminator(
        num_classes=10, image_size=size, channels=channels, width=8, conditioning=conditioning, spectral_norm=True
    )
    z, labels = torch.randn(4, 16), torch.tensor([0, 3, 9, 3])
    images = generator(z, labels)
    assert images.shape == (4, channels, size, size)
    assert images.abs().max() <= 1
    assert discriminator(images, labels).shape == (4,)
    if conditioning == "acgan":
        logits, classes = discriminator.forward_with_classes(images, labels)
        assert logits.shape == (4,) and classes.shape == (4, 10)
    if conditioning == "contrastive":  # unit-length image embeddings and class proxies; one proxy per class
        logits, pairs = discriminator.forward_with_classes(images, labels)
        assert logits.shape == (4,) and pairs.shape == (4, 2, CONTRASTIVE_DIM)
        torch.testing.assert_close(pairs.norm(dim=2), torch.ones(4, 2))
        torch.testing.assert_close(pairs[1, 1], pairs[3, 1])  # both of class 3
        assert not torch.allclose(pairs[0, 1], pairs[1, 1])


def test_dcgan_28px_parameter_count():
    w, z, k = 8, 16, 10
    generator = DCGANGenerator(z_dim=z, num_classes=k, image_size=28, channels=1, width=w, conditional_bn=True)
    # linear z -> 4w x 7 x 7 (no bias), CBN(4w): 2 embeddings; convT 4w->2w, CBN(2w); convT 2w->w, CBN(w); conv w->1
    expected = (
        z * 4 * w * 49 + 2 * k * 4 * w
        + 4 * w * 2 * w * 16 + 2 * k * 2 * w
        + 2 * w * w * 16 + 2 * k * w
        + w * 1 * 9 + 1
    )  # fmt: skip
    assert sum(p.numel() for p in generator.parameters()) == expected


def test_conditioning_changes_the_output():
    torch.manual_seed(0)
    generator = DCGANGenerator(z_dim=16, num_classes=10, image_size=28, channels=1, width=8).eval()
    with torch.no_grad():
        generator.blocks[0].norm.scale.weight.normal_()  # untrained CBN is the identity for every class
        z = torch.randn(1, 16).repeat(2, 1)
        a, b = generator(z, torch.tensor([1, 2]))
    assert (a - b).abs().max() > 1e-3


def test_unconditional_models_take_no_labels():
    generator = DCGANGenerator(z_dim=16, num_classes=0, image_size=28, channels=1, width=8)
    discriminator = DCGANDiscriminator(num_classes=0, image_size=28, channels=1, width=8)
    assert discriminator(generator(torch.randn(3, 16))).shape == (3,)
    mlp = MLPGenerator(z_dim=16, num_classes=0, image_size=8, channels=1)
    assert MLPDiscriminator(num_classes=0, image_size=8, channels=1)(mlp(torch.randn(3, 16))).shape == (3,)


def test_seeded_output_slice_is_stable():
    """Same seed, same weights, same numbers: a guard against silent architecture changes."""
    torch.manual_seed(0)
    config = load_config(overrides=["data.image_size=28", "data.channels=1", "model.num_classes=10"])
    generator = build_generator(config).eval()
    with torch.no_grad():
        out = generator(torch.randn(2, config.model.z_dim), torch.tensor([3, 7]))
    torch.manual_seed(0)
    again = build_generator(config).eval()
    with torch.no_grad():
        assert torch.equal(out, again(torch.randn(2, config.model.z_dim), torch.tensor([3, 7])))
    assert out.shape == (2, 1, 28, 28)
    # eval-mode BN with fresh running stats (mean 0, var 1) and tanh: values inside (-1, 1), not constant
    assert out.abs().max() < 1 and out.std() > 0.01


def test_unknown_names_list_the_choices():
    """The config refuses an unknown name when it is built; the registries again for a config built directly."""
    base = ["data.image_size=28", "data.channels=1", "model.num_classes=10"]
    for key, name, message in [
        ("generator", "resnet9", "unknown generator 'resnet9'; valid choices: mlp, dcgan"),
        ("discriminator", "big", "unknown discriminator 'big'; valid choices: mlp, dcgan"),
        ("conditioning", "film", "unknown conditioning 'film'; valid choices: concat, projection, acgan, contrastive"),
    ]:
        with pytest.raises(ConfigError, match=f"model.{key} must be one of .*, got '{name}'"):
            load_config(overrides=[*base, f"model.{key}={name}"])
        config = load_config(overrides=base)
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **{key: name}))
        with pytest.raises(ConfigError, match=message):
            build_generator(config)
            build_discriminator(config)


def test_dcgan_refuses_an_unsupported_size():
    with pytest.raises(ConfigError, match="dcgan supports image sizes 28, 32, 64, got 48"):
        DCGANGenerator(z_dim=8, num_classes=10, image_size=48, channels=1)


def test_dropout_masks_at_rate_p_and_scales_what_it_keeps():
    """layers.Dropout is nn.Dropout's function: P(zero) = p in every one of the four 16-bit lanes
    a 64-bit draw is split into, the rest scaled by 1/(1-p), the gradient the same mask."""
    p = 0.4
    dropout = Dropout(p).train()
    x = torch.ones(1024, 1024, requires_grad=True)
    torch.manual_seed(0)
    out = dropout(x)
    kept = out != 0
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
    lanes = kept.flatten().view(-1, 4).float().mean(0)  # the four int16 slices of each draw
    assert torch.allclose(lanes, torch.full((4,), 1 - p), atol=0.004), lanes  # std of each is ~0.001
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # d(out)/dx is the scaled mask itself
    torch.manual_seed(0)
    assert torch.equal(dropout(x), out)  # torch's generator fixes the mask


def test_dropout_is_the_identity_in_eval_mode_and_refuses_bad_p():
    x = torch.randn(8, 16)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    for p in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\)"):
            Dropout(p)


def test_minibatch_std_appends_each_groups_spread_and_keeps_groups_apart():
    from condgan.models.layers import MinibatchStd

    torch.manual_seed(0)
    same = torch.randn(1, 3, 2, 2).expand(4, -1, -1, -1)  # a group of one image made four times
    varied = torch.randn(4, 3, 2, 2)
    out = MinibatchStd(4)(torch.cat([same, varied]))
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], torch.cat([same, varied]))
    assert out[:4, 3].max() < 1e-3  # no spread: the collapse D is shown
    expected = varied.double().std(dim=0, unbiased=False).mean()
    assert torch.allclose(out[4:, 3], expected.float().expand(4, 2, 2), atol=1e-5)
    assert MinibatchStd(4)(torch.randn(6, 2, 1, 1))[:, 2].flatten().unique().numel() == 2  # 6 = two groups of 3
    images = torch.randn(8, 5, 3, 3, requires_grad=True)  # channels-last (the default recipe's layout): the same
    for layout in (torch.contiguous_format, torch.channels_last):
        spread = MinibatchStd(4)(images.contiguous(memory_format=layout))[:, 5, 0, 0]
        expected = images.detach().reshape(2, 4, -1).double().var(dim=1, unbiased=False).sqrt().mean(dim=1)
        assert torch.allclose(spread, expected.float().repeat_interleave(4))
        assert torch.autograd.grad(spread.sum(), images)[0].abs().sum() > 0


def test_minibatch_std_in_the_dcgan_discriminator():
    base = load_config(
        overrides=["data.image_size=28", "data.channels=1", "model.num_classes=10", "model.minibatch_std=4"]
    )
    discriminator = build_discriminator(base)
    plain = build_discriminator(dataclasses.replace(base, model=dataclasses.replace(base.model, minibatch_std=0)))
    extra = sum(p.numel() for p in discriminator.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == 7 * 7 * (1 + base.model.num_classes)  # one more 7x7 map into the linear and projection heads
    assert discriminator(torch.randn(8, 1, 28, 28), torch.arange(8)).shape == (8,)
    mlp = load_config(
        overrides=["data.image_size=28", "data.channels=1", "model.discriminator=mlp", "model.minibatch_std=4"]
    )
    with pytest.raises(ConfigError, match="minibatch_std is for the dcgan discriminator"):
        build_discriminator(mlp)


def test_the_joint_real_and_fake_pass_equals_two_passes_with_minibatch_std():
    from condgan.tasks.cgan import CGANTask

    config = load_config(
        overrides=["data.image_size=28", "data.channels=1", "model.num_classes=10", "model.minibatch_std=4"]
    )
    torch.manual_seed(0)
    task = CGANTask(config, build_generator(config), build_discriminator(config))
    assert task.joint_d and task.spread_groups == [4]
    real, fake, labels = torch.randn(8, 1, 28, 28), torch.randn(8, 1, 28, 28), torch.arange(8) % 10
    (real_joint, _), (fake_joint, _) = task._discriminate_both(real, fake, labels)
    assert torch.allclose(real_joint, task.discriminator(real, labels), atol=1e-5)
    assert torch.allclose(fake_joint, task.discriminator(fake, labels), atol=1e-5)
