"""Pretrained generators shipped with condgan, and how a trained run becomes one.

    from condgan import load_generator
    g = load_generator("pretrained:digits")        # every command that takes a RUN takes pretrained:NAME
    condgan pretrained list
    condgan pretrained pack runs/fm --name fashion-mnist --recipe "condgan train --config configs/fashion-mnist.yaml"

A shipped model is a folder `condgan/pretrained_models/NAME/`, a minimal run directory:
  config.json                 the run's config: rebuilds the generator
  generator_ema.safetensors   the run's EMA generator weights, float16 when rounding them to float16 moves
                              no output pixel by 1/255 or more on a fixed probe batch, else float32
                              (the loader casts them to the model's float32)
  eval.json                   the run's `condgan eval` result, when it had one
  meta.json                   source run and step, dtype, parameter count, the float16 check, the recipe
  README.md                   what it is and the commands that reproduce it

Folders named in $CONDGAN_PRETRAINED_PATH (os.pathsep-separated) are searched before the shipped one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from condgan.checkpoint import atomic_write_text
from condgan.errors import CondganError
from condgan.inference.runs import (
    PREFIX,
    WEIGHTS_FILE,
    available,
    generator_weights_path,
    load_config_of,
    read_meta,
    resolve_run_dir,
    shipped_root,
)

FP16_TOLERANCE = 1 / 255  # largest output change (on the [0, 1] pixel scale) that float16 weights may cause
PROBE_SIZE = 64  # images in the fixed probe batch


# ----------------------------------------------------------------------------- packing a run


@torch.no_grad()
def probe_outputs(module: torch.nn.Module, config, probe: dict[str, torch.Tensor]) -> torch.Tensor:
    """The module's float [-1, 1] output on the probe batch (eval mode, CPU, float32)."""
    module.eval()
    if config.task == "pix2pix":
        return module(probe["source"]).float()
    return module(probe["z"], probe.get("labels")).float()


def probe_batch(config, log: Callable[[str], None]) -> tuple[dict[str, torch.Tensor], str]:
    """A fixed input batch: noise and cycled labels for a cgan; for pix2pix the run's test sources when its
    data can be read, else seeded noise images (said in the returned description)."""
    generator = torch.Generator().manual_seed(0)
    if config.task != "pix2pix":
        m = config.model
        probe = {"z": torch.randn(PROBE_SIZE, m.z_dim, generator=generator)}
        if m.num_classes:
            probe["labels"] = torch.arange(PROBE_SIZE) % m.num_classes
        return probe, f"{PROBE_SIZE} seeded noise vectors" + (
            ", labels cycled over the classes" if m.num_classes else ""
        )
    d = config.data
    try:
        from condgan.data.paired import load_split

        dataset, split = load_split(config, prefer="test", limit=PROBE_SIZE)
        return {"source": dataset.float_pairs()[0]}, f"{len(dataset)} source images of {d.name} ({split} split)"
    except CondganError as exc:
        log(f"condgan: {d.name} cannot be read ({exc}); probing float16 with noise images instead")
    shape = (PROBE_SIZE, d.source_channels or d.channels, d.image_size, d.image_size)
    return {"source": torch.rand(shape, generator=generator) * 2 - 1}, f"{PROBE_SIZE} seeded uniform noise images"


def half_precision_check(module: torch.nn.Module, config, log: Callable[[str], None]) -> dict:
    """Round the floating-point weights to float16 (as shipped), load them back as float32 (as the loader
    does) and measure how far the outputs move on the probe batch."""
    import copy

    probe, description = probe_batch(config, log)
    reference = probe_outputs(module, config, probe)
    rounded = copy.deepcopy(module)
    with torch.no_grad():
        for tensor in [*rounded.parameters(), *rounded.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    rounded_out = probe_outputs(rounded, config, probe)
    to_u8 = lambda x: x.add(1).mul(127.5).round().clamp(0, 255)  # noqa: E731
    return {
        "probe": description,
        "max_abs_diff": float((rounded_out - reference).abs().max() / 2),  # on the [0, 1] pixel scale
        "uint8_max_diff": int((to_u8(rounded_out) - to_u8(reference)).abs().max()),
        "uint8_changed_fraction": float((to_u8(rounded_out) != to_u8(reference)).float().mean()),
        "tolerance": FP16_TOLERANCE,
    }


def pack(
    run: str | Path,
    name: str,
    out_root: str | Path | None = None,
    recipe: str = "",
    force: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Turn a trained run into the folder `out_root/NAME` (default: the package's pretrained_models/):
    EMA generator only, float16 when that moves no output pixel by 1/255 (measured, recorded in meta.json)."""
    from safetensors.torch import save

    from condgan.checkpoint import atomic_write_bytes, load_module_weights
    from condgan.models import build_generator

    if not name or not all(c.isalnum() or c in "-_." for c in name) or name[0] == ".":
        raise CondganError(f"pretrained name {name!r} must be letters, digits, '-', '_' or '.', e.g. fashion-mnist")
    run_dir = resolve_run_dir(run)
    config = load_config_of(run_dir)
    dest = Path(out_root) / name if out_root is not None else shipped_root() / name
    if dest.exists() and not force:
        raise CondganError(f"{dest} exists; pass --force to replace it")
    module = build_generator(config)
    weights = generator_weights_path(run_dir, use_ema=True)
    load_module_weights(module, weights)
    check = half_precision_check(module, config, log)
    half = check["max_abs_diff"] < FP16_TOLERANCE
    state = {
        key: (value.half() if half and value.is_floating_point() else value).detach().contiguous().cpu()
        for key, value in module.state_dict().items()
    }
    step = int(weights.parent.name.split("_")[-1]) if weights.parent.name.startswith("step_") else None
    meta = {
        "name": name,
        "task": config.task,
        "dataset": config.data.name,
        "source_run": str(run_dir),
        "source_step": step,
        "source_weights": weights.name,
        "dtype": "float16" if half else "float32",
        "parameters": sum(p.numel() for p in module.parameters()),
        "float16_check": check,
        "recipe": recipe,
    }
    tmp = dest.parent / f".{name}.packing"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        atomic_write_bytes(tmp / WEIGHTS_FILE, save(state))
        shutil.copyfile(run_dir / "config.json", tmp / "config.json")
        evaluation = None
        if (run_dir / "eval.json").is_file():
            shutil.copyfile(run_dir / "eval.json", tmp / "eval.json")
            evaluation = json.loads((run_dir / "eval.json").read_text())
        meta["bytes"] = (tmp / WEIGHTS_FILE).stat().st_size
        atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=2) + "\n")
        atomic_write_text(tmp / "README.md", readme(meta, evaluation))
        for file in tmp.iterdir():  # package data: readable by every user of an installed condgan
            file.chmod(0o644)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"condgan: packed {run_dir} -> {dest} ({meta['dtype']}, {meta['bytes'] / 1e6:.2f} MB; float16 moves outputs "
        f"by at most {check['max_abs_diff']:.2e} of the pixel range, tolerance {FP16_TOLERANCE:.2e})")  # fmt: skip
    return dest


def readme(meta: dict, evaluation: dict | None) -> str:
    """The folder's README.md: what the model is, its measured quality, how to reproduce it."""
    name = meta["name"]
    check = meta["float16_check"]
    lines = [
        f"# pretrained:{name}",
        "",
        f"A {meta['task']} generator trained on {meta['dataset']} ({meta['parameters']:,} parameters, "
        f"{meta['dtype']} weights, {meta['bytes'] / 1e6:.2f} MB), the EMA weights of step {meta['source_step']}. "
        f"float16 rounding moves outputs by at most {check['max_abs_diff']:.2e} of the pixel range "
        f"({check['uint8_changed_fraction']:.2%} of uint8 pixels change) on {check['probe']}.",
        "",
    ]
    if evaluation is not None:
        lines += [f"Evaluation (eval.json, {evaluation.get('num_samples', '?')} samples): {quality(evaluation)}", ""]
    lines += ["Reproduce:", "", "```", meta["recipe"] or "(recipe not recorded)",
              f"condgan pretrained pack RUN --name {name}  # RUN: the run trained above", "```", ""]  # fmt: skip
    return "\n".join(lines)


def quality(evaluation: dict) -> str:
    """The headline numbers of an eval.json beside its real floor, e.g. 'fid 12.3 (real 1.2), kid ...'."""
    metrics, floor = evaluation.get("metrics", {}), evaluation.get("floor", {})
    parts = [
        f"{key} {metrics[key]:.4g}" + (f" (real {floor[key]:.4g})" if isinstance(floor.get(key), (int, float)) else "")
        for key in ("conditional_accuracy", "fid", "intra_fid", "kid", "l1", "psnr", "ssim")
        if isinstance(metrics.get(key), (int, float))
    ]
    return ", ".join(parts) or "no headline metrics"


def describe() -> list[str]:
    """One line per available pretrained model (for `condgan pretrained list`)."""
    out = []
    for name, folder in available().items():
        meta = read_meta(folder)
        measured = ""
        if (folder / "eval.json").is_file():
            try:
                measured = "; " + quality(json.loads((folder / "eval.json").read_text()))
            except ValueError:
                measured = "; eval.json unreadable"
        out.append(f"{PREFIX}{name}: {meta.get('task', '?')} on {meta.get('dataset', '?')}, "
                   f"{meta.get('dtype', '?')}, {meta.get('bytes', 0) / 1e6:.2f} MB{measured}  [{folder}]")  # fmt: skip
    return out
