"""The class-conditional task's D step: one pass over real and fake where that is exact."""

import pytest
import torch
from torch import nn

from condgan.models import build_discriminator, build_generator
from condgan.models.layers import CONTRASTIVE_DIM
from condgan.tasks.cgan import CGANTask, has_batch_statistics
from tests.conftest import tiny_config


def _task(*overrides: str, discriminator: nn.Module | None = None) -> CGANTask:
    config = tiny_config("data.image_size=28", "data.channels=1", "model.num_classes=10", "model.g_width=8",
                         "model.d_width=8", *overrides)  # fmt: skip
    torch.manual_seed(0)
    return CGANTask(config, build_generator(config), discriminator or build_discriminator(config))


@pytest.mark.parametrize("conditioning", ["concat", "projection", "acgan", "contrastive"])
@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_one_pass_over_real_and_fake_equals_two(model, conditioning):
    task = _task(f"model.generator={model}", f"model.discriminator={model}", f"model.conditioning={conditioning}")
    assert task.joint_d  # neither D has batch norm
    task.discriminator.eval()  # no dropout: the two ways must agree to rounding
    real, fake = torch.rand(6, 1, 28, 28) * 2 - 1, torch.rand(6, 1, 28, 28) * 2 - 1
    labels = torch.tensor([0, 1, 2, 3, 9, 9])
    (real_joint, real_classes), (fake_joint, fake_classes) = task._discriminate_both(real, fake, labels)
    task.joint_d = False
    (real_apart, real_classes_apart), (fake_apart, fake_classes_apart) = task._discriminate_both(real, fake, labels)
    torch.testing.assert_close(real_joint, real_apart)
    torch.testing.assert_close(fake_joint, fake_apart)
    assert real_joint.shape == fake_joint.shape == (6,)
    if conditioning in ("acgan", "contrastive"):
        torch.testing.assert_close(real_classes, real_classes_apart)
        torch.testing.assert_close(fake_classes, fake_classes_apart)
        assert real_classes.shape == ((6, 10) if conditioning == "acgan" else (6, 2, CONTRASTIVE_DIM))
    else:
        assert real_classes is fake_classes is None


def test_a_discriminator_with_batch_norm_gets_two_passes():
    assert has_batch_statistics(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    assert not has_batch_statistics(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.InstanceNorm2d(4)))
    with_batch_norm = nn.Sequential(nn.Flatten(), nn.Linear(784, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
    assert not _task(discriminator=with_batch_norm).joint_d
    assert _task().joint_d


def test_generate_works_in_cache_sized_chunks_with_the_same_images():
    from condgan.inference.generate import ClassConditionalGenerator

    config = tiny_config("data.image_size=28", "data.channels=1", "model.num_classes=10", "model.generator=dcgan",
                         "model.g_width=8").replace(data={"class_names": [str(i) for i in range(10)]})  # fmt: skip
    torch.manual_seed(0)
    generator = ClassConditionalGenerator(build_generator(config), config, torch.device("cpu"))
    assert generator.chunk == 128  # a conv generator on the CPU
    z, labels = generator.noise(300, seed=3), torch.arange(300) % 10
    chunked = generator.generate_tensor(z, labels)
    whole = generator.generate_tensor(z, labels, batch_size=300)
    assert chunked.shape == (300, 1, 28, 28) and chunked.is_contiguous()
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)  # eval-mode batch norm: no batch coupling
    mlp_config = tiny_config("data.image_size=28", "data.channels=1", "model.num_classes=10").replace(
        data={"class_names": [str(i) for i in range(10)]}
    )
    assert ClassConditionalGenerator(build_generator(mlp_config), mlp_config, torch.device("cpu")).chunk == 1024


def test_the_training_pictures_and_condgan_sample_draw_one_grid():
    """models.grid.grid_images is the grid of both: row = class, the same noise down each column."""
    from condgan.inference.generate import load_generator
    from condgan.models.grid import grid_images, grid_inputs

    g = load_generator("pretrained:digits", device="cpu")
    module = g.module.train()  # as a live generator in training
    images = grid_images(module, g.num_classes, g.z_dim, cols=10, seed=3)
    assert module.training, "its mode is restored"
    assert images.shape == (100, 1, 8, 8)
    z, labels = grid_inputs(g.num_classes, g.z_dim, cols=10, seed=3)
    assert torch.equal(z[:10], z[90:]) and labels.tolist() == [k for k in range(10) for _ in range(10)]
    module.eval()
    torch.testing.assert_close(images, g.generate_tensor(z, labels))  # what the generator makes of them
