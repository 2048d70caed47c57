"""CIFAR-10 from the official python-pickle batches (`cifar-10-batches-py/`).

In each search folder, first match wins: the batch files (in `cifar-10-batches-py/` or loose),
then `cifar-10-python.tar.gz`, which is unpacked once into `cache_folder/cifar-10-batches-py/`.
Unpacking copies only the six batch files, by their known names, into a temporary folder that
is then renamed into place: no member path from the archive is ever written to. The batches
are read with an unpickler that accepts nothing but plain containers and numpy arrays.
"""

from __future__ import annotations

import codecs
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from condgan.data import download
from condgan.data.image_dataset import ImageDataset
from condgan.errors import DataError

ARCHIVE = "cifar-10-python.tar.gz"
BATCH_DIR = "cifar-10-batches-py"
SPLIT_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
BATCH_FILES = (*SPLIT_FILES["train"], *SPLIT_FILES["test"])
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

_RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy's array-rebuilding function, whatever its module
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # pickles written by numpy 1.x (the real files)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # pickles written by numpy 2.x
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # bytes pickled by Python 3 at protocol 2
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, bytes and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    try:
        with open(path, "rb") as handle:
            batch = _BatchUnpickler(handle, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: CIFAR-10 batch not found; unpack cifar-10-python.tar.gz again") from None
    except Exception as exc:  # any failure to unpickle means the file is not a CIFAR-10 batch
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path}: not a readable CIFAR-10 batch ({reason}); download it again") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path}: holds a {type(batch).__name__}, expected a CIFAR-10 batch dict; re-download")
    batch = {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in batch.items()}
    if "data" not in batch or "labels" not in batch:
        found = ", ".join(sorted(map(str, batch)))
        raise DataError(f"{path}: no 'data' and 'labels' entries (found: {found}); re-download it")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: data is {data.dtype} {data.shape}, expected uint8 (N, 3072); re-download")
    if labels.shape != (data.shape[0],) or (labels.size and labels.dtype.kind not in "iu"):
        raise DataError(
            f"{path}: {labels.size} labels of type {labels.dtype} for {data.shape[0]} images, "
            "expected one integer label per image; re-download it"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise DataError(f"{path}: labels range {labels.min()}..{labels.max()}, expected 0..9; file is corrupt")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)  # rows are R (1024), G, B planes


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in BATCH_FILES)


def unpack_archive(archive: Path, cache_folder: Path) -> Path:
    """Copy the batch files out of the tar.gz into `cache_folder/cifar-10-batches-py/`, atomically."""
    target = cache_folder / BATCH_DIR
    if _complete(target):
        return target
    cache_folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{BATCH_DIR}.", dir=cache_folder))
    try:
        found = set()
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if len(parts) != 2 or parts[0] != BATCH_DIR or parts[1] not in BATCH_FILES:
                    continue
                source = tar.extractfile(member) if member.isfile() else None
                if source is None:
                    raise DataError(f"{archive}: {member.name} is not a regular file; not the CIFAR-10 archive")
                with source, open(tmp / parts[1], "wb") as out:
                    shutil.copyfileobj(source, out)
                found.add(parts[1])
        missing = [name for name in BATCH_FILES if name not in found]
        if missing:
            raise DataError(f"{archive}: no {', '.join(missing)} under {BATCH_DIR}/; not the CIFAR-10 python archive")
        if target.exists():
            shutil.rmtree(target)  # an incomplete leftover (complete ones returned above)
        try:
            os.replace(tmp, target)
        except OSError:
            if not _complete(target):  # another process finished first: fine, unless it did not
                raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{archive}: cannot unpack ({reason}); delete it and download it again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _find_batches(search_dirs: list[Path], cache_folder: Path) -> Path | None:
    for folder in search_dirs:
        for candidate in (folder / BATCH_DIR, folder):
            if _complete(candidate):
                return candidate
    for folder in search_dirs:
        if (folder / ARCHIVE).is_file():
            return unpack_archive(folder / ARCHIVE, cache_folder)
    return None


def load_cifar10(split: str, search_dirs: list[Path], cache_folder: Path, allow_download: bool) -> ImageDataset:
    """CIFAR-10's train (50,000) or test (10,000) split: images (N, 3, 32, 32) uint8."""
    if split not in SPLIT_FILES:
        raise DataError(f"unknown CIFAR-10 split {split!r}; valid splits: train, test")
    folder = _find_batches(search_dirs, cache_folder)
    if folder is None:
        if not allow_download:
            searched = ", ".join(str(d) for d in search_dirs)
            raise DataError(
                f"dataset 'cifar10' not found (looked for {BATCH_DIR}/ or {ARCHIVE} in {searched}); "
                f"allow downloading or put {ARCHIVE} in {cache_folder}"
            )
        download.fetch_dataset("cifar10", cache_folder, (ARCHIVE,))
        folder = unpack_archive(cache_folder / ARCHIVE, cache_folder)
    parts = [read_batch(folder / name) for name in SPLIT_FILES[split]]
    images = np.concatenate([images for images, _ in parts])  # (N, 3, 32, 32)
    labels = np.concatenate([labels for _, labels in parts])  # (N,)
    return ImageDataset(
        name="cifar10",
        images=torch.from_numpy(images).contiguous(),
        labels=torch.from_numpy(labels),
        class_names=CIFAR10_CLASSES,
    )
