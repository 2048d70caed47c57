"""Recipe search: the default recipe with overrides, each trained for the same time, scored by FID and accuracy.

    python benchmarks/recipe_search.py [--seconds 240] [--variant NAME=KEY=VALUE,KEY=VALUE ...] [--name STEM]

Each variant trains configs/fashion-mnist.yaml plus its overrides for `--seconds` of training
(train.time_budget, so a learning-rate decay ends with the budget) and is scored with the domain
evaluator on 10,000 samples from fixed noise against the real test split: FID and conditional
accuracy of the EMA generator as condgan samples it (batch-norm statistics recomputed for its
weights, precise_bn), of the same EMA weights with the raw generator's statistics copied (what
condgan did before), and of the raw generator. Without --variant it runs the search behind the
default recipe (lr and conditioning). Writes benchmarks/results/recipe_search.json (or --name) and prints a
Markdown table. One variant takes about --seconds + 1 minute; run it on a quiet machine.
"""

from __future__ import annotations

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import argparse  # noqa: E402
import copy  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_common as bench  # noqa: E402

from condgan.evaluation.callback import QuickEval  # noqa: E402

# The default recipe's Adam betas and precision when the search ran (before #15 made them (0, 0.99) and, on
# AMX CPUs, bf16): each search variant starts from them, so that a rerun measures what the table says.
AS_IT_RAN = ["train.beta1=0.5", "train.beta2=0.999", "train.precision=fp32"]
SEARCH = {  # name -> overrides of the default recipe of the time (AS_IT_RAN first)
    "acgan, lr 2e-4": ["model.conditioning=acgan", "train.lr=2e-4"],
    "acgan, lr 2e-4, linear lr decay": ["model.conditioning=acgan", "train.lr=2e-4", "train.lr_decay=linear"],
    "acgan, lr 2e-4, betas 0/0.99": ["model.conditioning=acgan", "train.lr=2e-4", "train.beta1=0", "train.beta2=0.99"],
    "acgan, lr 2e-4, width 48": ["model.conditioning=acgan", "train.lr=2e-4", "model.g_width=48", "model.d_width=48"],
    "acgan, lr 4e-4": ["model.conditioning=acgan", "train.lr=4e-4"],
    "projection, lr 2e-4": ["model.conditioning=projection", "train.lr=2e-4"],
    "projection, lr 4e-4": ["model.conditioning=projection", "train.lr=4e-4"],
    "projection, lr 8e-4": ["model.conditioning=projection", "train.lr=8e-4"],
    "projection, lr 1.6e-3 (default)": [],
}
SEARCH = {name: [*AS_IT_RAN, *overrides] for name, overrides in SEARCH.items()}


class LastTrainer:
    """Trainer callback that keeps the trainer, to reach its generators when training ends."""

    trainer = None

    def on_step_end(self, trainer) -> None:
        self.trainer = trainer


def with_raw_statistics(ema, raw):
    """The EMA weights beside the raw generator's batch-norm statistics (condgan's old EMA)."""
    module = copy.deepcopy(ema)
    for ema_buffer, buffer in zip(module.buffers(), raw.buffers(), strict=True):
        ema_buffer.copy_(buffer)
    return module.eval()


def parse_variant(text: str) -> tuple[str, list[str]]:
    """NAME=KEY=VALUE[,KEY=VALUE...] (NAME= alone: the default recipe). A comma starts a new override only
    before a KEY= (section.key), so a value may hold commas: aug=loss.augment=translation,cutout."""
    name, sep, overrides = text.partition("=")
    if not name or not sep:
        raise SystemExit(f"--variant takes NAME=KEY=VALUE[,KEY=VALUE...], e.g. fast=train.lr=1e-3; got {text!r}")
    return name, [o for o in re.split(r",(?=[a-z_]+\.[a-z_0-9]+=)", overrides) if o]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_common_args(parser)
    parser.add_argument("--seconds", type=float, default=240.0, help="training seconds per variant")
    parser.add_argument("--steps", type=int, default=0, help="train each variant this many steps instead of "
                        "--seconds (equal footing when the load varies; times are still reported)")  # fmt: skip
    parser.add_argument("--ema-only", action="store_true", help="score only the EMA generator as condgan samples it")
    parser.add_argument("--seeds", type=int, default=1, help="train each variant with seeds 0..N-1 (the spread)")
    parser.add_argument("--samples", type=int, default=10_000, help="generated images per score")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE,...",
                        help="a variant to try instead of the built-in search (repeatable)")  # fmt: skip
    parser.add_argument("--name", default="recipe_search", help="results file stem (benchmarks/results/NAME.json)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.samples = 5.0, 1000
        args.steps = min(args.steps, 20)
    variants = dict(parse_variant(v) for v in args.variant) or SEARCH
    if args.quick and not args.variant:
        variants = dict(list(SEARCH.items())[-1:])
    device = bench.setup(args.threads, args.device)
    from condgan.training import train

    budget = (
        [f"train.steps={args.steps}", "train.time_budget=0"] if args.steps else [f"train.time_budget={args.seconds}"]
    )
    results = []
    for name, overrides in variants.items():
        for seed in range(args.seeds):
            config = bench.bench_config(bench.DEFAULT_YAML, args.threads, str(device),
                                        [*overrides, *budget, f"train.seed={seed}"])  # fmt: skip
            keep = LastTrainer()
            score = QuickEval(bench.resolve(config)[0], args.samples, device, seed=1, diversity=True)
            with tempfile.TemporaryDirectory(prefix="condgan-bench-") as tmp:
                print(f"{name}, seed {seed}: training {budget[0]}", flush=True)
                train(config, out=Path(tmp) / "run", progress=False, log=lambda message: None, callbacks=[keep])
                trainer = keep.trainer
                raw = trainer.task.generator
                ema = trainer.sampling_generator  # batch-norm statistics recomputed (precise_bn)
                row = {"variant": name, "overrides": overrides, "seed": seed, "steps": trainer.step,
                       "seconds": trainer.elapsed, "ema": score(ema)}  # fmt: skip
                if not args.ema_only:
                    row["ema_raw_statistics"] = score(with_raw_statistics(ema, raw))
                    row["raw"] = score(raw)
            results.append(row)
            ema_score = row["ema"]
            print(f"  {row['steps']} steps in {row['seconds']:.0f} s: FID {ema_score['fid']:.3g}, accuracy "
                  f"{ema_score.get('accuracy', 0):.3f}, recall {ema_score['recall']:.3f}, "
                  f"coverage {ema_score['coverage']:.3f}", flush=True)  # fmt: skip
    seconds = 0 if args.steps else args.seconds
    command = shlex.join(["python", "benchmarks/recipe_search.py", *sys.argv[1:]])
    result = {"benchmark": "recipe_search", "command": command,
              "quick": args.quick, "seconds_per_variant": seconds,
              "steps_per_variant": args.steps, "seeds": args.seeds,
              "samples": args.samples, "results": results, **bench.machine(device, args.threads)}  # fmt: skip
    path = bench.write_result(args.name, result)
    rows = [[r["variant"], r["seed"], r["steps"], r["ema"]["fid"], r["ema"].get("accuracy", "-"), r["ema"]["recall"],
             r["ema"]["coverage"], r.get("raw", {}).get("fid", "-")] for r in results]  # fmt: skip
    headers = ["variant", "seed", "steps", "FID (EMA)", "accuracy (EMA)", "recall (EMA)", "coverage (EMA)",
               "FID (raw G)"]  # fmt: skip
    print(bench.markdown_table(headers, rows))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
