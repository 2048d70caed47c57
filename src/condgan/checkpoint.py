"""Atomic file writes and run-directory checkpoints.

Every file is written to a temporary name in the same folder and renamed into place, so a
crash (or SIGKILL, or a full disk) leaves either the old file or the new one, never half a file.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

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


@contextmanager
def atomic_folder(out: Path):
    """Yield a new temporary folder beside `out`; when the block completes it replaces `out` (rename), and
    on any error it is removed and `out` is left as it was. A folder is whole or absent."""
    out = Path(out)
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out) if out.is_dir() and not out.is_symlink() else out.unlink()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
    """Write weights (safetensors, one file per model) and training state; return the folder.

    A failed write (a full disk, a quota, an I/O error) is one CheckpointError line; it leaves
    the previous checkpoint as it was and no temporary folder behind. One writer per run."""
    root = Path(run_dir) / CHECKPOINTS
    final = root / f"step_{step:08d}"
    tmp = root / f".{final.name}.{os.getpid()}.tmp"
    aside = root / f".{final.name}.{os.getpid()}.old"
    previous = latest_checkpoint(run_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(root)
        tmp.mkdir()
        for name, tensors in weights.items():
            contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
            write_synced(tmp / f"{name}.safetensors", safetensors_bytes(contiguous))
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_synced(tmp / "state.pt", buffer.getvalue())
        if final.exists():  # the same step again: set the old one aside, so a crash leaves one whole folder
            os.replace(final, aside)
        os.replace(tmp, final)
        _fsync_dir(root)
        atomic_write_text(root / "latest", final.name + "\n")
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = f"the previous checkpoint {previous.name} is intact" if previous else "there is no previous checkpoint"
        raise CheckpointError(
            f"cannot write checkpoint {final.name} in {root} ({exc.strerror or exc}); {kept}; "
            f"free some space (or fix the disk) and continue with --resume {run_dir}"
        ) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)
    complete = sorted(p for p in root.glob("step_*") if p.is_dir())
    for old in complete[: max(0, len(complete) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


WRITE_CHUNK = 1 << 20


def write_synced(path: Path, data: bytes) -> None:
    """Write `data` to a new file in chunks and fsync it; OSError (e.g. ENOSPC) on failure."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view[:WRITE_CHUNK])
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a power cut after it keeps the new name)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path) -> None:
    """Delete what a writer that died mid-write (SIGKILL, power cut) left in `folder`: temporary
    files of atomic writes (.NAME.XXXX.tmp) and checkpoint folders (.step_*.tmp, .step_*.old).
    Only for a folder no other process is writing to (one writer per run)."""
    for stale in [*Path(folder).glob(".*.tmp"), *Path(folder).glob(".step_*.old")]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


_CHECKPOINT_NAME = re.compile(r"step_\d{8}")


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, or None. A missing or damaged `latest`
    pointer falls back to the newest step_* folder."""
    root = Path(run_dir) / CHECKPOINTS
    pointer = root / "latest"
    try:
        name = pointer.read_bytes()[:64].decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if _CHECKPOINT_NAME.fullmatch(name) and (root / name).is_dir():
        return root / name
    folders = sorted(p for p in root.glob("step_*") if _CHECKPOINT_NAME.fullmatch(p.name) and p.is_dir())
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
