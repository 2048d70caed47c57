"""CycleGAN's four networks from a config (the only CycleGAN code that reads model options).

    generator_ab      A -> B   (B, source_channels, S, S) -> (B, channels, S, S)
    generator_ba      B -> A   (B, channels, S, S) -> (B, source_channels, S, S)
    discriminator_a   judges A images: (B, source_channels, S, S) -> patch logits
    discriminator_b   judges B images: (B, channels, S, S) -> patch logits

Side A's channels are `data.source_channels`, side B's `data.channels` (both filled from the data when
training starts). The generators are pix2pix's translation networks (resnet by default, unet
selectable; `model.resnet_blocks` -1 = 9 blocks above 128 px, 6 at 128 px and below); the
discriminators are single-image PatchGANs (or pixel GANs). A direction's generator is built from
`direction_config`: the config as if it were a pix2pix run translating that way, which is also what
translate and export read.
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from condgan.config import Config
from condgan.errors import ConfigError
from condgan.models.pix2pix import build_patch_discriminator, build_translation_generator, translation_channels

DIRECTIONS = ("AtoB", "BtoA")
GENERATOR_NAMES = {"AtoB": "generator_ab", "BtoA": "generator_ba"}  # the weight files' names


def direction_config(config: Config, direction: str) -> Config:
    """The config of one direction's generator: its input channels as `data.source_channels`, its output's
    as `data.channels`, `data.direction` = direction. The input polarity is not measured for CycleGAN
    (`source_background` ""): translate leaves it alone."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"unknown direction {direction!r}; valid choices: {', '.join(DIRECTIONS)}")
    d = config.data
    a_channels, b_channels = d.source_channels, d.channels
    source, target = (a_channels, b_channels) if direction == "AtoB" else (b_channels, a_channels)
    data = replace(d, direction=direction, source_channels=source, channels=target, source_background="")
    return replace(config, data=data)


def build_cycle_generator(config: Config, direction: str) -> nn.Module:
    """G_AB ("AtoB") or G_BA ("BtoA")."""
    return build_translation_generator(direction_config(config, direction))


def build_cycle_discriminator(config: Config, side: str) -> nn.Module:
    """D_A ("A") or D_B ("B"): one image of that side in, patch logits out."""
    a_channels, b_channels = translation_channels(config)
    if side not in ("A", "B"):
        raise ConfigError(f"unknown side {side!r}; valid choices: A, B")
    return build_patch_discriminator(config, in_channels=a_channels if side == "A" else b_channels)


def build_cycle_networks(config: Config) -> dict[str, nn.Module]:
    """The four networks by the names the task takes them (and the weights are saved under)."""
    return {
        "generator_ab": build_cycle_generator(config, "AtoB"),
        "generator_ba": build_cycle_generator(config, "BtoA"),
        "discriminator_a": build_cycle_discriminator(config, "A"),
        "discriminator_b": build_cycle_discriminator(config, "B"),
    }
