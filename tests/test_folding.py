"""Folded generators (models/folding.py): one class's G as a plain network, and sampling with them."""

import numpy as np
import pytest
import torch
from torch import nn

from condgan.errors import CondganError
from condgan.inference.generate import FOLD_MIN_IMAGES, ClassConditionalGenerator
from condgan.models import build_generator
from condgan.models.dcgan import DCGANGenerator
from condgan.models.folding import FUSED_KERNELS, WithReLU
from tests.conftest import tiny_config


def _trained_looking(generator: nn.Module, seed: int = 0) -> nn.Module:
    """Batch-norm statistics and class scales far from their initial 0/1, so folding them is tested."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.3, 3.0)
                if module.affine:
                    module.weight.normal_(1.0, 0.3)
                    module.bias.normal_()
            if isinstance(module, nn.Embedding):
                module.weight.normal_(0.5, 0.5)
    return generator.eval()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_classes=10, image_size=28, channels=1, conditional_bn=True),
        dict(num_classes=10, image_size=32, channels=3, conditional_bn=False),  # one-hot concatenated to z
        dict(num_classes=0, image_size=64, channels=3),
    ],
)
def test_a_folded_dcgan_makes_the_modules_images(kwargs):
    generator = _trained_looking(DCGANGenerator(z_dim=16, width=8, **kwargs))
    z = torch.randn(9, 16)
    for label in [0, 4, 9] if kwargs["num_classes"] else [None]:
        labels = torch.full((9,), label) if label is not None else None
        with torch.no_grad():
            expected = generator(z, labels)
            folded = generator.fold_class(label)(z)
        assert folded.shape == expected.shape
        torch.testing.assert_close(folded, expected, atol=1e-5, rtol=0)
        assert not any(isinstance(m, nn.BatchNorm2d | nn.Embedding) for m in generator.fold_class(label).modules())


def test_a_bf16_layer_with_relu_runs_on_any_cpu():
    """Fused where oneDNN has bf16 on this CPU, relu after the layer elsewhere (an AVX2-only CPU: the fused
    kernel failed there with 'could not create a primitive descriptor')."""
    torch.manual_seed(0)
    layer, x = nn.Linear(20, 30).bfloat16(), torch.randn(6, 20).bfloat16()
    with torch.no_grad():
        assert WithReLU(layer).fused(x) == (FUSED_KERNELS is not None)
        got = WithReLU(layer)(x)
        expected = torch.relu(layer(x))
    torch.testing.assert_close(got.float(), expected.float(), atol=2e-2, rtol=2e-2)


@pytest.mark.skipif(FUSED_KERNELS is None, reason="this torch has no oneDNN, or oneDNN has no bf16 on this CPU")
def test_relu_inside_the_onednn_kernel_equals_relu_after_it():
    torch.manual_seed(0)
    x = torch.randn(6, 16, 7, 7).bfloat16().contiguous(memory_format=torch.channels_last)
    for layer, inputs in [
        (nn.ConvTranspose2d(16, 8, 4, 2, 1), x),
        (nn.Conv2d(16, 8, 3, 1, 1), x),
        (nn.Linear(20, 30), torch.randn(6, 20).bfloat16()),
    ]:
        fused = WithReLU(layer.bfloat16())
        with torch.no_grad():
            assert fused.fused(inputs)  # the oneDNN kernel, not the fallback
            got = fused(inputs)
            expected = torch.relu(layer(inputs))
        assert got.dtype == torch.bfloat16 and (got >= 0).all()
        torch.testing.assert_close(got.float(), expected.float(), atol=2e-2, rtol=2e-2)
    assert not fused.fused(inputs.float())  # float32: relu_ after the layer (the fused kernel was slower)


def _generator(precision: str = "fp32") -> ClassConditionalGenerator:
    config = tiny_config("data.image_size=28", "data.channels=1", "model.num_classes=10", "model.generator=dcgan",
                         "model.g_width=8").replace(data={"class_names": [str(i) for i in range(10)]})  # fmt: skip
    torch.manual_seed(0)
    return ClassConditionalGenerator(_trained_looking(build_generator(config)), config, torch.device("cpu"), precision)


def test_big_classes_are_folded_and_the_rest_made_together_with_the_same_images():
    generator = _generator()
    labels = torch.tensor([2] * FOLD_MIN_IMAGES + [7] * 5 + [1] * 3)[torch.randperm(FOLD_MIN_IMAGES + 8)]
    z = generator.noise(len(labels), seed=1)
    images = generator.generate_tensor(z, labels, batch_size=16)
    assert set(generator._folded) == {2}  # only class 2 has enough images to be folded
    with torch.no_grad():
        expected = generator.module(z, labels)
    torch.testing.assert_close(images, expected, atol=1e-5, rtol=0)


def test_the_folded_networks_follow_changed_weights():
    generator = _generator()
    labels = torch.full((FOLD_MIN_IMAGES,), 3)
    z = generator.noise(FOLD_MIN_IMAGES, seed=2)
    before = generator.generate_tensor(z, labels)
    with torch.no_grad():
        generator.module.to_image.weight.mul_(-1)  # an in-place update, as an optimizer or load_state_dict does
        expected = generator.module(z, labels)
    after = generator.generate_tensor(z, labels)
    assert (after - before).abs().max() > 0.1
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=0)


def test_bf16_images_are_within_a_few_levels_of_fp32():
    labels = [i % 10 for i in range(10 * FOLD_MIN_IMAGES)] + [3, 5]  # folded classes and a batched rest
    exact = _generator("fp32").generate(labels=labels, seed=0).astype(int)
    half = _generator("bf16").generate(labels=labels, seed=0).astype(int)
    difference = np.abs(exact - half)
    assert difference.max() <= 2 and difference.mean() < 0.5, (difference.max(), difference.mean())  # 1 and 0.22 here


def test_an_unknown_precision_is_refused():
    with pytest.raises(CondganError, match="unknown precision 'fp16'; valid: fp32, bf16"):
        _generator("fp16")
