"""Training throughput: condgan mlp and dcgan beside a tutorial-style reference loop, in one run.

    python benchmarks/train_throughput.py [--threads 2] [--seconds 60] [--repeats 3] [--device auto]
                                          [--variants compile,bf16,contiguous] [--models mlp,dcgan,reference]
                                          [--name NAME]

Measures images/s and steps/s of `condgan.training.train` for the seed's MLP cGAN
(configs/mlp-cgan.yaml) and the default recipe (configs/fashion-mnist.yaml, dcgan), both at
batch 64 on Fashion-MNIST, and of `reference_loop.py` (the same MLP, trained the way tutorials
do: DataLoader over per-item PIL/tensor transforms, batch 64). Each measurement runs in a fresh
process with its own OpenMP environment, because the wait policy is read once, when torch loads:
condgan's loops with condgan's (condgan/threads.py), the reference with none set (libgomp's
default, what a tutorial script gets), and once more with condgan's, so the table shows what the
thread setting alone is worth. The measurements take turns, `--repeats` rounds, and the median is
reported. Also: FLOPs per training step
(torch.utils.flop_counter), the machine's float32 matmul throughput measured in the same run,
and the fraction of it each loop reaches. `--variants` adds the condgan loops again with
torch.compile (`train.compile=true`), with bf16 autocast (`train.precision=bf16`; then the bf16
matmul throughput is measured too, the peak those loops are held to) or in contiguous memory
(`train.channels_last=false`), to measure what they are worth beside the rest; `--models` keeps
the loops of some models only (`dcgan` alone: the default recipe and its variants). Writes
benchmarks/results/train_throughput.json (`--name NAME`: NAME.json) and prints a Markdown table.
Target: condgan mlp >= 2x the reference's images/s.
"""

from __future__ import annotations

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_common as bench  # noqa: E402
import torch  # noqa: E402
from reference_loop import ReferenceLoop  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from condgan.threads import CONDGAN_WAIT, library_default_environment  # noqa: E402

REFERENCE = "reference mlp (tutorial loop)"
# loop name -> (what trains, the OpenMP wait-policy variables of its process)
LOOPS = {
    "condgan mlp": ("mlp", CONDGAN_WAIT),
    "condgan dcgan": ("dcgan", CONDGAN_WAIT),
    REFERENCE: ("reference", {}),
    "reference mlp, condgan's thread setting": ("reference", CONDGAN_WAIT),
}
MODELS = ("mlp", "dcgan", "reference")
# --variants: the condgan loops again with one of these speed options (`--set` overrides)
VARIANTS = {"compile": "train.compile=true", "bf16": "train.precision=bf16", "contiguous": "train.channels_last=false"}
VARIANT_LOOPS = {
    f"condgan {model}, {override}": (model, CONDGAN_WAIT)
    for model in ("mlp", "dcgan")
    for override in VARIANTS.values()
}


class Finished(Exception):
    """Raised by the stopwatch to end a measured training run."""


class Stopwatch:
    """Trainer callback: starts timing after `warmup` steps, stops training `seconds` later."""

    def __init__(self, warmup: int, seconds: float, device: torch.device):
        self.warmup, self.seconds, self.device = warmup, seconds, device
        self.started = self.first_step = None
        self.steps, self.elapsed = 0, 0.0

    def tick(self, step: int) -> bool:
        """True when the measurement is done."""
        if step == self.warmup:
            bench.sync(self.device)
            self.started, self.first_step = time.perf_counter(), step
        elif self.started is not None and time.perf_counter() - self.started >= self.seconds:
            bench.sync(self.device)
            self.elapsed, self.steps = time.perf_counter() - self.started, step - self.first_step
            return True
        return False

    def on_step_end(self, trainer) -> None:
        if self.tick(trainer.step):
            raise Finished


def measure_condgan(config, device: torch.device, warmup: int, seconds: float) -> dict:
    from condgan.training import train

    watch = Stopwatch(warmup, seconds, device)
    with tempfile.TemporaryDirectory(prefix="condgan-bench-") as tmp:
        try:
            train(config, out=Path(tmp) / "run", progress=False, log=lambda message: None, callbacks=[watch])
        except Finished:
            pass
    images_per_step = config.train.batch_size * config.train.d_steps
    return {"steps_per_s": watch.steps / watch.elapsed, "images_per_s": watch.steps * images_per_step / watch.elapsed}


def measure_reference(loop: ReferenceLoop, device: torch.device, warmup: int, seconds: float) -> dict:
    watch = Stopwatch(warmup, seconds, device)
    loop.run(watch.tick)
    return {"steps_per_s": watch.steps / watch.elapsed, "images_per_s": watch.steps * loop.batch_size / watch.elapsed}


def condgan_step_flops(config, device: torch.device) -> int:
    """FLOPs of one condgan training step: d_steps D losses + backward, one G loss + backward."""
    with tempfile.TemporaryDirectory(prefix="condgan-bench-") as tmp:
        trainer, _, _ = bench.build_trainer(config, device, Path(tmp))
        task = trainer.task
        with FlopCounterMode(display=False) as counter:
            for _ in range(config.train.d_steps):
                batch = next(trainer.batches)
                loss, _ = task.d_loss(batch)
                loss.backward()
            loss, _ = task.g_loss(batch)
            loss.backward()
    return counter.get_total_flops()


def reference_step_flops(loop: ReferenceLoop) -> int:
    real_images, labels = next(iter(loop.loader))
    with FlopCounterMode(display=False) as counter:
        loop.step(real_images, labels)
    return counter.get_total_flops()


def configs(threads: int, device: str, extra: tuple[str, ...] = ()) -> dict:
    return {
        "mlp": bench.bench_config(bench.MLP_YAML, threads, device, ["train.batch_size=64", *extra]),
        "dcgan": bench.bench_config(bench.DEFAULT_YAML, threads, device, ["train.batch_size=64", *extra]),
    }


def loop_overrides(loop: str) -> tuple[str, ...]:
    """The `--set` overrides of a loop: float32 (the plain condgan loops are the float32 ones, as the reference:
    `train.precision=auto` would pick bf16 for dcgan on an AMX CPU), then a variant's own ("condgan dcgan,
    train.compile=true")."""
    return ("train.precision=fp32", *((loop.split(", ", 1)[1],) if loop in VARIANT_LOOPS else ()))


def reference_loop(mlp_config, device: torch.device) -> ReferenceLoop:
    mlp_resolved, dataset = bench.resolve(mlp_config)
    return ReferenceLoop(mlp_resolved, dataset, device, batch_size=64)


def child(loop: str, args) -> None:
    """In a fresh process whose environment the parent set: measure one loop, print its JSON."""
    device = bench.setup(args.threads, args.device)
    model, _ = {**LOOPS, **VARIANT_LOOPS}[loop]
    if model == "reference":
        measured = measure_reference(reference_loop(configs(args.threads, str(device))["mlp"], device), device,
                                     args.warmup, args.seconds)  # fmt: skip
    else:
        config = configs(args.threads, str(device), loop_overrides(loop))[model]
        measured = measure_condgan(config, device, args.warmup, args.seconds)
    print(json.dumps(measured))


def measure_in_process(loop: str, args) -> dict:
    env = {**library_default_environment(os.environ), **{**LOOPS, **VARIANT_LOOPS}[loop][1]}
    child_args = ["--child", loop, "--threads", args.threads, "--device", args.device, "--seconds", args.seconds,
                  "--warmup", args.warmup]  # fmt: skip
    return bench.run_child(__file__, child_args, env, f"measuring {loop!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_common_args(parser)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per loop and round")
    parser.add_argument("--warmup", type=int, default=20, help="steps before the clock starts")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (the loops take turns); median reported")
    parser.add_argument("--variants", default="", metavar="NAMES",
                        help=f"also time the condgan loops with, comma-separated: {', '.join(VARIANTS)}")  # fmt: skip
    parser.add_argument("--models", default=",".join(MODELS), metavar="NAMES",
                        help=f"time the loops of these models only, comma-separated: {', '.join(MODELS)}")  # fmt: skip
    parser.add_argument("--name", default="train_throughput", help="results file name (default train_throughput)")
    parser.add_argument("--child", choices=[*LOOPS, *VARIANT_LOOPS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    variants, models = list(filter(None, args.variants.split(","))), list(filter(None, args.models.split(",")))
    for what, asked, valid in (("variant", variants, VARIANTS), ("model", models, MODELS)):
        unknown = [name for name in asked if name not in valid]
        if unknown:
            parser.error(f"unknown {what}(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    if not models:
        parser.error(f"--models names none; give one or more of {', '.join(MODELS)}")
    loops = {
        **{name: loop for name, loop in LOOPS.items() if loop[0] in models},
        **{f"condgan {model}, {VARIANTS[v]}": LOOPS[f"condgan {model}"] for v in variants
           for model in ("mlp", "dcgan") if model in models},
    }  # fmt: skip
    if args.child:
        child(args.child, args)
        return
    if args.quick:
        args.seconds, args.warmup, args.repeats = 2.0, 3, 1
    device = bench.setup(args.threads, args.device)
    by_model = configs(args.threads, str(device))
    flops_of = {name: condgan_step_flops(config, device) for name, config in by_model.items() if name in models}
    if "reference" in models:
        flops_of["reference"] = reference_step_flops(reference_loop(by_model["mlp"], device))
    flops = {loop: flops_of[model] for loop, (model, _) in loops.items()}
    matmul = bench.matmul_flops_per_second(device)
    peaks = {"float32": matmul}  # each loop's FLOP share is of the matmul peak in its own precision
    if "bf16" in variants:
        peaks["bfloat16"] = bench.matmul_flops_per_second(device, dtype=torch.bfloat16)

    runs: dict[str, list[dict]] = {name: [] for name in loops}
    for round_ in range(args.repeats):
        print(f"round {round_ + 1}/{args.repeats}", flush=True)
        for loop in loops:
            runs[loop].append(measure_in_process(loop, args))

    reference_rate = bench.median([r["images_per_s"] for r in runs[REFERENCE]]) if REFERENCE in runs else None
    results = []
    for name, measured in runs.items():
        steps_per_s = bench.median([r["steps_per_s"] for r in measured])
        images_per_s = bench.median([r["images_per_s"] for r in measured])
        achieved = flops[name] * steps_per_s
        peak = peaks["bfloat16" if VARIANTS["bf16"] in name else "float32"]
        results.append({
            "loop": name,
            "batch_size": 64,
            "steps_per_s": steps_per_s,
            "images_per_s": images_per_s,
            "images_per_s_each_round": [round(r["images_per_s"], 1) for r in measured],
            "openmp_wait_variables": loops[name][1],
            "flops_per_step": flops[name],
            "flops_per_s": achieved,
            "matmul_peak_dtype": peak["dtype"],
            "fraction_of_matmul_peak": achieved / peak["flops_per_second"],
            "ratio_to_reference": images_per_s / reference_rate if reference_rate else None,
        })  # fmt: skip
    mlp = next((r for r in results if r["loop"] == "condgan mlp"), None)
    met = mlp["ratio_to_reference"] >= 2.0 if mlp and reference_rate else None  # None: not measured this run
    result = {
        "benchmark": "train_throughput",
        "command": shlex.join(["python", "benchmarks/train_throughput.py", *sys.argv[1:]]),
        "quick": args.quick,
        "seconds_per_measurement": args.seconds,
        "warmup_steps": args.warmup,
        "repeats": args.repeats,
        "matmul": matmul,
        **({"matmul_bf16": peaks["bfloat16"]} if "bfloat16" in peaks else {}),
        "models": models,
        "results": results,
        "target": {"mlp_ratio_to_reference_at_least": 2.0, "met": met},
        **bench.machine(device, args.threads),
    }
    path = bench.write_result(args.name, result)
    rows = [
        [r["loop"], r["images_per_s"], r["steps_per_s"], r["ratio_to_reference"] or "-", r["flops_per_step"] / 1e9,
         r["flops_per_s"] / 1e9, f"{100 * r['fraction_of_matmul_peak']:.1f}% ({r['matmul_peak_dtype']})"]
        for r in results
    ]  # fmt: skip
    headers = ["loop (batch 64)", "images/s", "steps/s", "x reference", "GFLOP/step", "GFLOP/s", "of matmul peak"]
    print(bench.markdown_table(headers, rows))
    said = {True: "met", False: "NOT met", None: "not measured (needs the mlp and reference loops)"}[met]
    for peak in peaks.values():
        print(f"matmul peak: {peak['flops_per_second'] / 1e9:.1f} GFLOP/s ({peak['n']}x{peak['n']} {peak['dtype']})")
    print(f"\ntarget mlp >= 2x reference: {said}; wrote {path}")


if __name__ == "__main__":
    main()
