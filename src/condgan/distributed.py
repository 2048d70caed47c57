"""Many processes with PyTorch DDP under torchrun; one process without it, unchanged.

    torchrun --nproc_per_node 4 -m condgan train ...        # 4 GPUs (or 4 CPU processes)
    python -m condgan train ...                              # one process

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; `setup()` reads them and joins the process group
(nccl on CUDA, gloo on the CPU), each process on GPU LOCAL_RANK. Without them nothing here does
anything and every helper answers as for a single process.

Semantics, stated once:
- `train.batch_size` is per process: N processes train on N x batch_size images per step. Each
  rank takes every N-th item of the same epoch permutation (InMemoryBatches), so the combined
  batch is exactly the one a single process with batch N x batch_size would take.
- Every rank seeds torch with the same `train.seed`: the models start equal (DDP also broadcasts
  rank 0's weights), and random draws that are not per-sample (dropout masks, penalty mixing)
  are alike across ranks. Per-sample noise (the cGAN's z) is drawn for the whole global batch and
  each rank takes its items (`batch_noise`), so (image, label, z) triples do not depend on the
  number of processes.
- Gradients are averaged by DistributedDataParallel. Buffers are not re-broadcast at each
  forward (`forward_sync_buffers=False`, formerly `broadcast_buffers=False`): batch-norm
  statistics stay per rank unless `train.sync_batchnorm`; rank 0's are the ones saved. Every
  parameter takes part in every backward that reaches its module, so
  `find_unused_parameters=False` (cheaper, and it lets the cGAN run G's forward in the D step and
  its backward in the G step: DDP's reducer fires when the backward arrives).
- Only rank 0 writes (logs, samples, checkpoints, config.json); logged numbers are averaged over
  ranks. What a task keeps per rank between steps (CycleGAN's image pools) is gathered to rank 0
  into the checkpoint (`gather_to_main`), one entry per rank, and each rank reads its own back.
  Resuming with another world size keeps the epoch and the fraction of it already seen
  (`rescale_loader_state`); rank r continues saved rank r's task state where there is one, the
  others start afresh (a one-line warning: that continuation is not exact).
- A rank that dies or stalls makes the others fail within `train.dist_timeout` seconds (at once
  when its connection closes) with one TrainingError line; torchrun then stops the job, and
  `--resume` continues from the last checkpoint.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
import re
import signal
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from condgan.errors import ConfigError, TrainingError


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: torch.device, timeout: float = 600.0) -> tuple[DistributedContext, torch.device]:
    """Join the torchrun process group when launched by torchrun; return the context and the
    device this process trains on (cuda:LOCAL_RANK on GPUs)."""
    if not launched_by_torchrun():
        return DistributedContext(), device
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
                "set --nproc_per_node to at most the number of GPUs"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    signal.signal(signal.SIGTERM, _stopped_by_launcher)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
        dist.barrier()  # every rank has checked the run directory before rank 0 creates it
    return DistributedContext(rank, local_rank, world, backend), device


def _stopped_by_launcher(signum, frame) -> None:
    """torchrun sends SIGTERM to the survivors when a rank dies; it can arrive before this rank's
    own collective fails, so it ends the run the same way: one line, through describe_failure."""
    raise dist.DistError("stopped by the launcher (SIGTERM)")


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (a download, a cache fill), then the other ranks."""
    if is_distributed() and not is_main():
        dist.barrier()
    yield
    if is_distributed() and is_main():
        dist.barrier()


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module under DistributedDataParallel and torch.compile wrappers."""
    while True:
        if isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        elif hasattr(module, "_orig_mod"):  # torch.compile's OptimizedModule
            module = module._orig_mod
        else:
            return module


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel over `module` when distributed and it has trainable parameters."""
    if not is_distributed() or not any(p.requires_grad for p in module.parameters()):
        return module
    device_ids = [device.index] if device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel
    # no buffer broadcast at each forward (`forward_sync_buffers` in torch >= 2.13, `broadcast_buffers` before)
    no_sync = {"forward_sync_buffers": False}
    if "forward_sync_buffers" not in inspect.signature(ddp.__init__).parameters:
        no_sync = {"broadcast_buffers": False}
    return ddp(module, device_ids=device_ids, find_unused_parameters=False, **no_sync)


# ------------------------------------------------------------------ per-sample noise
def batch_noise(batch_size: int, dim: int, device: torch.device | str) -> torch.Tensor:
    """(batch_size, dim) standard normal noise: this rank's items of one draw for the whole global
    batch (rank r takes rows r, r + N, ..., like the data), so a run's noise does not depend on N."""
    n, r = world_size(), rank()
    if n == 1:
        return torch.randn(batch_size, dim, device=device)
    return torch.randn(batch_size * n, dim, device=device)[r::n]


# ------------------------------------------------------------------ agreement and averages
def all_true(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every rank only when `flag` is true on every rank (one tiny all-reduce)."""
    if not is_distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item() > 0.5)


def agree(value: float, device: torch.device | str = "cpu") -> float:
    """Rank 0's `value` on every rank (a clock, so that all ranks stop at the same step)."""
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def average(row: dict[str, float], device: torch.device | str = "cpu") -> dict[str, float]:
    """Average logged numbers over ranks (every rank calls this with the same keys)."""
    if not is_distributed() or not row:
        return row
    keys = sorted(row)
    values = torch.tensor([float(row[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return dict(zip(keys, (values / dist.get_world_size()).tolist(), strict=True))


def gather_to_main(value: object) -> list | None:
    """Every rank's `value` (a picklable object, e.g. a state dict of CPU tensors), in rank order, on
    rank 0; None on the other ranks. Every rank must call it. One process: [value]."""
    if not is_distributed():
        return [value]
    gathered = [None] * dist.get_world_size() if is_main() else None
    dist.gather_object(value, gathered, dst=0)
    return gathered


def rescale_loader_state(state: dict, saved_world_size: int, new_world_size: int) -> dict:
    """Loader state (epoch, position in batches per rank) saved with one world size, for another:
    the same epoch, at the same number of items seen (rounded down to whole batches, so at most
    one global batch of that epoch is seen twice and none is skipped)."""
    if saved_world_size == new_world_size:
        return state
    position = int(state["position"]) * saved_world_size // new_world_size
    return {**state, "position": position}


def describe_failure(exc: BaseException) -> TrainingError:
    """One line for a collective that failed because another rank died or stalled."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    first = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", first).split(". This is typically")[0][:160]
    return TrainingError(
        f"rank {rank()}: lost contact with the other training processes ({first}); one of them died or "
        "stalled (see its own error above). The run keeps its last checkpoint: continue with --resume RUN"
    )


def is_collective_failure(exc: BaseException) -> bool:
    """A failure of the process group (peer closed, timeout), as opposed to a bug in this rank."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    markers = ("Connection closed by peer", "Connection reset by peer", "Timed out", "timed out", "gloo", "NCCL")
    return isinstance(exc, RuntimeError) and is_distributed() and any(m in text for m in markers)


# ------------------------------------------------------------------ batch norm across ranks
class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) whose backward is all_reduce(SUM) of the gradient (every rank's loss
    depends on every rank's statistics)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm with statistics over the global batch, for the gloo backend on CPUs, where torch's
    nn.SyncBatchNorm has no kernels. Same state-dict keys as BatchNorm1d/2d, so checkpoints load
    into plain models; in eval mode, or in one process, it is plain batch norm."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), count])  # (2C + 1,)
        stats = _SumOverRanks.apply(stats)
        channels, total = x.shape[1], stats[-1]
        mean = stats[:channels] / total  # (C,)
        var = (stats[channels : 2 * channels] / total - mean * mean).clamp_min(0)  # biased, (C,)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * (total / (total - 1).clamp_min(1))
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
        shape = (1, channels) + (1,) * (x.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Batch norm over the global batch: torch's SyncBatchNorm on GPUs, CPUSyncBatchNorm on CPUs."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CPUSyncBatchNorm):
        sync = CPUSyncBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        sync.load_state_dict(module.state_dict())
        sync.train(module.training)
        return sync.to(next(iter(module.state_dict().values()), torch.empty(0)).device)
    for name, child in module.named_children():
        module.add_module(name, _convert_cpu(child))
    return module
