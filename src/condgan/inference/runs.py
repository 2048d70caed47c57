"""Run directories and shipped models (`pretrained:NAME`), found and read in one place.

Every command that starts from a run takes a run directory or `pretrained:NAME`; this module turns
either into a folder (`resolve_run_dir`), reads its config (`load_config_of`) and finds the weights
of its generator(s) (`generator_weights_path`, `checkpoint_step`). It sits below generate, translate,
pretrained (packing), evaluation and export, and imports none of them, so they import it without a
circle. `condgan.inference.pretrained` packs runs into shipped models.

Shipped models: folders `condgan/pretrained_models/NAME/` holding config.json and the EMA weights of
the run's generator(s), `packed_weight_files(task)`: generator_ema.safetensors, or for a cyclegan run
generator_ab_ema.safetensors and generator_ba_ema.safetensors (see `condgan.inference.pretrained`);
folders named in $CONDGAN_PRETRAINED_PATH (os.pathsep-separated) are searched before the shipped one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from condgan.checkpoint import latest_checkpoint
from condgan.config import Config, load_json
from condgan.errors import CheckpointError, CondganError, ConfigError

PREFIX = "pretrained:"
WEIGHTS_FILE = "generator_ema.safetensors"  # a packed cgan or pix2pix model's one generator
SEARCH_PATH_ENV = "CONDGAN_PRETRAINED_PATH"
DEMO_FIRST = ("sketch2fashion",)  # listed first, so `condgan serve` opens with it: the drawing demo's translator


def shipped_root() -> Path:
    """The package's own folder of pretrained models (package data: condgan/pretrained_models/)."""
    return Path(__file__).resolve().parents[1] / "pretrained_models"


def search_roots() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(SEARCH_PATH_ENV, "").split(os.pathsep) if p]
    return [*extra, shipped_root()]


def generator_names(task: str) -> tuple[str, ...]:
    """The names a run of `task` saves its generator(s) under: generator, or cyclegan's generator_ab, generator_ba."""
    if task == "cyclegan":
        from condgan.models.cyclegan import GENERATOR_NAMES

        return tuple(GENERATOR_NAMES.values())
    return ("generator",)


def packed_weight_files(task: str) -> tuple[str, ...]:
    """The weight files a packed model folder of `task` holds (what `pretrained.pack` writes and what
    `available` looks for): the EMA weights of each generator, `{name}_ema.safetensors`."""
    return tuple(f"{name}_ema.safetensors" for name in generator_names(task))


def task_of(folder: Path) -> str | None:
    """The task named in a folder's config.json (cgan when it names none), or None when it cannot be read."""
    try:
        task = json.loads((Path(folder) / "config.json").read_text()).get("task", "cgan")
    except (OSError, ValueError, AttributeError):
        return None
    return task if isinstance(task, str) else None


def is_packed(folder: Path) -> bool:
    """Whether `folder` is a packed model: a config.json and every weight file its task's model needs. A
    config.json that cannot be read counts when either file set is there, so loading it names the bad file."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return False
    task = task_of(folder)
    tasks = (task,) if task is not None else ("cgan", "cyclegan")
    return any(all((folder / file).is_file() for file in packed_weight_files(t)) for t in tasks)


def available() -> dict[str, Path]:
    """name -> folder of every pretrained model found (a name in an earlier root wins), DEMO_FIRST first."""
    found: dict[str, Path] = {}
    for root in search_roots():
        if not root.is_dir():
            continue
        for folder in sorted(root.iterdir()):
            if folder.name[0] != "." and folder.is_dir() and is_packed(folder):
                found.setdefault(folder.name, folder)
    return {**{name: found[name] for name in DEMO_FIRST if name in found}, **found}


def names(task: str | None = None) -> list[str]:
    """The available model names, those of one task (cgan | pix2pix | cyclegan) when `task` is given."""
    return [
        name for name, folder in available().items() if task is None or load_json(folder / "config.json").task == task
    ]


def is_pretrained(run: str | Path) -> bool:
    return isinstance(run, str) and run.startswith(PREFIX)


def resolve(run: str) -> Path:
    """`pretrained:NAME` -> its folder; an unknown NAME is one line listing the shipped names."""
    name = run[len(PREFIX) :]
    models = available()
    if name not in models:
        names = ", ".join(f"{PREFIX}{n}" for n in sorted(models)) or "none (reinstall condgan)"
        raise CheckpointError(f"unknown pretrained model {name!r}; available: {names}")
    return models[name]


def read_meta(folder: Path) -> dict:
    path = Path(folder) / "meta.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); restore it") from None


# ----------------------------------------------------------------------------- run directories


def resolve_run_dir(run: str | Path) -> Path:
    """A run directory given by path, or a shipped model as `pretrained:NAME`."""
    if is_pretrained(run):
        return resolve(run)
    path = Path(run)
    if not path.is_dir():
        raise CheckpointError(f"run directory {path} does not exist; train one with `condgan train --out {path}`")
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} has no config.json, so it is not a condgan run directory; check the path")
    return path


def load_config_of(run_dir: Path) -> Config:
    try:
        return load_json(run_dir / "config.json")
    except (ValueError, ConfigError) as exc:
        raise CheckpointError(f"{run_dir / 'config.json'} is not a valid condgan config ({exc}); restore it") from None


def generator_weights_path(run_dir: Path, use_ema: bool = True, name: str = "generator") -> Path:
    """The weights file of the run's generator `name` (CycleGAN: generator_ab, generator_ba): its EMA when
    kept and `use_ema`, from the newest checkpoint (or a packed pretrained model's folder)."""
    packed = Path(run_dir) / f"{name}_ema.safetensors"  # a pretrained model's folder (inference.pretrained)
    if packed.is_file():
        if not use_ema:
            raise CheckpointError(f"{run_dir} is a packed model with only the EMA generator; use its EMA weights")
        return packed
    if is_packed(run_dir):  # a packed model without this generator
        if name == "generator" and task_of(run_dir) == "cyclegan":
            raise _two_generators(run_dir)
        files = ", ".join(packed_weight_files(task_of(run_dir) or "cgan"))
        raise CheckpointError(f"{run_dir} is a packed model holding {files}, not {packed.name}; ask for one of "
                              "its generators, or repack the run with condgan pretrained pack")  # fmt: skip
    folder = latest_checkpoint(run_dir)
    if folder is None:
        raise CheckpointError(f"{run_dir} has no complete checkpoint yet; train it (or resume it) first")
    if name == "generator" and (folder / "generator_ab.safetensors").is_file():
        raise _two_generators(run_dir)
    ema = folder / f"{name}_ema.safetensors"
    return ema if use_ema and ema.is_file() else folder / f"{name}.safetensors"


def _two_generators(run_dir: Path) -> CondganError:
    return CondganError(f"{run_dir} is a cyclegan run with two generators (generator_ab, generator_ba); this "
                        "command takes one generator: use condgan translate or export with --direction")  # fmt: skip


def checkpoint_step(run_dir: Path) -> int | None:
    """The training step of the weights `load_generator` uses: the newest checkpoint's, or for a packed
    pretrained model the step of the run it came from (None if unknown)."""
    if is_packed(Path(run_dir)):
        return read_meta(Path(run_dir)).get("source_step")
    folder = latest_checkpoint(run_dir)
    return int(folder.name.split("_")[-1]) if folder is not None else None
