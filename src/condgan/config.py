"""One config tree of frozen dataclasses.

Defaults live here; YAML files hold only overrides; `--set section.key=value` overrides those.
An unknown key is an error that lists the valid ones. The resolved tree is saved as
`config.json` in every run directory and is enough to rebuild every model.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from condgan.errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    name: str = "fashion-mnist"  # fashion-mnist | mnist | kmnist | digits | cifar10 | folder:PATH
    image_size: int = 0  # 0 = the dataset's own size
    channels: int = 0  # 0 = the dataset's own (1 grayscale, 3 RGB)
    download: bool = True  # fetch a named set when it is not on the machine
    fallback: str = ""  # dataset to use when `name` cannot be had offline (make demo: digits)
    class_names: tuple[str, ...] = ()  # resolved from the dataset when training starts
    # pix2pix (data.name aligned:DIR | pairs:DIR); `image_size` and `channels` describe the target image
    direction: str = "AtoB"  # aligned:DIR: AtoB = the left half is the input, BtoA = the right half
    source_channels: int = 0  # channels of the input image; 0 = from the data
    load_size: int = 0  # jitter: resize pairs to this, random-crop image_size (0 = image_size*286/256, the paper's)
    flip: bool = True  # jitter: random horizontal flip, the same for both images of a pair


@dataclass(frozen=True)
class ModelConfig:
    generator: str = "dcgan"  # mlp | dcgan | unet | resnet (pix2pix)
    discriminator: str = "dcgan"  # mlp | dcgan | patchgan | pixel (pix2pix)
    conditioning: str = "projection"  # concat | projection | acgan (ignored when num_classes == 0)
    num_classes: int = -1  # -1 = from the dataset; 0 = unconditional (vanilla GAN)
    z_dim: int = 64
    g_width: int = 32  # channels of the generator's last hidden layer (doubles going up)
    d_width: int = 32  # channels of the discriminator's first layer (doubles going down)
    conditional_bn: bool = True  # dcgan G: class-conditional batch norm (else one-hot concat to z)
    spectral_norm: bool = False  # dcgan D
    dropout: float = 0.0  # D dropout (mlp's classic value is 0.4)
    # pix2pix networks (g_width/d_width are their ngf/ndf)
    norm: str = "batch"  # unet | resnet | patchgan | pixel: batch | instance | none
    unet_downs: int = 0  # unet: down-samplings; 0 = from the image size (8 for 256 px, 7 for 128, 5 for 32)
    resnet_blocks: int = 9  # resnet: residual blocks (6 or 9 in the reference)
    n_layers: int = 3  # patchgan: stride-2 layers (3 = the 70x70 PatchGAN)
    g_dropout: bool = True  # unet | resnet: dropout 0.5 in G, pix2pix's only noise source


@dataclass(frozen=True)
class LossConfig:
    kind: str = "bce"  # bce | lsgan | hinge | wgan-gp
    r1_gamma: float = 0.0  # R1 penalty weight on real data (0 = off)
    gp_weight: float = 10.0  # gradient-penalty weight for wgan-gp
    aux_weight: float = 1.0  # acgan: weight of the auxiliary classification loss
    aux_on_fake: bool = False  # acgan: also train D's classifier on generated images (Odena et al.); off = real only
    l1_weight: float = 100.0  # pix2pix: lambda, the weight of L1(G(x), y) in G's loss
    gan_weight: float = 1.0  # pix2pix: weight of the adversarial term in G's loss; 0 = L1-only baseline (no D)
    mismatch_weight: float = 0.0  # pix2pix: weight of D's (x, real y of another item) fake term; 1 = Reed et al.


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 0  # generator steps; 0 = not the budget
    epochs: float = 0.0  # passes over the training set; 0 = not the budget
    time_budget: float = 0.0  # seconds of training; 0 = not the budget
    batch_size: int = 64
    lr: float = 1.6e-3  # generator learning rate (the default recipe's; the classic 2e-4 in configs/mlp-cgan.yaml)
    d_lr: float = 0.0  # discriminator learning rate; 0 = same as lr
    beta1: float = 0.5
    beta2: float = 0.999
    d_steps: int = 1  # discriminator steps per generator step
    ema_decay: float = 0.999  # EMA of the generator's weights, used for sampling (0 = off)
    ema_every: int = 4  # update the EMA every k generator steps (with decay**k: the same time constant)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU threads for torch; 0 = leave torch's default
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    # quick evaluation during training (eval_callback.py): logged to metrics.jsonl as eval_accuracy, eval_fid
    eval_every: int = 0  # generator steps between quick evals; 0 = off
    eval_samples: int = 2000  # generated images per quick eval (balanced over classes)
    keep_best: str = ""  # "" | fid | accuracy: keep the best weights by this metric in run/best/
    lr_decay: str = "none"  # none | linear: constant, then linearly to zero at the end of the budget
    lr_decay_start: float = 0.5  # fraction of the budget (steps, else time) where lr_decay starts
    # speed (see acceleration.py) and scale (see distributed.py; batch_size is per process under torchrun)
    precision: str = "auto"  # auto (GPU: bf16 where supported, else fp16 + grad scaler; CPU: fp32) | fp32 | bf16 | fp16
    channels_last: bool = True  # NHWC memory order for models and image batches (dcgan: ~1.5x faster on CPU too)
    compile: bool = False  # torch.compile the generator and discriminator
    sync_batchnorm: bool = False  # under torchrun: batch-norm statistics over the global batch
    dist_timeout: float = 600.0  # seconds a process waits for the others before failing (a dead or stuck rank)
    # faults
    skip_nonfinite: int = 0  # steps with a NaN/inf loss that may be skipped (no update) before stopping; 0 = stop


@dataclass(frozen=True)
class Config:
    task: str = "cgan"  # cgan | pix2pix
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
            kwargs[key] = _coerce(value, hint, path)
    return cls(**kwargs)


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
# U-Net + 70x70 PatchGAN with ngf = ndf = 64, batch size 1, Adam(2e-4), no EMA, lr constant then linear decay.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "pix2pix": {
        "model": {"generator": "unet", "discriminator": "patchgan", "g_width": 64, "d_width": 64},
        "train": {"batch_size": 1, "lr": 2e-4, "ema_decay": 0.0, "lr_decay": "linear"},
    },
}


def save_json(config: Config, path: str | Path) -> None:
    from condgan.checkpoint import atomic_write_text

    atomic_write_text(Path(path), json.dumps(config.to_dict(), indent=2) + "\n")


def load_json(path: str | Path) -> Config:
    return from_dict(json.loads(Path(path).read_text()))
