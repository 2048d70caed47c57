"""How OpenMP's wait policy changes training speed, on a quiet machine and beside one busy process.

    python benchmarks/thread_policy.py [--threads 2] [--seconds 5]

OpenMP threads that finish their share of an operation either sleep at once (`PASSIVE`) or spin
while waiting for the next one (`ACTIVE`; libgomp's default spins about 3 ms, then sleeps).
Spinning saves the wake-up on every small operation; but when another process wants a core, a
spinning thread takes the time slices its partner needs. `GOMP_SPINCOUNT` sets a spin in between.
condgan sets PASSIVE with GOMP_SPINCOUNT=3000 before torch loads unless either variable is
already set (condgan/threads.py); this measures that choice against the others. Each
(setting, load) pair runs in a fresh process (the variables are read once, when torch loads)
that trains condgan's mlp and dcgan recipes (batch 64, Fashion-MNIST) and reports milliseconds
per training step; "busy" adds one process spinning on a core meanwhile.
Writes benchmarks/results/thread_policy.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {  # name -> the wait-policy variables of the child process (all others removed)
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "PASSIVE, spin 1000": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "1000"},
    "PASSIVE, spin 3000 (condgan)": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "3000"},
    "PASSIVE, spin 10000": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "10000"},
    "unset (libgomp default)": {},
    "ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
}
CONDGAN_SETTING = "PASSIVE, spin 3000 (condgan)"
QUICK_SETTINGS = ("PASSIVE", CONDGAN_SETTING, "unset (libgomp default)", "ACTIVE")  # --quick: the four that differ most
LOADS = ("quiet", "busy")
MODELS = ("mlp", "dcgan")


def child(threads: int, seconds: float, least: int) -> None:
    """In a fresh process with the policy already in the environment: ms per step of each model, after
    2 * `least` warm-up steps, over at least `least` steps and `seconds`."""
    import tempfile

    from bench_common import DEFAULT_YAML, MLP_YAML, bench_config, build_trainer, setup

    device = setup(threads, "cpu")
    result = {}
    for name, yaml in (("mlp", MLP_YAML), ("dcgan", DEFAULT_YAML)):
        with tempfile.TemporaryDirectory(prefix="condgan-bench-") as tmp:
            trainer, _, _ = build_trainer(
                bench_config(yaml, threads, "cpu", ["train.batch_size=64", "train.precision=fp32"]), device, Path(tmp)
            )
            for _ in range(2 * least):
                trainer._train_step()  # warm-up: the trainer's own step, exactly what fit() runs
            steps, started = 0, time.perf_counter()
            while steps < least or time.perf_counter() - started < seconds:
                trainer._train_step()
                steps += 1
            result[name] = (time.perf_counter() - started) / steps * 1e3
    print(json.dumps(result))


def measure(setting: str, load: str, threads: int, seconds: float, least: int) -> dict:
    from bench_common import run_child

    from condgan.threads import library_default_environment

    env = {**library_default_environment(os.environ), **SETTINGS[setting]}
    busy = None
    if load == "busy":
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        child_args = ["--child", "--threads", threads, "--seconds", seconds, "--least", least]
        return run_child(__file__, child_args, env, f"measuring {setting} ({load})")
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per model and setting")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run (4 settings, 2 steps each), written to the temp dir")  # fmt: skip
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--least", type=int, default=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.threads, args.seconds, args.least)
        return
    from bench_common import machine, markdown_table, write_result

    settings = {name: SETTINGS[name] for name in QUICK_SETTINGS} if args.quick else SETTINGS
    if args.quick:
        args.seconds, args.least = 0.0, 2
    ms = {
        (setting, load): measure(setting, load, args.threads, args.seconds, args.least)
        for load in LOADS
        for setting in settings
    }
    rows, results = [], []
    for load in LOADS:
        for model in MODELS:
            condgan = ms[(CONDGAN_SETTING, load)][model]
            per_setting = {setting: ms[(setting, load)][model] for setting in settings}
            results.append({"load": load, "model": model, "ms_per_step": per_setting,
                            "condgan_speedup_over_passive": per_setting["PASSIVE"] / condgan})  # fmt: skip
            rows.append([load, model, *per_setting.values()])
    import torch

    result = {
        "benchmark": "thread_policy",
        "quick": args.quick,
        "seconds_per_point": args.seconds,
        "settings": settings,
        "condgan_setting": CONDGAN_SETTING,
        "results": results,
        **machine(torch.device("cpu"), args.threads),
    }
    path = write_result("thread_policy", result)
    print("ms per training step:")
    print(markdown_table(["load", "model (batch 64)", *settings], rows))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
