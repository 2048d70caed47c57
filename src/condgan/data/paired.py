"""Paired images for pix2pix: `aligned:DIR` and `pairs:DIR`, in memory, with the paper's joint jitter.

Formats (the split folders are train/, val/, test/; training reads train/):
- `aligned:DIR` — the reference's format: `DIR/<split>/*.jpg|png`, each file the two images side
  by side, A | B (width = 2 x height). `data.direction` AtoB makes A the input (source) and B
  the output (target); BtoA the reverse.
- `pairs:DIR` — two parallel folders matched by file name (extension aside):
  `DIR/<split>/source/` and `DIR/<split>/target/`, or `DIR/source/` + `DIR/target/` as the
  train split. A name without a partner is an error naming it. BtoA swaps the two folders.

Both images of a pair are resized (bicubic, as the reference) to a square: the training split
to `load_size`, other splits to `image_size`. Training batches then get the paper's random
jitter: one random crop to `image_size` and one horizontal flip per pair, the same for its two
images, done as one gather over the whole batch (no per-item Python per step). The jitter of a
batch is drawn from (seed, epoch, batch position), so a resumed run sees the same batches.

Stroke augmentation (`stroke_augment` > 0, drawn inputs): each training pair, with that probability, gets
its input strokes thickened or thinned (a blend toward a 3x3 max or min filter of the ink), up to three
short gaps cut where there is ink, and a shift of up to one pixel; the target is left alone. It is drawn
from the batch's jitter generator after the jitter, so a resumed run sees the same batches.

Channels: a side is grayscale (1 channel) when its files are, or when all its decoded pixels
have R = G = B (an aligned file holds both sides in one RGB image); `source_channels` /
`channels` > 0 convert instead (RGB -> gray by luminance, gray -> RGB by copying).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from condgan.data.loader import InMemoryBatches, random_crop_flip
from condgan.data.pair_files import PairItem, decode_pair, list_pairs, parse_pair_source, scan_pairs
from condgan.errors import ConfigError, DataError

PAPER_LOAD_RATIO = 286 / 256  # the reference resizes to 286 and crops 256
METADATA = "pairs.json"  # written by `condgan data make-pairs`: source set, task, target domain
WORKERS = 2
MEMORY_LIMIT = 8 * 1024**3  # decoded bytes above which a paired set is refused (train smaller instead)


def paper_load_size(image_size: int) -> int:
    """The jitter's resize target: image_size * 286/256, rounded (32 -> 36, 64 -> 72, 256 -> 286)."""
    return int(round(image_size * PAPER_LOAD_RATIO))


def background_name(level: float) -> str:
    """'white' or 'black': the polarity of a background of this gray level (0-255)."""
    return "white" if level >= 127.5 else "black"


def border_background(images: torch.Tensor) -> str:
    """'white' or 'black': the median of the border pixels of uint8 (N, C, H, W) images (channels averaged)."""
    gray = images.float().mean(dim=1)  # (N, H, W)
    border = torch.cat([gray[:, 0], gray[:, -1], gray[:, :, 0], gray[:, :, -1]], dim=1)  # (N, 2W + 2H)
    return background_name(float(border.median())) if border.numel() else "white"


GAP_CUTS = 3  # stroke augmentation: at most this many gaps per input
THIN_MAX = 0.6  # thinning blends at most this far toward the min filter (all the way erases 1-2 px lines)


def augment_strokes(
    source: torch.Tensor, probability: float, generator: torch.Generator, background: str = "white"
) -> torch.Tensor:
    """Inputs (B, Cs, S, S) in [-1, 1] -> the same, each with `probability` thickened or thinned strokes,
    a few gaps cut where there is ink and a shift of up to one pixel (the background fills in).

    Ink is the side away from `background` (dark on white). Every random number is drawn whatever the
    batch holds, so the generator's state after the call depends on the batch shape only."""
    batch, channels, size = source.shape[0], source.shape[1], source.shape[-1]
    sign = -1.0 if background == "white" else 1.0
    ink = (source * sign + 1) / 2  # (B, Cs, S, S): 1 = full ink
    chosen = torch.rand(batch, generator=generator) < probability  # (B,)
    amount = torch.rand(batch, generator=generator) * 2 - 1  # (B,): > 0 thicker, < 0 thinner
    cut_on = torch.rand(batch, GAP_CUTS, generator=generator) < 0.5  # (B, GAP_CUTS)
    weights = ink.mean(1).flatten(1) + 1e-6  # (B, S*S): cut where there is ink
    cuts = torch.multinomial(weights.cpu(), GAP_CUTS, replacement=True, generator=generator)  # (B, GAP_CUTS)
    offsets = torch.randint(0, 3, (2, batch), generator=generator)  # (2, B): rows, columns 0..2 (1 = no shift)
    thick = torch.nn.functional.max_pool2d(ink, 3, stride=1, padding=1)  # (B, Cs, S, S)
    thin = -torch.nn.functional.max_pool2d(-ink, 3, stride=1, padding=1)
    grow = amount.clamp(min=0).view(batch, 1, 1, 1).to(ink.device)
    shrink = (-amount).clamp(min=0).mul(THIN_MAX).view(batch, 1, 1, 1).to(ink.device)
    stroked = ink + (thick - ink) * grow + (thin - ink) * shrink  # (B, Cs, S, S)
    span = torch.arange(size)
    rows, cols = (cuts // size)[..., None], (cuts % size)[..., None]  # (B, GAP_CUTS, 1)
    near_row = (span - rows).abs() <= 1  # (B, GAP_CUTS, S)
    near_col = (span - cols).abs() <= 1
    gap = (near_row[..., :, None] & near_col[..., None, :] & cut_on[..., None, None]).any(1)  # (B, S, S)
    stroked = stroked * (~gap).to(stroked)[:, None]  # (B, Cs, S, S): no ink in the gaps
    padded = torch.nn.functional.pad(stroked, (1, 1, 1, 1))  # (B, Cs, S + 2, S + 2): background (no ink) around
    index_rows = (offsets[0, :, None] + span).to(ink.device)  # (B, S)
    index_cols = (offsets[1, :, None] + span).to(ink.device)
    b = torch.arange(batch, device=ink.device)[:, None, None, None]
    c = torch.arange(channels, device=ink.device)[None, :, None, None]
    shifted = padded[b, c, index_rows[:, None, :, None], index_cols[:, None, None, :]]  # (B, Cs, S, S)
    augmented = (shifted * 2 - 1) * sign
    return torch.where(chosen.view(batch, 1, 1, 1).to(ink.device), augmented, source)


def joint_jitter(
    source: torch.Tensor, target: torch.Tensor, size: int, generator: torch.Generator, flip: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crop to `size` and random horizontal flip, the same for both images of each pair.

    source (B, Cs, L, L), target (B, Ct, L, L) -> (B, Cs, size, size), (B, Ct, size, size).
    The two images of a pair go through loader.random_crop_flip together, concatenated on channels.
    """
    source_channels, load = source.shape[1], source.shape[-1]
    if load == size and not flip:
        return source, target
    pair = torch.cat([source, target], dim=1)  # (B, Cs + Ct, L, L)
    out = random_crop_flip(pair, size, generator, flip)  # (B, Cs + Ct, size, size)
    return out[:, :source_channels], out[:, source_channels:]


@dataclass
class PairedDataset:
    """Pairs in memory: sources (N, Cs, L, L) and targets (N, Ct, L, L) uint8, L = stored size.

    `jitter` (training split): batches are random crops of `image_size` from L = load_size,
    flipped when `flip`; otherwise L = image_size and batches are the pairs as they are.
    """

    name: str
    sources: torch.Tensor
    targets: torch.Tensor
    names: list[str]
    image_size: int
    load_size: int
    jitter: bool
    flip: bool = True
    split: str = "train"
    metadata: dict = field(default_factory=dict)  # pairs.json of the folder, if any, and the direction
    stroke_augment: float = 0.0  # training batches: probability per pair of augment_strokes on the input
    class_names: tuple[str, ...] = ()  # the trainer's resolve step reads these: pairs have no classes
    num_classes: int = 0

    def __len__(self) -> int:
        return int(self.sources.shape[0])

    @property
    def channels(self) -> int:
        return int(self.targets.shape[1])

    @property
    def source_channels(self) -> int:
        return int(self.sources.shape[1])

    @property
    def source_background(self) -> str:
        """'white' or 'black': the median of the inputs' border pixels (what translate fits inputs to)."""
        return border_background(self.sources)

    def batches(self, batch_size: int, seed: int = 0, device="cpu", rank: int = 0, world_size: int = 1):
        """An endless, resumable stream of (source, target) float batches in [-1, 1]."""
        return PairedBatches(self, batch_size, seed, device, rank, world_size)

    def float_pairs(self, start: int = 0, stop: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairs start..stop as floats in [-1, 1], centre-cropped to image_size (no randomness)."""
        from condgan.data.loader import to_float

        offset = (self.sources.shape[-1] - self.image_size) // 2
        window = slice(offset, offset + self.image_size)
        source = self.sources[start:stop, :, window, window]
        target = self.targets[start:stop, :, window, window]
        return to_float(source), to_float(target)


class PairedBatches:
    """Shuffled batches of a PairedDataset (order and resume as InMemoryBatches), then joint jitter."""

    def __init__(self, dataset: PairedDataset, batch_size: int, seed: int, device, rank: int, world_size: int):
        self.dataset = dataset
        self.seed, self.rank = seed, rank
        self.background = dataset.source_background if dataset.stroke_augment > 0 else "white"
        self._inner = InMemoryBatches((dataset.sources, dataset.targets), batch_size, seed, device, rank, world_size)

    @property
    def batches_per_epoch(self) -> int:
        return self._inner.batches_per_epoch

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        source, target = next(self._inner)  # (B, Cs, L, L), (B, Ct, L, L) floats in [-1, 1]
        d = self.dataset
        if not d.jitter:
            return source, target
        key = ((self.seed * 1_000_003 + self._inner.epoch) * 1_000_033 + self._inner.position) * 64 + self.rank
        generator = torch.Generator().manual_seed(key & (2**63 - 1))
        source, target = joint_jitter(source, target, d.image_size, generator, d.flip)
        if d.stroke_augment > 0:  # drawn after the jitter from the same generator: resumes exactly
            source = augment_strokes(source, d.stroke_augment, generator, self.background)
        return source, target

    def state_dict(self) -> dict:
        return self._inner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self._inner.load_state_dict(state)


# ----------------------------------------------------------------------------- loading


def _resolve_channels(array: np.ndarray, wanted: int, side: str, where: str) -> np.ndarray:
    """(N, 1|3, S, S) uint8 -> `wanted` channels; 0 = 1 when every pixel is gray (R = G = B), else 3."""
    if wanted not in (0, 1, 3):
        raise ConfigError(f"data.{side}={wanted} is not valid; use 0 (from the data), 1 or 3")
    if array.shape[1] == 3 and wanted in (0, 1):
        is_gray = bool((array[:, 0] == array[:, 1]).all() and (array[:, 1] == array[:, 2]).all())
        if is_gray:
            return np.ascontiguousarray(array[:, :1])
        if wanted == 1:
            weights = np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 3, 1, 1)
            return np.round((array * weights).sum(1, keepdims=True)).clip(0, 255).astype(np.uint8)
        return array
    if array.shape[1] == 1 and wanted == 3:
        return np.ascontiguousarray(np.repeat(array, 3, axis=1))
    return array


def read_metadata(root: Path, file_name: str = METADATA) -> dict:
    """The JSON a `condgan data make-*` command wrote beside a set (pairs.json by default; {} when there is
    none); a file that is not JSON is a one-line DataError."""
    path = root / file_name
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not valid JSON ({' '.join(str(exc).split())}); fix or delete it") from None
    return data if isinstance(data, dict) else {}


def load_paired(
    name: str,
    split: str = "train",
    image_size: int = 0,
    *,
    direction: str = "AtoB",
    jitter: bool = False,
    load_size: int = 0,
    flip: bool = True,
    source_channels: int = 0,
    channels: int = 0,
    limit: int = 0,
    memory_limit: int = MEMORY_LIMIT,
    workers: int = WORKERS,
    stroke_augment: float = 0.0,
) -> PairedDataset:
    """Read one split of `aligned:DIR` or `pairs:DIR` into memory (see the module docstring).

    `image_size` 0 = the pairs' own size (they must all have it); `jitter` stores the pairs at
    `load_size` (0 = the paper's image_size * 286/256) for random crops; `limit` > 0 keeps the
    first `limit` pairs (sorted by name); `stroke_augment` (0-1) augments the inputs of jittered batches.
    """
    kind, root = parse_pair_source(name)
    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"unknown data.direction {direction!r}; valid choices: AtoB, BtoA")
    if not 0 <= stroke_augment <= 1:
        raise ConfigError(f"data.stroke_augment={stroke_augment} is not a probability; use 0 (off) to 1 (every pair)")
    if image_size < 0 or load_size < 0:
        raise ConfigError(f"image and load sizes must be >= 0, got {image_size} and {load_size}")
    items: list[PairItem] = list_pairs(kind, root, split)
    if limit > 0:
        items = items[:limit]
    native, all_gray = scan_pairs(kind, items, need_size=image_size == 0)
    image_size = image_size or native
    stored = (load_size or paper_load_size(image_size)) if jitter else image_size
    if stored < image_size:
        raise ConfigError(f"data.load_size={stored} is smaller than the image size {image_size}; use >= {image_size}")
    decoded_channels = 1 if all_gray else 3
    needed = len(items) * 2 * decoded_channels * stored * stored
    if needed > memory_limit:
        raise DataError(
            f"{root}/{split}: {len(items)} pairs at {stored} px need {needed / 1024**3:.1f} GB in memory "
            f"(limit {memory_limit / 1024**3:.0f} GB); train at a smaller data.image_size or on a subset"
        )
    side_a = np.empty((len(items), decoded_channels, stored, stored), np.uint8)
    side_b = np.empty_like(side_a)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="condgan-pairs") as pool:
        mode = "L" if all_gray else "RGB"
        for i, (a, b) in enumerate(pool.map(lambda item: decode_pair(kind, item, mode, stored), items)):
            side_a[i], side_b[i] = a, b
    if direction == "BtoA":
        side_a, side_b = side_b, side_a
    where = f"{root}/{split}"
    sources = _resolve_channels(side_a, source_channels, "source_channels", where)
    targets = _resolve_channels(side_b, channels, "channels", where)
    metadata = read_metadata(root)
    return PairedDataset(
        name=name,
        sources=torch.from_numpy(sources),
        targets=torch.from_numpy(targets),
        names=[item.name for item in items],
        image_size=image_size,
        load_size=stored,
        jitter=jitter,
        flip=flip,
        split=split,
        metadata={**metadata, "direction": direction},
        stroke_augment=stroke_augment if jitter else 0.0,
    )


def target_domain(dataset: PairedDataset) -> str:
    """The named dataset the targets come from (pairs.json of `make-pairs`), or '' when unknown."""
    meta = dataset.metadata
    side = "B" if meta.get("direction", "AtoB") == "AtoB" else "A"
    domains = meta.get("domains", {})
    return str(domains.get(side) or "") if isinstance(domains, dict) else ""


# ----------------------------------------------------------------------------- from a config

SPLIT_PREFERENCE = {"test": ("test", "val", "train"), "val": ("val", "test", "train"), "train": ("train",)}


def load_split(config, prefer: str = "test", limit: int = 0) -> tuple[PairedDataset, str]:
    """A split of `config.data.name` as the run saw it (size, direction, channels), without jitter:
    `prefer`, else the next one that exists (test -> val -> train). Returns (dataset, split used)."""
    from condgan.data.pair_files import available_splits

    if prefer not in SPLIT_PREFERENCE:
        raise ConfigError(f"unknown split {prefer!r}; valid splits: {', '.join(SPLIT_PREFERENCE)}")
    d = config.data
    found = available_splits(d.name)
    split = next((s for s in SPLIT_PREFERENCE[prefer] if s in found), None)
    if split is None:
        raise DataError(f"{d.name}: no {' or '.join(SPLIT_PREFERENCE[prefer])} split to read")
    dataset = load_paired(
        d.name, split, d.image_size, direction=d.direction, source_channels=d.source_channels,
        channels=d.channels, limit=limit,
    )  # fmt: skip
    return dataset, split


def load_training_pairs(config) -> PairedDataset:
    """The train split of `config.data.name`, stored at the jitter's load size."""
    d = config.data
    return load_paired(
        d.name, "train", d.image_size, direction=d.direction, jitter=True, load_size=d.load_size, flip=d.flip,
        source_channels=d.source_channels, channels=d.channels, stroke_augment=d.stroke_augment,
    )  # fmt: skip
