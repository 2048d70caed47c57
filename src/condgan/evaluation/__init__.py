"""`condgan eval RUN`: measure a trained run beside real data, one module per task.

    from condgan.evaluation import evaluate_run
    result = evaluate_run("runs/fm", num_samples=2000)     # eval.json, eval.md and a picture in the run

`evaluate_run` dispatches on `config.task` through `TASK_EVALUATORS`:
- cgan (`evaluation/cgan.py`): samples in the domain evaluator's feature space against the real test
  split: conditional accuracy, FID, KID, intra-class FID, precision/recall, density/coverage, and the
  same metrics for real held-out images (the *real floor*); a class grid, eval_grid.png;
- pix2pix (`evaluation/pix2pix.py`): outputs against the test split's targets: L1, PSNR, SSIM, and FID
  and class agreement in the target domain's evaluator; input | output | target triplets;
- cyclegan (`evaluation/cyclegan.py`): per direction, FID against the target side, the share in the
  target side's class, cycle and identity L1, and L1, PSNR, SSIM and class agreement against the true
  partners when the set keeps them; input | translated | reconstructed triplets.

A task adds a function (run_dir, config, options) -> dict with "metrics" and "floor" (same keys); the
report code (`evaluation/report.py`) writes eval.json and eval.md, atomically, and prints whatever
metrics it finds. `evaluation/callback.py` is the quick eval during training (cgan runs).
`evaluation/common.py` holds what the tasks share; the pure metric math and the domain evaluator
live in `condgan.metrics`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from condgan.config import Config
from condgan.errors import CondganError, MetricError
from condgan.evaluation.cgan import evaluate_cgan
from condgan.evaluation.common import DEFAULT_SAMPLES, MIN_SAMPLES, EvalOptions, log_to_stderr
from condgan.evaluation.cyclegan import evaluate_cyclegan
from condgan.evaluation.pix2pix import evaluate_pix2pix_task

__all__ = ["DEFAULT_SAMPLES", "MIN_SAMPLES", "TASK_EVALUATORS", "EvalOptions", "evaluate_run"]


def evaluate_run(
    run_dir: str | Path,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    batch_size: int = 1000,
    device: str = "auto",
    inception_weights: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    out: str | Path | None = None,
) -> dict:
    """Evaluate a run directory (or `pretrained:NAME`); write eval.json, eval.md and the task's pictures
    (eval_grid.png, eval_triplets.png, eval_cycle_*.png) into `out` (default: the run directory; for a
    pretrained model runs/pretrained-NAME) and return the result."""
    from condgan.evaluation.report import write_report
    from condgan.inference.runs import is_pretrained, load_config_of, resolve_run_dir
    from condgan.runtime import resolve_device

    if out is None and is_pretrained(run_dir):  # never write into the package's own folder
        out = Path("runs") / str(run_dir).replace(":", "-")
    run_dir = resolve_run_dir(run_dir)
    out_dir = Path(out) if out is not None else run_dir
    config = load_config_of(run_dir)
    if config.task not in TASK_EVALUATORS:
        raise CondganError(
            f"cannot evaluate {run_dir}: task {config.task!r} has no evaluation; evaluable tasks: "
            f"{', '.join(TASK_EVALUATORS)}"
        )
    if num_samples < MIN_SAMPLES:
        raise MetricError(f"--samples {num_samples} is too few; the metrics need at least {MIN_SAMPLES} samples")
    if batch_size < 1:
        raise MetricError(f"batch size {batch_size} must be at least 1")
    options = EvalOptions(
        num_samples=num_samples,
        seed=seed,
        batch_size=batch_size,
        device=resolve_device(device),
        inception_weights=Path(inception_weights) if inception_weights is not None else None,
        log=log or log_to_stderr,
        out_dir=out_dir,
    )
    started = time.perf_counter()
    result = {
        "run": str(run_dir),
        "report": str(out_dir / "eval.md"),
        "task": config.task,
        "dataset": config.data.name,
        "num_samples": num_samples,
        "seed": seed,
        **TASK_EVALUATORS[config.task](run_dir, config, options),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_report(out_dir, result)
    return result


# The seam for other tasks: config.task -> function(run_dir, config, options) -> result dict.
TASK_EVALUATORS: dict[str, Callable[[Path, Config, EvalOptions], dict]] = {
    "cgan": evaluate_cgan,
    "pix2pix": evaluate_pix2pix_task,
    "cyclegan": evaluate_cyclegan,
}
