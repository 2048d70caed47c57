"""Image-folder datasets (`folder:PATH`): one subfolder of PNG/JPEG images per class.

Layout: `PATH/<class>/*.png|jpg|jpeg` (class names are the sorted subfolder names; every image
is in both splits), or `PATH/train/<class>/` and `PATH/test/<class>/` (class names from
`train/`). Images are decoded with Pillow to grayscale or RGB (alpha is dropped) and, when an
image size is given, resized on the shorter side and centre-cropped to a square.

A set whose decoded size would pass `MEMORY_LIMIT` bytes is not loaded: a
`StreamingImageFolder` decodes each batch on the fly instead, in a small thread pool (Pillow
releases the GIL while decoding), with the same batch order as the in-memory set.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from condgan.data.image_dataset import ImageDataset
from condgan.data.loader import InMemoryBatches, to_float
from condgan.errors import ConfigError, DataError

MEMORY_LIMIT = 2 * 1024**3  # bytes of decoded uint8 images above which a folder is streamed
WORKERS = 2  # decoding threads
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = ("1", "L", "LA")
COLOR_MODES = ("P", "RGB", "RGBA", "CMYK", "YCbCr")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def decode_image(file: Path, channels: int, image_size: int) -> np.ndarray:
    """One image file -> (channels, H, W) uint8, resized and centre-cropped to image_size if given."""
    try:
        with Image.open(file) as image:
            image = image.convert("L" if channels == 1 else "RGB")
        if image_size:
            image = ImageOps.fit(image, (image_size, image_size), Image.Resampling.BILINEAR)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{file}: cannot decode image ({_one_line(exc)}); replace or remove it") from None
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)


def _subfolders(folder: Path) -> tuple[str, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")))


def _split_root(path: Path, split: str) -> tuple[Path, tuple[str, ...]]:
    """The folder holding the class folders of `split`, and the class names."""
    split_dirs = [name for name in ("train", "test") if _subfolders(path / name)]
    if not split_dirs:
        class_names = _subfolders(path)
        if not class_names:
            raise DataError(
                f"folder dataset {path}: no class subfolders; put each class's images in {path}/<class name>/"
            )
        return path, class_names
    reference = path / split_dirs[0]  # train/ when there is one
    class_names = _subfolders(reference)
    root = path / split
    if not root.is_dir():
        raise DataError(f"folder dataset {path}: has {reference.name}/ but no {split}/; add {root}/<class>/")
    unknown = sorted(set(_subfolders(root)) - set(class_names))
    if unknown:
        raise DataError(f"{root}: class folders {unknown} are not in {reference}; use the same class names")
    return root, class_names


def _list_images(root: Path, class_names: tuple[str, ...]) -> tuple[list[Path], list[int]]:
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(class_names):
        folder = root / name
        if not folder.is_dir():  # a class missing from test/ only
            continue
        images = sorted(
            f for f in folder.iterdir()
            if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
        )  # fmt: skip
        if not images:
            raise DataError(f"{folder}: class folder has no PNG/JPEG images; add some or remove the folder")
        files += images
        labels += [label] * len(images)
    if not files:
        raise DataError(f"{root}: no images in any class folder; add PNG/JPEG files")
    return files, labels


def image_header(file: Path) -> tuple[str, tuple[int, int]]:
    """(PIL mode, (width, height)) from the file's header; DataError for an unreadable file or a mode
    other than 8-bit grayscale or RGB."""
    try:
        with Image.open(file) as image:
            mode, size = image.mode, image.size
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{file}: not a readable image ({_one_line(exc)}); replace or remove it") from None
    if mode not in GRAY_MODES + COLOR_MODES:
        raise DataError(
            f"{file}: image mode {mode!r} is not supported (use 8-bit grayscale or RGB PNG/JPEG); "
            "convert or remove the file"
        )
    return mode, size


def _scan(files: list[Path], image_size: int) -> tuple[bool, int]:
    """Read every header: (all grayscale?, common square size when image_size is 0)."""
    all_gray, size = True, image_size
    common = CommonSquareSize()
    for file in files:
        mode, dims = image_header(file)
        all_gray = all_gray and mode in GRAY_MODES
        if not image_size:
            size = common.check(file, dims)
    return all_gray, size


class CommonSquareSize:
    """Checks, one image (or pair) at a time, that all are square and of one size; `check` returns
    that size. Its errors name the file, the first one seen, and `fix` (how to resize instead)."""

    def __init__(
        self,
        noun: str = "image is",
        fix: str = "pass an image size (data.image_size) to resize and centre-crop every image",
    ):
        self.noun, self.fix = noun, fix
        self.first: tuple[Path, tuple[int, int]] | None = None

    def check(self, file: Path, dims: tuple[int, int]) -> int:
        if self.first is None:
            if dims[0] != dims[1]:
                raise DataError(f"{file}: {self.noun} {dims[0]}x{dims[1]}, not square; {self.fix}")
            self.first = (file, dims)
        elif dims != self.first[1]:
            first, (width, height) = self.first
            raise DataError(
                f"{file}: {self.noun} {dims[0]}x{dims[1]} but the first ({first}) is {width}x{height}; {self.fix}"
            )
        return dims[0]


def load_image_folder(
    path: Path,
    split: str = "train",
    image_size: int = 0,
    channels: int = 0,
    memory_limit: int | None = None,
    workers: int = WORKERS,
) -> ImageDataset | StreamingImageFolder:
    """Load `PATH` into memory, or stream it when decoded it would pass `memory_limit` bytes."""
    path = Path(path).expanduser()
    if channels not in (0, 1, 3):
        raise ConfigError(f"channels={channels} is not valid for an image folder; use 0 (auto), 1 or 3")
    if image_size < 0:
        raise ConfigError(f"image_size={image_size} is not valid; use 0 (the images' own size) or a size > 0")
    if not path.is_dir():
        raise DataError(f"folder dataset {path}: no such folder; give folder:PATH, one subfolder per class")
    root, class_names = _split_root(path, split)
    files, labels = _list_images(root, class_names)
    all_gray, size = _scan(files, image_size)
    channels = channels or (1 if all_gray else 3)
    name = f"folder:{path}"
    limit = MEMORY_LIMIT if memory_limit is None else memory_limit
    if len(files) * channels * size * size > limit:
        labels_tensor = torch.tensor(labels, dtype=torch.int64)
        return StreamingImageFolder(name, files, labels_tensor, class_names, channels, size, workers)
    images = np.empty((len(files), channels, size, size), dtype=np.uint8)  # (N, C, S, S)
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="condgan-decode")
    try:
        decode = partial(decode_image, channels=channels, image_size=image_size)
        for i, array in enumerate(pool.map(decode, files)):
            images[i] = array
    finally:
        pool.shutdown(cancel_futures=True)
    return ImageDataset(name, torch.from_numpy(images), torch.tensor(labels, dtype=torch.int64), class_names)


@dataclass
class StreamingImageFolder:
    """An image folder too big for memory: the public face of ImageDataset, decoded per batch."""

    name: str
    files: list[Path] = field(repr=False)
    labels: torch.Tensor = field(repr=False)  # (N,) int64
    class_names: tuple[str, ...]
    channels: int
    image_size: int
    workers: int = WORKERS

    def __len__(self) -> int:
        return len(self.files)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def batches(self, batch_size: int, seed: int = 0, device="cpu", rank: int = 0, world_size: int = 1):
        """An endless, resumable stream of (images in [-1, 1], labels) batches."""
        return StreamingBatches(self, batch_size, seed, device, rank, world_size)


class StreamingBatches:
    """Like InMemoryBatches (same order, same state), but each batch is decoded from its files.

    The order comes from an InMemoryBatches over (item index, label), so a streamed folder
    yields exactly the batches its in-memory twin would. `prefetch` batches are decoded ahead.
    """

    def __init__(
        self,
        dataset: StreamingImageFolder,
        batch_size: int,
        seed: int = 0,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
        prefetch: int = 2,
    ):
        self.dataset = dataset
        self.device = torch.device(device)
        self.prefetch = prefetch
        indices = torch.arange(len(dataset))
        self._order = InMemoryBatches((indices, dataset.labels), batch_size, seed, "cpu", rank, world_size)
        self._pool = ThreadPoolExecutor(max(1, dataset.workers), thread_name_prefix="condgan-decode")
        self._pending: deque[tuple[list[Future], torch.Tensor, dict]] = deque()
        self._state = self._order.state_dict()  # position after the last batch handed out

    @property
    def batches_per_epoch(self) -> int:
        return self._order.batches_per_epoch

    def _submit(self) -> None:
        index, labels = next(self._order)
        decode = partial(decode_image, channels=self.dataset.channels, image_size=self.dataset.image_size)
        futures = [self._pool.submit(decode, self.dataset.files[i]) for i in index.tolist()]
        self._pending.append((futures, labels, self._order.state_dict()))

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        while len(self._pending) <= self.prefetch:
            self._submit()
        futures, labels, state = self._pending.popleft()
        images = torch.from_numpy(np.stack([future.result() for future in futures]))  # (B, C, S, S) uint8
        self._state = state
        return to_float(images.to(self.device)), labels.to(self.device)

    def _drop_pending(self) -> None:
        for futures, _, _ in self._pending:
            for future in futures:
                future.cancel()
        self._pending.clear()

    def state_dict(self) -> dict:
        return dict(self._state)

    def load_state_dict(self, state: dict) -> None:
        self._drop_pending()
        self._order.load_state_dict(state)
        self._state = self._order.state_dict()

    def close(self) -> None:
        """Stop the decoding threads (they also stop when the stream is garbage-collected)."""
        self._drop_pending()
        self._pool.shutdown(wait=False, cancel_futures=True)
