"""pix2pix networks: reference checkpoints reproduce the reference outputs; shapes, counts, errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from condgan.errors import CheckpointError
from condgan.models.patchgan import PatchDiscriminator, PixelDiscriminator, receptive_field
from condgan.models.reference import (
    load_reference_state_dict,
    read_reference_checkpoint,
    reference_discriminator,
    reference_generator,
)
from condgan.models.resnet import ResnetGenerator
from condgan.models.unet import UNetGenerator

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pix2pix_reference"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"reference pix2pix fixtures not found at {FIXTURES}")


def load_generator_fixture(name: str, **changes: object) -> tuple[nn.Module, dict]:
    io = torch.load(FIXTURES / f"{name}_io.pt", weights_only=False)
    options = {**io["options"], **changes}
    generator = reference_generator(
        options["netG"], options["input_nc"], options["output_nc"], options["ngf"],
        options["norm"], options["use_dropout"],
    )  # fmt: skip
    state = read_reference_checkpoint(FIXTURES / f"{name}_net_G.pth")
    load_reference_state_dict(generator, state, f"{name}_net_G.pth")
    return generator, io


def load_discriminator_fixture(name: str, **changes: object) -> tuple[nn.Module, dict]:
    io = torch.load(FIXTURES / f"{name}_D_io.pt", weights_only=False)
    options = {**io["options"], **changes}
    discriminator = reference_discriminator(
        options["netD"], options["input_nc"], options["ndf"], options.get("n_layers_D", 3), options["norm"]
    )
    state = read_reference_checkpoint(FIXTURES / f"{name}_net_D.pth")
    load_reference_state_dict(discriminator, state, f"{name}_net_D.pth")
    return discriminator, io


def max_abs_error(model: nn.Module, io: dict) -> float:
    with torch.no_grad():
        output = model.eval()(io["input"])
    assert output.shape == io["output"].shape
    return (output - io["output"]).abs().max().item()


# --- reference checkpoints ------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize("name", ["unet_128", "unet_256", "resnet_9blocks"])
def test_reference_generator_reproduces_reference_output(name: str) -> None:
    # the fixtures' BatchNorm running statistics are perturbed: dropping them fails by ~1e-2
    generator, io = load_generator_fixture(name)
    assert max_abs_error(generator, io) <= 1e-5


@needs_fixtures
@pytest.mark.parametrize("name", ["basic", "n_layers_4", "pixel"])
def test_reference_discriminator_reproduces_reference_output(name: str) -> None:
    discriminator, io = load_discriminator_fixture(name)
    assert max_abs_error(discriminator, io) <= 1e-5


@needs_fixtures
def test_dataparallel_prefix_and_legacy_instance_norm_buffers_are_accepted() -> None:
    _, io = load_generator_fixture("unet_128")  # instance norm
    state = {
        f"module.{key}": value for key, value in read_reference_checkpoint(FIXTURES / "unet_128_net_G.pth").items()
    }
    state["module.model.model.1.model.3.model.2.running_mean"] = torch.zeros(32)  # saved by PyTorch < 0.4
    fresh = reference_generator("unet_128", 1, 3, 8, "instance", False)
    load_reference_state_dict(fresh, state, "dataparallel.pth")
    assert max_abs_error(fresh, io) <= 1e-5


UNET_128_INNERMOST_UP = "model.model.1." + "model.3." * 5 + "model.3.weight"
# fixture, option changed, first mismatched key, "checkpoint <shape>, model <shape>", option named
WRONG_GENERATOR_OPTIONS = [
    ("unet_128", {"ngf": 16}, "model.model.0.weight", "(8, 1, 4, 4), model (16, 1, 4, 4)", "--ngf"),
    ("unet_128", {"norm": "batch"}, "model.model.1.model.2.weight", "none, model (16,)", "--norm"),
    ("unet_256", {"netG": "unet_128"}, UNET_128_INNERMOST_UP, "none, model (32, 32, 4, 4)", "--netG"),
    ("resnet_9blocks", {"netG": "resnet_6blocks"}, "model.16.weight", "none, model (32, 16, 3, 3)", "--netG"),
]


@needs_fixtures
@pytest.mark.parametrize(("name", "changes", "key", "shapes", "option"), WRONG_GENERATOR_OPTIONS)
def test_generator_with_wrong_options_names_key_shapes_and_option(
    name: str, changes: dict, key: str, shapes: str, option: str
) -> None:
    with pytest.raises(CheckpointError) as error:
        load_generator_fixture(name, **changes)
    message = str(error.value)
    assert "\n" not in message and len(message) < 400
    assert repr(key) in message and f"checkpoint {shapes}" in message and option in message


@needs_fixtures
def test_discriminator_with_wrong_options_names_key_shapes_and_option() -> None:
    with pytest.raises(CheckpointError, match=r"'model\.11\.weight' \(checkpoint \(1, 64, 4, 4\), model \(64, 64"):
        load_discriminator_fixture("basic", netD="n_layers", n_layers_D=4)
    with pytest.raises(CheckpointError, match=r"unexpected key 'model\.3\.weight'.*--norm"):
        load_discriminator_fixture("basic", norm="none")


def test_unexpected_key_is_named() -> None:
    discriminator = PixelDiscriminator(in_channels=2, width=4, norm="batch")
    shapes = {"net.0.weight": (4, 2, 1, 1), "net.0.bias": (4,), "net.2.weight": (8, 4, 1, 1)}
    shapes |= {f"net.3.{name}": (8,) for name in ("weight", "bias", "running_mean", "running_var")}
    shapes |= {"net.3.num_batches_tracked": (), "net.5.weight": (1, 8, 1, 1)}
    state = {key: torch.zeros(shape) for key, shape in shapes.items()}
    load_reference_state_dict(discriminator, state, "pixel.pth")  # complete: loads
    with pytest.raises(CheckpointError, match=r"pixel\.pth has unexpected key 'net\.9\.weight' \(checkpoint \(3,\)"):
        load_reference_state_dict(discriminator, {**state, "net.9.weight": torch.zeros(3)}, "pixel.pth")


def test_garbage_and_non_state_dict_files_raise_checkpoint_error(tmp_path: Path) -> None:
    model = PatchDiscriminator(in_channels=6, width=4)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint\x00\x01\x02" * 10)
    with pytest.raises(CheckpointError, match="garbage.pth is not a state_dict"):
        read_reference_checkpoint(garbage)
    torch.save(model, tmp_path / "whole_model.pth")  # a pickled module, not its state_dict
    with pytest.raises(CheckpointError, match="whole_model.pth is not a state_dict"):
        read_reference_checkpoint(tmp_path / "whole_model.pth")
    torch.save({"epoch": 3, "lr": 0.0002}, tmp_path / "options.pth")
    with pytest.raises(CheckpointError, match="entry 'epoch' holds int"):
        read_reference_checkpoint(tmp_path / "options.pth")
    with pytest.raises(CheckpointError, match="got list"):
        load_reference_state_dict(model, [torch.zeros(1)], "list")
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        read_reference_checkpoint(tmp_path / "missing.pth")


# --- shapes and parameter counts at standard widths ---------------------------------------------


def conv_params(in_channels: int, out_channels: int, kernel: int, bias: bool) -> int:
    return in_channels * out_channels * kernel * kernel + (out_channels if bias else 0)


def batch_norm_params(channels: int) -> int:
    return 2 * channels  # weight and bias; running stats are buffers


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_patchgan_70x70_parameter_count() -> None:
    expected = (
        conv_params(6, 64, 4, bias=True)
        + conv_params(64, 128, 4, bias=False) + batch_norm_params(128)
        + conv_params(128, 256, 4, bias=False) + batch_norm_params(256)
        + conv_params(256, 512, 4, bias=False) + batch_norm_params(512)
        + conv_params(512, 1, 4, bias=True)
    )  # fmt: skip
    assert expected == 2_768_705  # "[Network D] Total number of parameters : 2.769 M"
    assert count_params(PatchDiscriminator(in_channels=6, width=64, n_layers=3, norm="batch")) == expected


def test_unet_256_parameter_count() -> None:
    c = [64, 128, 256, 512, 512, 512, 512, 512]  # encoder channels per level, batch norm: no conv biases
    down = conv_params(3, c[0], 4, bias=False)  # outermost: no norm
    down += sum(conv_params(c[i - 1], c[i], 4, bias=False) + batch_norm_params(c[i]) for i in range(1, 7))
    down += conv_params(c[6], c[7], 4, bias=False)  # innermost: no norm
    up = conv_params(c[7], c[6], 4, bias=False) + batch_norm_params(c[6])  # innermost: no skip yet
    up += sum(conv_params(2 * c[i], c[i - 1], 4, bias=False) + batch_norm_params(c[i - 1]) for i in range(1, 7))
    up += conv_params(2 * c[0], 3, 4, bias=True)  # outermost: bias, tanh
    assert down + up == 54_413_955  # "[Network G] Total number of parameters : 54.414 M"
    with torch.device("meta"):
        generator = reference_generator("unet_256", 3, 3, 64, "batch", True)
    assert count_params(generator) == down + up
    assert sum(isinstance(m, nn.Dropout) for m in generator.modules()) == 3  # the three 512->512 levels


def test_resnet_9blocks_parameter_count() -> None:
    # instance norm: every conv has a bias and the norms have no parameters
    expected = (
        conv_params(3, 64, 7, True) + conv_params(64, 128, 3, True) + conv_params(128, 256, 3, True)
        + 9 * 2 * conv_params(256, 256, 3, True)
        + conv_params(256, 128, 3, True) + conv_params(128, 64, 3, True) + conv_params(64, 3, 7, True)
    )  # fmt: skip
    assert expected == 11_378_179  # CycleGAN's "11.378 M"
    with torch.device("meta"):
        generator = ResnetGenerator(in_channels=3, out_channels=3, width=64, norm="instance", num_blocks=9)
    assert count_params(generator) == expected


def test_pixel_discriminator_parameter_count() -> None:
    expected = conv_params(6, 64, 1, True) + conv_params(64, 128, 1, False) + batch_norm_params(128)
    expected += conv_params(128, 1, 1, False)
    assert count_params(PixelDiscriminator(in_channels=6, width=64, norm="batch")) == expected


@pytest.mark.parametrize(
    ("model", "in_shape", "out_shape"),
    [
        (lambda: reference_generator("unet_256", 3, 3, 64, "batch"), (2, 3, 256, 256), (2, 3, 256, 256)),
        (lambda: reference_generator("unet_128", 1, 2, 64, "instance"), (2, 1, 128, 256), (2, 2, 128, 256)),
        (lambda: reference_generator("unet_32", 3, 3, 64, "batch"), (2, 3, 32, 32), (2, 3, 32, 32)),
        (
            lambda: reference_generator("resnet_9blocks", 3, 3, 64, "instance"),
            (2, 3, 256, 256),
            (2, 3, 256, 256),
        ),
        (lambda: reference_discriminator("basic", 6, 64), (2, 6, 256, 256), (2, 1, 30, 30)),
        (lambda: reference_discriminator("n_layers", 6, 64, 4), (2, 6, 256, 256), (2, 1, 14, 14)),
        (lambda: reference_discriminator("pixel", 6, 64), (2, 6, 256, 256), (2, 1, 256, 256)),
    ],
)
def test_output_shapes_at_standard_widths(model: Callable[[], nn.Module], in_shape: tuple, out_shape: tuple) -> None:
    with torch.device("meta"):  # shapes only, no arithmetic
        output = model()(torch.empty(in_shape))
    assert tuple(output.shape) == out_shape


def test_patchgan_receptive_field_is_70_pixels() -> None:
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(in_channels=1, width=4, n_layers=3, norm="none")
    images = torch.randn(1, 1, 160, 160, requires_grad=True)
    logits = discriminator(images)  # (1, 1, 18, 18)
    logits[0, 0, 9, 9].backward()
    rows = images.grad[0, 0].abs().sum(1).nonzero()
    assert rows.max() - rows.min() + 1 == receptive_field(3) == 70


# --- input errors -----------------------------------------------------------------------------


def test_unet_input_not_divisible_raises_clear_error() -> None:
    generator = UNetGenerator(in_channels=3, out_channels=3, num_downs=5, width=4)
    with pytest.raises(ValueError, match=r"num_downs=5 needs height and width divisible by 32, got 48x32"):
        generator(torch.zeros(1, 3, 48, 32))
    with pytest.raises(ValueError, match=r"expects images of shape \(B, 3, H, W\), got \(1, 1, 32, 32\)"):
        generator(torch.zeros(1, 1, 32, 32))
    resnet = ResnetGenerator(in_channels=3, out_channels=3, width=4, num_blocks=1)
    with pytest.raises(ValueError, match=r"divisible by 4, got 30x32"):
        resnet(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"n_layers=3 needs images of at least 24x24, got 16x16"):
        PatchDiscriminator(in_channels=6, width=4)(torch.zeros(1, 6, 16, 16))


def test_unknown_names_raise_value_error_listing_choices() -> None:
    with pytest.raises(ValueError, match="unet_256"):
        reference_generator("unet_512", 3, 3)
    with pytest.raises(ValueError, match="basic, n_layers, pixel"):
        reference_discriminator("multiscale", 6)
    with pytest.raises(ValueError, match="batch, instance, none"):
        UNetGenerator(in_channels=3, out_channels=3, num_downs=5, norm="group")
