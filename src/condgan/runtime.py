"""Device and thread choices, made on purpose and in one place."""

from __future__ import annotations

import ctypes
import os
import sys

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


# glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024  # bytes: a block this large or larger gets its own mapping, unmapped when freed
_MMAP_ENV = "MALLOC_MMAP_THRESHOLD_"


def steady_heap(threshold: int = MMAP_THRESHOLD, environ=os.environ) -> bool:
    """Keep a long-running server's memory from creeping up (glibc only; returns whether it was set).

    glibc raises its mmap threshold each time a large mapped block is freed, so after a few requests
    image-sized buffers (tensors, PNG bytes, data URLs) come from the thread arenas instead, and freed
    ones leave holes there that are seldom given back: measured with `condgan serve` under 16 clients,
    the arenas' free space grew from 1 to 220 MB in five minutes while the memory in use stayed level.
    A fixed threshold keeps such buffers in their own mappings (and turns off the dynamic raise), so
    they go back to the system when freed. 32 KiB, not 256: under the same soak the arenas' free
    space still grew by about 5 MB a minute at 256 KiB (blocks of 32-256 KiB: PNG bytes, base64
    strings, small tensors) and by under 1 at 32 KiB. Left alone when MALLOC_MMAP_THRESHOLD_ is set:
    the user's choice wins."""
    if environ.get(_MMAP_ENV) or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc's tunables only; musl and others differ
        return False
    return libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)) == 1
