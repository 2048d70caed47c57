"""Device and thread choices, made on purpose and in one place."""

from __future__ import annotations

import torch

from condgan.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cuda' without a GPU is an error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for but no CUDA GPU is visible; use --device cpu or auto")
    return device


def set_threads(threads: int) -> None:
    """Use `threads` CPU threads for torch ops (0 = leave torch's default: one per core)."""
    if threads > 0:
        torch.set_num_threads(threads)
