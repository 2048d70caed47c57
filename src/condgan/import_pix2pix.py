"""`condgan import-pix2pix` and `condgan import-cyclegan`: generators of the reference implementation
(junyanz/pytorch-CycleGAN-and-pix2pix) as condgan run directories that translate, eval, serve and export accept.

    import_pix2pix("latest_net_G.pth", "runs/facades", netG="unet_256", norm="batch", dropout=True)
    import_cyclegan("latest_net_G_A.pth", "latest_net_G_B.pth", "runs/horse2zebra")  # resnet_9blocks, instance

The reference's options that shape the network are given as in its train.py (`--netG`,
`--norm`, `--no_dropout` inverted as `dropout`); `ngf`, `input_nc` and `output_nc` default to
what the checkpoint's first and last layers say. A checkpoint that does not fit gives one line
naming the first mismatched key and both shapes (models/reference.py).

pix2pix: the run holds the generator (checkpoints/step_00000000/generator.safetensors).
CycleGAN: the reference's G_A (A -> B) becomes the run's `generator_ab` and G_B (B -> A) its
`generator_ba`, the names a trained cyclegan run keeps them under (models/cyclegan.py), so
`translate --direction AtoB|BtoA`, `serve` and `export` find them; side A's channels are G_A's
input_nc, side B's its output_nc, and G_B must be G_A's mirror image (the same ngf, B's channels in,
A's out), else one line says how they differ. Its defaults are the reference's cycle_gan ones.

Either run also holds `imported.json` with each source file's SHA-256; it cannot be resumed,
having no discriminator or optimizer state. It is written into a temporary folder and renamed into
place, so a failed import leaves nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from condgan.checkpoint import atomic_folder, atomic_write_text, save_checkpoint
from condgan.config import TASK_DEFAULTS, Config, DataConfig, LossConfig, ModelConfig, TrainConfig, save_json
from condgan.data.download import sha256_of
from condgan.data.unaligned import UNALIGNED
from condgan.errors import CheckpointError, ConfigError
from condgan.models import build_generator
from condgan.models.cyclegan import build_cycle_generator
from condgan.models.norms import NORMS
from condgan.models.reference import (
    CYCLEGAN_OPTIONS,
    GENERATORS,
    RESNET_BLOCKS,
    UNET_DEPTHS,
    checkpoint_widths,
    found_widths,
    load_reference_state_dict,
    read_reference_checkpoint,
)

__all__ = ["checkpoint_widths", "import_config", "import_cyclegan", "import_pix2pix"]


def _check_options(netG: str, norm: str, out: Path, force: bool) -> None:
    if netG not in GENERATORS:
        raise ConfigError(f"unknown --netG {netG!r}; valid choices: {', '.join(GENERATORS)}")
    if norm not in NORMS:
        raise ConfigError(f"unknown --norm {norm!r}; valid choices: {', '.join(NORMS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise ConfigError(f"run directory {out} already exists; pass --force to overwrite it")


def _generator_layout(netG: str, image_size: int) -> tuple[dict, int]:
    """(the ModelConfig fields of the reference's --netG, the image size: `image_size` or its default)."""
    if netG in UNET_DEPTHS:
        layout = {"generator": "unet", "unet_downs": UNET_DEPTHS[netG]}
        multiple, default_size = 2 ** UNET_DEPTHS[netG], 2 ** UNET_DEPTHS[netG]
    else:
        layout = {"generator": "resnet", "resnet_blocks": RESNET_BLOCKS[netG]}
        multiple, default_size = 4, 256  # the reference's --crop_size
    size = image_size or default_size
    if size % multiple:
        raise ConfigError(f"--image-size {size} does not fit {netG}; use a multiple of {multiple}")
    return layout, size


def _write_run(out: Path, config: Config, weights: dict[str, dict[str, torch.Tensor]], record: dict) -> Path:
    """config.json, the weights as the step-0 checkpoint and imported.json, all in place at once."""
    with atomic_folder(out) as tmp:
        save_json(config, tmp / "config.json")
        save_checkpoint(tmp, 0, weights, {"step": 0, "elapsed": 0.0, "imported": True})
        atomic_write_text(tmp / "imported.json", json.dumps(record, indent=2) + "\n")
    return out


def _source(checkpoint: Path) -> dict[str, str]:
    return {"source": str(checkpoint.resolve()), "sha256": sha256_of(checkpoint)}


def import_config(
    netG: str, norm: str, dropout: bool, ngf: int, input_nc: int, output_nc: int, image_size: int, direction: str,
    data: str,
) -> Config:  # fmt: skip
    """The condgan config of a reference pix2pix generator with these options."""
    layout, size = _generator_layout(netG, image_size)
    model = ModelConfig(**layout, discriminator="patchgan", num_classes=0, g_width=ngf, norm=norm, g_dropout=dropout)
    data_config = DataConfig(name=data, image_size=size, channels=output_nc, source_channels=input_nc,
                             direction=direction, load_size=size)  # fmt: skip
    train = TrainConfig(**TASK_DEFAULTS["pix2pix"]["train"])  # the defaults `--task pix2pix` trains with
    return Config(task="pix2pix", data=data_config, model=model, train=train)


def import_pix2pix(
    checkpoint: str | Path,
    out: str | Path,
    *,
    netG: str = "unet_256",
    norm: str = "batch",
    dropout: bool = False,
    ngf: int = 0,
    input_nc: int = 0,
    output_nc: int = 0,
    image_size: int = 0,
    direction: str = "AtoB",
    data: str = "",
    force: bool = False,
) -> Path:
    """Convert a reference `latest_net_G.pth` into the run directory `out`; return its path.

    `data` (aligned:DIR or pairs:DIR) names the paired set `condgan eval` reads; it may stay empty.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    _check_options(netG, norm, out, force)
    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"unknown --direction {direction!r}; valid choices: AtoB, BtoA")
    state = read_reference_checkpoint(checkpoint)
    found = checkpoint_widths(state, netG)
    widths = {"ngf": ngf or found["ngf"], "input_nc": input_nc or found["input_nc"],
              "output_nc": output_nc or found["output_nc"]}  # fmt: skip
    config = import_config(netG, norm, dropout, **widths, image_size=image_size, direction=direction, data=data)
    generator = build_generator(config)
    load_reference_state_dict(generator, state, str(checkpoint))  # CheckpointError naming the first mismatch
    record = {**_source(checkpoint), "netG": netG, "norm": norm, "dropout": dropout, **widths,
              "image_size": config.data.image_size, "direction": direction}  # fmt: skip
    return _write_run(out, config, {"generator": generator.state_dict()}, record)


def cyclegan_import_config(
    netG: str, norm: str, dropout: bool, ngf: int, a_channels: int, b_channels: int, image_size: int, data: str
) -> Config:
    """The condgan cyclegan config of a reference G_A (a_channels -> b_channels) and G_B with these options:
    the generators as given, the rest what `condgan train --task cyclegan` would use."""
    if data and not data.startswith(f"{UNALIGNED}:"):
        raise ConfigError(f"--data {data!r}: a cyclegan run reads unaligned:DIR (DIR/trainA, trainB, testA, testB); "
                          "give that, or leave --data out")  # fmt: skip
    layout, size = _generator_layout(netG, image_size)
    defaults = TASK_DEFAULTS["cyclegan"]
    model = ModelConfig(**{**defaults["model"], **layout, "num_classes": 0, "g_width": ngf, "norm": norm,
                           "g_dropout": dropout})  # fmt: skip
    # load_size 0: the paper's 286 px jitter for 256 px crops, as the reference's defaults
    data_config = DataConfig(name=data, image_size=size, source_channels=a_channels, channels=b_channels)
    return Config(task="cyclegan", data=data_config, model=model, loss=LossConfig(**defaults["loss"]),
                  train=TrainConfig(**defaults["train"]))  # fmt: skip


def _shape_text(widths: dict[str, int]) -> str:
    return f"ngf {widths['ngf']}, {widths['input_nc']} -> {widths['output_nc']} channels"


def _check_pair(state_b: dict[str, torch.Tensor], netG: str, expected: dict[str, int], names: tuple[str, str]) -> None:
    """G_B must mirror G_A: its ngf, B's channels in and A's out (as far as its first and last layers say)."""
    found = found_widths(state_b, netG)
    if any(value != expected[key] for key, value in found.items()):
        raise CheckpointError(
            f"{names[0]} and {names[1]} are not one CycleGAN pair: G_B should have {_shape_text(expected)} (G_A's "
            f"ngf, mapping G_A's output channels back to its input's) but has {_shape_text({**expected, **found})}; "
            "give the G_A and G_B of one training run"
        )


def import_cyclegan(
    checkpoint_a: str | Path,
    checkpoint_b: str | Path,
    out: str | Path,
    *,
    netG: str = CYCLEGAN_OPTIONS["netG"],
    norm: str = CYCLEGAN_OPTIONS["norm"],
    dropout: bool = CYCLEGAN_OPTIONS["dropout"],
    ngf: int = 0,
    input_nc: int = 0,
    output_nc: int = 0,
    image_size: int = 0,
    data: str = "",
    force: bool = False,
) -> Path:
    """Convert a reference CycleGAN pair, `latest_net_G_A.pth` (A -> B) and `latest_net_G_B.pth` (B -> A),
    into the cyclegan run directory `out`; return its path.

    `input_nc` / `output_nc` are side A's and side B's channels (the reference's --input_nc, --output_nc);
    `data` (unaligned:DIR) names the set the run belongs to; it may stay empty.
    """
    checkpoint_a, checkpoint_b, out = Path(checkpoint_a), Path(checkpoint_b), Path(out)
    _check_options(netG, norm, out, force)
    state_a, state_b = read_reference_checkpoint(checkpoint_a), read_reference_checkpoint(checkpoint_b)
    found = checkpoint_widths(state_a, netG)
    widths = {"ngf": ngf or found["ngf"], "input_nc": input_nc or found["input_nc"],
              "output_nc": output_nc or found["output_nc"]}  # fmt: skip
    config = cyclegan_import_config(netG, norm, dropout, widths["ngf"], widths["input_nc"], widths["output_nc"],
                                    image_size, data)  # fmt: skip
    generator_ab = build_cycle_generator(config, "AtoB")
    load_reference_state_dict(generator_ab, state_a, str(checkpoint_a))  # CheckpointError naming the first mismatch
    mirrored = {"ngf": widths["ngf"], "input_nc": widths["output_nc"], "output_nc": widths["input_nc"]}
    _check_pair(state_b, netG, mirrored, (checkpoint_a.name, checkpoint_b.name))
    generator_ba = build_cycle_generator(config, "BtoA")
    load_reference_state_dict(generator_ba, state_b, str(checkpoint_b))
    record = {"G_A": _source(checkpoint_a), "G_B": _source(checkpoint_b), "netG": netG, "norm": norm,
              "dropout": dropout, **widths, "image_size": config.data.image_size}  # fmt: skip
    weights = {"generator_ab": generator_ab.state_dict(), "generator_ba": generator_ba.state_dict()}
    return _write_run(out, config, weights, record)
