"""`condgan eval RUN` for a pix2pix run: the outputs against the targets of the test split.

For every test pair (x, y) the run's generator (eval mode) makes G(x); both are quantised to
uint8 as image files would be, then compared per image and averaged:

- L1:   mean |G(x) - y| on the [0, 1] scale (lower is better);
- PSNR: scikit-image's `peak_signal_noise_ratio` (data range 255), capped at 100 dB for an exact copy;
- SSIM: scikit-image's `structural_similarity` with the settings of Wang et al. 2004 (Gaussian
        window sigma 1.5, population covariance, data range 255; channels averaged for RGB);
- FID:  in the domain evaluator's feature space when the targets come from a named dataset that
        has one (`pairs.json` of `condgan data make-pairs` says so; the images are resized to the
        evaluator's size). Its *floor* is the FID of as many real training targets.
- class agreement: with that evaluator, the share of pairs whose output it puts in the class it
        puts the target in. This is the paper's "FCN-score" idea (Isola et al. 2017, secs. 4.1-4.2: run a
        classifier on the outputs; a plausible output is recognised as what the target is).
        The targets carry no labels, so the target's own predicted class stands in for the label.

The split is test, else val, else train (said in the result). Written into the run directory:
eval.json, eval.md (metrics, how to read them, a triplet picture) and eval_triplets.png (rows:
input | output | target). `evaluate_pix2pix_task` is the same work in the shape of
`condgan.evaluation.TASK_EVALUATORS`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from condgan.checkpoint import atomic_write_text
from condgan.config import Config
from condgan.data.loader import to_float, to_uint8
from condgan.errors import CondganError, MetricError
from condgan.evaluation.common import class_agreement, evaluator_predictions, load_domain_evaluator

TRIPLETS_FILE = "eval_triplets.png"
TRIPLETS = 16
PSNR_CAP = 100.0  # dB; an exact copy has infinite PSNR, which JSON cannot hold
MIN_PAIRS = 2


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def mean_l1(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean |output - target| on the [0, 1] scale over uint8 (N, C, H, W) images (0 = identical)."""
    if outputs.shape != targets.shape or outputs.dtype != torch.uint8 or targets.dtype != torch.uint8:
        raise MetricError(f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} must be equal uint8")
    return float(np.abs(outputs.numpy().astype(np.float64) - targets.numpy().astype(np.float64)).mean() / 255.0)


def image_metrics(outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Mean L1 ([0, 1] scale), PSNR and SSIM over uint8 (N, C, H, W) outputs against targets."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    l1 = mean_l1(outputs, targets)
    out, tgt = outputs.numpy(), targets.numpy()
    psnr, ssim = [], []
    for o, t in zip(out, tgt, strict=True):
        o, t = (o[0], t[0]) if o.shape[0] == 1 else (o, t)
        axis = None if o.ndim == 2 else 0
        psnr.append(min(PSNR_CAP, float(peak_signal_noise_ratio(t, o, data_range=255))) if (o != t).any() else PSNR_CAP)
        ssim.append(float(structural_similarity(
            t, o, data_range=255, channel_axis=axis, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        )))  # fmt: skip
    return {"l1": l1, "psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}


def domain_metrics(
    config: Config, domain: str, outputs: torch.Tensor, targets: torch.Tensor, batch_size: int, log: Callable
) -> tuple[dict, dict, str]:
    """(metrics, floor, note): FID of outputs and of real training targets against test targets, and
    the outputs' class agreement with their targets."""
    from condgan.data.paired import load_split
    from condgan.metrics.functional import fid_from_features

    if not domain:
        return {}, {}, "no FID: the targets' domain has no evaluator (only sets made by make-pairs name one)"
    evaluator, why = load_domain_evaluator(domain, targets.shape[1], log)
    if evaluator is None:
        return {}, {}, f"no FID: {why}"
    train, _ = load_split(config, prefer="train", limit=targets.shape[0])
    _, train_targets = train.float_pairs()
    target_classes, real = evaluator_predictions(evaluator, targets, batch_size)
    output_classes, fake = evaluator_predictions(evaluator, outputs, batch_size)
    _, floor = evaluator_predictions(evaluator, to_uint8(train_targets), batch_size)
    note = f"FID {why}; floor: {floor.shape[0]} real training targets"
    metrics = {"fid": fid_from_features(real, fake), "class_agreement": class_agreement(output_classes, target_classes)}
    return metrics, {"fid": fid_from_features(real, floor)}, note


def pix2pix_result(
    run_dir: Path, config: Config, *, split: str = "test", limit: int = 0, batch_size: int = 64, device: str = "auto",
    fid: bool = True, log: Callable[[str], None] = _stderr, out_dir: Path | None = None,
) -> dict:  # fmt: skip
    """Translate the split's sources, measure against its targets, write eval_triplets.png into `out_dir`
    (default: the run directory); return the result."""
    from condgan.data.paired import load_split, target_domain
    from condgan.inference.runs import checkpoint_step, generator_weights_path
    from condgan.inference.translate import load_translator
    from condgan.plots import save_image
    from condgan.tasks.pix2pix import triplet_grid

    timings: dict[str, float] = {}
    started = time.perf_counter()
    if not config.data.name:
        raise MetricError(f"{run_dir} names no paired data to evaluate on; set data.name to aligned:DIR or pairs:DIR")
    translator = load_translator(run_dir, device)
    dataset, used = load_split(config, prefer=split, limit=limit)
    if len(dataset) < MIN_PAIRS:
        raise MetricError(f"the {used} split has {len(dataset)} pair(s); evaluation needs at least {MIN_PAIRS}")
    sources, targets = dataset.float_pairs()  # (N, Cs, S, S), (N, Ct, S, S) in [-1, 1]
    timings["load"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    outputs = to_uint8(translator.translate_tensor(sources, batch_size))
    timings["translate"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    targets_u8 = to_uint8(targets)
    metrics = image_metrics(outputs, targets_u8)
    floor: dict[str, float] = {}
    reference = image_metrics(to_uint8(sources), targets_u8) if sources.shape == targets.shape else {}
    timings["l1_psnr_ssim"] = round(time.perf_counter() - started, 2)
    note = "FID not asked for"
    domain = target_domain(dataset)
    if fid:
        started = time.perf_counter()
        evaluator_metrics, floor, note = domain_metrics(config, domain, outputs, targets_u8, batch_size, log)
        metrics.update(evaluator_metrics)
        timings["fid"] = round(time.perf_counter() - started, 2)
    shown = slice(0, TRIPLETS)
    grid = triplet_grid(sources[shown], to_float(outputs[shown]), targets[shown], title=f"{used} split")
    save_image(grid, Path(out_dir or run_dir) / TRIPLETS_FILE)
    return {
        "step": checkpoint_step(run_dir),
        "weights": generator_weights_path(run_dir).name,
        "generator": config.model.generator,
        "split": used,
        "pairs": len(dataset),
        "image_size": dataset.image_size,
        "direction": config.data.direction,
        "target_domain": domain or None,
        "metrics": metrics,
        "floor": floor,
        "input_as_output": reference,
        "fid_note": note,
        "triplets": TRIPLETS_FILE,
        "timings": timings,
    }


def evaluate_pix2pix_task(run_dir: Path, config: Config, options) -> dict:
    """`condgan.evaluation.TASK_EVALUATORS["pix2pix"]`: options.num_samples caps the pairs used."""
    return pix2pix_result(run_dir, config, limit=options.num_samples, batch_size=options.batch_size,
                          device=str(options.device), log=options.log, out_dir=options.out_dir)  # fmt: skip


def evaluate_pix2pix(
    run_dir: str | Path, *, split: str = "test", limit: int = 0, batch_size: int = 64, device: str = "auto",
    data: str | None = None, fid: bool = True, log: Callable[[str], None] = _stderr,
) -> dict:  # fmt: skip
    """Evaluate a pix2pix run (see the module docstring); `data` evaluates on another paired set
    made the same way. Writes eval.json, eval.md and eval_triplets.png into the run; returns the result."""
    from dataclasses import replace

    from condgan.inference.runs import load_config_of, resolve_run_dir

    run_dir = resolve_run_dir(run_dir)
    config = load_config_of(run_dir)
    if config.task != "pix2pix":
        raise CondganError(f"{run_dir} is a {config.task} run, not pix2pix")
    if data:
        config = replace(config, data=replace(config.data, name=data))
    started = time.perf_counter()
    core = pix2pix_result(run_dir, config, split=split, limit=limit, batch_size=batch_size, device=device, fid=fid,
                          log=log)  # fmt: skip
    result = {"run": str(run_dir), "task": "pix2pix", "dataset": config.data.name, "num_samples": core["pairs"],
              "seed": 0, **core, "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    atomic_write_text(run_dir / "eval.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(run_dir / "eval.md", markdown(result))
    return result


LABELS = {"l1": ("L1 to the target ([0, 1] scale)", "lower"), "psnr": ("PSNR (dB)", "higher"),
          "ssim": ("SSIM", "higher"), "fid": ("FID (domain evaluator)", "lower"),
          "class_agreement": ("class agreement (domain evaluator)", "higher")}  # fmt: skip


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def markdown(result: dict) -> str:
    """The eval.md page of a pix2pix result."""
    metrics, floor, baseline = result["metrics"], result.get("floor", {}), result.get("input_as_output", {})
    lines = [
        f"# Evaluation of `{result['run']}`",
        "",
        f"pix2pix, `{result['generator']}` generator, checkpoint step {result.get('step', '?')} "
        f"(`{result.get('weights', '?')}`), eval mode (running batch-norm statistics, no dropout).",
        f"{result['pairs']:,} pairs of the **{result['split']}** split of `{result['dataset']}` at "
        f"{result['image_size']} px, direction {result['direction']}.",
        "",
        "| metric | model | real floor | input as output | better |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, value in metrics.items():
        label, better = LABELS.get(name, (name, ""))
        lines.append(f"| {label} | {_fmt(value)} | {_fmt(floor.get(name))} | {_fmt(baseline.get(name))} | {better} |")
    lines += [
        "",
        "How to read it: L1, PSNR and SSIM compare each output with its own target, pixel by pixel (SSIM: local "
        "structure, 1 = identical); they reward the average answer and punish sharp but shifted detail, so they "
        "favour an L1-only generator. FID compares the outputs as a set with the real targets in the domain "
        "evaluator's features (0 = same distribution); its *real floor* is what real training targets score. "
        "Class agreement is the share of outputs that the evaluator puts in the class it puts their target in "
        "(the paper's FCN-score idea: is the output recognisably what the target is?). "
        "*Input as output* is the trivial answer (the input itself), shown when input and target have the "
        "same channels.",
        "",
        f"- {result.get('fid_note', '')}",
        f"- Time: {result.get('seconds', 0):.0f} s.",
        "",
        "## Input | output | target",
        "",
        f"![rows: input, output, target]({result.get('triplets', TRIPLETS_FILE)})",
        "",
    ]
    return "\n".join(lines)
