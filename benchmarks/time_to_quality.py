"""Time to quality: minutes of training until conditional accuracy 0.80 / 0.90, and FID at 5, 10, 20 minutes.

    python benchmarks/time_to_quality.py [--minutes 20] [--reference-minutes 10] [--threads 2] [--set KEY=VALUE]

Trains the default recipe (configs/fashion-mnist.yaml plus any --set overrides) with
`condgan.training.train` and measures it with the domain evaluator at fixed points of *training*
time: every --eval-interval seconds, conditional accuracy and FID on --eval-samples images; at 5,
10 and 20 minutes (and at the end) also FID on --fid-samples images (10,000: as `condgan eval`).
The clock excludes the measuring itself. Then the tutorial-style reference loop
(reference_loop.py, the seed's MLP, batch 64) trains for --reference-minutes and is measured the
same way, with the same evaluator, so the FID ratio at 10 minutes is taken in one run. The
reference trains in a process of its own with no OpenMP wait policy set (libgomp's default, what
a tutorial script gets); condgan's part runs with condgan's (condgan/threads.py).
Writes benchmarks/results/time_to_quality.json, a picture of the curves (time_to_quality.png) and
prints a Markdown table. `--plot RESULT.json` redraws the picture of an earlier run.
Targets: accuracy >= 0.90 within 10 minutes; FID at 10 minutes <= 1/5 of the reference's.
"""

from __future__ import annotations

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_common as bench  # noqa: E402
import torch  # noqa: E402
from reference_loop import ReferenceLoop  # noqa: E402

from condgan.evaluation.callback import QuickEval  # noqa: E402
from condgan.threads import library_default_environment  # noqa: E402

FID_MINUTES = (5.0, 10.0, 20.0)
ACCURACY_TARGETS = (0.80, 0.90)


class TimeUp(Exception):
    """Raised when the last check point of the training clock has been measured."""


class QualityClock:
    """Measures a generator at fixed points of training time; the time it spends measuring is
    subtracted from the clock (`paused`). `check(train_seconds, step, generator)` returns True at the end;
    `generator` is a function that returns the module, called only at a check point (condgan's sampling
    generator recomputes its batch-norm statistics when asked for: that belongs to the measuring)."""

    def __init__(self, minutes: float, interval: float, probe: QuickEval, fid_probe: QuickEval, device,
                 fid_minutes: tuple[float, ...] = FID_MINUTES):  # fmt: skip
        end = minutes * 60
        points = {round(interval * i, 3) for i in range(1, int(end / interval) + 1)}
        self.fid_points = {m * 60 for m in fid_minutes if m * 60 <= end} | {end}
        self.points = sorted(points | self.fid_points)
        self.end, self.probe, self.fid_probe, self.device = end, probe, fid_probe, device
        self.paused = 0.0
        self.records: list[dict] = []

    def check(self, train_seconds: float, step: int, generator: Callable[[], torch.nn.Module]) -> bool:
        if not self.points or train_seconds < self.points[0]:
            return False
        bench.sync(self.device)
        started = time.perf_counter()
        passed = [p for p in self.points if p <= train_seconds]
        self.points = self.points[len(passed) :]
        module = generator()
        record = {"minutes": train_seconds / 60, "step": step, **self.probe(module)}
        if any(p in self.fid_points for p in passed):
            record["fid_full"] = self.fid_probe(module)["fid"]
            record["fid_point_minutes"] = round(max(p for p in passed if p in self.fid_points) / 60, 4)
        self.records.append(record)
        print(f"  {record['minutes']:.2f} min, step {step}: " + ", ".join(
            f"{k} {v:.4g}" for k, v in record.items() if k not in ("minutes", "step")), flush=True)  # fmt: skip
        self.paused += time.perf_counter() - started
        return train_seconds >= self.end

    def on_step_end(self, trainer) -> None:  # as a condgan Trainer callback
        if self.check(trainer.elapsed - self.paused, trainer.step, lambda: trainer.sampling_generator):
            raise TimeUp

    def summary(self) -> dict:
        reached = {}
        for target in ACCURACY_TARGETS:
            hit = next((r for r in self.records if r.get("accuracy", 0) >= target), None)
            reached[f"{target:.2f}"] = round(hit["minutes"], 2) if hit else None
        fids = {f"{r['fid_point_minutes']:g}": r["fid_full"] for r in self.records if "fid_full" in r}
        return {"minutes_to_accuracy": reached, "fid_at_minutes": fids, "checks": self.records}


def curves_picture(result: dict, path: Path) -> Path:
    """FID and conditional accuracy against training minutes, condgan beside the reference loop."""
    from condgan.plots import pyplot, save_figure

    fig, (fid_axis, accuracy_axis) = pyplot().subplots(1, 2, figsize=(10, 3.6))
    for name, label in (("condgan", "condgan default recipe (dcgan)"), ("reference", "reference loop (tutorial mlp)")):
        checks = result[name]["checks"]
        minutes = [c["minutes"] for c in checks]
        fid_axis.plot(minutes, [c["fid"] for c in checks], label=label)
        accuracy_axis.plot(minutes, [c["accuracy"] for c in checks], label=label)
    samples = result["settings"]["eval_samples"]
    fid_axis.set(xlabel="training minutes", ylabel=f"FID ({samples:,} samples, evaluator features)", yscale="log")
    accuracy_axis.set(xlabel="training minutes", ylabel="conditional accuracy", ylim=(0, 1))
    for target in ACCURACY_TARGETS:
        accuracy_axis.axhline(target, color="gray", linewidth=0.6, linestyle=":")
    for axis in (fid_axis, accuracy_axis):
        axis.legend()
    return save_figure(fig, path)


def reference_part(args) -> dict:
    """Train and measure the reference loop in this process (run with --part reference)."""
    device = bench.setup(args.threads, args.device)
    mlp_config = bench.bench_config(bench.MLP_YAML, args.threads, str(device), ["train.batch_size=64"])
    mlp_resolved, dataset = bench.resolve(mlp_config)
    reference = ReferenceLoop(mlp_resolved, dataset, device, batch_size=64)
    probe = QuickEval(mlp_resolved, args.eval_samples, device)  # the same evaluator; noise of this model's z_dim
    fid_probe = QuickEval(mlp_resolved, args.fid_samples, device, seed=1)
    clock = QualityClock(args.reference_minutes, args.eval_interval, probe, fid_probe, device)
    started = time.perf_counter()
    reference.run(lambda steps: clock.check(time.perf_counter() - started - clock.paused, steps,
                                            lambda: reference.generator))  # fmt: skip
    return clock.summary()


def reference_in_own_process(args) -> dict:
    """The reference part in a fresh process whose environment sets no OpenMP wait policy."""
    print(f"reference loop (tutorial mlp, batch 64), {args.reference_minutes:g} training minutes", flush=True)
    child_args = ["--part", "reference", "--threads", args.threads, "--device", args.device,
                  "--reference-minutes", args.reference_minutes, "--eval-interval", args.eval_interval,
                  "--eval-samples", args.eval_samples, "--fid-samples", args.fid_samples]  # fmt: skip
    return bench.run_child(__file__, child_args, library_default_environment(), "the reference part", show_stderr=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_common_args(parser)
    parser.add_argument("--minutes", type=float, default=20.0, help="training minutes of the default recipe")
    parser.add_argument("--reference-minutes", type=float, default=10.0, help="training minutes of the reference")
    parser.add_argument("--eval-interval", type=float, default=30.0, help="training seconds between checks")
    parser.add_argument("--eval-samples", type=int, default=2000, help="images per check (accuracy, FID)")
    parser.add_argument("--fid-samples", type=int, default=10_000, help="images for FID at 5, 10, 20 minutes")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override the default recipe, e.g. --set train.lr=1e-4")  # fmt: skip
    parser.add_argument("--part", choices=["reference"], help=argparse.SUPPRESS)
    parser.add_argument("--plot", type=Path, metavar="JSON",
                        help="only draw the curves picture of an earlier result (time_to_quality.json)")  # fmt: skip
    args = parser.parse_args()
    if args.plot:
        print(f"wrote {curves_picture(json.loads(args.plot.read_text()), args.plot.with_suffix('.png'))}")
        return
    if args.part == "reference":
        print(json.dumps(reference_part(args)))
        return
    if args.quick:
        args.minutes, args.reference_minutes, args.eval_interval = 0.25, 0.1, 5.0
        args.eval_samples, args.fid_samples = 200, 1000
    args.reference_minutes = min(args.reference_minutes, args.minutes)
    device = bench.setup(args.threads, args.device)
    from condgan.training import train

    config = bench.bench_config(bench.DEFAULT_YAML, args.threads, str(device), args.overrides)
    with tempfile.TemporaryDirectory(prefix="condgan-bench-") as tmp:
        resolved, _ = bench.resolve(config)
        probe = QuickEval(resolved, args.eval_samples, device)  # trains the evaluator first if it is not cached
        fid_probe = QuickEval(resolved, args.fid_samples, device, seed=1)
        print(f"condgan default recipe ({resolved.model.generator}), {args.minutes:g} training minutes", flush=True)
        fid_minutes = (*FID_MINUTES, args.reference_minutes)  # the ratio is taken where the reference stops
        clock = QualityClock(args.minutes, args.eval_interval, probe, fid_probe, device, fid_minutes)
        try:
            train(config, out=Path(tmp) / "run", progress=False, log=lambda m: None, callbacks=[clock])
        except TimeUp:
            pass
        condgan_result = clock.summary()

    reference_result = reference_in_own_process(args)

    at = f"{min(10.0, args.reference_minutes):g}"
    ours, theirs = condgan_result["fid_at_minutes"].get(at), reference_result["fid_at_minutes"].get(at)
    ratio = ours / theirs if ours is not None and theirs else None
    to_90 = condgan_result["minutes_to_accuracy"]["0.90"]
    result = {
        "benchmark": "time_to_quality",
        "quick": args.quick,
        "settings": {k: v for k, v in vars(args).items() if k not in ("quick", "device")},
        "condgan": {"recipe": resolved.to_dict(), **condgan_result},
        "reference": {"recipe": "reference_loop.py over configs/mlp-cgan.yaml, batch 64", **reference_result},
        "fid_ratio_condgan_to_reference": {"minutes": float(at), "ratio": ratio},
        "targets": {
            "accuracy_0.90_within_10_minutes": to_90 is not None and to_90 <= 10.0,
            "fid_ratio_at_most_0.2": ratio is not None and ratio <= 0.2,
        },
        **bench.machine(device, args.threads),
    }
    path = bench.write_result("time_to_quality", result)
    curves_picture(result, path.with_suffix(".png"))
    rows, columns = [], sorted({m for m in FID_MINUTES if m <= args.minutes} | {args.minutes, args.reference_minutes})
    for name, r in (("condgan default recipe", condgan_result), ("reference loop", reference_result)):
        reached = r["minutes_to_accuracy"]
        fids = [r["fid_at_minutes"].get(f"{m:g}", "-") for m in columns]
        rows.append([name, reached["0.80"] or "-", reached["0.90"] or "-", *fids])
    headers = ["loop", "min to acc 0.80", "min to acc 0.90", *(f"FID @ {m:g} min" for m in columns)]
    print(bench.markdown_table(headers, rows))
    print(f"\nFID ratio condgan/reference at {at} min: {ratio if ratio is None else round(ratio, 3)}; "
          f"targets: {result['targets']}; wrote {path}")  # fmt: skip


if __name__ == "__main__":
    main()
