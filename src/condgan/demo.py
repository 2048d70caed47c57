"""`make demo` / `condgan demo`: train the default recipe on Fashion-MNIST, then show it.

Writes into the run directory: grid.png (10x10, row = class, labelled), losses.png and
report.md. Offline without Fashion-MNIST it says so in one line and uses the embedded `digits`;
its report then measures the conditional accuracy too (the digits evaluator trains in seconds).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from condgan.config import load_config
from condgan.errors import CondganError

# The default recipe (the Config defaults) on Fashion-MNIST, within a 10-minute `make demo`.
DEMO_DATA, DEMO_FALLBACK = "fashion-mnist", "digits"
DEMO_OVERRIDES = (f"data.name={DEMO_DATA}", f"data.fallback={DEMO_FALLBACK}", "data.image_size=28")
DEMO_TIME_BUDGET = 330.0


def run_demo(out: Path, force: bool = False, time_budget: float | None = None, progress: bool = True) -> Path:
    from condgan.inference.sampling import load, write_grid, write_interpolation
    from condgan.plots import read_metrics
    from condgan.training import train

    budget = DEMO_TIME_BUDGET if time_budget is None else time_budget
    config = load_config(overrides=[*DEMO_OVERRIDES, f"train.time_budget={budget}"])
    started = time.perf_counter()
    run_dir = train(config, out=out, force=force, progress=progress)
    generator = load(run_dir)
    write_grid(generator, run_dir / "grid.png")
    write_interpolation(generator, run_dir / "interpolation.png")
    rows = [r for r in read_metrics(run_dir / "metrics.jsonl") if "d_loss" in r]
    # The fallback's evaluator trains in seconds; Fashion-MNIST's takes minutes, more than the demo has left.
    accuracy = _evaluator_accuracy(generator, train_if_missing=generator.config.data.name == DEMO_FALLBACK)
    report = _report(generator.config, rows, time.perf_counter() - started, accuracy, run_dir)
    (run_dir / "report.md").write_text(report)
    print(f"\nwrote {run_dir / 'grid.png'}, {run_dir / 'losses.png'}, {run_dir / 'report.md'}", file=sys.stderr)
    print(f"next: condgan sample {run_dir} --class sneaker --n 16 -o sneakers.png", file=sys.stderr)
    print(f"open the web demo: {serve_command(run_dir)}", file=sys.stderr)
    return run_dir


def serve_command(run_dir: Path) -> str:
    """The one command that opens the web demo of this run and the shipped pix2pix models."""
    from condgan.inference.runs import PREFIX, names

    return " ".join([condgan_command(), "serve", str(run_dir), *(PREFIX + n for n in names(task="pix2pix"))])


def condgan_command() -> str:
    """`condgan` when that is this installation's command on PATH, else the path of ours (e.g. .venv/bin/condgan)."""
    import os
    import shutil

    ours = Path(sys.executable).parent / "condgan"
    found = shutil.which("condgan")
    if not ours.is_file() or (found and Path(found).resolve() == ours.resolve()):
        return "condgan"
    return os.path.relpath(ours) if ours.resolve().is_relative_to(Path.cwd().resolve()) else str(ours)


def _evaluator_accuracy(generator, train_if_missing: bool) -> float | None:
    """Conditional accuracy on 1,000 samples by the domain evaluator (evaluation.domain_evaluator, as
    `condgan eval` has it): a cached one, else one trained now (said in one line) if `train_if_missing`,
    else None. An evaluator that cannot be had is a warning here, not the end of the demo."""
    import torch

    from condgan.data import to_uint8
    from condgan.evaluation.common import domain_evaluator
    from condgan.metrics.evaluator import cache_key, default_cache_root, predict

    d = generator.config.data
    cached = (default_cache_root() / cache_key(d.name, d.image_size, d.channels)).with_suffix(".json").exists()
    if not (cached or train_if_missing):
        return None
    try:
        evaluator = domain_evaluator(generator.config, torch.device("cpu"))
    except CondganError as error:
        print(f"condgan: warning: the report has no conditional accuracy: {error}", file=sys.stderr)
        return None
    labels = torch.arange(generator.num_classes).repeat_interleave(100)
    images = generator.generate_tensor(generator.noise(len(labels), seed=1), labels)
    predicted, _ = predict(evaluator, to_uint8(images))
    return float((predicted == labels).float().mean())


def _report(config, rows: list[dict], seconds: float, accuracy: float | None, run_dir: Path) -> str:
    last = rows[-1] if rows else {}
    t, m = config.train, config.model
    lines = [
        f"# condgan demo: {config.data.name}",
        "",
        f"- model: generator `{m.generator}`, discriminator `{m.discriminator}`, conditioning `{m.conditioning}`, "
        f"loss `{config.loss.kind}`, z_dim {m.z_dim}, {m.num_classes} classes",
        f"- trained {last.get('step', 0)} generator steps (batch {t.batch_size}) in {last.get('time', 0):.0f} s "
        f"of training; {seconds:.0f} s in all",
        f"- last losses: D {last.get('d_loss', float('nan')):.3f}, G {last.get('g_loss', float('nan')):.3f}; "
        f"D(x) {last.get('d_real', float('nan')):.3f}, D(G(z)) {last.get('d_fake', float('nan')):.3f}",
    ]
    if accuracy is not None:
        lines.append(f"- conditional accuracy (domain evaluator, 1,000 samples): {accuracy:.3f}")
    else:
        lines.append(
            f"- conditional accuracy: not measured (no cached {config.data.name} evaluator); `condgan eval {run_dir}` "
            "trains one once (minutes) and measures it with FID"
        )
    lines += [
        "",
        "![samples](grid.png)",
        "",
        "![losses](losses.png)",
        "",
        "![interpolation](interpolation.png)",
        "",
        "```json",
        json.dumps(config.to_dict(), indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)
