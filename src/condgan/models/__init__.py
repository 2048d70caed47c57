"""Model registries and the only functions that read the model config."""

from __future__ import annotations

from torch import nn

from condgan.config import Config
from condgan.errors import ConfigError
from condgan.models.dcgan import START_SIZES, DCGANDiscriminator, DCGANGenerator
from condgan.models.mlp import MLPDiscriminator, MLPGenerator
from condgan.models.pix2pix import (
    PAIR_DISCRIMINATORS,
    TRANSLATION_GENERATORS,
    build_pair_discriminator,
    build_translation_generator,
)

GENERATORS: dict[str, type[nn.Module]] = {"mlp": MLPGenerator, "dcgan": DCGANGenerator}
DISCRIMINATORS: dict[str, type[nn.Module]] = {"mlp": MLPDiscriminator, "dcgan": DCGANDiscriminator}
IMAGE_SIZES: dict[str, tuple[int, ...]] = {"dcgan": tuple(START_SIZES)}  # the sizes a network takes; absent: any


def smallest_image_size(config: Config) -> int:
    """The smallest image size both of the config's class-conditional networks take (0: any size)."""
    m = config.model
    return max((min(IMAGE_SIZES[name]) for name in (m.generator, m.discriminator) if name in IMAGE_SIZES), default=0)


def _choose(registry: dict, name: str, what: str):
    if name not in registry:
        raise ConfigError(f"unknown {what} {name!r}; valid choices: {', '.join(registry)}")
    return registry[name]


def build_generator(config: Config) -> nn.Module:
    """Build the generator that `config` describes: class-conditional (num_classes resolved), or
    pix2pix's image-to-image G for task pix2pix (models/pix2pix.py)."""
    if config.task == "pix2pix" or config.model.generator in TRANSLATION_GENERATORS:
        return build_translation_generator(config)
    m, d = config.model, config.data
    cls = _choose(GENERATORS, m.generator, "generator")
    kwargs = dict(z_dim=m.z_dim, num_classes=m.num_classes, image_size=d.image_size, channels=d.channels)
    if cls is DCGANGenerator:
        kwargs.update(width=m.g_width, conditional_bn=m.conditional_bn)
    return cls(**kwargs)


def build_discriminator(config: Config) -> nn.Module:
    if config.task == "pix2pix" or config.model.discriminator in PAIR_DISCRIMINATORS:
        return build_pair_discriminator(config)
    m, d = config.model, config.data
    cls = _choose(DISCRIMINATORS, m.discriminator, "discriminator")
    kwargs = dict(
        num_classes=m.num_classes,
        image_size=d.image_size,
        channels=d.channels,
        conditioning=m.conditioning,
        spectral_norm=m.spectral_norm,
        dropout=m.dropout,
    )
    if cls is DCGANDiscriminator:
        kwargs.update(width=m.d_width, minibatch_std=m.minibatch_std)
    elif m.minibatch_std:
        raise ConfigError(f"model.minibatch_std is for the dcgan discriminator, not {m.discriminator!r}; set it to 0")
    return cls(**kwargs)


def build_networks(config: Config) -> dict[str, nn.Module]:
    """Every network the config's task trains, by the name its weights are saved under (the task's
    keyword arguments): generator and discriminator, or CycleGAN's two of each (models/cyclegan.py)."""
    if config.task == "cyclegan":
        from condgan.models.cyclegan import build_cycle_networks

        return build_cycle_networks(config)
    return {"generator": build_generator(config), "discriminator": build_discriminator(config)}


__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "IMAGE_SIZES",
    "build_discriminator",
    "build_generator",
    "build_networks",
    "smallest_image_size",
]
