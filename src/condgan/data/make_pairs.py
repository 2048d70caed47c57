"""`condgan data make-pairs`: real paired tasks in the aligned format, built from any image set.

    make_pairs("fashion-mnist", "edges", size=32, out="data/fm-edges32")

writes OUT/train/*.png and OUT/test/*.png, each image input | target side by side (A | B), and
OUT/pairs.json describing the set (the target domain there lets `condgan eval` compute FID with
the domain evaluator). The input A of each task, made from the target image B:

- edges:    black-on-white edge map, scikit-image's Canny detector on the grayscale image
- inpaint:  the image with a random square of half its side filled with mid-gray
- superres: the image down-sampled 4x (antialiased) and up-sampled back (bicubic)
- colorize: the grayscale (luminance) of an RGB image; needs an RGB set
- sketch:   a drawing of the item: its outline and main inner lines as black strokes on white, of varying
            width, with wobble and gaps, rendered at 4x and averaged down (condgan.data.sketch)

The folder is built under a temporary name and renamed when complete.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from condgan.checkpoint import atomic_folder, atomic_write_text
from condgan.data.datasets import load_dataset
from condgan.data.sketch import sketch
from condgan.errors import ConfigError, DataError

TASKS = ("edges", "inpaint", "superres", "colorize", "sketch")
SIZES = (32, 64)  # the CLI's choices; the library takes any size >= 16
SUPERRES_FACTOR = 4
GRAY_FILL = 128  # inpaint: the masked square's value (0 in [-1, 1])
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def edge_sigma(size: int) -> float:
    """Canny's Gaussian sigma: 1 px at 32 px, growing with the image (fine detail is noise)."""
    return max(1.0, size / 32)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1|3, S, S) -> uint8 (N, 1, S, S) by luminance (ITU-R 601)."""
    if images.shape[1] == 1:
        return images
    return (images.float() * LUMA).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def edges(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Black edges (0) on white (255): skimage.feature.canny of each grayscale image."""
    from skimage.feature import canny

    gray = grayscale(images)[:, 0].numpy().astype(np.float64) / 255.0  # (N, S, S) in [0, 1]
    sigma = edge_sigma(images.shape[-1])
    maps = np.stack([canny(image, sigma=sigma) for image in gray]) if len(gray) else np.zeros_like(gray, bool)
    return torch.from_numpy(np.where(maps, 0, 255).astype(np.uint8))[:, None]  # (N, 1, S, S)


def inpaint(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Each image with one random square (side S/2, inside the image) set to mid-gray."""
    n, size = images.shape[0], images.shape[-1]
    side = size // 2
    y0 = torch.from_numpy(rng.integers(0, size - side + 1, n))
    x0 = torch.from_numpy(rng.integers(0, size - side + 1, n))
    span = torch.arange(size)
    rows = (span[None] >= y0[:, None]) & (span[None] < y0[:, None] + side)  # (N, S)
    cols = (span[None] >= x0[:, None]) & (span[None] < x0[:, None] + side)  # (N, S)
    mask = (rows[:, :, None] & cols[:, None, :])[:, None]  # (N, 1, S, S)
    return torch.where(mask, torch.full_like(images, GRAY_FILL), images)


def superres(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """4x down-sampled (bilinear, antialiased), then up-sampled back to S (bicubic)."""
    size = images.shape[-1]
    small = F.interpolate(images.float(), size=size // SUPERRES_FACTOR, mode="bilinear", antialias=True)
    return F.interpolate(small, size=size, mode="bicubic").round().clamp(0, 255).to(torch.uint8)


def colorize(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    if images.shape[1] != 3:
        raise ConfigError("colorize needs an RGB image set (cifar10 or a folder of color images), not grayscale")
    return grayscale(images)


MAKERS: dict[str, Callable[[torch.Tensor, np.random.Generator], torch.Tensor]] = {
    "edges": edges,
    "inpaint": inpaint,
    "superres": superres,
    "colorize": colorize,
    "sketch": sketch,
}
DESCRIPTIONS = {
    "edges": "Canny edges (skimage.feature.canny, sigma {sigma:g}), black on white",
    "inpaint": "the image with a random {half}x{half} square set to gray 128",
    "superres": "the image down-sampled 4x and up-sampled back (bicubic)",
    "colorize": "the grayscale (luminance) image",
    "sketch": "a drawing: outline and main inner lines, black strokes of varying width on white, wobble and gaps",
}


def aligned_image(source: torch.Tensor, target: torch.Tensor) -> Image.Image:
    """uint8 (Cs, S, S) and (Ct, S, S) -> one PIL image A | B (RGB if either side is)."""
    if source.shape[0] != target.shape[0]:
        source, target = source.expand(3, -1, -1), target.expand(3, -1, -1)
    pair = torch.cat([source, target], dim=2).permute(1, 2, 0).numpy()  # (S, 2S, C)
    return Image.fromarray(pair[..., 0] if pair.shape[2] == 1 else pair)


def _write_split(folder: Path, sources: torch.Tensor, targets: torch.Tensor) -> None:
    folder.mkdir(parents=True)
    width = max(5, len(str(len(sources) - 1)))
    for i in range(len(sources)):
        buffer = io.BytesIO()
        aligned_image(sources[i], targets[i]).save(buffer, format="PNG")
        (folder / f"{i:0{width}d}.png").write_bytes(buffer.getvalue())


def make_pairs(
    source: str,
    task: str,
    size: int,
    out: str | Path,
    *,
    limit: int = 0,
    seed: int = 0,
    force: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Build the paired task `task` from the named set (or folder:PATH) `source` at `size` px into `out`.

    `limit` > 0 keeps the first `limit` images of each split. Returns `out`.
    """
    if task not in MAKERS:
        raise ConfigError(f"unknown pair task {task!r}; valid choices: {', '.join(TASKS)}")
    if size < 16:
        raise ConfigError(f"--size {size} is too small; use 16 or more (32 or 64 for the standard tasks)")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise ConfigError(f"{out} already exists; pass --force to replace it")
    splits = {}
    for split in ("train", "test"):
        dataset = load_dataset(source, split, image_size=size)
        images = dataset.images[:limit] if limit > 0 else dataset.images
        if len(images) == 0:
            raise DataError(f"{source} has no {split} images to make pairs from")
        splits[split] = images
    counts = {}
    with atomic_folder(out) as tmp:
        for split, targets in splits.items():
            rng = np.random.default_rng([seed, 0 if split == "train" else 1])
            log(f"condgan: making {len(targets)} {task} pairs for {split}")
            inputs = MAKERS[task](targets, rng)  # (N, Cs, S, S) uint8
            _write_split(tmp / split, inputs, targets)
            counts[split] = len(targets)
        channels = int(splits["train"].shape[1])
        description = DESCRIPTIONS[task].format(sigma=edge_sigma(size), half=size // 2)
        metadata = {
            "format": "aligned",
            "from": source,
            "task": task,
            "size": size,
            "A": description,
            "B": f"{source} image ({channels} channel{'s' if channels > 1 else ''})",
            "domains": {"A": None, "B": None if source.startswith("folder:") else source},
            "splits": counts,
            "seed": seed,
        }
        atomic_write_text(tmp / "pairs.json", json.dumps(metadata, indent=2) + "\n")
    return out
