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

A cyclegan run's folder holds its two generators instead of one, generator_ab_ema.safetensors (A -> B) and
generator_ba_ema.safetensors (B -> A) (`runs.packed_weight_files`), each checked on the run's test images
of its source side; float16 only when both pass, and meta.json's parameters, float16_check and
source_weights are then keyed by generator name.

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
    available,
    generator_weights_path,
    load_config_of,
    packed_weight_files,
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
    if "source" in probe:  # an image-to-image generator (pix2pix, either of cyclegan's)
        return module(probe["source"]).float()
    return module(probe["z"], probe.get("labels")).float()


def probe_batch(config, log: Callable[[str], None], direction: str = "") -> tuple[dict[str, torch.Tensor], str]:
    """A fixed input batch: noise and cycled labels for a cgan; for pix2pix the run's test sources, for
    cyclegan's generator of `direction` (AtoB | BtoA) the test images of its source side (A | B), when the
    data can be read, else seeded noise images (said in the returned description)."""
    generator = torch.Generator().manual_seed(0)
    if config.task == "cyclegan":
        return _cycle_probe(config, direction, log, generator)
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


def _cycle_probe(
    config, direction: str, log: Callable[[str], None], generator: torch.Generator
) -> tuple[dict[str, torch.Tensor], str]:
    """The probe of one cyclegan generator: side A's test images for AtoB, side B's for BtoA (the train
    split when the set has no test split), else seeded noise images of that side's channels."""
    from condgan.models.cyclegan import DIRECTIONS

    if direction not in DIRECTIONS:
        raise CondganError(f"direction {direction!r} is not a cyclegan generator's; valid choices: "
                           f"{', '.join(DIRECTIONS)}")  # fmt: skip
    d = config.data
    side = "A" if direction == "AtoB" else "B"
    try:
        from condgan.data.loader import to_float
        from condgan.data.unaligned import available_splits, load_unaligned

        split = "test" if "test" in available_splits(d.name) else "train"
        dataset = load_unaligned(d.name, split, d.image_size, source_channels=d.source_channels, channels=d.channels,
                                 limit=PROBE_SIZE)  # fmt: skip
        images = dataset.images_a if side == "A" else dataset.images_b  # uint8 (N, C, S, S)
        return {"source": to_float(images)}, f"{len(images)} side {side} images of {d.name} ({split} split)"
    except CondganError as exc:
        log(f"condgan: side {side} of {d.name} cannot be read ({exc}); probing float16 with noise images instead")
    channels = d.source_channels if side == "A" else d.channels
    shape = (PROBE_SIZE, channels, d.image_size, d.image_size)
    return {"source": torch.rand(shape, generator=generator) * 2 - 1}, f"{PROBE_SIZE} seeded uniform noise images"


def half_precision_check(module: torch.nn.Module, config, log: Callable[[str], None], direction: str = "") -> dict:
    """Round the floating-point weights to float16 (as shipped), load them back as float32 (as the loader
    does) and measure how far the outputs move on the probe batch (of cyclegan's generator of `direction`)."""
    import copy

    probe, description = probe_batch(config, log, direction)
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


def packed_generators(config) -> dict[str, tuple[torch.nn.Module, str]]:
    """name -> (freshly built module, direction) of each generator a run of this config ships: its one
    generator (direction ""), or cyclegan's generator_ab (AtoB) and generator_ba (BtoA)."""
    from condgan.models import build_generator

    if config.task != "cyclegan":
        return {"generator": (build_generator(config), "")}
    from condgan.models.cyclegan import GENERATOR_NAMES, build_cycle_generator

    return {name: (build_cycle_generator(config, direction), direction) for direction, name in GENERATOR_NAMES.items()}


def pack(
    run: str | Path,
    name: str,
    out_root: str | Path | None = None,
    recipe: str = "",
    force: bool = False,
    log: Callable[[str], None] = lambda message: None,
    data: str = "",
) -> Path:
    """Turn a trained run into the folder `out_root/NAME` (default: the package's pretrained_models/):
    the EMA generator(s) only (a cyclegan run: both), float16 when that moves no output pixel by 1/255
    (for cyclegan: of either generator; measured, recorded in meta.json). `data`, when given, is the data set
    the folder's config.json names instead of the run's (the run's own path may exist on this machine only:
    name the one its recipe makes, e.g. unaligned:data/sneaker2boot)."""
    from safetensors.torch import save

    from condgan.checkpoint import atomic_write_bytes, load_module_weights
    from condgan.config import save_json

    if not name or not all(c.isalnum() or c in "-_." for c in name) or name[0] == ".":
        raise CondganError(f"pretrained name {name!r} must be letters, digits, '-', '_' or '.', e.g. fashion-mnist")
    run_dir = resolve_run_dir(run)
    config = load_config_of(run_dir)
    dest = Path(out_root) / name if out_root is not None else shipped_root() / name
    if dest.exists() and not force:
        raise CondganError(f"{dest} exists; pass --force to replace it")
    generators = packed_generators(config)
    files = dict(zip(generators, packed_weight_files(config.task), strict=True))
    sources, checks = {}, {}
    for generator_name, (module, direction) in generators.items():
        sources[generator_name] = generator_weights_path(run_dir, use_ema=True, name=generator_name)
        load_module_weights(module, sources[generator_name])
        checks[generator_name] = half_precision_check(module, config, log, direction)
    half = all(check["max_abs_diff"] < FP16_TOLERANCE for check in checks.values())
    states = {
        generator_name: {
            key: (value.half() if half and value.is_floating_point() else value).detach().contiguous().cpu()
            for key, value in module.state_dict().items()
        }
        for generator_name, (module, _) in generators.items()
    }
    parameters = {generator_name: sum(p.numel() for p in module.parameters())
                  for generator_name, (module, _) in generators.items()}  # fmt: skip
    folder = next(iter(sources.values())).parent
    step = int(folder.name.split("_")[-1]) if folder.name.startswith("step_") else None
    one = list(generators) == ["generator"]  # one generator: its numbers as they are, else keyed by its name
    meta = {
        "name": name,
        "task": config.task,
        "dataset": data or config.data.name,
        **({"source_dataset": config.data.name} if data and data != config.data.name else {}),
        "source_run": str(run_dir),
        "source_step": step,
        "source_weights": sources["generator"].name if one else {k: v.name for k, v in sources.items()},
        "dtype": "float16" if half else "float32",
        "parameters": parameters["generator"] if one else parameters,
        "float16_check": checks["generator"] if one else checks,
        "recipe": recipe,
    }
    tmp = dest.parent / f".{name}.packing"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for generator_name, file in files.items():
            atomic_write_bytes(tmp / file, save(states[generator_name]))
        if data:
            save_json(config.replace(data={"name": data}), tmp / "config.json")
        else:
            shutil.copyfile(run_dir / "config.json", tmp / "config.json")
        evaluation = None
        if (run_dir / "eval.json").is_file():
            shutil.copyfile(run_dir / "eval.json", tmp / "eval.json")
            evaluation = json.loads((run_dir / "eval.json").read_text())
        meta["bytes"] = sum((tmp / file).stat().st_size for file in files.values())
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
    largest = max(check["max_abs_diff"] for check in checks.values())
    log(f"condgan: packed {run_dir} -> {dest} ({meta['dtype']}, {meta['bytes'] / 1e6:.2f} MB; float16 moves outputs "
        f"by at most {largest:.2e} of the pixel range, tolerance {FP16_TOLERANCE:.2e})")  # fmt: skip
    return dest


def generator_checks(meta: dict) -> dict[str, dict]:
    """generator name -> its float16 check, from a meta.json of either shape (one generator, or keyed by name)."""
    check = meta.get("float16_check") or {}
    return {"generator": check} if "max_abs_diff" in check else check


def readme(meta: dict, evaluation: dict | None) -> str:
    """The folder's README.md: what the model is, its measured quality, how to reproduce it."""
    name, checks = meta["name"], generator_checks(meta)
    size = f"{meta['dtype']} weights, {meta['bytes'] / 1e6:.2f} MB"
    sources = meta.get("source_weights") or ""
    ema = all("_ema." in source for source in (sources.values() if isinstance(sources, dict) else [sources]))
    weights = f"the {'EMA weights' if ema else 'weights (the run kept no EMA)'} of step {meta['source_step']}"
    moved = lambda c: (f"at most {c['max_abs_diff']:.2e} of the pixel range ({c['uint8_changed_fraction']:.2%} "  # noqa: E731
                       f"of uint8 pixels change) on {c['probe']}")  # fmt: skip
    if meta["task"] == "cyclegan":
        count = " + ".join(f"{n:,}" for n in meta["parameters"].values())
        float16 = "; of ".join(f"{generator} by {moved(check)}" for generator, check in checks.items())
        what = (f"A cyclegan generator pair trained on {meta['dataset']}: generator_ab translates side A to side B, "
                f"generator_ba side B to side A ({count} parameters, {size}), {weights}. float16 rounding "
                f"moves the outputs of {float16}.")  # fmt: skip
        use = ["Translate (`--direction BtoA` for side B to side A):", "", "```",
               f"condgan translate pretrained:{name} IN.png -o OUT.png --direction AtoB", "```", ""]  # fmt: skip
    else:
        what = (f"A {meta['task']} generator trained on {meta['dataset']} ({meta['parameters']:,} parameters, {size}), "
                f"{weights}. float16 rounding moves outputs by {moved(checks['generator'])}.")  # fmt: skip
        use = []
    lines = [f"# pretrained:{name}", "", what, ""]
    if evaluation is not None:
        lines += [f"Evaluation (eval.json, {evaluation.get('num_samples', '?')} samples): {quality(evaluation)}", ""]
    lines += use
    lines += ["Reproduce:", "", "```", meta["recipe"] or "(recipe not recorded)",
              f"condgan pretrained pack RUN --name {name}  # RUN: the run trained above", "```", ""]  # fmt: skip
    return "\n".join(lines)


HEADLINE = ("conditional_accuracy", "fid", "intra_fid", "kid", "l1", "psnr", "ssim",  # cgan, pix2pix
            *(f"{key}_{direction}" for direction in ("AtoB", "BtoA")
              for key in ("fid", "class_share", "cycle_l1")))  # cyclegan, per direction  # fmt: skip


def quality(evaluation: dict) -> str:
    """The headline numbers of an eval.json beside its real floor, e.g. 'fid 12.3 (real 1.2), kid ...'
    (a cyclegan run's per direction: 'fid_AtoB 8.1 (real 1.9), class_share_AtoB 0.94 (real 0.99), ...')."""
    metrics, floor = evaluation.get("metrics", {}), evaluation.get("floor", {})
    parts = [
        f"{key} {metrics[key]:.4g}" + (f" (real {floor[key]:.4g})" if isinstance(floor.get(key), (int, float)) else "")
        for key in HEADLINE
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
        task = meta.get("task", "?") + (" (A→B and B→A)" if meta.get("task") == "cyclegan" else "")
        out.append(f"{PREFIX}{name}: {task} on {meta.get('dataset', '?')}, "
                   f"{meta.get('dtype', '?')}, {meta.get('bytes', 0) / 1e6:.2f} MB{measured}  [{folder}]")  # fmt: skip
    return out
