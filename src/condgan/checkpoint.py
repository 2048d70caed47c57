"""Atomic file writes and run-directory checkpoints.

Every file is written to a temporary name in the same folder and renamed into place, so a
crash (or SIGKILL, or a full disk) leaves either the old file or the new one, never half a file.
A checkpoint streams its tensors to disk (write_safetensors, torch.save into the file) rather than
building each file in memory first: pix2pix's 256 px U-Net and its Adam state are 0.65 GB, which
the in-memory copies added to a training run's peak memory at every checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

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
            write_safetensors(tmp / f"{name}.safetensors", tensors)
        with SyncedFile(tmp / "state.pt") as handle:
            torch.save(state, handle)
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


class SyncedFile:
    """A new file written with os.write in chunks and fsynced when closed; OSError (e.g. ENOSPC) on failure.
    A file object for writers that stream (torch.save)."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            written = os.write(self.fd, view[:WRITE_CHUNK])
            view = view[written:]
        return total

    def flush(self) -> None:
        pass

    def __enter__(self) -> SyncedFile:
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if kind is None:
                os.fsync(self.fd)
        finally:
            os.close(self.fd)


SAFETENSORS_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
                      torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
                      torch.uint8: "U8", torch.bool: "BOOL"}  # fmt: skip


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """`tensors` as a safetensors file (read back with safetensors.torch.load_file), streamed one tensor at a
    time: the library's save() builds the whole file in memory, twice over. The format: an 8-byte
    little-endian header length, the JSON header (dtype, shape, byte offsets per name; padded with spaces
    to a multiple of 8), then each tensor's little-endian bytes in the header's order."""
    if sys.byteorder != "little":  # safetensors stores little-endian bytes; the raw memory is not
        raise CheckpointError("writing safetensors from a big-endian machine is not supported")
    header, offset = {}, 0
    for name, tensor in tensors.items():
        size = tensor.numel() * tensor.element_size()
        header[name] = {"dtype": SAFETENSORS_DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + size]}  # fmt: skip
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with SyncedFile(path) as handle:
        handle.write(len(text).to_bytes(8, "little") + text)
        for tensor in tensors.values():
            flat = tensor.detach().cpu().contiguous().reshape(-1)  # (N,): a view of the tensor when it can be
            if flat.numel():
                handle.write(flat.view(torch.uint8).numpy())


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
