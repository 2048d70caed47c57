"""`condgan import-pix2pix`: a generator of the reference pix2pix (junyanz/pytorch-CycleGAN-and-pix2pix,
`latest_net_G.pth`) as a condgan run directory that translate, eval, serve and export accept.

    import_pix2pix("latest_net_G.pth", "runs/facades", netG="unet_256", norm="batch", dropout=True)

The reference's options that shape the network are given as in its train.py (`--netG`,
`--norm`, `--no_dropout` inverted as `dropout`); `ngf`, `input_nc` and `output_nc` default to
what the checkpoint's first and last layers say. A checkpoint that does not fit gives one line
naming the first mismatched key and both shapes (models/reference.py). The run holds the
generator only (checkpoints/step_00000000/generator.safetensors) and `imported.json` with the
source file's SHA-256; it cannot be resumed, having no discriminator or optimizer state.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from condgan.checkpoint import atomic_write_text, save_checkpoint
from condgan.config import TASK_DEFAULTS, Config, DataConfig, ModelConfig, TrainConfig, save_json
from condgan.data.download import sha256_of
from condgan.errors import ConfigError
from condgan.models import build_generator
from condgan.models.norms import NORMS
from condgan.models.reference import (
    GENERATORS,
    RESNET_BLOCKS,
    UNET_DEPTHS,
    load_reference_state_dict,
    read_reference_checkpoint,
)

REFERENCE_DEFAULTS = {"ngf": 64, "input_nc": 3, "output_nc": 3}


def checkpoint_widths(state: dict[str, torch.Tensor], netG: str) -> dict[str, int]:
    """ngf, input_nc and output_nc as the checkpoint's first and last layers have them (reference
    defaults for any it does not have; the loader then names the mismatch)."""
    if netG in UNET_DEPTHS:
        first, last, out_axis = state.get("model.model.0.weight"), state.get("model.model.3.weight"), 1
    else:
        first, last, out_axis = state.get("model.1.weight"), state.get(f"model.{17 + RESNET_BLOCKS[netG]}.weight"), 0
    found = dict(REFERENCE_DEFAULTS)
    if first is not None and first.ndim == 4:
        found["ngf"], found["input_nc"] = int(first.shape[0]), int(first.shape[1])
    if last is not None and last.ndim == 4:
        found["output_nc"] = int(last.shape[out_axis])
    return found


def import_config(
    netG: str, norm: str, dropout: bool, ngf: int, input_nc: int, output_nc: int, image_size: int, direction: str,
    data: str,
) -> Config:  # fmt: skip
    """The condgan config of a reference generator with these options."""
    if netG in UNET_DEPTHS:
        layout = {"generator": "unet", "unet_downs": UNET_DEPTHS[netG]}
        multiple, default_size = 2 ** UNET_DEPTHS[netG], 2 ** UNET_DEPTHS[netG]
    else:
        layout = {"generator": "resnet", "resnet_blocks": RESNET_BLOCKS[netG]}
        multiple, default_size = 4, 256  # the reference's --crop_size
    size = image_size or default_size
    if size % multiple:
        raise ConfigError(f"--image-size {size} does not fit {netG}; use a multiple of {multiple}")
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
    if netG not in GENERATORS:
        raise ConfigError(f"unknown --netG {netG!r}; valid choices: {', '.join(GENERATORS)}")
    if norm not in NORMS:
        raise ConfigError(f"unknown --norm {norm!r}; valid choices: {', '.join(NORMS)}")
    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"unknown --direction {direction!r}; valid choices: AtoB, BtoA")
    checkpoint, out = Path(checkpoint), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise ConfigError(f"run directory {out} already exists; pass --force to overwrite it")
    state = read_reference_checkpoint(checkpoint)
    found = checkpoint_widths(state, netG)
    widths = {"ngf": ngf or found["ngf"], "input_nc": input_nc or found["input_nc"],
              "output_nc": output_nc or found["output_nc"]}  # fmt: skip
    config = import_config(netG, norm, dropout, **widths, image_size=image_size, direction=direction, data=data)
    generator = build_generator(config)
    load_reference_state_dict(generator, state, str(checkpoint))  # CheckpointError naming the first mismatch

    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        save_json(config, tmp / "config.json")
        save_checkpoint(tmp, 0, {"generator": generator.state_dict()}, {"step": 0, "elapsed": 0.0, "imported": True})
        record = {"source": str(checkpoint.resolve()), "sha256": sha256_of(checkpoint), "netG": netG,
                  "norm": norm, "dropout": dropout, **widths, "image_size": config.data.image_size,
                  "direction": direction}  # fmt: skip
        atomic_write_text(tmp / "imported.json", json.dumps(record, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
