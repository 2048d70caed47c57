"""`train()`: config -> data -> models -> task -> trainer -> run directory."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch

from condgan import distributed
from condgan.acceleration import prepare_task
from condgan.config import Config, load_json, save_json
from condgan.data import ImageDataset, load_dataset
from condgan.data.datasets import conform
from condgan.errors import CheckpointError, ConfigError, DataError
from condgan.models import build_networks, smallest_image_size
from condgan.runtime import resolve_device, set_threads
from condgan.tasks import task_class
from condgan.trainer import Trainer


def resolve_config(config: Config, dataset) -> Config:
    """Fill what the dataset decides: image size, channels, class names, number of classes (pix2pix: input
    channels, the jitter's load size, the inputs' background polarity; cyclegan: side A's channels as
    data.source_channels, the load size, the ResNet depth for the image size)."""
    data = replace(
        config.data,
        image_size=dataset.image_size,
        channels=dataset.channels,
        class_names=tuple(dataset.class_names),
    )
    num_classes = config.model.num_classes
    if num_classes == -1:
        num_classes = dataset.num_classes
    elif num_classes not in (0, dataset.num_classes):
        raise ConfigError(
            f"model.num_classes is {num_classes} but dataset {dataset.name!r} has {dataset.num_classes} classes; "
            "use -1 (from the dataset) or 0 (unconditional)"
        )
    if num_classes == 0:
        data = replace(data, class_names=())
    if config.task == "pix2pix":  # a PairedDataset: input channels and the jitter's stored size too
        background = data.source_background or dataset.source_background  # measured unless given
        data = replace(data, source_channels=dataset.source_channels, load_size=dataset.load_size,
                       source_background=background)  # fmt: skip
    model = replace(config.model, num_classes=num_classes)
    if config.task == "cyclegan":  # an UnalignedDataset: side A's channels, the jitter's stored size
        from condgan.models.pix2pix import resnet_blocks_for

        data = replace(data, source_channels=dataset.source_channels, load_size=dataset.load_size)
        if model.resnet_blocks == -1:
            model = replace(model, resnet_blocks=resnet_blocks_for(data.image_size))
    return replace(config, data=data, model=model)


def load_training_data(config: Config, log=print) -> tuple[Config, object]:
    """The training split, and the config naming the set used: `data.fallback` (said in one line)
    stands in when `data.name` cannot be had."""
    d = config.data
    if config.task == "pix2pix":  # aligned:DIR | pairs:DIR -> (source, target) batches
        from condgan.data.paired import load_training_pairs

        return config, load_training_pairs(config)
    if config.task == "cyclegan":  # unaligned:DIR -> (real_a, real_b) batches
        from condgan.data.unaligned import load_sample_sides, load_training_sides
        from condgan.tasks.cyclegan import SAMPLE_IMAGES

        dataset = load_training_sides(config)
        load_sample_sides(config, limit=SAMPLE_IMAGES)  # the sample sheets' images: their errors now, not later
        return config, dataset
    try:
        dataset = load_dataset(d.name, "train", d.image_size, d.channels, download=d.download)
    except DataError as exc:
        if not d.fallback:
            raise
        log(f"condgan: {d.name} unavailable ({exc}); falling back to {d.fallback}")
        dataset = load_dataset(d.fallback, "train", d.image_size, d.channels, download=False)
        config = replace(config, data=replace(d, name=d.fallback, fallback=""))
    return config, _up_to_model_size(config, dataset, log)


def _up_to_model_size(config: Config, dataset, log):
    """A set whose own size (data.image_size 0) is below the networks' smallest (digits' 8 px for dcgan's
    28) is resized up to that size, said in one line; a size asked for is never changed."""
    smallest = smallest_image_size(config)
    if config.data.image_size or dataset.image_size >= smallest:
        return dataset
    m, d = config.model, config.data
    networks = m.generator if m.generator == m.discriminator else f"{m.generator}/{m.discriminator}"
    log(f"condgan: {d.name} images are {dataset.image_size} px, below the {networks} networks' smallest size "
        f"{smallest}; resizing them to {smallest} px (set data.image_size to choose the size)")  # fmt: skip
    if isinstance(dataset, ImageDataset):
        return conform(dataset, image_size=smallest)
    return load_dataset(d.name, "train", smallest, d.channels, download=d.download)  # a streamed folder


def total_steps(config: Config, batches_per_epoch: int) -> int | None:
    t = config.train
    limits = []
    if t.steps:
        limits.append(t.steps)
    if t.epochs:
        limits.append(max(1, int(t.epochs * batches_per_epoch / t.d_steps)))
    if not limits and not t.time_budget:
        raise ConfigError("no training budget; set --steps, --epochs or --time-budget (train.steps/epochs/time_budget)")
    return min(limits) if limits else None


def check_run_dir(out: Path, force: bool, resume: bool) -> None:
    """Refuse, before any work, to resume a non-run or to overwrite a run without --force."""
    if resume and not (out / "config.json").is_file():
        raise CheckpointError(f"cannot resume: {out} is not a run directory (no config.json); check the path")
    if not resume and out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"run directory {out} already exists; pass --force to overwrite it or --resume to continue")


def create_run_dir(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    out.mkdir(parents=True)


def build_task(config: Config, device: torch.device):
    """The config's task over its networks (models.build_networks), on `device`."""
    networks = build_networks(config)
    return task_class(config.task)(config, **{name: module.to(device) for name, module in networks.items()})


def train(
    config: Config | None = None,
    out: str | Path = "runs/condgan",
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    log=None,
    callbacks: list | tuple = (),
) -> Path:
    """Train a model described by `config` into the run directory `out`; return its path.

    With `resume=True` the run's own config.json is used (budget fields may be raised by
    `config`), and training continues from its newest checkpoint.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    out = Path(out)
    check_run_dir(out, force, resume)
    if resume:
        saved = load_json(out / "config.json")
        config = saved if config is None else replace(saved, train=replace(saved.train, **_budget(config)))
    config = config or Config()
    set_threads(config.train.threads)
    device = resolve_device(config.train.device)
    context, device = distributed.setup(device, config.train.dist_timeout)  # torchrun: join the group
    if not context.is_main:  # only rank 0 speaks and writes
        log, progress = (lambda msg: None), False
    with distributed.main_first():  # rank 0 downloads first
        config, dataset = load_training_data(config, log)
    config = resolve_config(config, dataset)
    if config.train.eval_every > 0:  # quick evals; loads (or trains, once) the domain evaluator now
        from condgan.evaluation.callback import EvalCallback

        with distributed.main_first():  # rank 0 fills the evaluator cache, then the others read it
            callbacks = [*callbacks, EvalCallback(config, device, log=log)]
    torch.manual_seed(config.train.seed)
    task = build_task(config, device)  # validates every name before anything is written
    prepare_task(task, config.train, device)  # sync BN, channels-last, DDP, torch.compile as configured
    batches = dataset.batches(
        config.train.batch_size, seed=config.train.seed, device=device, rank=context.rank, world_size=context.world_size
    )
    steps = total_steps(config, batches.batches_per_epoch)
    if context.is_main:
        if not resume:
            create_run_dir(out)
        save_json(config, out / "config.json")
    trainer = Trainer(task, config.train, out, batches, progress=progress, callbacks=callbacks)
    if config.train.precision == "auto" and device.type == "cpu" and trainer.precision.dtype is not None:
        log("condgan: train.precision=auto: bf16 autocast on this CPU's AMX tiles (train.precision=fp32 for fp32)")
    if resume:
        step = trainer.resume()
        log(f"condgan: resuming {out} from step {step}")
    try:
        summary = trainer.fit(steps, config.train.time_budget)
        distributed.barrier()  # every rank done before rank 0 returns
    except Exception as exc:
        if distributed.is_collective_failure(exc):  # another rank died or stalled
            raise distributed.describe_failure(exc) from None
        raise
    finally:
        distributed.cleanup()
    from condgan.plots import loss_curves

    if context.is_main and (out / "metrics.jsonl").is_file():
        loss_curves(out / "metrics.jsonl", out / "losses.png")
    log(f"condgan: trained {summary['steps']} steps in {summary['seconds']:.0f}s -> {out}")
    return out


def _budget(config: Config) -> dict:
    t = config.train
    return {k: getattr(t, k) for k in ("steps", "epochs", "time_budget") if getattr(t, k)}
