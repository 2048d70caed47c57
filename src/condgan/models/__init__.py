"""Model registries and the only functions that read the model config."""

from __future__ import annotations

from torch import nn

from condgan.config import Config
from condgan.errors import ConfigError
from condgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from condgan.models.mlp import MLPDiscriminator, MLPGenerator

GENERATORS: dict[str, type[nn.Module]] = {"mlp": MLPGenerator, "dcgan": DCGANGenerator}
DISCRIMINATORS: dict[str, type[nn.Module]] = {"mlp": MLPDiscriminator, "dcgan": DCGANDiscriminator}


def _choose(registry: dict, name: str, what: str):
    if name not in registry:
        raise ConfigError(f"unknown {what} {name!r}; valid choices: {', '.join(registry)}")
    return registry[name]


def build_generator(config: Config) -> nn.Module:
    """Build the class-conditional generator that `config` describes (num_classes resolved)."""
    m, d = config.model, config.data
    cls = _choose(GENERATORS, m.generator, "generator")
    kwargs = dict(z_dim=m.z_dim, num_classes=m.num_classes, image_size=d.image_size, channels=d.channels)
    if cls is DCGANGenerator:
        kwargs.update(width=m.g_width, conditional_bn=m.conditional_bn)
    return cls(**kwargs)


def build_discriminator(config: Config) -> nn.Module:
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
        kwargs.update(width=m.d_width)
    return cls(**kwargs)


__all__ = ["DISCRIMINATORS", "GENERATORS", "build_discriminator", "build_generator"]
