"""Quick evaluation during training: conditional accuracy and FID every `train.eval_every` steps.

    condgan train --set train.eval_every=500 --set train.keep_best=fid

`train()` adds an `EvalCallback` when `train.eval_every > 0`. Before training starts it loads
the domain evaluator (training it once, said in one line, when none is cached) and the real test
split's features. Every `eval_every` generator steps it generates `train.eval_samples` images
with the sampling (EMA) generator from fixed noise (the same every time, so the curve shows the
model changing, not the noise) and logs a row to metrics.jsonl:
{"step", "time", "eval_accuracy", "eval_fid", "eval_seconds"}. FID here uses fewer samples than
`condgan eval`, so it reads higher: compare it along the curve, not with eval.md.

With `train.keep_best` = "fid" (lower is better) or "accuracy" (higher is better), an improvement
copies the current weights to `run/best/`, itself a run directory (config.json + checkpoints/),
so `condgan eval run/best` and `condgan sample run/best` work; `best/best.json` names the step
and the value. The folder is built under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from condgan.checkpoint import atomic_write_text, save_checkpoint
from condgan.config import Config
from condgan.errors import ConfigError
from condgan.evaluation.cgan import balanced_labels, feature_metrics, sample_features
from condgan.evaluation.common import MIN_SAMPLES, domain_evaluator, real_split
from condgan.metrics.evaluator import predict
from condgan.metrics.functional import conditional_accuracy, fid_from_features

BEST_DIR = "best"
KEEP_BEST = {"fid": "lower", "accuracy": "higher"}  # metric -> which way is better


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


class QuickEval:
    """Conditional accuracy and FID (domain evaluator) of a generator module, from fixed noise,
    against the real test split. Call it with the module: {"fid": ..., "accuracy": ...}; with
    `diversity`, also KID, precision, recall, density and coverage (as `condgan eval` computes them)."""

    def __init__(
        self,
        config: Config,
        samples: int,
        device: torch.device,
        log: Callable[[str], None] = _stderr,
        seed: int = 0,
        batch_size: int = 1000,
        diversity: bool = False,
    ):
        num_classes = config.model.num_classes
        if samples < max(MIN_SAMPLES, num_classes):
            raise ConfigError(
                f"train.eval_samples is {samples}; a quick eval needs at least {max(MIN_SAMPLES, num_classes)}"
            )
        self.evaluator = domain_evaluator(config, device, log)
        _, self.test_features = predict(self.evaluator, real_split(config, "test").images, batch_size)
        self.labels = balanced_labels(samples, num_classes) if num_classes else None
        self.z = torch.randn(samples, config.model.z_dim, generator=torch.Generator().manual_seed(seed))
        self.batch_size, self.diversity = batch_size, diversity

    def __call__(self, generator: nn.Module) -> dict[str, float]:
        predicted, features, _ = sample_features(generator, self.evaluator, self.z, self.labels, self.batch_size)
        if self.diversity:
            values = feature_metrics(self.test_features, features)
        else:
            values = {"fid": fid_from_features(self.test_features, features)}
        if self.labels is not None:
            values["accuracy"] = conditional_accuracy(predicted, self.labels)
        return values


class EvalCallback:
    """Trainer callback: a QuickEval every `train.eval_every` steps, logged; keeps the best weights."""

    def __init__(self, config: Config, device: torch.device, log: Callable[[str], None] = _stderr):
        t = config.train
        if config.task != "cgan":
            raise ConfigError(f"train.eval_every is for cgan runs, this one is {config.task!r}; set it to 0")
        if t.eval_every < 1:
            raise ConfigError(f"train.eval_every is {t.eval_every}; use a positive number of steps (0 turns it off)")
        if t.keep_best == "accuracy" and not config.model.num_classes:
            raise ConfigError("train.keep_best=accuracy needs class labels; this run is unconditional, use fid")
        self.every = t.eval_every
        self.metric = t.keep_best
        self.quick = QuickEval(config, t.eval_samples, device, log)
        self.best: float | None = None
        self._read_best = False

    def on_step_end(self, trainer) -> None:
        if trainer.step % self.every or not getattr(trainer, "is_main", True):
            return
        started = time.perf_counter()
        values = self.quick(trainer.sampling_generator)
        trainer.log({**{f"eval_{k}": v for k, v in values.items()}, "eval_seconds": time.perf_counter() - started})
        if self.metric:
            self._keep_if_best(trainer, values[self.metric])

    def _keep_if_best(self, trainer, value: float) -> None:
        if not self._read_best:  # a resumed run continues from the best it had kept
            self.best = read_best(trainer.run_dir, self.metric, trainer.step)
            self._read_best = True
        lower = KEEP_BEST[self.metric] == "lower"
        if self.best is None or (value < self.best if lower else value > self.best):
            save_best(trainer.run_dir, trainer.step, trainer.weights(), self.metric, value)
            self.best = value


def read_best(run_dir: Path, metric: str, step: int) -> float | None:
    """The value in run/best/best.json if it is for `metric` and not from after `step`; else None."""
    try:
        best = json.loads((Path(run_dir) / BEST_DIR / "best.json").read_text())
        if best["metric"] == metric and int(best["step"]) <= step:
            return float(best["value"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none yet, or unreadable: the next eval writes a new one
    return None


def save_best(run_dir: Path, step: int, weights: dict[str, dict[str, torch.Tensor]], metric: str, value: float) -> Path:
    """Write run/best/ (config.json, checkpoints/step_N/*.safetensors, best.json) under a temporary
    name, then rename it into place; the previous best is removed only after that."""
    run_dir = Path(run_dir)
    final = run_dir / BEST_DIR
    tmp, old = run_dir / f".{BEST_DIR}.{os.getpid()}.tmp", run_dir / f".{BEST_DIR}.{os.getpid()}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_checkpoint(tmp, step, weights, {"step": step}, keep=1)
        shutil.copyfile(run_dir / "config.json", tmp / "config.json")
        record = {"metric": metric, "value": value, "step": step, "better": KEEP_BEST[metric]}
        atomic_write_text(tmp / "best.json", json.dumps(record, indent=2) + "\n")
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final
