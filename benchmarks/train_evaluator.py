"""Train the Fashion-MNIST domain evaluator once, time it, and leave it in the cache.

    python benchmarks/train_evaluator.py [--dataset fashion-mnist] [--threads 2]

Always retrains (replacing the cached evaluator atomically) and writes
benchmarks/results/evaluator_<dataset>.json with the test accuracy, seconds and parameter count.
The machine's load average is recorded too: on a shared machine the seconds depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from condgan.metrics.evaluator import EVALUATOR_VERSION, cache_key, default_cache_root, train_and_cache

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    evaluator = train_and_cache(args.dataset, 0, 0, default_cache_root())
    seconds = time.perf_counter() - started
    info = evaluator.info
    stem = default_cache_root() / cache_key(args.dataset, info["image_size"], info["channels"])
    result = {
        "dataset": args.dataset,
        "test_accuracy": round(info["test_accuracy"], 4),
        "seconds": round(seconds, 1),
        "train_seconds": info["train_seconds"],
        "parameters": info["parameters"],
        "architecture": info["architecture"],
        "evaluator_version": EVALUATOR_VERSION,
        "cache_file": str(stem.with_suffix(".safetensors")),
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"evaluator_{args.dataset}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
