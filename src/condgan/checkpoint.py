"""Atomic file writes and run-directory checkpoints.

Every file is written to a temporary name in the same folder and renamed into place, so a
crash (or SIGKILL, or a full disk) leaves either the old file or the new one, never half a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from condgan.errors import CheckpointError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


# ---------------------------------------------------------------- run-directory checkpoints
#
# run/checkpoints/step_00001000/{generator,discriminator,generator_ema}.safetensors + state.pt
# run/checkpoints/latest   (text: the name of the newest complete checkpoint folder)
#
# A checkpoint folder is written under a temporary name and renamed when complete, so any
# folder named step_* is whole; `latest` is rewritten atomically after the rename.

CHECKPOINTS = "checkpoints"


def save_checkpoint(
    run_dir: Path, step: int, weights: dict[str, dict[str, torch.Tensor]], state: dict, keep: int = 2
) -> Path:
    """Write weights (safetensors, one file per model) and training state; return the folder."""
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    tmp = root / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name, tensors in weights.items():
            contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
            save_file(contiguous, str(tmp / f"{name}.safetensors"))
        torch.save(state, tmp / "state.pt")
        for child in tmp.iterdir():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / "latest", final.name + "\n")
    complete = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in complete[: max(0, len(complete) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    root = Path(run_dir) / CHECKPOINTS
    pointer = root / "latest"
    if pointer.is_file():
        candidate = root / pointer.read_text().strip()
        if candidate.is_dir() and candidate.name.startswith("step_"):
            return candidate
    folders = sorted(p for p in root.glob("step_*") if p.is_dir())
    return folders[-1] if folders else None


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: weights file missing; the run has no complete checkpoint") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt weights file ({exc}); restore it or retrain") from None


def load_state(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: training-state file missing; the checkpoint is incomplete") from None
    except Exception as exc:  # torch raises many types for a damaged pickle/zip
        raise CheckpointError(f"{path}: corrupt training-state file ({type(exc).__name__}); restore it") from None


def load_module_weights(module: torch.nn.Module, path: Path) -> None:
    """Load a safetensors file into a module with strict key and shape checks, one-line errors."""
    tensors = load_weights(path)
    expected = module.state_dict()
    for key, value in expected.items():
        if key not in tensors:
            raise CheckpointError(f"{path}: missing tensor {key!r}; the file does not fit this model's config")
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{path}: tensor {key!r} has shape {tuple(tensors[key].shape)}, model expects {tuple(value.shape)}; "
                "the file does not fit this model's config"
            )
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise CheckpointError(f"{path}: unexpected tensor {extra[0]!r}; the file does not fit this model's config")
    module.load_state_dict(tensors)
