"""What every task's evaluation shares: the options `evaluate_run` passes on; the domain evaluator and
real split of a run's named dataset (also used by the quick evals during training and by the demo); the
domain evaluator of a translation's target side, and its predictions for images of any size."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from condgan.config import Config
from condgan.data.datasets import ImageDataset, load_dataset
from condgan.data.loader import to_float, to_uint8
from condgan.errors import CondganError, MetricError
from condgan.metrics.evaluator import Evaluator, cache_key, default_cache_root, load_evaluator, predict

DEFAULT_SAMPLES = 10_000
MIN_SAMPLES = 20  # the whole-set metrics need at least this many (density/coverage need more than k=5)


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass(frozen=True)
class EvalOptions:
    num_samples: int = DEFAULT_SAMPLES
    seed: int = 0
    batch_size: int = 1000
    device: torch.device = torch.device("cpu")
    inception_weights: Path | None = None
    log: Callable[[str], None] = field(default=log_to_stderr)
    out_dir: Path | None = None  # where the report goes (pictures beside it); None: the run directory


def domain_evaluator(config: Config, device: torch.device, log: Callable[[str], None] = log_to_stderr) -> Evaluator:
    """The cached evaluator for the run's dataset, size and channels; trained once (said in one line) if missing.

    Training it does not disturb the caller's random state.
    """
    d = config.data
    stem = default_cache_root() / cache_key(d.name, d.image_size, d.channels)
    if not stem.with_suffix(".json").exists():
        log(
            f"condgan: training the domain evaluator for {d.name} ({d.image_size} px) once "
            f"(about 3 minutes for Fashion-MNIST on 2 CPU cores); it is cached in {stem.parent}"
        )
    try:
        with torch.random.fork_rng(devices=[]):
            evaluator = load_evaluator(d.name, d.image_size, d.channels)
    except CondganError as error:
        if isinstance(error, MetricError):
            raise
        raise MetricError(f"the domain evaluator cannot load dataset {d.name!r}: {error}") from None
    return evaluator.to(device).eval()


def real_split(config: Config, split: str) -> ImageDataset:
    """A split of the run's dataset at the run's size and channels, in memory."""
    d = config.data
    try:
        dataset = load_dataset(d.name, split, d.image_size, d.channels, download=d.download)
    except CondganError as error:
        raise MetricError(f"cannot evaluate against dataset {d.name!r} ({split} split): {error}") from None
    if not isinstance(dataset, ImageDataset):
        raise MetricError(
            f"dataset {d.name!r} is too big to hold in memory, which evaluation needs; use a smaller image size"
        )
    return dataset


# ----------------------------------------------------------------------------- translations (pix2pix, cyclegan)


def load_domain_evaluator(domain: str, channels: int, log: Callable[[str], None]) -> tuple[Evaluator | None, str]:
    """(evaluator, note) for images of the named set `domain` with `channels` channels: the cached evaluator at
    the set's own size (trained once, said in one line, when missing), or (None, why there is none)."""
    try:
        with torch.random.fork_rng(devices=[]):
            try:
                evaluator = load_evaluator(domain, train_if_missing=False)
            except MetricError:
                log(f"condgan: training the domain evaluator for {domain} once (minutes on a CPU); it is cached "
                    f"in {default_cache_root()}")  # fmt: skip
                evaluator = load_evaluator(domain)
    except CondganError as error:
        return None, f"the domain evaluator for {domain!r} is not available ({error})"
    if evaluator.in_channels != channels:
        return None, f"the {domain} evaluator takes {evaluator.in_channels}-channel images"
    accuracy = evaluator.info.get("test_accuracy", float("nan"))
    return evaluator, f"in the {domain} evaluator's features ({evaluator.image_size} px, test accuracy {accuracy:.3f})"


def evaluator_predictions(
    evaluator: Evaluator, images: torch.Tensor, batch_size: int
) -> tuple[torch.Tensor, np.ndarray]:
    """(classes (N,), features (N, D) float64) of uint8 images, resized to the evaluator's size."""
    size = evaluator.image_size
    if images.shape[-1] != size:
        resized = F.interpolate(to_float(images), size=(size, size), mode="bilinear", antialias=True)
        images = to_uint8(resized)
    classes, features = predict(evaluator, images, batch_size)
    return classes, features.double().numpy()


def class_agreement(output_classes: torch.Tensor, target_classes: torch.Tensor) -> float:
    """The share of outputs put in the class their own target is put in (the FCN-score idea)."""
    return float((output_classes == target_classes).double().mean())
