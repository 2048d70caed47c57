"""Where a training step's time goes: torch.profiler over condgan's real step, for mlp and dcgan.

    python benchmarks/profile_step.py [--threads 2] [--steps 30] [--device auto]

Builds the trainer as `condgan train` does (configs/mlp-cgan.yaml and configs/fashion-mnist.yaml,
batch 64, Fashion-MNIST), runs a few warm-up steps, then profiles `--steps` training steps. The
step's parts are labelled without changing them (the trainer's own objects are wrapped in
`record_function`): data (next batch), d_loss (D forward, incl. G forward), d_update (backward +
optimizer), g_loss, g_update, ema; the rest of the step is "other" (zero_grad, loss checks,
Python). Prints those parts and the top operators by self time; writes
benchmarks/results/profile_step.json.

It also times the step without the profiler, and a floor under it: one step's matrix products and
convolutions (forward and backward) and its optimizer kernels, recorded as they run and replayed
back to back. Whatever the loop around them, a step cannot take less than that replay; the rest of
the step ("other ops") is the small element-wise operators, autograd and Python between them.
"""

from __future__ import annotations

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import argparse  # noqa: E402
import functools  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_common as bench  # noqa: E402
import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

PARTS = ("data", "d_loss", "d_update", "g_loss", "g_update", "ema")


class LabelledBatches:
    """The trainer's batch stream, each `next` labelled "data"; state_dict passes through."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return self

    def __next__(self):
        with record_function("data"):
            return next(self.batches)

    def __getattr__(self, name):
        return getattr(self.batches, name)


def _label(name: str, function):
    @functools.wraps(function)
    def labelled(*args, **kwargs):
        with record_function(name):
            return function(*args, **kwargs)

    return labelled


def label_trainer(trainer) -> None:
    trainer.batches = LabelledBatches(trainer.batches)
    trainer.task.d_loss = _label("d_loss", trainer.task.d_loss)
    trainer.task.g_loss = _label("g_loss", trainer.task.g_loss)
    backward_and_step = trainer.precision.backward_and_step

    def update(player, loss, optimizer):
        with record_function(f"{player}_update"):
            return backward_and_step(player, loss, optimizer)

    trainer.precision.backward_and_step = update
    if trainer.ema is not None:
        trainer.ema.update = _label("ema", trainer.ema.update)


DENSE_OPS = ("aten.mm", "aten.addmm", "aten.bmm", "aten.convolution", "aten.convolution_backward")
OPTIMIZER_OPS = ("aten._fused_adam_", "aten._fused_adamw_")


class RecordKernels(TorchDispatchMode):
    """Keeps a copy of the arguments of every kernel called inside the block: all of them, and apart
    the dense and the optimizer kernels."""

    def __init__(self):
        super().__init__()
        self.calls: dict[str, list] = {"dense": [], "optimizer": [], "all": []}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = str(func.overloadpacket)
        kind = "dense" if name in DENSE_OPS else "optimizer" if name in OPTIMIZER_OPS else None
        call = (func, _copy(args), _copy(kwargs))  # copied before the call: in-place kernels change them
        self.calls["all"].append(call)
        if kind:
            self.calls[kind].append(call)
        return func(*args, **kwargs)


def _copy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def replay_ms(calls: list, device: torch.device, repeats: int) -> float:
    """ms per replay of the recorded calls, back to back (after one warm-up pass)."""
    for func, args, kwargs in calls:
        func(*args, **kwargs)
    bench.sync(device)
    started = time.perf_counter()
    for _ in range(repeats):
        for func, args, kwargs in calls:
            func(*args, **kwargs)
    bench.sync(device)
    return (time.perf_counter() - started) / repeats * 1e3


def step_floor(trainer, device: torch.device, steps: int) -> dict:
    """The step timed without the profiler, and the replay of its dense and optimizer kernels."""
    bench.sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        trainer._train_step()
    bench.sync(device)
    step_ms = (time.perf_counter() - started) / steps * 1e3
    with RecordKernels() as recorder:
        trainer._train_step()
    dense = replay_ms(recorder.calls["dense"], device, steps)
    optimizer = replay_ms(recorder.calls["optimizer"], device, steps)
    every = replay_ms(recorder.calls["all"], device, steps)
    return {"step_ms_unprofiled": step_ms, "dense_kernels": len(recorder.calls["dense"]), "dense_replay_ms": dense,
            "optimizer_replay_ms": optimizer, "other_ops_ms": max(0.0, step_ms - dense - optimizer),
            "kernels": len(recorder.calls["all"]), "all_kernels_replay_ms": every,
            "autograd_and_python_ms": max(0.0, step_ms - every)}  # fmt: skip


def profile_model(name: str, config, device: torch.device, steps: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="condgan-bench-") as tmp:
        trainer, _, _ = bench.build_trainer(config, device, Path(tmp))
        label_trainer(trainer)
        for _ in range(warmup):
            trainer._train_step()  # the trainer's own step (private, but exactly what fit() runs per step)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        bench.sync(device)
        started = time.perf_counter()
        with profile(activities=activities) as profiler:
            for _ in range(steps):
                trainer._train_step()
            bench.sync(device)
        wall = (time.perf_counter() - started) / steps
        floor = step_floor(trainer, device, steps)
    events = profiler.key_averages()
    by_name = {event.key: event for event in events}
    parts = {part: by_name[part].cpu_time_total / 1e3 / steps for part in PARTS if part in by_name}  # ms per step
    parts["other"] = max(0.0, wall * 1e3 - sum(parts.values()))
    operators = sorted((e for e in events if e.key not in PARTS), key=lambda e: e.self_cpu_time_total, reverse=True)
    total_self = sum(e.self_cpu_time_total for e in events) or 1.0
    top = [
        {
            "op": e.key,
            "calls_per_step": e.count / steps,
            "self_cpu_ms_per_step": e.self_cpu_time_total / 1e3 / steps,
            "share_of_self_time": e.self_cpu_time_total / total_self,
        }
        for e in operators[:15]
    ]
    table = events.table(sort_by="self_cpu_time_total", row_limit=15)
    return {"model": name, "step_ms": wall * 1e3, "parts_ms": parts, "top_ops": top, "floor": floor, "table": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_common_args(parser)
    parser.add_argument("--steps", type=int, default=30, help="profiled steps per model")
    parser.add_argument("--warmup", type=int, default=10, help="steps before profiling")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup = 3, 2
    device = bench.setup(args.threads, args.device)
    models = {"mlp": bench.MLP_YAML, "dcgan": bench.DEFAULT_YAML}  # profiled in float32 (auto: bf16 for dcgan on AMX)
    profiles = [
        profile_model(
            name,
            bench.bench_config(yaml, args.threads, str(device), ["train.batch_size=64", "train.precision=fp32"]),
            device,
            args.steps,
            args.warmup,
        )  # fmt: skip
        for name, yaml in models.items()
    ]
    result = {
        "benchmark": "profile_step",
        "quick": args.quick,
        "steps": args.steps,
        "profiles": [{k: v for k, v in p.items() if k != "table"} for p in profiles],
        **bench.machine(device, args.threads),
    }
    path = bench.write_result("profile_step", result)
    for p in profiles:
        print(f"\n## {p['model']}: {p['step_ms']:.1f} ms per step (batch 64)\n")
        rows = [[part, ms, f"{100 * ms / p['step_ms']:.0f}%"] for part, ms in p["parts_ms"].items()]
        print(bench.markdown_table(["part of the step", "ms", "share"], rows))
        print()
        print(bench.markdown_table(["operator (top by self time)", "calls/step", "self ms/step", "share"],
                             [[o["op"], o["calls_per_step"], o["self_cpu_ms_per_step"],
                               f"{100 * o['share_of_self_time']:.0f}%"] for o in p["top_ops"][:10]]))  # fmt: skip
        f = p["floor"]
        print()
        print(bench.markdown_table(["without the profiler", "ms per step"], [
            ["whole step", f["step_ms_unprofiled"]],
            [f"its {f['dense_kernels']} matrix products / convolutions, replayed", f["dense_replay_ms"]],
            ["its optimizer kernels, replayed", f["optimizer_replay_ms"]],
            ["other ops, autograd and Python", f["other_ops_ms"]],
            [f"all its {f['kernels']} kernels, replayed (no autograd, no Python modules)", f["all_kernels_replay_ms"]],
            ["so autograd and Python take", f["autograd_and_python_ms"]],
        ]))  # fmt: skip
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
