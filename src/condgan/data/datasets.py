"""Named datasets with class names, held in memory as one uint8 tensor.

`load_dataset("fashion-mnist", split="train")` returns an `ImageDataset` whose `images` is a
(N, C, H, W) uint8 tensor and `labels` a (N,) int64 tensor. Where the files are looked for:
`$CONDGAN_DATA/<name>/`, `~/.cache/condgan/<name>/`, and for Fashion-MNIST Debian's
`/usr/share/datasets/fashion-mnist/`; otherwise they are downloaded (checked by SHA-256).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from condgan.data import download
from condgan.data.cifar import load_cifar10
from condgan.data.idx import read_idx
from condgan.data.image_dataset import ImageDataset
from condgan.errors import ConfigError, DataError

if TYPE_CHECKING:
    from condgan.data.folder import StreamingImageFolder

FASHION_CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot",
)  # fmt: skip
DIGIT_CLASSES = tuple(str(i) for i in range(10))
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def data_dirs(name: str) -> list[Path]:
    """Folders searched for a named dataset's files, first match wins."""
    dirs = []
    if os.environ.get("CONDGAN_DATA"):
        dirs.append(Path(os.environ["CONDGAN_DATA"]) / name)
    dirs.append(cache_dir() / name)
    if name == "fashion-mnist":
        dirs.append(Path("/usr/share/datasets/fashion-mnist"))
    return dirs


def cache_dir() -> Path:
    return Path(os.environ.get("CONDGAN_CACHE", Path.home() / ".cache" / "condgan"))


def _find_files(name: str, filenames: tuple[str, ...]) -> Path | None:
    for folder in data_dirs(name):
        if all((folder / f).is_file() for f in filenames):
            return folder
    return None


def _load_idx_set(name: str, split: str, classes: tuple[str, ...], allow_download: bool) -> ImageDataset:
    filenames = IDX_FILES[split]
    folder = _find_files(name, filenames)
    if folder is None:
        if not allow_download:
            searched = ", ".join(str(d) for d in data_dirs(name))
            raise DataError(
                f"dataset {name!r} not found (looked in {searched}); allow downloading or put the IDX files "
                f"in $CONDGAN_DATA/{name}/"
            )
        folder = cache_dir() / name
        download.fetch_dataset(name, folder, filenames)
    images = read_idx(folder / filenames[0])
    labels = read_idx(folder / filenames[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{folder}: images {images.shape} and labels {labels.shape} do not match "
            "(expected (N, H, W) and (N,)); re-download the files"
        )
    _check_labels(labels, len(classes), str(folder / filenames[1]))
    return ImageDataset(
        name=name,
        images=torch.from_numpy(images[:, None]).contiguous(),  # (N, 1, 28, 28)
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=classes,
    )


def _check_labels(labels: np.ndarray, num_classes: int, source: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(
            f"{source}: labels range {labels.min()}..{labels.max()}, expected 0..{num_classes - 1}; the file is corrupt"
        )


def _load_digits(split: str) -> ImageDataset:
    """scikit-learn's 8x8 digits (values 0..16), scaled to uint8; a fixed 80/20 train/test split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8)
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    cut = int(0.8 * len(labels))
    keep = order[:cut] if split == "train" else order[cut:]
    return ImageDataset(
        name="digits",
        images=torch.from_numpy(images[keep][:, None]).contiguous(),
        labels=torch.from_numpy(labels[keep]),
        class_names=DIGIT_CLASSES,
    )


def _load_cifar10(split: str, allow_download: bool) -> ImageDataset:
    return load_cifar10(split, data_dirs("cifar10"), cache_dir() / "cifar10", allow_download)


def _load_folder(path: str, split: str, image_size: int, channels: int) -> ImageDataset | StreamingImageFolder:
    from condgan.data.folder import load_image_folder

    return load_image_folder(Path(path), split=split, image_size=image_size, channels=channels)


DATASETS: dict[str, Callable[[str, bool], ImageDataset]] = {
    "fashion-mnist": lambda split, dl: _load_idx_set("fashion-mnist", split, FASHION_CLASSES, dl),
    "mnist": lambda split, dl: _load_idx_set("mnist", split, DIGIT_CLASSES, dl),
    "kmnist": lambda split, dl: _load_idx_set("kmnist", split, KMNIST_CLASSES, dl),
    "digits": lambda split, dl: _load_digits(split),
    "cifar10": lambda split, dl: _load_cifar10(split, dl),
}


def dataset_names() -> list[str]:
    return [*DATASETS, "folder:PATH"]


def load_dataset(
    name: str, split: str = "train", image_size: int = 0, channels: int = 0, download: bool = True
) -> ImageDataset:
    """Load a named dataset (or `folder:PATH`) into memory, resized to `image_size` if given.

    A folder too big for memory comes back as a `StreamingImageFolder` (same public attributes).
    """
    if split not in ("train", "test"):
        raise ConfigError(f"unknown split {split!r}; valid splits: train, test")
    if name.startswith("folder:"):
        dataset = _load_folder(name[len("folder:") :], split, image_size, channels)
        if not isinstance(dataset, ImageDataset):
            return dataset  # a folder too big for memory: streamed, already at its size and channels
    elif name in DATASETS:
        dataset = DATASETS[name](split, download)
    else:
        raise ConfigError(f"unknown dataset {name!r}; valid choices: {', '.join(dataset_names())}")
    return conform(dataset, image_size=image_size, channels=channels)


def conform(dataset: ImageDataset, image_size: int = 0, channels: int = 0) -> ImageDataset:
    """Resize (bilinear, antialiased) and convert channels so every image is (channels, size, size)."""
    images = dataset.images
    if channels and channels != images.shape[1]:
        if channels == 3 and images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1).contiguous()
        elif channels == 1 and images.shape[1] == 3:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        else:
            raise ConfigError(f"cannot convert {images.shape[1]}-channel images to {channels}; use 1 or 3")
    if image_size and (images.shape[-2], images.shape[-1]) != (image_size, image_size):
        images = resize_uint8(images, image_size)
    return ImageDataset(dataset.name, images, dataset.labels, dataset.class_names)


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, C, size, size) uint8, bilinear with antialiasing, in chunks."""
    out = []
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].float()
        block = torch.nn.functional.interpolate(block, size=(size, size), mode="bilinear", antialias=True)
        out.append(block.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out) if out else images.new_zeros((0, images.shape[1], size, size))
