"""What `condgan sample` writes: sample sheets, class grids, .npz archives, interpolation strips."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from condgan.checkpoint import atomic_write_bytes
from condgan.errors import CondganError
from condgan.inference.generate import ClassConditionalGenerator, load_generator
from condgan.models.grid import grid_images
from condgan.plots import class_grid, save_image, tile


def load(run: str | Path, device: str = "auto", precision: str = "fp32") -> ClassConditionalGenerator:
    generator = load_generator(run, device=device, precision=precision)
    if not isinstance(generator, ClassConditionalGenerator):  # a pix2pix or cyclegan Translator: it needs images
        raise CondganError(f"{run} is a {generator.config.task} run; it translates images: condgan translate {run} "
                           "IMAGE -o OUT.png")  # fmt: skip
    return generator


def _check_png(path: Path) -> None:
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise CondganError(f"output {path} must end in .png or .jpg")


def write_samples(g: ClassConditionalGenerator, path: Path, classes, n: int, seed: int, truncation: float) -> Path:
    """`n` images of the given classes (cycled), or of all classes in turn, tiled into one PNG."""
    _check_png(path)
    if n <= 0:
        raise CondganError(f"--n must be positive, got {n}")
    if g.num_classes:
        chosen = [g.class_index(c) for c in classes] if classes else list(range(g.num_classes))
        labels = [chosen[i % len(chosen)] for i in range(n)]
        images = g.generate(labels=labels, seed=seed, truncation=truncation)
    else:
        if classes:
            raise CondganError("--class given but this generator is unconditional (num_classes 0)")
        images = g.generate(n=n, seed=seed, truncation=truncation)
    return save_image(tile(images, cols=min(n, int(np.ceil(np.sqrt(n)))), scale=2), path)


def write_grid(g: ClassConditionalGenerator, path: Path, seed: int = 0, truncation: float = 0.0) -> Path:
    """Row r = class r, column c = the same noise vector c for every class (models.grid.grid_images)."""
    _check_png(path)
    with g.autocast():  # in the generator's precision
        images = grid_images(g.module, g.num_classes, g.z_dim, seed=seed, truncation=truncation)
    return save_image(class_grid(images, g.class_names), path)


def write_npz(g: ClassConditionalGenerator, path: Path, per_class: int, n: int, seed: int, truncation: float) -> Path:
    """images: uint8 [N,H,W] or [N,H,W,C]; labels: int64 [N] (per_class of each class, in order)."""
    if path.suffix != ".npz":
        raise CondganError(f"output {path} must end in .npz")
    if g.num_classes:
        if per_class <= 0:
            raise CondganError(f"--per-class must be positive, got {per_class}")
        labels = np.repeat(np.arange(g.num_classes, dtype=np.int64), per_class)
        images = g.generate(labels=labels.tolist(), seed=seed, truncation=truncation)
    else:
        labels = np.full(n, -1, dtype=np.int64)
        images = g.generate(n=n, seed=seed, truncation=truncation)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, images=images, labels=labels, class_names=np.array(g.class_names))
    atomic_write_bytes(path, buffer.getvalue())
    return path


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows a and b at fractions t: (T,) -> (T, D)."""
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.arccos((a_n * b_n).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    t = t[:, None]
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def interpolation_images(g: ClassConditionalGenerator, seed: int = 0, steps: int = 10) -> torch.Tensor:
    """One strip per class: the same two noise vectors, slerped, for every class."""
    ends = g.noise(2, seed)
    path = slerp(ends[0], ends[1], torch.linspace(0, 1, steps))  # (steps, z_dim)
    rows = g.num_classes or 1
    labels = torch.arange(rows).repeat_interleave(steps) if g.num_classes else None
    return g.generate_tensor(path.repeat(rows, 1), labels)


def write_interpolation(g: ClassConditionalGenerator, path: Path, seed: int = 0, steps: int = 10) -> Path:
    _check_png(path)
    return save_image(class_grid(interpolation_images(g, seed, steps), g.class_names, cols=steps), path)
