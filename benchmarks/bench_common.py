"""Shared by the benchmark scripts: thread and device set-up, machine facts, results files, configs.

Each script calls condgan.threads.use_condgan_threads() before torch is imported (condgan's OpenMP
wait policy: a short spin, then sleep; it matters on a 2-core machine) and imports this module
after that.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from condgan.checkpoint import atomic_write_text
from condgan.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
MLP_YAML = ROOT / "configs" / "mlp-cgan.yaml"  # the seed's cGAN: the architecture the reference loop copies
DEFAULT_YAML = ROOT / "configs" / "fashion-mnist.yaml"  # the default recipe (Config defaults on Fashion-MNIST)
HUGE = 10**9  # "no step limit": the benchmarks stop training themselves


def add_common_args(parser) -> None:
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--quick", action="store_true", help="a few seconds only: checks that the script works")


def setup(threads: int, device: str) -> torch.device:
    from condgan.runtime import resolve_device

    torch.set_num_threads(threads)
    return resolve_device(device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cpu_times() -> list[int] | None:
    """The first line of /proc/stat (user nice system idle iowait irq softirq steal ...), in ticks; None off Linux."""
    try:
        with open("/proc/stat") as stat:
            return [int(field) for field in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None


_CPU_TIMES_AT_START = _cpu_times()  # this module loads when a benchmark starts


def cpu_steal_share() -> float | None:
    """The share of this machine's CPU time that its hypervisor gave to other guests since the benchmark
    started (/proc/stat's steal column): on a shared VM, time that no setting of ours could use. None
    where it cannot be read."""
    now = _cpu_times()
    if now is None or _CPU_TIMES_AT_START is None or len(now) < 8:
        return None
    spent = [after - before for after, before in zip(now, _CPU_TIMES_AT_START, strict=False)]
    total = sum(spent[:8])  # user..steal (guest time is counted inside user already)
    return round(spent[7] / total, 4) if total > 0 else 0.0


def cpu_facts() -> dict:
    """What this CPU is and which bf16 paths it has: the model name and whether oneDNN runs bfloat16
    on it (AVX512-BF16 or AMX; without them bf16 is emulated and slow) and whether it has AMX tiles."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cpu_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "cpu_amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: "amx_tile" in flags)()),
    }


def machine(device: torch.device, threads: int) -> dict:
    info = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "processor": platform.processor() or platform.machine(),
        "cpu_vector_units": torch.backends.cpu.get_cpu_capability(),  # e.g. AVX2 or AVX512: sets the matmul peak
        **cpu_facts(),
        "cpu_steal_share": cpu_steal_share(),  # of all CPU time while the benchmark ran; > 0.05: timings suffer
        "torch": torch.__version__,
        "threads": threads,
        "device": str(device),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT", ""),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def bench_config(yaml_path: Path, threads: int, device: str, overrides: list[str] = ()) -> Config:
    """A recipe on Fashion-MNIST, batch 64, nothing but training (no samples, checkpoints or evals)."""
    return load_config(
        yaml_path,
        [
            "data.name=fashion-mnist",
            "data.image_size=28",
            f"train.steps={HUGE}",
            "train.epochs=0",
            "train.time_budget=0",
            "train.sample_every=0",
            "train.checkpoint_every=0",
            "train.eval_every=0",
            f"train.threads={threads}",
            f"train.device={device}",
            *overrides,
        ],
    )


def matmul_flops_per_second(device: torch.device, seconds: float = 2.0, dtype: torch.dtype = torch.float32,
                            n: int | None = None) -> dict:
    """The machine's measured matmul throughput in `dtype` (best of repeated n x n products; n defaults to
    8192 on a GPU and 2048 on the CPU)."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    sync(device)
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - started)
    return {"n": n, "dtype": str(dtype).removeprefix("torch."), "flops_per_second": 2 * n**3 / best}


def run_child(script: str | Path, args: list, env: dict[str, str], what: str, show_stderr: bool = False) -> dict:
    """Run `python script args` in a process of its own with `env` (its own OpenMP settings, say) and return
    the dict it prints as JSON on its last line. A failure ends the benchmark with the child's error output
    (`show_stderr`: the child writes its progress to this terminal instead)."""
    stderr = None if show_stderr else subprocess.PIPE
    done = subprocess.run([sys.executable, str(script), *map(str, args)], env=env, stdout=subprocess.PIPE,
                          stderr=stderr, text=True)  # fmt: skip
    if done.returncode:
        said = f":\n{done.stderr[-3000:]}" if done.stderr else ""
        raise SystemExit(f"{what} failed (exit status {done.returncode}){said}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_result(name: str, result: dict) -> Path:
    """benchmarks/results/NAME.json; a --quick run (a smoke test, not a measurement) goes to the temp dir."""
    folder = Path(tempfile.gettempdir()) / "condgan-bench-quick" if result.get("quick") else RESULTS
    path = folder / f"{name}.json"
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def resolve(config: Config):
    """(config with the values the data fills in, the training dataset), as `condgan train` resolves them."""
    from condgan.training import load_training_data, resolve_config

    config, dataset = load_training_data(config, log=lambda message: None)
    return resolve_config(config, dataset), dataset


def build_trainer(config: Config, device: torch.device, run_dir: Path):
    """A Trainer wired as `condgan.training.train` wires it (for FLOP counting and profiling)."""
    from condgan.acceleration import prepare_task
    from condgan.trainer import Trainer
    from condgan.training import build_task

    config, dataset = resolve(config)
    torch.manual_seed(config.train.seed)
    task = build_task(config, device)
    prepare_task(task, config.train, device)
    batches = dataset.batches(config.train.batch_size, seed=config.train.seed, device=device)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return Trainer(task, config.train, Path(run_dir), batches, progress=False), config, dataset
