"""Speed options of the trainer: mixed precision, channels-last memory, torch.compile, and the
order in which a task's modules are wrapped (sync batch norm -> channels-last -> DDP -> compile).

- `train.precision`: `auto` = bf16 autocast on GPUs that support it, fp16 autocast with a
  gradient scaler on older GPUs; on the CPU, bf16 autocast where the task says it pays on AMX
  tiles (the convolutional class-conditional GAN, measured: docs/results/recipe.md) and the CPU has
  them, else fp32; `fp32`, `bf16`, `fp16` force one (bf16 and fp16 autocast also run on the CPU,
  fp16 with torch's CPU gradient scaler).
- `train.channels_last`: models and every 4-D batch tensor in NHWC memory order (faster
  convolutions on tensor-core GPUs; a layout change only, the numbers are the same).
- `train.compile`: torch.compile every model (first steps are slow while it compiles).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from condgan import distributed
from condgan.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles, the matrix units on which oneDNN runs bf16 convolutions fast (on an
    AVX2-only CPU bf16 autocast was measured slower than fp32; AVX512-BF16 without AMX is not measured yet)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe and probe())


def resolve_precision(name: str, device: torch.device, bf16_on_amx: bool = False) -> torch.dtype | None:
    """The autocast dtype for `train.precision` on `device` (None = plain fp32).

    `bf16_on_amx`: the task's own answer to "does bf16 autocast reach a given quality sooner on an
    AMX CPU?" (`task.bf16_on_amx`); `auto` on the CPU follows it when the CPU has AMX tiles."""
    if name not in PRECISIONS:
        raise ConfigError(f"unknown train.precision {name!r}; valid choices: {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if device.type == "cpu" and bf16_on_amx and cpu_has_amx() else None
    return _DTYPES[name]


class Precision:
    """Autocast for the forward passes and, for fp16, one gradient scaler per optimizer."""

    def __init__(self, device: torch.device, dtype: torch.dtype | None, names: tuple[str, ...] = ("d", "g")):
        self.device, self.dtype = device, dtype
        scaling = dtype == torch.float16
        self.scalers = {name: torch.amp.GradScaler(device.type, enabled=scaling) for name in names}

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def backward_and_step(self, name: str, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """loss.backward() and optimizer.step(), through the gradient scaler when fp16."""
        scaler = self.scalers[name]
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def state_dict(self) -> dict:
        return {name: scaler.state_dict() for name, scaler in self.scalers.items() if scaler.is_enabled()}

    def load_state_dict(self, state: dict) -> None:
        for name, scaler_state in state.items():
            if name in self.scalers and self.scalers[name].is_enabled():
                self.scalers[name].load_state_dict(scaler_state)


def to_channels_last(batch):
    """Every 4-D tensor of a batch (a tensor, or a tuple/list of them) in channels-last order."""
    if isinstance(batch, torch.Tensor):
        return batch.contiguous(memory_format=torch.channels_last) if batch.dim() == 4 else batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_channels_last(item) for item in batch)
    return batch


def prepare_task(task, train_config, device: torch.device):
    """Wrap every module of the task (`task.modules()`, each the task's attribute of that name) for
    training, in place; return the task.

    The plain modules stay reachable through `distributed.unwrap` (checkpoints, EMA, samples)."""
    t = train_config
    for name, module in task.modules().items():
        if t.sync_batchnorm and distributed.is_distributed():  # one process: plain BN sees the whole batch
            module = distributed.convert_sync_batchnorm(module, device)
        if t.channels_last:
            module = module.to(memory_format=torch.channels_last)
        module = distributed.wrap_ddp(module, device)
        if t.compile:
            module = compile_module(module)
        setattr(task, name, module)
    return task


def compile_module(module: nn.Module) -> nn.Module:
    if not hasattr(torch, "compile"):
        raise ConfigError("train.compile needs torch >= 2.0; set train.compile=false")
    return torch.compile(module)
