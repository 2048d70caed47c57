"""pix2pix and CycleGAN at 256 px, batch 1: condgan's training loop beside the reference implementation's.

    python benchmarks/translation_256.py --reference DIR --reference-python PY [--iterations 80]
                                         [--cyclegan-iterations 12] [--warmup 3] [--repeats 1]
                                         [--tasks pix2pix,cyclegan] [--threads 2] [--name translation_256]
    python benchmarks/translation_256.py --quick        # a smoke run: condgan only, a few iterations

The reference is junyanz/pytorch-CycleGAN-and-pix2pix, run from a copy outside this repository (DIR, its
train.py) with a Python that has torch and torchvision (PY): `train.py --model pix2pix|cycle_gan --gpu_ids -1
--num_threads 0 --batch_size 1` with its visdom and HTML output off and its checkpoints out of reach, every
other option at its default. condgan trains the same networks at the same settings: `condgan.training.train`
with --task pix2pix (U-Net 256 with dropout, 70x70 PatchGAN, batch norm, BCE + 100 x L1, no image pool) or
cyclegan (two 9-block ResNets and two 70x70 PatchGANs, instance norm, LSGAN, cycle 10, identity 0.5, pool 50),
Adam(2e-4, 0.5), load 286 and crop 256 with flips, 3 channels in and out (the reference's default), batch 1.
Both configurations are written into the JSON. Without DIR or PY the reference is "not run", with the reason.

The data are made here from real Fashion-MNIST items: 40 aligned 256x512 JPEGs (`condgan data make-pairs
--task edges --size 64`, each pair scaled up 4x, bicubic) and 40 + 40 unaligned 256 px JPEGs (`condgan data
make-unpaired --a sneaker --b ankle-boot`, scaled up from 28 px).

Each loop runs in a process of its own, with the OpenMP wait policy a user of it gets (condgan's for condgan,
the runtime's default for the reference) and `--threads` torch threads; the reference runs once more with
condgan's wait policy, to show what the policy alone is worth. The processes take turns, `--repeats`
rounds, and the medians are reported. Seconds per iteration are timed from the end of iteration `--warmup` to
the end of the last iteration, `--iterations` for pix2pix and `--cyclegan-iterations` for CycleGAN (whose
iteration, six ResNet passes and their backward, is ~20x pix2pix's: 80 would take most of an hour a loop on
two cores), data loading included, the same count for every loop; peak memory is the
process's peak resident set (VmHWM) when that last iteration ends, and for condgan also at the end of the
whole run (its final checkpoint and sample sheet included). FLOPs per iteration are counted with
torch.utils.flop_counter for one iteration of each loop, and set against the float32 matmul throughput
measured in the same run. Writes benchmarks/results/NAME.json (--name, default translation_256) and prints a
Markdown table.
Goal: condgan faster per iteration than the reference, with less memory.
"""

from __future__ import annotations

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_common as bench  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from condgan.config import load_config  # noqa: E402
from condgan.threads import CONDGAN_WAIT, library_default_environment  # noqa: E402

TASKS = ("pix2pix", "cyclegan")
SIZE = 256
IMAGES = 40  # per set (pix2pix: pairs; cyclegan: per side)
REFERENCE_MODEL = {"pix2pix": "pix2pix", "cyclegan": "cycle_gan"}
NEVER = 10**9  # a frequency that never comes round: the reference's prints and saves
REFERENCE = "reference"
REFERENCE_OUR_THREADS = "reference, condgan's thread setting"


# ----------------------------------------------------------------------------- data


def make_data(root: Path, count: int) -> dict[str, Path]:
    """Aligned 256x512 pairs (pix2pix) and unaligned 256 px sides (cyclegan) of real Fashion-MNIST items."""
    small_pairs, small_sides = root / "pairs64", root / "sides28"
    condgan = [sys.executable, "-m", "condgan", "data"]
    for command in (
        ["make-pairs", "--from", "fashion-mnist", "--task", "edges", "--size", "64", "--limit", count,
         "--out", small_pairs],
        ["make-unpaired", "--from", "fashion-mnist", "--a", "sneaker", "--b", "ankle-boot", "--limit", count,
         "--out", small_sides],
    ):  # fmt: skip
        subprocess.run([*condgan, *map(str, command)], check=True, capture_output=True)
    pairs, sides = root / "pairs256", root / "sides256"
    for split in ("train", "test"):
        scale_up(small_pairs / split, pairs / split, (2 * SIZE, SIZE))  # A | B side by side
    for side in ("trainA", "trainB", "testA", "testB"):
        scale_up(small_sides / side, sides / side, (SIZE, SIZE))
    return {"pix2pix": pairs, "cyclegan": sides}


def scale_up(source: Path, target: Path, size: tuple[int, int]) -> None:
    """Every PNG of `source` as a gray JPEG of `size` (width, height) in `target` (bicubic, quality 95)."""
    target.mkdir(parents=True)
    for path in sorted(source.glob("*.png")):
        with Image.open(path) as image:
            image.convert("L").resize(size, Image.BICUBIC).save(target / f"{path.stem}.jpg", quality=95)


# ----------------------------------------------------------------------------- what each loop trains


def condgan_overrides(task: str, data: Path, steps: int, threads: int, device: str) -> list[str]:
    """condgan at the reference's settings; the rest are the task's defaults (config.TASK_DEFAULTS)."""
    name = f"aligned:{data}" if task == "pix2pix" else f"unaligned:{data}"
    return [f"task={task}", f"data.name={name}", f"data.image_size={SIZE}", "data.source_channels=3",
            "data.channels=3", f"train.steps={steps}", f"train.threads={threads}",
            f"train.device={device}"]  # fmt: skip


def reference_arguments(task: str, data: Path, checkpoints: Path) -> list[str]:
    """train.py's command line: the reference's defaults, on the CPU, no loader workers, nothing shown or saved."""
    return ["--dataroot", str(data), "--name", "bench", "--model", REFERENCE_MODEL[task], "--gpu_ids", "-1",
            "--num_threads", "0", "--batch_size", "1", "--display_id", "0", "--no_html",
            "--checkpoints_dir", str(checkpoints), "--print_freq", str(NEVER), "--save_latest_freq", str(NEVER),
            "--save_epoch_freq", str(NEVER)]  # fmt: skip


def config_summary(config) -> dict:
    """The settings that decide speed and memory, in condgan's words (written into the JSON)."""
    m, loss, t = config.model, config.loss, config.train
    summary = {
        "generator": m.generator, "discriminator": m.discriminator, "g_width": m.g_width, "d_width": m.d_width,
        "norm": m.norm, "g_dropout": m.g_dropout, "n_layers": m.n_layers, "loss": loss.kind,
        "batch_size": t.batch_size, "lr": t.lr, "beta1": t.beta1, "image_size": config.data.image_size,
        "load_size": config.data.load_size, "flip": config.data.flip, "channels": config.data.channels,
        "source_channels": config.data.source_channels, "ema_decay": t.ema_decay,
        "channels_last": t.channels_last, "precision": t.precision,
    }  # fmt: skip
    if config.task == "pix2pix":
        summary.update(l1_weight=loss.l1_weight, gan_weight=loss.gan_weight, unet_downs=m.unet_downs)
    else:
        summary.update(resnet_blocks=m.resnet_blocks, cycle_weight=loss.cycle_weight,
                       identity_weight=loss.identity_weight, pool_size=loss.pool_size)  # fmt: skip
    return summary


# ----------------------------------------------------------------------------- the children


def peak_rss_bytes() -> int:
    """This process's peak resident set so far (VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


class Clock:
    """Trainer callback: the time each step ends, and the peak memory when step `last` ends."""

    def __init__(self, last: int):
        self.last, self.ends, self.peak = last, [], 0

    def on_step_end(self, trainer) -> None:
        self.ends.append(time.perf_counter())
        if trainer.step == self.last:
            self.peak = peak_rss_bytes()


def condgan_child(args) -> None:
    """In a fresh process: train condgan for --iterations steps, print the step end times and peaks as JSON."""
    from condgan.training import train

    device = bench.setup(args.threads, args.device)
    overrides = condgan_overrides(args.child, Path(args.data), args.iterations, args.threads, str(device))
    clock = Clock(args.iterations)
    with tempfile.TemporaryDirectory(prefix="condgan-bench-") as tmp:
        train(load_config(None, overrides), out=Path(tmp) / "run", progress=False, log=lambda m: None,
              callbacks=[clock])  # fmt: skip
    print(json.dumps({"ends": clock.ends, "peak_rss_bytes": clock.peak, "peak_rss_bytes_whole_run": peak_rss_bytes(),
                      "torch_threads": torch.get_num_threads()}))  # fmt: skip


# Run by the reference's Python (no condgan there): its train.py as it is, with model.optimize_parameters
# timed (and stopped after the last iteration), then one more iteration under the FLOP counter.
REFERENCE_CHILD = r"""
import json, os, runpy, sys, time
reference, threads, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.argv = ["train.py", *sys.argv[4:]]
os.chdir(reference)
sys.path.insert(0, reference)
import torch
from torch.utils.flop_counter import FlopCounterMode
torch.set_num_threads(threads)
import models

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

class Done(Exception):
    pass

ends, held = [], {}
create_model = models.create_model

def timed_model(opt):
    model = create_model(opt)
    step = held["step"] = model.optimize_parameters
    def timed():
        step()
        ends.append(time.perf_counter())
        if len(ends) == iterations:
            raise Done
    model.optimize_parameters = timed
    return model

models.create_model = timed_model
try:
    runpy.run_path("train.py", run_name="__main__")
except Done:
    pass
result = {"ends": ends, "peak_rss_bytes": peak(), "torch_threads": torch.get_num_threads()}
with FlopCounterMode(display=False) as counter:
    held["step"]()
result["flops_per_iteration"] = counter.get_total_flops()
sys.stdout.flush()
print(json.dumps(result))
"""


def run(command: list, env: dict, what: str) -> dict:
    done = subprocess.run(list(map(str, command)), env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{what} failed (exit status {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(loop: str, task: str, data: Path, iterations: int, args) -> dict:
    """One loop, one round, in a process of its own: seconds per iteration and peak memory."""
    if loop == "condgan":
        env = {**library_default_environment(os.environ), **CONDGAN_WAIT}
        command = [sys.executable, __file__, "--child", task, "--data", data, "--iterations", iterations,
                   "--threads", args.threads, "--device", args.device]  # fmt: skip
    else:
        env = library_default_environment(os.environ)  # what a script that never set a wait policy gets
        env.update(CONDGAN_WAIT if loop == REFERENCE_OUR_THREADS else {})
        with tempfile.TemporaryDirectory(prefix="reference-checkpoints-") as tmp:
            command = [args.reference_python, "-c", REFERENCE_CHILD, args.reference, args.threads, iterations,
                       *reference_arguments(task, data, Path(tmp))]  # fmt: skip
            return summarize(run(command, env, f"the reference's {task} loop"), args.warmup, env)
    return summarize(run(command, env, f"condgan's {task} loop"), args.warmup, env)


def summarize(measured: dict, warmup: int, env: dict) -> dict:
    ends = measured.pop("ends")
    timed = len(ends) - warmup
    measured["seconds_per_iteration"] = (ends[-1] - ends[warmup - 1]) / timed
    measured["openmp_wait_variables"] = {k: env[k] for k in CONDGAN_WAIT if k in env}
    return measured


# ----------------------------------------------------------------------------- FLOPs


def condgan_flops(task: str, data: Path, device: torch.device, threads: int) -> int:
    """FLOPs of one condgan training step (every player's loss, backward and update), counted as it runs."""
    config = load_config(None, condgan_overrides(task, data, 1, threads, str(device)))
    with tempfile.TemporaryDirectory(prefix="condgan-bench-") as tmp:
        trainer, _, _ = bench.build_trainer(config, device, Path(tmp))
        for module in trainer.task.modules().values():
            module.train()
        with FlopCounterMode(display=False) as counter:
            trainer._train_step()
    return counter.get_total_flops()


def reference_problem(args) -> str:
    """Why the reference cannot run ('' when it can)."""
    if not args.reference:
        return "no --reference DIR given (a copy of junyanz/pytorch-CycleGAN-and-pix2pix)"
    if not (Path(args.reference) / "train.py").is_file():
        return f"{args.reference} has no train.py"
    if not args.reference_python:
        return "no --reference-python given (a Python with torch and torchvision)"
    if not os.access(args.reference_python, os.X_OK):
        return f"{args.reference_python} is not an executable Python"
    return ""


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_common_args(parser)
    parser.add_argument("--reference", default="", metavar="DIR", help="a copy of the reference (its train.py)")
    parser.add_argument("--reference-python", default="", metavar="PY", help="a Python with torch and torchvision")
    parser.add_argument("--iterations", type=int, default=80, help="pix2pix iterations per loop and round")
    parser.add_argument("--cyclegan-iterations", type=int, default=12, help="CycleGAN iterations per loop and round")
    parser.add_argument("--warmup", type=int, default=3, help="iterations before the clock starts")
    parser.add_argument("--name", default="translation_256", help="results file name (benchmarks/results/NAME.json)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds (the loops take turns); medians reported")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated: {', '.join(TASKS)}")
    parser.add_argument("--child", choices=TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        condgan_child(args)
        return
    tasks = [t for t in args.tasks.split(",") if t]
    if unknown := [t for t in tasks if t not in TASKS]:
        parser.error(f"unknown task(s) {', '.join(unknown)}; valid: {', '.join(TASKS)}")
    if args.quick:
        args.iterations, args.cyclegan_iterations, args.warmup, args.repeats = 3, 3, 1, 1
    iterations = {"pix2pix": args.iterations, "cyclegan": args.cyclegan_iterations}
    if not 1 <= args.warmup < min(iterations[t] for t in tasks):
        parser.error("--warmup must be at least 1 and below --iterations and --cyclegan-iterations")
    device = bench.setup(args.threads, args.device)
    problem = reference_problem(args)
    loops = ["condgan"] if problem else ["condgan", REFERENCE, REFERENCE_OUR_THREADS]

    with tempfile.TemporaryDirectory(prefix="translation-256-") as tmp:
        print("making the data", flush=True)
        data = make_data(Path(tmp), 4 if args.quick else IMAGES)
        configs = {t: load_config(None, condgan_overrides(t, data[t], iterations[t], args.threads, str(device)))
                   for t in tasks}  # fmt: skip
        flops = {(t, "condgan"): condgan_flops(t, data[t], device, args.threads) for t in tasks}
        matmul = bench.matmul_flops_per_second(device)
        runs: dict[tuple[str, str], list[dict]] = {(t, loop): [] for t in tasks for loop in loops}
        for round_ in range(args.repeats):
            for task, loop in runs:
                print(f"round {round_ + 1}/{args.repeats}: {loop} {task}", flush=True)
                runs[task, loop].append(measure(loop, task, data[task], iterations[task], args))

    results = []
    for (task, loop), measured in runs.items():
        seconds = bench.median([r["seconds_per_iteration"] for r in measured])
        per_iteration = flops.get((task, loop)) or measured[0].get("flops_per_iteration", 0)
        row = {
            "task": task,
            "loop": loop,
            "iterations": iterations[task],
            "seconds_per_iteration": seconds,
            "seconds_per_iteration_each_round": [round(r["seconds_per_iteration"], 4) for r in measured],
            "peak_rss_mb": bench.median([r["peak_rss_bytes"] for r in measured]) / 2**20,
            "flops_per_iteration": per_iteration,
            "flops_per_s": per_iteration / seconds,
            "fraction_of_matmul_peak": per_iteration / seconds / matmul["flops_per_second"],
            "torch_threads": measured[0]["torch_threads"],
            "openmp_wait_variables": measured[0]["openmp_wait_variables"],
        }
        if loop == "condgan":
            row["peak_rss_mb_whole_run"] = bench.median([r["peak_rss_bytes_whole_run"] for r in measured]) / 2**20
            row["config"] = config_summary(configs[task])
        else:
            row["command"] = "train.py " + " ".join(reference_arguments(task, Path("DATA"), Path("TMP")))
        results.append(row)
    comparisons = {}
    for task in tasks if not problem else ():
        ours, theirs, theirs_our_threads = (next(r for r in results if r["task"] == task and r["loop"] == loop)
                                            for loop in loops)  # fmt: skip
        for row in (ours, theirs, theirs_our_threads):
            row["ratio_to_reference"] = theirs["seconds_per_iteration"] / row["seconds_per_iteration"]  # speed
        comparisons[task] = {
            "speedup": theirs["seconds_per_iteration"] / ours["seconds_per_iteration"],
            "speedup_over_reference_with_condgan_threads": theirs_our_threads["seconds_per_iteration"]
            / ours["seconds_per_iteration"],
            "memory_ratio": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
            "faster": ours["seconds_per_iteration"] < theirs["seconds_per_iteration"],
            "leaner": ours["peak_rss_mb"] < theirs["peak_rss_mb"],
        }
    result = {
        "benchmark": "translation_256",
        "quick": args.quick,
        "image_size": SIZE,
        "images": 4 if args.quick else IMAGES,
        "warmup_iterations": args.warmup,
        "repeats": args.repeats,
        "reference": "junyanz/pytorch-CycleGAN-and-pix2pix" if not problem else "not run",
        "reference_not_run": problem,
        "matmul": matmul,
        "results": results,
        "comparisons": comparisons,
        **bench.machine(device, args.threads),
    }
    path = bench.write_result(args.name, result)
    rows = [[r["task"], r["loop"], r["seconds_per_iteration"], r["peak_rss_mb"], r["flops_per_iteration"] / 1e9,
             f"{100 * r['fraction_of_matmul_peak']:.1f}%"] for r in results]  # fmt: skip
    print(bench.markdown_table(["task", "loop", "s/iteration", "peak MB", "GFLOP/iteration", "of matmul peak"], rows))
    for task, c in comparisons.items():
        print(f"{task}: condgan {c['speedup']:.2f}x the reference's speed, {c['memory_ratio']:.2f}x its memory")
    if problem:
        print(f"reference not run: {problem}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
