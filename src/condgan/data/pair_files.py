"""The files of a paired set (`aligned:DIR`, `pairs:DIR`): listing, header checks, decoding.

Every problem is a one-line DataError naming the file: a missing or empty split, a file that
is not an aligned pair, a name without a partner, two images of a pair with different sizes,
an unreadable image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from condgan.data.folder import GRAY_MODES, IMAGE_SUFFIXES, CommonSquareSize, image_header
from condgan.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
KINDS = ("aligned", "pairs")
LAYOUT = {
    "aligned": "DIR/{train,val,test}/*.png|jpg, each image input | target side by side",
    "pairs": "DIR/[split/]source/*.png and DIR/[split/]target/*.png, matched by file name",
}


@dataclass(frozen=True)
class PairItem:
    name: str  # aligned: the file name; pairs: the shared file stem
    first: Path  # aligned: the A|B file; pairs: the source image
    second: Path | None = None  # pairs: the target image


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def parse_pair_source(name: str) -> tuple[str, Path]:
    """'aligned:DIR' | 'pairs:DIR' -> (kind, folder); errors name the expected forms."""
    for kind in KINDS:
        if name.startswith(kind + ":"):
            root = Path(name[len(kind) + 1 :]).expanduser()
            if not root.is_dir():
                raise DataError(f"{kind} dataset {root}: no such folder; expected {LAYOUT[kind]}")
            return kind, root
    raise ConfigError(
        f"pix2pix data must be aligned:DIR or pairs:DIR, got {name!r} "
        "(make one with `condgan data make-pairs` or `condgan data fetch`)"
    )


def _images(folder: Path) -> list[Path]:
    return sorted(
        f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and f.is_file()
    )


def _pairs_base(root: Path, split: str) -> Path | None:
    if (root / split / "source").is_dir() or (root / split / "target").is_dir():
        return root / split
    if split == "train" and ((root / "source").is_dir() or (root / "target").is_dir()):
        return root  # DIR/source + DIR/target: one split, used for training
    return None


def available_splits(name: str) -> list[str]:
    """The splits a paired set has, in train, val, test order."""
    kind, root = parse_pair_source(name)
    if kind == "aligned":
        return [s for s in SPLITS if (root / s).is_dir()]
    return [s for s in SPLITS if _pairs_base(root, s) is not None]


def _by_stem(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for file in _images(folder):
        if file.stem in files:
            raise DataError(f"{file} and {files[file.stem]} have the same name; pairs are matched by name, rename one")
        files[file.stem] = file
    return files


def list_pairs(kind: str, root: Path, split: str) -> list[PairItem]:
    """The pairs of one split, sorted by name."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    if kind == "aligned":
        folder = root / split
        if not folder.is_dir():
            found = [s for s in SPLITS if (root / s).is_dir()]
            raise DataError(
                f"{root} has no {split}/ folder (found: {', '.join(found) or 'none'}); expected {LAYOUT[kind]}"
            )
        files = _images(folder)
        if not files:
            raise DataError(f"{folder}: empty split, no PNG/JPEG images; expected {LAYOUT[kind]}")
        return [PairItem(file.name, file) for file in files]
    base = _pairs_base(root, split)
    if base is None:
        raise DataError(f"{root} has no {split}/source/ and {split}/target/ folders; expected {LAYOUT[kind]}")
    source_dir, target_dir = base / "source", base / "target"
    for folder in (source_dir, target_dir):
        if not folder.is_dir():
            raise DataError(f"{folder}: missing; a pairs split needs both source/ and target/ folders")
    sources, targets = _by_stem(source_dir), _by_stem(target_dir)
    for stem, file in sorted(sources.items()):
        if stem not in targets:
            raise DataError(f"{file} has no partner in {target_dir}/ (pairs are matched by name); add or remove it")
    for stem, file in sorted(targets.items()):
        if stem not in sources:
            raise DataError(f"{file} has no partner in {source_dir}/ (pairs are matched by name); add or remove it")
    if not sources:
        raise DataError(f"{base}: empty split, no PNG/JPEG images in source/ and target/")
    return [PairItem(stem, sources[stem], targets[stem]) for stem in sorted(sources)]


def _pair_header(kind: str, item: PairItem) -> tuple[bool, tuple[int, int]]:
    """(grayscale?, (width, height) of each image of the pair), checking the pair's shape."""
    mode, (width, height) = image_header(item.first)
    if kind == "aligned":
        if width != 2 * height:
            raise DataError(
                f"{item.first}: {width}x{height} is not an aligned pair (width must be twice the height: "
                "input | target side by side); fix the file, or use pairs:DIR for separate images"
            )
        return mode in GRAY_MODES, (height, height)
    assert item.second is not None
    target_mode, target_size = image_header(item.second)
    if target_size != (width, height):
        raise DataError(
            f"pair {item.name!r}: source {item.first} is {width}x{height} but target {item.second} is "
            f"{target_size[0]}x{target_size[1]}; give both images of a pair the same size"
        )
    return mode in GRAY_MODES and target_mode in GRAY_MODES, (width, height)


def scan_pairs(kind: str, items: list[PairItem], need_size: bool) -> tuple[int, bool]:
    """Check every pair's header: (their common square size, or 0 unless `need_size`; all grayscale?)."""
    all_gray, common_size = True, 0
    common = CommonSquareSize("images are", "set data.image_size to resize every pair to one square size")
    for item in items:
        gray, size = _pair_header(kind, item)
        all_gray = all_gray and gray
        if need_size:
            common_size = common.check(item.first, size)
    return common_size, all_gray


def _to_array(image: Image.Image, size: int) -> np.ndarray:
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, size, size)


def decode_pair(kind: str, item: PairItem, mode: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One pair -> (A, B) uint8 arrays (C, size, size); A = left half / source file."""
    file = item.first
    try:
        with Image.open(file) as image:
            image = image.convert(mode)
        if kind == "aligned":
            height = image.height
            return _to_array(image.crop((0, 0, height, height)), size), _to_array(
                image.crop((height, 0, 2 * height, height)), size
            )
        assert item.second is not None
        file = item.second
        with Image.open(file) as other:
            other = other.convert(mode)
        return _to_array(image, size), _to_array(other, size)
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{file}: cannot decode image ({_one_line(exc)}); replace or remove it") from None
