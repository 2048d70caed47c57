"""Unaligned image sets for CycleGAN: `unaligned:DIR`, the reference's layout.

    DIR/trainA/*.png|jpg   DIR/trainB/*.png|jpg   DIR/testA/...   DIR/testB/...

The two sides are independent collections: any number of images each, gray or RGB, no pairing.
Each side is held in memory as uint8 (N, C, L, L), every image resized (bicubic, as the reference)
to a square: the training split to `load_size` (0 = the paper's image_size * 286/256) for the random
crop to `image_size` and horizontal flip, drawn per image and per side; other splits to `image_size`.
`image_size` 0 = the images' own size, which every image of both sides must then share (the
reference's sets are 256 px).

Batches: an epoch has max(N_A, N_B) items; item i is (A[order_a[i]], B[order_b[i]]), each order a
random permutation of its side (repeated when that side is the smaller), so every image meets a new
random partner each epoch. The orders come from (seed, epoch), the crops and flips from (seed,
epoch, batch position): the position in the stream is two integers, so a run resumed mid-epoch sees
the batches an uninterrupted one would have. Under DDP rank r takes every world_size-th item, as
InMemoryBatches does, and the crops and flips are drawn for the global batch, of which each rank takes
its items: N processes with batch B see exactly the images one process with batch N x B sees.

Channels: a side is grayscale (1 channel) when its files are, or when all its decoded pixels have
R = G = B; `data.source_channels` (side A) and `data.channels` (side B) > 0 convert instead.
Every problem is one DataError line naming the folder or file: a missing or empty side, an
unreadable image, images of different sizes when `image_size` is 0.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from condgan.data.folder import GRAY_MODES, IMAGE_SUFFIXES, CommonSquareSize, image_header
from condgan.data.loader import crop_flip_draws, random_crop_flip, to_float
from condgan.data.paired import _resolve_channels as resolve_channels
from condgan.data.paired import read_metadata
from condgan.errors import ConfigError, DataError

UNALIGNED = "unaligned"  # the data.name prefix: unaligned:DIR
SIDES = ("A", "B")
SPLITS = ("train", "test")
LAYOUT = "DIR/trainA and DIR/trainB (DIR/testA, DIR/testB for samples) holding PNG/JPEG images"
METADATA = "unpaired.json"  # written by `condgan data make-unpaired`
WORKERS = 2
MEMORY_LIMIT = 8 * 1024**3  # decoded bytes above which a set is refused (train smaller instead)
PAPER_LOAD_RATIO = 286 / 256


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def parse_unaligned_source(name: str) -> Path:
    """'unaligned:DIR' -> DIR; one-line errors naming the expected form."""
    prefix, _, path = name.partition(":")
    if prefix != UNALIGNED or not path:
        raise ConfigError(
            f"cyclegan data must be unaligned:DIR ({LAYOUT}), got {name!r}; make one with `condgan data make-unpaired`"
        )
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"unaligned dataset {root}: no such folder; expected {LAYOUT}")
    return root


def side_files(root: Path, split: str, side: str) -> list[Path]:
    """The images of one side of one split, sorted by name."""
    folder = root / f"{split}{side}"
    if not folder.is_dir():
        raise DataError(f"{folder}: missing; an unaligned set needs {LAYOUT} (see `condgan data make-unpaired`)")
    files = sorted(
        f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
    )
    if not files:
        raise DataError(f"{folder}: no PNG/JPEG images; put side {side}'s {split} images there")
    return files


def available_splits(name: str) -> list[str]:
    """The splits with both side folders, in train, test order."""
    root = parse_unaligned_source(name)
    return [split for split in SPLITS if all((root / f"{split}{side}").is_dir() for side in SIDES)]


@dataclass
class UnalignedDataset:
    """Two sides in memory: images_a (N_A, C_A, L, L) and images_b (N_B, C_B, L, L) uint8."""

    name: str
    images_a: torch.Tensor
    images_b: torch.Tensor
    names_a: list[str]
    names_b: list[str]
    image_size: int
    load_size: int
    jitter: bool
    flip: bool = True
    split: str = "train"
    metadata: dict = field(default_factory=dict)
    class_names: tuple[str, ...] = ()  # the trainer's resolve step reads these: the sides have no classes
    num_classes: int = 0

    def __len__(self) -> int:
        return max(int(self.images_a.shape[0]), int(self.images_b.shape[0]))

    @property
    def source_channels(self) -> int:
        """Side A's channels (data.source_channels)."""
        return int(self.images_a.shape[1])

    @property
    def channels(self) -> int:
        """Side B's channels (data.channels)."""
        return int(self.images_b.shape[1])

    def batches(self, batch_size: int, seed: int = 0, device="cpu", rank: int = 0, world_size: int = 1):
        """An endless, resumable stream of (real_a, real_b) float batches in [-1, 1]."""
        return UnalignedBatches(self, batch_size, seed, device, rank, world_size)

    def float_sides(self, limit: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `limit` (0 = all) images of each side as floats in [-1, 1], centre-cropped to
        image_size (no randomness): (N_A, C_A, S, S), (N_B, C_B, S, S)."""
        offset = (self.images_a.shape[-1] - self.image_size) // 2
        window = slice(offset, offset + self.image_size)
        stop = limit or None
        return to_float(self.images_a[:stop, :, window, window]), to_float(self.images_b[:stop, :, window, window])


def tiled_permutation(n: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """`length` indices into range(n): random permutations of n back to back, the last one cut."""
    rounds = -(-length // n)
    return torch.cat([torch.randperm(n, generator=generator) for _ in range(rounds)])[:length]


class UnalignedBatches:
    """Shuffled (real_a, real_b) batches of an UnalignedDataset (see the module docstring)."""

    def __init__(self, dataset: UnalignedDataset, batch_size: int, seed: int, device, rank: int, world_size: int):
        self.length = len(dataset)
        per_rank = self.length // world_size
        if per_rank < batch_size:
            raise DataError(
                f"{dataset.name}: the larger side has {self.length} images ({per_rank} per process), fewer than "
                f"one batch of {batch_size}; lower train.batch_size or add images"
            )
        self.dataset = dataset
        self.images_a, self.images_b = dataset.images_a.to(device), dataset.images_b.to(device)
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.epoch, self.position = 0, 0  # batches already taken in this epoch
        self._orders: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def batches_per_epoch(self) -> int:
        return (self.length // self.world_size) // self.batch_size

    def _epoch_orders(self) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        keep = self.batches_per_epoch * self.batch_size
        orders = []
        for images in (self.images_a, self.images_b):
            order = tiled_permutation(images.shape[0], self.length, generator)
            orders.append(order[self.rank :: self.world_size][:keep].to(images.device))
        return orders[0], orders[1]

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.position >= self.batches_per_epoch:
            self.epoch, self.position, self._orders = self.epoch + 1, 0, None
        if self._orders is None:
            self._orders = self._epoch_orders()
        window = slice(self.position * self.batch_size, (self.position + 1) * self.batch_size)
        real_a = to_float(self.images_a.index_select(0, self._orders[0][window]))  # (B, C_A, L, L)
        real_b = to_float(self.images_b.index_select(0, self._orders[1][window]))  # (B, C_B, L, L)
        key = (self.seed * 1_000_003 + self.epoch) * 1_000_033 + self.position
        self.position += 1
        d = self.dataset
        if not d.jitter:
            return real_a, real_b
        generator = torch.Generator().manual_seed(key & (2**63 - 1))
        global_batch, load = self.batch_size * self.world_size, real_a.shape[-1]
        mine = slice(self.rank, None, self.world_size)  # this rank's share of the global batch
        crops = [crop_flip_draws(global_batch, load, d.image_size, generator, d.flip) for _ in SIDES]
        real_a = random_crop_flip(real_a, d.image_size, None, d.flip, (crops[0][0][:, mine], crops[0][1][mine]))
        real_b = random_crop_flip(real_b, d.image_size, None, d.flip, (crops[1][0][:, mine], crops[1][1][mine]))
        return real_a, real_b  # (B, C_A, S, S), (B, C_B, S, S)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self._orders = int(state["epoch"]), int(state["position"]), None


# ----------------------------------------------------------------------------- loading


def _decode(file: Path, mode: str, size: int) -> np.ndarray:
    """One image -> uint8 (C, size, size), resized bicubic to the square (as the reference: aspect not kept)."""
    try:
        with Image.open(file) as image:
            image = image.convert(mode)
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BICUBIC)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{file}: cannot decode image ({_one_line(exc)}); replace or remove it") from None
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _decode_side(files: list[Path], gray: bool, size: int, workers: int) -> np.ndarray:
    out = np.empty((len(files), 1 if gray else 3, size, size), np.uint8)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="condgan-unaligned") as pool:
        for i, array in enumerate(pool.map(lambda file: _decode(file, "L" if gray else "RGB", size), files)):
            out[i] = array
    return out


def load_unaligned(
    name: str,
    split: str = "train",
    image_size: int = 0,
    *,
    jitter: bool = False,
    load_size: int = 0,
    flip: bool = True,
    source_channels: int = 0,
    channels: int = 0,
    limit: int = 0,
    memory_limit: int = MEMORY_LIMIT,
    workers: int = WORKERS,
) -> UnalignedDataset:
    """Read one split of `unaligned:DIR` into memory (see the module docstring). `limit` > 0 keeps the
    first `limit` images of each side (sorted by name)."""
    root = parse_unaligned_source(name)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    if image_size < 0 or load_size < 0:
        raise ConfigError(f"image and load sizes must be >= 0, got {image_size} and {load_size}")
    files = {side: side_files(root, split, side) for side in SIDES}
    if limit > 0:
        files = {side: side_list[:limit] for side, side_list in files.items()}
    common = CommonSquareSize("image is", "set data.image_size to resize every image to one square size")
    gray, native = {}, 0
    for side, side_list in files.items():
        modes = []
        for file in side_list:
            mode, dims = image_header(file)
            modes.append(mode)
            if image_size == 0:
                native = common.check(file, dims)
        gray[side] = all(mode in GRAY_MODES for mode in modes)
    image_size = image_size or native
    stored = (load_size or int(round(image_size * PAPER_LOAD_RATIO))) if jitter else image_size
    if stored < image_size:
        raise ConfigError(f"data.load_size={stored} is smaller than the image size {image_size}; use >= {image_size}")
    needed = sum(len(f) * (1 if gray[side] else 3) for side, f in files.items()) * stored * stored
    if needed > memory_limit:
        raise DataError(
            f"{root}/{split}A+B: {sum(map(len, files.values()))} images at {stored} px need {needed / 1024**3:.1f} "
            f"GB in memory (limit {memory_limit / 1024**3:.0f} GB); train at a smaller data.image_size or on a subset"
        )
    sides = {side: _decode_side(f, gray[side], stored, workers) for side, f in files.items()}
    images_a = resolve_channels(sides["A"], source_channels, "source_channels", f"{root}/{split}A")
    images_b = resolve_channels(sides["B"], channels, "channels", f"{root}/{split}B")
    return UnalignedDataset(
        name=name,
        images_a=torch.from_numpy(images_a),
        images_b=torch.from_numpy(images_b),
        names_a=[f.name for f in files["A"]],
        names_b=[f.name for f in files["B"]],
        image_size=image_size,
        load_size=stored,
        jitter=jitter,
        flip=flip,
        split=split,
        metadata=read_metadata(root, METADATA),
    )


def load_training_sides(config) -> UnalignedDataset:
    """The train split of `config.data.name`, stored at the jitter's load size."""
    d = config.data
    return load_unaligned(
        d.name, "train", d.image_size, jitter=True, load_size=d.load_size, flip=d.flip,
        source_channels=d.source_channels, channels=d.channels,
    )  # fmt: skip


def load_sample_sides(config, limit: int = 0) -> UnalignedDataset:
    """The first `limit` images of each side of the test split (else train), as the run sees them
    (size, channels), without jitter."""
    d = config.data
    split = "test" if "test" in available_splits(d.name) else "train"
    return load_unaligned(
        d.name, split, d.image_size, source_channels=d.source_channels, channels=d.channels, limit=limit
    )
