"""Time to quality: minutes of training until conditional accuracy 0.80 / 0.90, and `condgan eval`'s metrics at
fixed minutes beside the real floor and the goals of issue #15.

    python benchmarks/time_to_quality.py [--minutes 20] [--fid-minutes 5,10,20] [--seed N] [--name STEM]
                                         [--no-reference] [--reference-minutes 10] [--threads 2] [--set KEY=VALUE]
    python benchmarks/time_to_quality.py --table A.json B.json C.json   # seeds together, against the goals
    python benchmarks/time_to_quality.py --plot A.json [B.json ...] [--name STEM]   # the curves picture

Trains the default recipe (configs/fashion-mnist.yaml plus any --set overrides; --seed sets train.seed) with
`condgan.training.train` and measures it with the domain evaluator at fixed points of *training* time: every
--eval-interval seconds, conditional accuracy and FID on --eval-samples images; at each of --fid-minutes (5, 10
and 20 by default) and at the end, everything `condgan eval` measures on --fid-samples images (10,000, its
default): FID, intra-class FID, KID, precision, recall, density, coverage, conditional accuracy, and accuracy and
FID per class (condgan.evaluation.cgan.CganScorer, on the trainer's sampling generator: EMA, batch-norm
statistics recomputed). The real floor (the same metrics for held-out real images) is measured once, before
training. The clock excludes the measuring itself.

Then, unless --no-reference, the tutorial-style reference loop (reference_loop.py, the seed's MLP, batch 64)
trains for --reference-minutes and is measured the same way, with the same evaluator, so the FID ratio at 10
minutes is taken in one run. The reference trains in a process of its own with no OpenMP wait policy set
(libgomp's default, what a tutorial script gets); condgan's part runs with condgan's (condgan/threads.py).

Writes benchmarks/results/STEM.json (--name, default time_to_quality), a picture of the curves (STEM.png) and
prints Markdown tables. `--table` renders several results (one per seed) as docs/scripts/quality_tables.py's
`time_to_quality_goals` does: mean and range over the seeds at each minute point, beside the floor and the goals,
and per class at 10 minutes with the lagging classes marked. `--plot` redraws the picture of one or more results.
Targets: accuracy >= 0.90 within 10 minutes; FID at 10 minutes <= 1/5 of the reference's; QUALITY_GOALS (#15).
"""

from __future__ import annotations

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_common as bench  # noqa: E402
import torch  # noqa: E402
from reference_loop import ReferenceLoop  # noqa: E402

from condgan.evaluation.callback import QuickEval  # noqa: E402
from condgan.evaluation.cgan import CganScorer  # noqa: E402
from condgan.threads import library_default_environment  # noqa: E402

FID_MINUTES = (5.0, 10.0, 20.0)
ACCURACY_TARGETS = (0.80, 0.90)
QUALITY_GOALS = {  # issue #15: after 10 minutes on 2 CPU cores, in the domain evaluator's space, 10,000 samples
    "fid": {"at_most_floor_times": 3.0},
    "intra_fid": {"at_most_floor_times": 2.0},
    "recall": {"at_least": 0.80},
    "coverage": {"at_least": 0.93},
    "conditional_accuracy": {"at_least_floor_times": 1.0},  # the evaluator's own accuracy on real test images
}
GOALS_MINUTES = 10.0
DEFAULT_NAME = "time_to_quality"


class TimeUp(Exception):
    """Raised when the last check point of the training clock has been measured."""


class QualityClock:
    """Measures a generator at fixed points of training time; the time it spends measuring is subtracted from
    the clock (`paused`). `check(train_seconds, step, generator)` returns True at the end; `generator` is a
    function that returns the module, called only at a check point (condgan's sampling generator recomputes its
    batch-norm statistics when asked for: that belongs to the measuring). `probe(module)` is the quick check
    ({"fid", "accuracy"}); `scorer(module)` the full one at the FID points ({"metrics", "per_class"})."""

    def __init__(self, minutes: float, interval: float, probe: QuickEval, scorer: Callable[[torch.nn.Module], dict],
                 device, fid_minutes: tuple[float, ...] = FID_MINUTES):  # fmt: skip
        end = minutes * 60
        points = {round(interval * i, 3) for i in range(1, int(end / interval) + 1)}
        self.fid_points = {m * 60 for m in fid_minutes if m * 60 <= end} | {end}
        self.points = sorted(points | self.fid_points)
        self.end, self.probe, self.scorer, self.device = end, probe, scorer, device
        self.paused = 0.0
        self.records: list[dict] = []
        self.evaluations: dict[str, dict] = {}  # "10" -> {"minutes", "step", "metrics", "per_class"}
        self.precision = None  # what train.precision resolved to (fp32, bf16, fp16), from the trainer

    def check(self, train_seconds: float, step: int, generator: Callable[[], torch.nn.Module]) -> bool:
        if not self.points or train_seconds < self.points[0]:
            return False
        bench.sync(self.device)
        started = time.perf_counter()
        passed = [p for p in self.points if p <= train_seconds]
        self.points = self.points[len(passed) :]
        module = generator()
        record = {"minutes": train_seconds / 60, "step": step, **self.probe(module)}
        full = None
        if any(p in self.fid_points for p in passed):
            at = round(max(p for p in passed if p in self.fid_points) / 60, 4)
            eval_started = time.perf_counter()
            full = self.scorer(module)
            record["fid_full"] = full["metrics"]["fid"]
            record["fid_point_minutes"] = at
            self.evaluations[f"{at:g}"] = {"minutes": record["minutes"], "step": step, **full,
                                           "eval_seconds": round(time.perf_counter() - eval_started, 1)}  # fmt: skip
        self.records.append(record)
        print(f"  {record['minutes']:.2f} min, step {step}: " + ", ".join(
            f"{k} {v:.4g}" for k, v in record.items() if k not in ("minutes", "step")), flush=True)  # fmt: skip
        if full is not None:
            print("    full eval: " + ", ".join(f"{k} {v:.4g}" for k, v in full["metrics"].items()), flush=True)
        self.paused += time.perf_counter() - started
        return train_seconds >= self.end

    def on_step_end(self, trainer) -> None:  # as a condgan Trainer callback
        self.precision = trainer.precision.name
        if self.check(trainer.elapsed - self.paused, trainer.step, lambda: trainer.sampling_generator):
            raise TimeUp

    def summary(self) -> dict:
        reached = {}
        for target in ACCURACY_TARGETS:
            hit = next((r for r in self.records if r.get("accuracy", 0) >= target), None)
            reached[f"{target:.2f}"] = round(hit["minutes"], 2) if hit else None
        fids = {f"{r['fid_point_minutes']:g}": r["fid_full"] for r in self.records if "fid_full" in r}
        return {"precision": self.precision, "minutes_to_accuracy": reached, "fid_at_minutes": fids,
                "eval_at_minutes": self.evaluations,
                "checks": self.records}  # fmt: skip


def fid_minutes_list(text: str) -> tuple[float, ...]:
    """--fid-minutes "5,10,20,60" -> (5.0, 10.0, 20.0, 60.0): positive minutes, ascending."""
    try:
        minutes = tuple(sorted({float(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of minutes, e.g. 5,10,20") from None
    if not minutes or minutes[0] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more positive minutes, e.g. 5,10,20")
    return minutes


# ----------------------------------------------------------------------------- tables and pictures


def goals_markdown(results: list[dict], names: list[str], per_class_minutes: float = GOALS_MINUTES) -> str:
    """docs/scripts/quality_tables.py's `quality_goals_tables` over results (dicts; `names` say where each came from):
    the docs render the committed results with the same function."""
    sys.path.insert(0, str(bench.ROOT / "docs" / "scripts"))
    from docdata import Data, RenderError
    from quality_tables import quality_goals_tables

    try:
        return quality_goals_tables([Data(result, name) for result, name in zip(results, names, strict=True)],
                                    per_class_minutes)  # fmt: skip
    except RenderError as error:
        raise SystemExit(f"time_to_quality --table: {error}") from None


def recipe_settings(result: dict) -> dict:
    """A result's recipe as flat `section.key` settings (model, loss, train; not the seed), with train.precision
    as it resolved. A result that does not record the resolved precision predates `auto` choosing bf16 on a
    CPU: its `auto` was fp32 there."""
    recipe = result["condgan"]["recipe"]
    flat = {f"{section}.{key}": value for section in ("model", "loss", "train")
            for key, value in recipe.get(section, {}).items() if key != "seed"}  # fmt: skip
    resolved = result["condgan"].get("precision")
    flat["train.precision"] = resolved or {"auto": "fp32"}.get(flat.get("train.precision"), flat.get("train.precision"))
    return flat


def recipe_labels(results: list[dict]) -> list[str]:
    """Each result's line in a picture: alone, the recipe and its --set overrides; beside others, its seed and
    the settings in which the results differ (the recipes' own values, whatever the code's defaults were; "no
    KEY" where a result's code had no such key yet)."""
    if len(results) == 1:
        overrides = ", ".join(results[0].get("settings", {}).get("overrides") or [])
        generator = results[0]["condgan"]["recipe"]["model"]["generator"]
        return [f"condgan default recipe ({generator}{', ' + overrides if overrides else ''})"]
    flat = [recipe_settings(result) for result in results]
    keys = sorted({k for f in flat for k in f if len({repr(g.get(k)) for g in flat}) > 1})
    def setting(key: str, values: dict) -> str:
        name = key.split(".", 1)[1]
        return f"{name}={values[key]}" if key in values else f"no {name}"

    return [", ".join([f"seed {result.get('seed', '?')}", *(setting(k, f) for k in keys)])
            for result, f in zip(results, flat, strict=True)]  # fmt: skip


def line_colors(results: list[dict]) -> list:
    """One hue per recipe, a shade of it per seed, where several recipes each have several seeds; else the
    default colour cycle."""
    from condgan.plots import pyplot

    recipes = [repr(sorted(recipe_settings(result).items())) for result in results]
    distinct = list(dict.fromkeys(recipes))
    if len(distinct) in (1, len(results)):
        cycle = pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
        return [cycle[i % len(cycle)] for i in range(len(results))]
    maps = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys")
    colors = []
    for i, recipe in enumerate(recipes):
        same = [j for j, other in enumerate(recipes) if other == recipe]
        shade = 0.95 - 0.45 * same.index(i) / max(1, len(same) - 1)
        colors.append(pyplot().get_cmap(maps[distinct.index(recipe) % len(maps)])(shade))
    return colors


def curves_picture(results: list[dict], path: Path, labels: list[str] | None = None) -> Path:
    """FID and conditional accuracy against training minutes (one line per result: seeds, say), the reference
    loop's beside them where a result has it; the full evaluations' FID as markers, and where they exist a third
    panel of recall and coverage at the FID points; the real floor and #15's goals as thin lines. Several results
    share one legend of their lines, below the panels."""
    from condgan.plots import pyplot, save_figure

    full = any(result["condgan"].get("eval_at_minutes") for result in results)
    panels, shared = 3 if full else 2, len(results) > 1
    legend_rows = -(-len(results) // 2) if shared else 0  # two lines' labels per row
    fig = pyplot().figure(figsize=(15 if full else 10, 3.8 + 0.25 * legend_rows))
    grid = fig.add_gridspec(2 if shared else 1, panels, height_ratios=[3.8, 0.25 * legend_rows] if shared else None)
    axes = [fig.add_subplot(grid[0, i]) for i in range(panels)]
    fid_axis, accuracy_axis = axes[0], axes[1]
    labels = labels or recipe_labels(results)
    lines = []
    for color, result, label in zip(line_colors(results), results, labels, strict=True):
        part = result["condgan"]
        minutes = [c["minutes"] for c in part["checks"]]
        own = {} if shared else {"label": label}  # several: one shared legend below
        lines += fid_axis.plot(minutes, [c["fid"] for c in part["checks"]], color=color, linewidth=1, **own)
        accuracy_axis.plot(minutes, [c["accuracy"] for c in part["checks"]], color=color, linewidth=1, **own)
        full_checks = [c for c in part["checks"] if "fid_full" in c]
        fid_axis.plot([c["minutes"] for c in full_checks], [c["fid_full"] for c in full_checks], "o", color=color,
                      markersize=4)  # fmt: skip
        evaluations = sorted(part.get("eval_at_minutes", {}).values(), key=lambda e: e["minutes"])
        if evaluations:
            at = [e["minutes"] for e in evaluations]
            axes[2].plot(at, [e["metrics"]["recall"] for e in evaluations], "o-", color=color, **own)
            axes[2].plot(at, [e["metrics"]["coverage"] for e in evaluations], "s--", color=color)
        if result.get("reference"):
            checks = result["reference"]["checks"]
            minutes = [c["minutes"] for c in checks]
            reference = "reference loop (tutorial mlp)" if len(results) == 1 else f"reference ({label})"
            fid_axis.plot(minutes, [c["fid"] for c in checks], color=color, linestyle=":", label=reference)
            accuracy_axis.plot(minutes, [c["accuracy"] for c in checks], color=color, linestyle=":", label=reference)
    floor = results[0]["condgan"].get("floor", {}).get("metrics")
    goals = results[0].get("goals", {})
    samples = results[0]["settings"]["eval_samples"]
    fid_samples = results[0]["settings"]["fid_samples"]
    fid_axis.set(xlabel="training minutes", yscale="log",
                 ylabel=f"FID (lines {samples:,}, dots {fid_samples:,} samples)")  # fmt: skip
    accuracy_axis.set(xlabel="training minutes", ylabel="conditional accuracy", ylim=(0, 1))
    for target in ACCURACY_TARGETS:
        accuracy_axis.axhline(target, color="gray", linewidth=0.6, linestyle=":")
    if floor:
        fid_axis.axhline(floor["fid"], color="black", linewidth=0.8, label=f"real floor ({fid_samples:,})")
        if "fid" in goals:
            fid_axis.axhline(floor["fid"] * goals["fid"]["at_most_floor_times"], color="black", linewidth=0.8,
                             linestyle="--", label="#15 goal")  # fmt: skip
        if "conditional_accuracy" in floor:
            accuracy_axis.axhline(floor["conditional_accuracy"], color="black", linewidth=0.8,
                                  label="real test images")  # fmt: skip
    if full:
        for key in ("recall", "coverage"):
            if key in goals:
                axes[2].axhline(goals[key]["at_least"], color="black", linewidth=0.8, linestyle="--",
                                label="#15 goals" if key == "recall" else None)  # fmt: skip
        axes[2].set(xlabel="training minutes", ylabel=f"recall (o, solid), coverage (s, dashed); {fid_samples:,}",
                    ylim=(0, 1))  # fmt: skip
    for axis in axes:
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    if shared:
        legend_axis = fig.add_subplot(grid[1, :])
        legend_axis.axis("off")
        legend_axis.legend(lines, labels, loc="center", ncol=2, fontsize="small", frameon=False)
    return save_figure(fig, path)


def plot_results(paths: list[Path], name: str | None) -> Path:
    """The curves picture of earlier results: beside a single JSON (its stem), or NAME.png beside the first."""
    if len(paths) > 1 and not name:
        raise SystemExit("time_to_quality --plot: several results make one picture; name it with --name STEM")
    results = [json.loads(path.read_text()) for path in paths]
    return curves_picture(results, paths[0].with_name(f"{name or paths[0].stem}.png"))


# ----------------------------------------------------------------------------- the reference loop


def reference_part(args) -> dict:
    """Train and measure the reference loop in this process (run with --part reference)."""
    device = bench.setup(args.threads, args.device)
    mlp_config = bench.bench_config(bench.MLP_YAML, args.threads, str(device), ["train.batch_size=64"])
    mlp_resolved, dataset = bench.resolve(mlp_config)
    reference = ReferenceLoop(mlp_resolved, dataset, device, batch_size=64)
    probe = QuickEval(mlp_resolved, args.eval_samples, device)  # the same evaluator; noise of this model's z_dim
    scorer = CganScorer(mlp_resolved, args.fid_samples, device)
    clock = QualityClock(args.reference_minutes, args.eval_interval, probe, scorer.score_module, device)
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


# ----------------------------------------------------------------------------- the run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_common_args(parser)
    parser.add_argument("--minutes", type=float, default=20.0, help="training minutes of the default recipe")
    parser.add_argument("--fid-minutes", type=fid_minutes_list, metavar="M,M,...",
                        help="training minutes of the full evaluations, e.g. 5,10,20,60 (default 5,10,20, those "
                             "within --minutes; the end is always one)")  # fmt: skip
    parser.add_argument("--seed", type=int, help="the training seed (train.seed; default the recipe's)")
    parser.add_argument("--name", metavar="STEM", help=f"results file benchmarks/results/STEM.json (default "
                        f"{DEFAULT_NAME}); with --plot of several results, the picture's name")  # fmt: skip
    parser.add_argument("--no-reference", action="store_true", help="skip the reference loop")
    parser.add_argument("--reference-minutes", type=float, default=10.0, help="training minutes of the reference")
    parser.add_argument("--eval-interval", type=float, default=30.0, help="training seconds between checks")
    parser.add_argument("--eval-samples", type=int, default=2000, help="images per check (accuracy, FID)")
    parser.add_argument("--fid-samples", type=int, default=10_000,
                        help="images for the full evaluations (as `condgan eval`)")  # fmt: skip
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override the default recipe, e.g. --set train.lr=1e-4")  # fmt: skip
    parser.add_argument("--part", choices=["reference"], help=argparse.SUPPRESS)
    parser.add_argument("--plot", type=Path, nargs="+", metavar="JSON",
                        help="only draw the curves picture of earlier results (one line per result)")  # fmt: skip
    parser.add_argument("--table", type=Path, nargs="+", metavar="JSON",
                        help="only print the goals tables of earlier results (one per seed)")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.reference_minutes, args.eval_interval = 0.25, 0.1, 5.0
        args.eval_samples, args.fid_samples = 200, 1000
    if args.fid_minutes and args.fid_minutes[-1] > args.minutes:
        quick = ", set by --quick" if args.quick else ""
        parser.error(f"--fid-minutes {args.fid_minutes[-1]:g} is past the end of training (--minutes "
                     f"{args.minutes:g}{quick}); raise --minutes or drop it")  # fmt: skip
    args.reference_minutes = min(args.reference_minutes, args.minutes)
    return args


def main() -> None:
    args = parse_args()
    if args.plot:
        print(f"wrote {plot_results(args.plot, args.name)}")
        return
    if args.table:
        print(goals_markdown([json.loads(path.read_text()) for path in args.table], [p.stem for p in args.table]))
        return
    if args.part == "reference":
        print(json.dumps(reference_part(args)))
        return
    name = args.name = args.name or DEFAULT_NAME
    device = bench.setup(args.threads, args.device)
    from condgan.training import train

    seed = [f"train.seed={args.seed}"] if args.seed is not None else []
    config = bench.bench_config(bench.DEFAULT_YAML, args.threads, str(device), [*args.overrides, *seed])
    fid_minutes = args.fid_minutes or tuple(m for m in FID_MINUTES if m <= args.minutes)
    if not args.no_reference:
        fid_minutes = (*fid_minutes, args.reference_minutes)  # the ratio is taken where the reference stops
    with tempfile.TemporaryDirectory(prefix="condgan-bench-") as tmp:
        resolved, _ = bench.resolve(config)
        probe = QuickEval(resolved, args.eval_samples, device)  # trains the evaluator first if it is not cached
        scorer = CganScorer(resolved, args.fid_samples, device)  # as `condgan eval` (its seed 0)
        floor, floor_per_class = scorer.score_floor()
        print("real floor: " + ", ".join(f"{k} {v:.4g}" for k, v in floor.items()), flush=True)
        overrides = "".join(f", {item}" for item in args.overrides)
        print(f"condgan default recipe ({resolved.model.generator}{overrides}, seed {resolved.train.seed}), "
              f"{args.minutes:g} training minutes", flush=True)  # fmt: skip
        clock = QualityClock(args.minutes, args.eval_interval, probe, scorer.score_module, device, fid_minutes)
        try:
            train(config, out=Path(tmp) / "run", progress=False, log=lambda m: None, callbacks=[clock])
        except TimeUp:
            pass
        condgan_result = clock.summary()
    condgan_result["floor"] = {
        "metrics": floor,
        "per_class": [{"class": c, **row} for c, row in zip(scorer.class_names, floor_per_class, strict=True)],
        "evaluator_test_accuracy": scorer.evaluator.info.get("test_accuracy"),
    }

    to_90 = condgan_result["minutes_to_accuracy"]["0.90"]
    reached_90 = to_90 is not None and to_90 <= 10.0
    result = {
        "benchmark": "time_to_quality",
        "command": shlex.join(["python", "benchmarks/time_to_quality.py", *sys.argv[1:]]),
        "quick": args.quick,
        "seed": resolved.train.seed,
        "settings": {k: v for k, v in vars(args).items() if k not in ("quick", "device", "plot", "table")},
        "condgan": {"recipe": resolved.to_dict(), **condgan_result},
        "goals": {"issue": "#15", "minutes": GOALS_MINUTES, **QUALITY_GOALS},
        # not reached in a run shorter than 10 minutes: not measured (None), not failed
        "targets": {"accuracy_0.90_within_10_minutes": reached_90 if reached_90 or args.minutes >= 10 else None},
        **bench.machine(device, args.threads),
    }
    loops = [("condgan default recipe", condgan_result)]
    ratio = None
    if not args.no_reference:
        reference_result = reference_in_own_process(args)
        loops.append(("reference loop", reference_result))
        at = f"{min(10.0, args.reference_minutes):g}"
        ours, theirs = condgan_result["fid_at_minutes"].get(at), reference_result["fid_at_minutes"].get(at)
        ratio = ours / theirs if ours is not None and theirs else None
        result["reference"] = {"recipe": "reference_loop.py over configs/mlp-cgan.yaml, batch 64", **reference_result}
        result["fid_ratio_condgan_to_reference"] = {"minutes": float(at), "ratio": ratio}
        result["targets"]["fid_ratio_at_most_0.2"] = ratio is not None and ratio <= 0.2
    path = bench.write_result(name, result)
    curves_picture([result], path.with_suffix(".png"))

    columns = sorted({float(m) for _, r in loops for m in r["fid_at_minutes"]})
    rows = []
    for label, r in loops:
        reached = r["minutes_to_accuracy"]
        fids = [r["fid_at_minutes"].get(f"{m:g}", "-") for m in columns]
        rows.append([label, reached["0.80"] or "-", reached["0.90"] or "-", *fids])
    headers = ["loop", "min to acc 0.80", "min to acc 0.90", *(f"FID @ {m:g} min" for m in columns)]
    print(bench.markdown_table(headers, rows))
    print("\n" + goals_markdown([result], [name]))
    if not args.no_reference:
        at = result["fid_ratio_condgan_to_reference"]["minutes"]
        print(f"\nFID ratio condgan/reference at {at:g} min: {ratio if ratio is None else round(ratio, 3)}")
    print(f"\ntargets: {result['targets']}; wrote {path}")


if __name__ == "__main__":
    main()
