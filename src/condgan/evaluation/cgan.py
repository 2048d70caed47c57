"""`condgan eval RUN` for a class-conditional (cgan) run: its samples in the domain evaluator's feature space.

`evaluate_cgan` generates `num_samples` images (balanced over the classes) with the run's EMA generator,
and compares the domain evaluator's features and predictions for them with those of the real test
split: conditional accuracy, FID, KID (mean and std over subsets), intra-class FID (mean over classes,
and per class), precision/recall (k=3) and density/coverage (k=5).

The *real floor* is the same metrics for real held-out images: a balanced subset of the training
split, as large as the generated set, against the same test split (for conditional accuracy:
the evaluator's accuracy on the test images). It is the best score this evaluator can give, so
read the model's numbers against it, not against 0. A class grid goes to eval_grid.png.

`CganScorer` is that measuring for any generator module (set up once, then called per module): `evaluate_cgan`
uses it on a run's EMA generator, benchmarks/time_to_quality.py on a generator still in training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from condgan.config import Config
from condgan.data.loader import to_uint8
from condgan.errors import MetricError
from condgan.evaluation.common import EvalOptions, domain_evaluator, log_to_stderr, real_split
from condgan.metrics.evaluator import Evaluator, cache_key, predict
from condgan.metrics.functional import (
    conditional_accuracy,
    density_coverage,
    fid_from_features,
    kid_from_features,
    precision_recall,
)
from condgan.models.grid import draw_noise

MIN_PER_CLASS = 10  # per-class metrics (intra-class FID) need at least this many images of every class
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # torch-fidelity's defaults
PR_K, DC_K = 3, 5  # nearest neighbours: Kynkaanniemi et al. 2019 use 3, Naeem et al. 2020 use 5
GRID_FILE = "eval_grid.png"


# ----------------------------------------------------------------------------- building blocks


def balanced_labels(num_samples: int, num_classes: int) -> torch.Tensor:
    """(N,) int64 class labels in contiguous blocks whose sizes differ by at most one."""
    return torch.arange(num_samples, dtype=torch.long) * num_classes // num_samples


@torch.no_grad()
def sample_features(
    generator: nn.Module,
    evaluator: Evaluator,
    z: torch.Tensor,
    labels: torch.Tensor | None,
    batch_size: int = 1000,
    keep_images: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Generate from noise (N, z_dim) and labels (N,) in batches, in eval mode; return the evaluator's
    predicted labels (N,), features (N, D) and, with `keep_images`, the uint8 images (N, C, H, W) on the CPU.

    Samples are quantised to uint8 first, as real images are, so both sides feed the evaluator alike.
    """
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    predicted, features, images = [], [], []
    try:
        for start in range(0, z.shape[0], batch_size):
            z_batch = z[start : start + batch_size].to(device)
            label_batch = labels[start : start + batch_size].to(device) if labels is not None else None
            batch = to_uint8(generator(z_batch, label_batch))  # (B, C, H, W) uint8
            batch_predicted, batch_features = predict(evaluator, batch, batch_size)
            predicted.append(batch_predicted)
            features.append(batch_features)
            if keep_images:
                images.append(batch.cpu())
    finally:
        generator.train(was_training)
    return torch.cat(predicted), torch.cat(features), torch.cat(images) if keep_images else None


def floor_subset(labels: torch.Tensor, counts: torch.Tensor | None, total: int, seed: int) -> torch.Tensor:
    """Indices of real training images for the floor: `counts[c]` of each class c (as many as there are),
    or `total` drawn at random when `counts` is None; seeded."""
    generator = torch.Generator().manual_seed(seed)
    if counts is None:
        return torch.randperm(labels.shape[0], generator=generator)[:total]
    chosen = []
    for c, count in enumerate(counts.tolist()):
        members = (labels == c).nonzero().squeeze(1)
        chosen.append(members[torch.randperm(members.shape[0], generator=generator)[:count]])
    return torch.cat(chosen)


def feature_metrics(
    real_features: torch.Tensor, fake_features: torch.Tensor, seed: int = 0, timings: dict | None = None
) -> dict[str, float]:
    """FID, KID (+ std), precision, recall, density and coverage of fake against real features."""
    timings = timings if timings is not None else {}
    real, fake = real_features.double().numpy(), fake_features.double().numpy()
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(timings.get(name, 0.0) + now - clock, 2)
        clock = now

    fid = fid_from_features(real, fake)
    lap("fid")
    kid, kid_std = kid_from_features(real, fake, num_subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=seed)
    lap("kid")
    precision, recall = precision_recall(real, fake, PR_K)
    lap("precision_recall")
    density, coverage = density_coverage(real, fake, DC_K)
    lap("density_coverage")
    return {"fid": fid, "kid": kid, "kid_std": kid_std, "precision": precision, "recall": recall,
            "density": density, "coverage": coverage}  # fmt: skip


def check_per_class(labels: torch.Tensor, class_names: tuple[str, ...], what: str, fix: str) -> None:
    """MetricError unless every class has at least MIN_PER_CLASS images among `labels`."""
    counts = torch.bincount(labels, minlength=len(class_names))
    low = int(counts.argmin())
    if int(counts[low]) < MIN_PER_CLASS:
        raise MetricError(
            f"{what} have {int(counts[low])} images of class {class_names[low]!r}; per-class metrics "
            f"(intra-class FID) need at least {MIN_PER_CLASS} of each class; {fix}"
        )


# ----------------------------------------------------------------------------- scoring a generator module


@dataclass(frozen=True)
class RealFeatures:
    """The real side of the comparison: the test split's predicted labels (N,) and features (N, D); the real
    floor's images (M, C, H, W) uint8, labels (M,) and features (M, D)."""

    test_predicted: torch.Tensor
    test_features: torch.Tensor
    floor_images: torch.Tensor
    floor_labels: torch.Tensor
    floor_features: torch.Tensor


class CganScorer:
    """`condgan eval`'s measuring for any generator module of `config`: a run's EMA generator, or one still
    training (benchmarks/time_to_quality.py scores the trainer's sampling generator with it).

    Built once: the balanced labels and noise of `num_samples` images (seeded by `seed`), the domain evaluator
    (trained once, said in one line, when none is cached) and the real test and training splits. `score`
    compares a module's samples with the test split; `score_floor` scores the real floor the same way, once.
    """

    def __init__(self, config: Config, num_samples: int, device: torch.device, seed: int = 0,
                 batch_size: int = 1000, log: Callable[[str], None] = log_to_stderr):  # fmt: skip
        self.class_names = names = tuple(config.data.class_names)
        num_classes = config.model.num_classes
        self.num_samples, self.seed, self.batch_size = num_samples, seed, batch_size
        self.labels = balanced_labels(num_samples, num_classes) if num_classes else None
        if self.labels is not None:
            needed = MIN_PER_CLASS * num_classes
            check_per_class(self.labels, names, f"{num_samples} samples over {len(names)} classes",
                            f"pass --samples {needed} or more")  # fmt: skip
        self.evaluator = domain_evaluator(config, device, log)
        self.test, self.train = real_split(config, "test"), real_split(config, "train")
        if self.labels is not None:
            check_per_class(self.test.labels, names, "the real test split", "add test images of that class")
            check_per_class(self.train.labels, names, "the real training split", "add training images of that class")
        self.z = draw_noise(num_samples, config.model.z_dim, seed)  # as ClassConditionalGenerator.noise draws it
        self._real: RealFeatures | None = None
        self._floor: tuple[dict, list[dict]] | None = None

    def sample(self, module: nn.Module, keep_images: bool = False):
        """(predicted labels, features, uint8 images or None) of the module's `num_samples` images (sample_features)."""
        return sample_features(module, self.evaluator, self.z, self.labels, self.batch_size, keep_images)

    def real(self) -> RealFeatures:
        """The test split's and the floor's predictions and features, computed on first use. The floor is a
        seeded subset of the training split with as many images of each class as the samples have."""
        if self._real is None:
            counts = torch.bincount(self.labels, minlength=len(self.class_names)) if self.labels is not None else None
            floor_index = floor_subset(self.train.labels, counts, self.num_samples, self.seed)
            floor_images = self.train.images[floor_index]
            test_predicted, test_features = predict(self.evaluator, self.test.images, self.batch_size)
            _, floor_features = predict(self.evaluator, floor_images, self.batch_size)
            self._real = RealFeatures(test_predicted, test_features, floor_images, self.train.labels[floor_index],
                                      floor_features)  # fmt: skip
        return self._real

    def score(self, predicted: torch.Tensor, features: torch.Tensor, timings: dict | None = None):
        """(metrics, per-class rows) of samples' predicted labels (N,) and features (N, D): feature_metrics,
        and for conditional runs conditional accuracy, intra-class FID and per class
        {"class", "samples", "accuracy", "fid"}."""
        real = self.real()
        metrics = feature_metrics(real.test_features, features, self.seed, timings)
        per_class: list[dict] = []
        if self.labels is not None:
            started = time.perf_counter()
            metrics["conditional_accuracy"] = conditional_accuracy(predicted, self.labels)
            for c, name in enumerate(self.class_names):
                fake_c, test_c = self.labels == c, self.test.labels == c
                per_class.append({
                    "class": name,
                    "samples": int(fake_c.sum()),
                    "accuracy": conditional_accuracy(predicted[fake_c], self.labels[fake_c]),
                    "fid": fid_from_features(real.test_features[test_c], features[fake_c]),
                })  # fmt: skip
            metrics["intra_fid"] = sum(row["fid"] for row in per_class) / len(per_class)
            _add_seconds(timings, "per_class", started)
        return metrics, per_class

    def score_module(self, module: nn.Module) -> dict:
        """{"metrics": ..., "per_class": [...]} of a generator module (`score` of its samples)."""
        predicted, features, _ = self.sample(module)
        metrics, per_class = self.score(predicted, features)
        return {"metrics": metrics, "per_class": per_class}

    def score_floor(self, timings: dict | None = None):
        """(metrics, per-class rows) of the real floor against the test split, computed once: conditional
        accuracy is the evaluator's on the test images; per class {"real_test", "real_floor",
        "floor_accuracy", "floor_fid"}."""
        if self._floor is None:
            real, test = self.real(), self.test
            floor = feature_metrics(real.test_features, real.floor_features, self.seed, timings)
            per_class: list[dict] = []
            if self.labels is not None:
                started = time.perf_counter()
                floor["conditional_accuracy"] = conditional_accuracy(real.test_predicted, test.labels)
                for c in range(len(self.class_names)):
                    test_c, floor_c = test.labels == c, real.floor_labels == c
                    per_class.append({
                        "real_test": int(test_c.sum()),
                        "real_floor": int(floor_c.sum()),
                        "floor_accuracy": conditional_accuracy(real.test_predicted[test_c], test.labels[test_c]),
                        "floor_fid": fid_from_features(real.test_features[test_c], real.floor_features[floor_c]),
                    })  # fmt: skip
                floor["intra_fid"] = sum(row["floor_fid"] for row in per_class) / len(per_class)
                _add_seconds(timings, "per_class", started)
            self._floor = floor, per_class
        return self._floor


def _add_seconds(timings: dict | None, name: str, started: float) -> None:
    if timings is not None:
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - started, 2)


# ----------------------------------------------------------------------------- class-conditional runs


def evaluate_cgan(run_dir: Path, config: Config, options: EvalOptions) -> dict:
    """Metrics of a cgan run (conditional or not) and of the real floor; see the module docstring."""
    from condgan.inference.generate import load_generator
    from condgan.inference.runs import checkpoint_step, generator_weights_path
    from condgan.inference.sampling import write_grid
    from condgan.metrics.inception import check_inception

    timings: dict[str, float] = {}
    started = time.perf_counter()
    inception_note = check_inception(options.inception_weights)  # a wrong path fails here, before any work
    generator = load_generator(run_dir, device=str(options.device))
    scorer = CganScorer(config, options.num_samples, options.device, options.seed, options.batch_size, options.log)
    timings["load"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    predicted, fake_features, fake_images = scorer.sample(generator.module, keep_images=inception_note is None)
    timings["generate_and_features"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    real = scorer.real()
    timings["real_features"] = round(time.perf_counter() - started, 2)

    metrics, per_class = scorer.score(predicted, fake_features, timings)
    floor, floor_per_class = scorer.score_floor(timings)
    per_class = [{**row, **floor_row} for row, floor_row in zip(per_class, floor_per_class, strict=True)]
    if inception_note is None:
        started = time.perf_counter()
        _inception_fid(options, scorer.test.images, fake_images, real.floor_images, metrics, floor)
        timings["inception"] = round(time.perf_counter() - started, 2)
    write_grid(generator, (options.out_dir or run_dir) / GRID_FILE, seed=options.seed)
    info = scorer.evaluator.info
    n, test, floor_count = options.num_samples, scorer.test, int(real.floor_labels.shape[0])
    return {
        "step": checkpoint_step(run_dir),
        "weights": generator_weights_path(run_dir).name,
        "generator": config.model.generator,
        "class_names": list(scorer.class_names),
        "samples": {"generated": n, "real_test": len(test), "real_floor": floor_count},
        "evaluator": {
            "name": cache_key(config.data.name, config.data.image_size, config.data.channels),
            "feature_dim": scorer.evaluator.feature_dim,
            "test_accuracy": info.get("test_accuracy"),
        },
        "settings": {
            "kid_subsets": KID_SUBSETS,
            "kid_subset_size": min(KID_SUBSET_SIZE, n, len(test), floor_count),
            "precision_recall_k": PR_K,
            "density_coverage_k": DC_K,
        },
        "metrics": metrics,
        "floor": floor,
        "per_class": per_class,
        "inception": inception_note or f"computed with torch-fidelity from {options.inception_weights}",
        "grid": GRID_FILE,
        "timings": timings,
    }


def _inception_fid(options: EvalOptions, test_images, fake_images, floor_images, metrics: dict, floor: dict) -> None:
    from condgan.metrics.inception import inception_features, load_inception

    model = load_inception(options.inception_weights, options.device)
    real = inception_features(model, test_images)
    metrics["inception_fid"] = fid_from_features(real, inception_features(model, fake_images))
    floor["inception_fid"] = fid_from_features(real, inception_features(model, floor_images))
