"""`condgan data make-unpaired`: unaligned sets for CycleGAN (DIR/trainA, trainB, testA, testB) from data here.

    make_unpaired_classes("fashion-mnist", "sneaker", "ankle-boot", "data/sneaker2boot", size=32)
    make_unpaired_pairs("data/fm-edges32", "data/edges2fashion-unpaired")

- Two classes of a named set (or folder:PATH): side A holds class a's images, side B class b's, per split.
- The two halves of a paired set (aligned:DIR, pairs:DIR, or a bare DIR in either format; its test split,
  else val, becomes test): side A holds the inputs, side B the targets, each side in its own random order,
  arranged so that no A file has its partner at the same position (a random cyclic permutation between
  the sides, Sattolo's algorithm). The true partners of the test split are kept aside in
  DIR/test_pairs.json ({"testA/00003.png": "testB/00017.png", ...}) for evaluation; training never reads
  it, and the training split's partners are not written anywhere.

Files are PNGs named by position (00000.png, ...), so a name tells nothing about a partner. unpaired.json
describes the set. The folder is built under a temporary name and renamed when complete.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from condgan.checkpoint import atomic_folder, atomic_write_text
from condgan.data.datasets import load_dataset
from condgan.data.unaligned import METADATA
from condgan.errors import ConfigError, DataError

TRUE_PARTNERS = "test_pairs.json"


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise ConfigError(f"{out} already exists; pass --force to replace it")


def _check_size(size: int) -> None:
    if size and size < 16:
        raise ConfigError(f"--size {size} is too small; use 0 (the images' own size) or 16 or more")


def write_images(folder: Path, images: torch.Tensor) -> list[str]:
    """uint8 (N, 1|3, S, S) -> folder/00000.png, ...; returns the file names."""
    folder.mkdir(parents=True)
    width = max(5, len(str(len(images) - 1)))
    names = []
    for i, image in enumerate(images):
        pixels = image.permute(1, 2, 0).numpy()  # (S, S, C)
        buffer = io.BytesIO()
        Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(buffer, format="PNG")
        names.append(f"{i:0{width}d}.png")
        (folder / names[-1]).write_bytes(buffer.getvalue())
    return names


def class_index(class_names: tuple[str, ...], wanted: str, source: str) -> int:
    """A class by name (case-insensitive; spaces count as hyphens) or by index."""
    key = wanted.strip().lower().replace(" ", "-")
    names = [name.lower() for name in class_names]
    if key in names:
        return names.index(key)
    if key.isdigit() and int(key) < len(class_names):
        return int(key)
    raise ConfigError(f"{source} has no class {wanted!r}; valid classes: {', '.join(class_names)} (or their index)")


def make_unpaired_classes(
    source: str, a: str, b: str, out: str | Path, *, size: int = 0, limit: int = 0, force: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> Path:  # fmt: skip
    """Side A = class `a` of the named set (or folder:PATH) `source`, side B = class `b`, both splits, resized
    to `size` (0 = the set's own); `limit` > 0 keeps the first `limit` images per side and split."""
    out = Path(out)
    _check_size(size)
    _check_out(out, force)
    sides: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}
    for split in ("train", "test"):
        dataset = load_dataset(source, split, image_size=size)
        class_names = tuple(dataset.class_names)
        index_a, index_b = class_index(class_names, a, source), class_index(class_names, b, source)
        names = {"A": class_names[index_a], "B": class_names[index_b]}
        if index_a == index_b:
            raise ConfigError(f"--a and --b are both class {class_names[index_a]!r}; give two different classes")
        for side, index in (("A", index_a), ("B", index_b)):
            images = dataset.images[dataset.labels == index]
            images = images[:limit] if limit > 0 else images
            if len(images) == 0:
                raise DataError(f"{source} has no {split} images of class {class_names[index]!r}")
            sides[f"{split}{side}"] = images
    domain = None if source.startswith("folder:") else source
    metadata = {
        "format": "unaligned", "from": source, "A": f"{source} class {names['A']}", "B": f"{source} class {names['B']}",
        "classes": names, "domains": {"A": domain, "B": domain}, "size": int(sides["trainA"].shape[-1]),
        "splits": {folder: len(images) for folder, images in sides.items()},
    }  # fmt: skip
    with atomic_folder(out) as tmp:
        for folder, images in sides.items():
            log(f"condgan: writing {len(images)} images to {folder}/")
            write_images(tmp / folder, images)
        atomic_write_text(tmp / METADATA, json.dumps(metadata, indent=2) + "\n")
    return out


def random_cycle(n: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random cyclic permutation of range(n) (Sattolo's algorithm): cycle[i] != i for every i."""
    cycle = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))  # j < i: never the element itself
        cycle[i], cycle[j] = cycle[j], cycle[i]
    return cycle


def unpair(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(order_a, order_b): position i of side A holds item order_a[i], of side B item order_b[i], with
    order_b[i] != order_a[i] for every i (no pair at one position)."""
    if n < 2:
        raise DataError(f"a split of {n} pair(s) cannot be unpaired (no pair may survive); give at least 2 pairs")
    order_a = rng.permutation(n)
    return order_a, order_a[random_cycle(n, rng)]


def _paired_name(directory: str) -> str:
    """aligned:DIR | pairs:DIR as given, or a bare DIR in whichever of the two formats it has."""
    if directory.startswith(("aligned:", "pairs:")):
        return directory
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DataError(f"paired set {root}: no such folder; give a folder made by `condgan data make-pairs`")
    is_pairs = any((root / sub / "source").is_dir() for sub in ("", "train", "val", "test"))
    return f"{'pairs' if is_pairs else 'aligned'}:{root}"


def make_unpaired_pairs(
    directory: str | Path, out: str | Path, *, size: int = 0, limit: int = 0, seed: int = 0, force: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> Path:  # fmt: skip
    """The inputs (side A) and targets (side B) of the paired set `directory`, each side shuffled so that no
    pair survives; the test split's true partners in OUT/test_pairs.json (see the module docstring)."""
    from condgan.data.pair_files import available_splits
    from condgan.data.paired import load_paired, read_metadata

    out = Path(out)
    _check_size(size)
    _check_out(out, force)
    name = _paired_name(str(directory))
    found = available_splits(name)
    splits = {"train": "train", "test": next((s for s in ("test", "val") if s in found), None)}
    if "train" not in found:
        raise DataError(f"{name}: no train split to unpair")
    sides: dict[str, torch.Tensor] = {}
    partners: dict[str, str] = {}
    for index, (split, paired_split) in enumerate(splits.items()):
        if paired_split is None:
            continue
        pairs = load_paired(name, paired_split, size, limit=limit)
        order_a, order_b = unpair(len(pairs), np.random.default_rng([seed, index]))
        sides[f"{split}A"] = pairs.sources[torch.from_numpy(order_a)]
        sides[f"{split}B"] = pairs.targets[torch.from_numpy(order_b)]
        if split == "test":
            position_b = np.argsort(order_b)  # where each item landed on side B
            width = max(5, len(str(len(pairs) - 1)))
            partners = {f"testA/{i:0{width}d}.png": f"testB/{position_b[item]:0{width}d}.png"
                        for i, item in enumerate(order_a)}  # fmt: skip
    source_meta = read_metadata(Path(name.partition(":")[2]).expanduser())
    metadata = {
        "format": "unaligned", "from": name, "A": f"the inputs of {name}", "B": f"the targets of {name}",
        "domains": source_meta.get("domains", {"A": None, "B": None}), "size": int(sides["trainA"].shape[-1]),
        "splits": {folder: len(images) for folder, images in sides.items()}, "seed": seed,
        "true_partners": TRUE_PARTNERS if partners else None,
    }  # fmt: skip
    with atomic_folder(out) as tmp:
        for folder, images in sides.items():
            log(f"condgan: writing {len(images)} images to {folder}/")
            write_images(tmp / folder, images)
        if partners:
            atomic_write_text(tmp / TRUE_PARTNERS, json.dumps(partners, indent=1) + "\n")
        atomic_write_text(tmp / METADATA, json.dumps(metadata, indent=2) + "\n")
    return out
