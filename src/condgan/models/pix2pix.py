"""Build the pix2pix networks from a config (the only pix2pix code that reads model options).

G maps the source image to the target image: (B, source_channels, S, S) -> (B, channels, S, S).
D sees the pair concatenated on channels: (B, source_channels + channels, S, S) -> patch logits.
Both get the reference's N(0, 0.02) initialization (models/init.py).
"""

from __future__ import annotations

from torch import nn

from condgan.config import Config
from condgan.errors import ConfigError
from condgan.models.init import normal_init
from condgan.models.norms import NORMS
from condgan.models.patchgan import PatchDiscriminator, PixelDiscriminator
from condgan.models.resnet import ResnetGenerator
from condgan.models.unet import UNetGenerator

TRANSLATION_GENERATORS: dict[str, type[nn.Module]] = {"unet": UNetGenerator, "resnet": ResnetGenerator}
PAIR_DISCRIMINATORS: dict[str, type[nn.Module]] = {"patchgan": PatchDiscriminator, "pixel": PixelDiscriminator}
MAX_UNET_DOWNS = 8  # unet_256: a 256 px image down to 1x1
MIN_UNET_DOWNS = 3


def unet_downs_for(image_size: int) -> int:
    """Down-samplings of the U-Net for square images of `image_size`: halve while the size stays whole,
    at most 8 (256 -> 8, 128 -> 7, 64 -> 6, 32 -> 5, 96 -> 5, 286 -> 1)."""
    downs = 0
    while downs < MAX_UNET_DOWNS and image_size % 2 ** (downs + 1) == 0:
        downs += 1
    return downs


TRANSLATION_TASKS = ("pix2pix", "cyclegan")


def resnet_blocks_for(image_size: int) -> int:
    """The reference's ResNet depth for an image size: 9 blocks above 128 px (resnet_9blocks at 256), 6 at
    128 px and below (resnet_6blocks)."""
    return 9 if image_size > 128 else 6


def _check_pix2pix(config: Config, name: str, what: str) -> None:
    if config.task not in TRANSLATION_TASKS:
        raise ConfigError(
            f"model.{what} {name!r} is a pix2pix network; use it with task pix2pix or cyclegan (--task pix2pix)"
        )
    if config.model.norm not in NORMS:
        raise ConfigError(f"unknown model.norm {config.model.norm!r}; valid choices: {', '.join(NORMS)}")


def translation_channels(config: Config) -> tuple[int, int]:
    """(data.source_channels, data.channels): the input and output channels (CycleGAN: side A's and B's)."""
    d = config.data
    if d.source_channels <= 0 or d.channels <= 0:
        raise ConfigError(
            f"task {config.task} needs data.source_channels and data.channels > 0 (got {d.source_channels}, "
            f"{d.channels}); they are filled from the data when training starts"
        )
    return d.source_channels, d.channels


def resolved_unet_downs(config: Config) -> int:
    """model.unet_downs, or the depth that `data.image_size` allows; ConfigError if it cannot work."""
    size, downs = config.data.image_size, config.model.unet_downs
    if downs == 0:
        downs = unet_downs_for(size)
        if downs < MIN_UNET_DOWNS:
            raise ConfigError(
                f"image size {size} halves evenly only {downs} times, too few for a U-Net; use a size that is a "
                "multiple of 32 (data.image_size=32, 64, 128, 256) or set model.unet_downs"
            )
    elif downs < 2 or size % 2**downs:
        raise ConfigError(
            f"model.unet_downs={downs} needs the image size to be a multiple of {2**downs}, got {size}; "
            "use 0 (from the image size) or change data.image_size"
        )
    return downs


def build_translation_generator(config: Config) -> nn.Module:
    m = config.model
    if m.generator not in TRANSLATION_GENERATORS:
        raise ConfigError(
            f"task {config.task} needs model.generator unet or resnet, got {m.generator!r} (--set model.generator=unet)"
        )
    _check_pix2pix(config, m.generator, "generator")
    source_channels, channels = translation_channels(config)
    common = dict(in_channels=source_channels, out_channels=channels, width=m.g_width, norm=m.norm, dropout=m.g_dropout)
    if m.generator == "unet":
        generator = UNetGenerator(num_downs=resolved_unet_downs(config), **common)
    else:
        blocks = resnet_blocks_for(config.data.image_size) if m.resnet_blocks == -1 else m.resnet_blocks
        if blocks < 0 or config.data.image_size % 4:
            raise ConfigError(
                f"resnet G needs model.resnet_blocks >= 0 (-1: from the image size) and an image size divisible "
                f"by 4, got {m.resnet_blocks} and {config.data.image_size}"
            )
        generator = ResnetGenerator(num_blocks=blocks, padding="reflect", **common)
    return normal_init(generator)


def _check_discriminator(config: Config) -> None:
    m = config.model
    if m.discriminator not in PAIR_DISCRIMINATORS:
        raise ConfigError(
            f"task {config.task} needs model.discriminator patchgan or pixel, got {m.discriminator!r} "
            "(--set model.discriminator=patchgan)"
        )
    _check_pix2pix(config, m.discriminator, "discriminator")


def build_pair_discriminator(config: Config) -> nn.Module:
    """pix2pix's D: it sees (x, y) concatenated on channels."""
    _check_discriminator(config)
    source_channels, channels = translation_channels(config)
    return build_patch_discriminator(config, in_channels=source_channels + channels)


def build_patch_discriminator(config: Config, *, in_channels: int) -> nn.Module:
    """model.discriminator (patchgan | pixel) over images of `in_channels` channels."""
    _check_discriminator(config)
    m = config.model
    if m.discriminator == "pixel":
        return normal_init(PixelDiscriminator(in_channels=in_channels, width=m.d_width, norm=m.norm))
    min_size = 3 * 2**m.n_layers
    if m.n_layers < 1 or config.data.image_size < min_size:
        raise ConfigError(
            f"model.n_layers={m.n_layers} needs images of at least {min_size} px (got {config.data.image_size}); "
            "use fewer layers (n_layers >= 1) or larger images"
        )
    return normal_init(PatchDiscriminator(in_channels=in_channels, width=m.d_width, n_layers=m.n_layers, norm=m.norm))
