"""One config tree of frozen dataclasses.

Defaults live here; YAML files hold only overrides; `--set section.key=value` overrides those.
An unknown key is an error that lists the valid ones. The resolved tree is saved as
`config.json` in every run directory and is enough to rebuild every model.

Every key carries its allowed values beside its default (`_key(default, check)`, the check in the
field's metadata); `from_dict` checks each value it is given, so a bad `--set` or YAML value is a
one-line ConfigError ("train.batch_size must be >= 1, got 0") before anything runs. Checks that
involve two keys or the data (a dcgan image size, pix2pix's losses) stay where those are known.
No validation library (pydantic, attrs): the tree stays plain frozen dataclasses, the checks
are a few small functions, and the errors keep the project's one-line form.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from condgan.errors import ConfigError

# ----------------------------------------------------------------------------- what each key allows
# A check takes a value (already of the field's type) and returns None when it is allowed, else
# the words for what is allowed: "{key} must be {words}, got {value!r}".
Check = Callable[[Any], "str | None"]


def _key(default: Any, check: Check) -> Any:
    """A dataclass field with its default and its check."""
    return field(default=default, metadata={"check": check})


def _number_ok(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def _bound(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)  # 0.0 -> "0", 0.5 -> "0.5"


def at_least(low: float) -> Check:
    return lambda value: None if _number_ok(value) and value >= low else f">= {_bound(low)}"


def above(low: float) -> Check:
    return lambda value: None if _number_ok(value) and value > low else f"> {_bound(low)}"


def between(low: float, high: float, *, high_open: bool = False) -> Check:
    """low <= value <= high, or < high with `high_open`."""
    words = f"in [{_bound(low)}, {_bound(high)}{')' if high_open else ']'}"
    return lambda value: None if low <= value and (value < high if high_open else value <= high) else words


def zero_or_at_least(low: int, zero_means: str) -> Check:
    return lambda value: None if value == 0 or value >= low else f"0 ({zero_means}) or >= {low}"


def _names(values) -> str:
    return ", ".join(repr(v) if v == "" else str(v) for v in values)


def one_of(*choices: Any) -> Check:
    return lambda value: None if value in choices else f"one of {_names(choices)}"


def from_registries(*registries: str, extra: tuple[str, ...] = ()) -> Check:
    """One of the names in the registries given as 'module:ATTRIBUTE' (plus `extra`). They are
    imported when a value is checked: the registry modules import this one, so importing them at
    the top of this module would be a circle."""

    def check(value: Any) -> str | None:
        choices = [*extra]
        for registry in registries:
            module, attribute = registry.split(":")
            choices += [name for name in getattr(importlib.import_module(module), attribute) if name not in choices]
        return None if value in choices else f"one of {_names(choices)}"

    return check


def _dataset_name(value: str) -> str | None:
    """A named set (data/datasets.py), folder:PATH, pix2pix's aligned:DIR or pairs:DIR, CycleGAN's
    unaligned:DIR, or '' (none: a run imported from another program keeps the name of no set)."""
    from condgan.data.datasets import DATASETS
    from condgan.data.pair_files import KINDS
    from condgan.data.unaligned import UNALIGNED

    kinds = (*KINDS, UNALIGNED)
    prefix, _, path = value.partition(":")
    if not value or value in DATASETS or (prefix in ("folder", *kinds) and path):
        return None
    return f"one of {', '.join([*DATASETS, 'folder:PATH', *(kind + ':DIR' for kind in kinds)])} or ''"


def _augment_policy(value: str) -> str | None:
    from condgan.tasks.augment import check_policy  # tasks import this module

    return check_policy(value)


def _device(value: str) -> str | None:
    ok = value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", value)
    return None if ok else "auto, cpu, cuda or cuda:N"


def _class_names(value: tuple[str, ...]) -> str | None:
    ok = all(value) and len(set(value)) == len(value)
    return None if ok else "a list of distinct, non-empty names"


BOOL: Check = lambda value: None  # noqa: E731 (true | false: the type check says it)
_generator_name = from_registries("condgan.models:GENERATORS", "condgan.models.pix2pix:TRANSLATION_GENERATORS")
_discriminator_name = from_registries("condgan.models:DISCRIMINATORS", "condgan.models.pix2pix:PAIR_DISCRIMINATORS")


@dataclass(frozen=True)
class DataConfig:
    name: str = _key("fashion-mnist", _dataset_name)  # fashion-mnist | mnist | kmnist | digits | cifar10 | folder:PATH
    image_size: int = _key(0, at_least(0))  # 0 = the dataset's own size
    channels: int = _key(0, at_least(0))  # 0 = the dataset's own (1 grayscale, 3 RGB)
    download: bool = _key(True, BOOL)  # fetch a named set when it is not on the machine
    fallback: str = _key("", _dataset_name)  # dataset to use when `name` cannot be had offline (make demo: digits)
    class_names: tuple[str, ...] = _key((), _class_names)  # resolved from the dataset when training starts
    # pix2pix (data.name aligned:DIR | pairs:DIR); `image_size` and `channels` describe the target image
    # aligned:DIR: AtoB = the left half is the input, BtoA = the right half
    direction: str = _key("AtoB", one_of("AtoB", "BtoA"))
    source_channels: int = _key(0, at_least(0))  # channels of the input image; 0 = from the data
    # jitter: resize pairs to this, random-crop image_size (0 = image_size*286/256, the paper's)
    load_size: int = _key(0, at_least(0))
    flip: bool = _key(True, BOOL)  # jitter: random horizontal flip, the same for both images of a pair
    # the inputs' background: white | black (measured from the training sources when training starts) | ""
    # (unknown: translate leaves an input's polarity alone); translate inverts an input whose background differs
    source_background: str = _key("", one_of("", "white", "black"))
    # probability per training pair that its input strokes are thickened or thinned, cut and shifted a little
    stroke_augment: float = _key(0.0, between(0.0, 1.0))


@dataclass(frozen=True)
class ModelConfig:
    generator: str = _key("dcgan", _generator_name)  # mlp | dcgan | unet | resnet (pix2pix)
    discriminator: str = _key("dcgan", _discriminator_name)  # mlp | dcgan | patchgan | pixel (pix2pix)
    # concat | projection | acgan | contrastive (ignored when num_classes == 0)
    conditioning: str = _key("projection", from_registries("condgan.models.layers:CONDITIONINGS"))
    num_classes: int = _key(-1, at_least(-1))  # -1 = from the dataset; 0 = unconditional (vanilla GAN)
    z_dim: int = _key(64, at_least(1))  # length of the noise vector z given to the generator
    g_width: int = _key(32, at_least(1))  # channels of the generator's last hidden layer (doubles going up)
    d_width: int = _key(32, at_least(1))  # channels of the discriminator's first layer (doubles going down)
    conditional_bn: bool = _key(True, BOOL)  # dcgan G: class-conditional batch norm (else one-hot concat to z)
    spectral_norm: bool = _key(False, BOOL)  # dcgan D
    dropout: float = _key(0.0, between(0, 1, high_open=True))  # D dropout (mlp's classic value is 0.4)
    # dcgan D: a feature map of the spread within groups of this many images (minibatch std); 0 = off
    minibatch_std: int = _key(0, zero_or_at_least(2, "off"))
    # pix2pix networks (g_width/d_width are their ngf/ndf)
    # unet | resnet | patchgan | pixel: batch | instance | none
    norm: str = _key("batch", from_registries("condgan.models.norms:NORMS"))
    # unet: down-samplings; 0 = from the image size (8 for 256 px, 7 for 128, 5 for 32)
    unet_downs: int = _key(0, zero_or_at_least(2, "from the image size"))
    # resnet: residual blocks (6 or 9 in the reference); -1 = from the image size (9 above 128 px, else 6)
    resnet_blocks: int = _key(9, at_least(-1))
    n_layers: int = _key(3, at_least(1))  # patchgan: stride-2 layers (3 = the 70x70 PatchGAN)
    g_dropout: bool = _key(True, BOOL)  # unet | resnet: dropout 0.5 in G, pix2pix's only noise source


@dataclass(frozen=True)
class LossConfig:
    kind: str = _key("bce", from_registries("condgan.losses:LOSSES"))  # bce | lsgan | hinge | wgan-gp
    r1_gamma: float = _key(0.0, at_least(0))  # R1 penalty weight on real data (0 = off)
    gp_weight: float = _key(10.0, at_least(0))  # gradient-penalty weight for wgan-gp
    aux_weight: float = _key(1.0, at_least(0))  # acgan, contrastive: weight of D's class loss (in D's and G's loss)
    # cgan: D sees real and generated images through these random differentiable transforms (DiffAugment),
    # a comma list of translation, cutout, brightness, contrast; '' = off
    augment: str = _key("", lambda value: _augment_policy(value))
    # acgan, contrastive: also train D's class term on generated images (Odena et al.); off = real only
    aux_on_fake: bool = _key(False, BOOL)
    # cgan: weight of MSGAN's mode-seeking term in G's loss; 0 = off. 0.1 bought FID and recall at equal minutes
    # (docs/results/recipe.md); the seed's MLP recipes and CIFAR-10 keep 0
    mode_seeking: float = _key(0.1, at_least(0))
    l1_weight: float = _key(100.0, at_least(0))  # pix2pix: lambda, the weight of L1(G(x), y) in G's loss
    # pix2pix: weight of the adversarial term in G's loss; 0 = L1-only baseline (no D)
    gan_weight: float = _key(1.0, at_least(0))
    # pix2pix: weight of D's (x, real y of another item) fake term; 1 = Reed et al.
    mismatch_weight: float = _key(0.0, at_least(0))
    # cyclegan: lambda, the weight of each cycle-consistency L1 |G_BA(G_AB(a)) - a| and |G_AB(G_BA(b)) - b|
    cycle_weight: float = _key(10.0, at_least(0))
    # cyclegan: the identity L1 |G_AB(b) - b| and its mirror, weighted identity_weight * cycle_weight; 0 = off
    identity_weight: float = _key(0.5, at_least(0))
    # cyclegan: generated images each discriminator keeps; it sees an older one half the time (0 = off)
    pool_size: int = _key(50, at_least(0))


@dataclass(frozen=True)
class TrainConfig:
    steps: int = _key(0, at_least(0))  # generator steps; 0 = not the budget
    epochs: float = _key(0.0, at_least(0))  # passes over the training set; 0 = not the budget
    time_budget: float = _key(0.0, at_least(0))  # seconds of training; 0 = not the budget
    batch_size: int = _key(64, at_least(1))  # images per training step (per process under torchrun)
    # generator learning rate (the default recipe's; the classic 2e-4 in configs/mlp-cgan.yaml)
    lr: float = _key(1.6e-3, above(0))
    d_lr: float = _key(0.0, at_least(0))  # discriminator learning rate; 0 = same as lr
    beta1: float = _key(0.0, between(0, 1, high_open=True))  # Adam's first-moment decay (classic recipes: 0.5)
    beta2: float = _key(0.99, between(0, 1, high_open=True))  # Adam's second-moment decay (classic recipes: 0.999)
    d_steps: int = _key(1, at_least(1))  # discriminator steps per generator step
    # EMA of the generator's weights, used for sampling (0 = off)
    ema_decay: float = _key(0.999, between(0, 1, high_open=True))
    # update the EMA every k generator steps (with decay**k: the same time constant)
    ema_every: int = _key(4, at_least(1))
    seed: int = _key(0, between(0, 2**32 - 1))  # seeds weights, noise, batch order and jitter: same seed, same run
    device: str = _key("auto", _device)  # auto | cpu | cuda | cuda:N
    threads: int = _key(0, at_least(0))  # CPU threads for torch; 0 = leave torch's default
    log_every: int = _key(50, at_least(1))  # generator steps between lines of metrics.jsonl
    sample_every: int = _key(500, at_least(0))  # steps between sample pictures in samples/ (0 = only at the end)
    checkpoint_every: int = _key(1000, at_least(0))  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = _key(2, at_least(1))  # newest checkpoints kept on disk
    # quick evaluation during training (evaluation/callback.py): logged to metrics.jsonl as eval_accuracy, eval_fid
    eval_every: int = _key(0, at_least(0))  # generator steps between quick evals; 0 = off
    eval_samples: int = _key(2000, at_least(1))  # generated images per quick eval (balanced over classes)
    # "" | fid | accuracy: keep the best weights by this metric in run/best/
    keep_best: str = _key("", from_registries("condgan.evaluation.callback:KEEP_BEST", extra=("",)))
    # none | linear: constant, then linearly to zero at the end of the budget
    lr_decay: str = _key("none", from_registries("condgan.trainer:LR_DECAYS"))
    # fraction of the budget (steps, else time) where lr_decay starts
    lr_decay_start: float = _key(0.5, between(0, 1, high_open=True))
    # speed (see acceleration.py) and scale (see distributed.py; batch_size is per process under torchrun)
    # auto (GPU: bf16, else fp16 + grad scaler; CPU: bf16 for the conv cGAN with AMX, else fp32) | fp32 | bf16 | fp16
    precision: str = _key("auto", from_registries("condgan.acceleration:PRECISIONS"))
    # NHWC memory order for models and image batches (dcgan: ~1.5x faster on CPU too)
    channels_last: bool = _key(True, BOOL)
    compile: bool = _key(False, BOOL)  # torch.compile the generator and discriminator
    sync_batchnorm: bool = _key(False, BOOL)  # under torchrun: batch-norm statistics over the global batch
    # seconds a process waits for the others before failing (a dead or stuck rank)
    dist_timeout: float = _key(600.0, above(0))
    # faults
    # steps with a NaN/inf loss that may be skipped (no update) before stopping; 0 = stop
    skip_nonfinite: int = _key(0, at_least(0))


@dataclass(frozen=True)
class Config:
    task: str = _key("cgan", from_registries("condgan.tasks:TASKS"))  # cgan | pix2pix | cyclegan
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **sections: Any) -> Config:
        """Return a copy with whole sections or fields of sections replaced:
        `cfg.replace(train={"steps": 10})`."""
        return from_dict(_merge(self.to_dict(), sections))


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check (and losslessly convert) one value against a field's type."""
    origin = typing.get_origin(annotation)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}; write it as [a, b, ...]")
        return tuple(str(v) for v in value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where} must be a whole number, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer too large for a float
                raise ConfigError(f"{where} is too large ({str(value)[:20]}...); use a smaller number") from None
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            path = f"{where}.{key}" if where else key
            valid = ", ".join(sorted(fields))
            raise ConfigError(f"unknown config key {path!r}; valid keys{' in ' + where if where else ''}: {valid}")
        path = f"{where}.{key}" if where else key
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, path)
        else:
            kwargs[key] = _checked(_coerce(value, hint, path), fields[key], path)
    return cls(**kwargs)


def _checked(value: Any, spec: dataclasses.Field, where: str) -> Any:
    """The value if the field's check allows it, else a one-line ConfigError naming what is allowed."""
    check = spec.metadata.get("check")
    allowed = check(value) if check is not None else None
    if allowed is not None:
        raise ConfigError(f"{where} must be {allowed}, got {value!r}")
    return value


def from_dict(data: dict[str, Any]) -> Config:
    """Build a Config from a (possibly partial) nested dict; unknown keys are errors."""
    return _build(Config, data, "")


def parse_override(text: str) -> dict[str, Any]:
    """'train.lr=1e-4' -> {'train': {'lr': 0.0001}} (the value is read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value; write it like train.lr=1e-4")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {text!r} has no key; write it like train.lr=1e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and _looks_numeric(value):  # YAML 1.1 reads '1e-4' as a string
        value = float(value)
    nested: dict[str, Any] = value
    for part in reversed(parts):
        nested = {part: nested}
    return nested


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass a YAML file such as configs/fashion-mnist.yaml")
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.start}); fix the file") from None
    except (yaml.YAMLError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise ConfigError(f"config file {path} is not valid YAML ({first}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping (section: {{key: value}}), got {type(data).__name__}"
        )
    return _fix_numeric_strings(data)


def _fix_numeric_strings(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _fix_numeric_strings(v) for k, v in data.items()}
    if isinstance(data, str) and _looks_numeric(data) and any(c in data for c in "eE") and "." not in data:
        return float(data)
    return data


def load_config(
    yaml_path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (), base: dict | None = None
) -> Config:
    """Defaults <- the task's defaults (TASK_DEFAULTS) <- base dict <- YAML file <- key=value overrides."""
    data: dict[str, Any] = dict(base or {})
    if yaml_path is not None:
        data = _merge(data, load_yaml(yaml_path))
    for text in overrides:
        data = _merge(data, parse_override(text))
    task = data.get("task", Config.task)
    if isinstance(task, str) and task in TASK_DEFAULTS:
        data = _merge(TASK_DEFAULTS[task], data)
    return from_dict(data)


# Defaults that differ by task, applied by load_config under everything the user gives.
# pix2pix: the paper's choices (Isola et al. 2017, sec. 3.3 and 4; the reference's train options):
# U-Net + 70x70 PatchGAN with ngf = ndf = 64, batch size 1, Adam(2e-4, 0.5/0.999), no EMA, lr constant then
# linear decay.
# cyclegan: the paper's (Zhu et al. 2017, sec. 4 and 7.2; the reference's cycle_gan options): ResNet G (9 blocks
# above 128 px, 6 at 128 and below) without dropout, 70x70 PatchGAN D, ngf = ndf = 64, instance norm, LSGAN,
# batch size 1, Adam(2e-4, 0.5/0.999), no EMA, lr constant then linear decay (lambda, identity, pool: LossConfig).
# Both keep NCHW memory order: at 256 px on a CPU, channels-last made the pix2pix step ~5% slower and the
# CycleGAN step ~17% slower, and both use more memory (benchmarks/translation_256.py; on a GPU try
# train.channels_last=true).
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "pix2pix": {
        "model": {"generator": "unet", "discriminator": "patchgan", "g_width": 64, "d_width": 64},
        "loss": {"mode_seeking": 0.0},
        "train": {"batch_size": 1, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "ema_decay": 0.0, "lr_decay": "linear",
                  "channels_last": False},
    },
    "cyclegan": {
        "model": {
            "generator": "resnet",
            "discriminator": "patchgan",
            "g_width": 64,
            "d_width": 64,
            "norm": "instance",
            "resnet_blocks": -1,
            "g_dropout": False,
        },
        "loss": {"kind": "lsgan", "mode_seeking": 0.0},
        "train": {"batch_size": 1, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "ema_decay": 0.0, "lr_decay": "linear",
                  "channels_last": False},
    },
}


def save_json(config: Config, path: str | Path) -> None:
    from condgan.checkpoint import atomic_write_text

    atomic_write_text(Path(path), json.dumps(config.to_dict(), indent=2) + "\n")


def load_json(path: str | Path) -> Config:
    return from_dict(json.loads(Path(path).read_text()))
