"""Pictures: labelled sample grids, loss curves, interpolation strips (Pillow + matplotlib)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from condgan.checkpoint import atomic_write_bytes

PAD = 2


def to_numpy_uint8(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """float [-1, 1] (N, C, H, W) tensor or uint8 array -> uint8 (N, H, W, C)."""
    if isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8:
            images = images.detach().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
        images = images.permute(0, 2, 3, 1).cpu().numpy()
    return images if images.ndim == 4 else images[..., None]


def tile(images: torch.Tensor | np.ndarray, cols: int, scale: int = 1) -> Image.Image:
    """Tile N images into rows of `cols`, with a thin gap; scaled up by `scale` (nearest)."""
    array = to_numpy_uint8(images)  # (N, H, W, C)
    n, h, w, c = array.shape
    rows = max(1, -(-n // cols))
    canvas = np.full((rows * (h + PAD) + PAD, cols * (w + PAD) + PAD, c), 255, np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        y, x = PAD + r * (h + PAD), PAD + q * (w + PAD)
        canvas[y : y + h, x : x + w] = array[i]
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST) if scale > 1 else image


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def class_grid(
    images: torch.Tensor | np.ndarray, class_names: tuple[str, ...] | list[str], cols: int = 10, title: str = ""
) -> Image.Image:
    """One row per class, the class name written at the left of its row."""
    array = to_numpy_uint8(images)
    scale = max(1, 64 // array.shape[1])
    grid = tile(array, cols, scale).convert("RGB")
    row_height = (array.shape[1] + PAD) * scale
    font = _font(max(11, row_height // 4))
    label_width = 0
    names = list(class_names)
    if names:
        measure = ImageDraw.Draw(grid)
        label_width = 12 + max(int(measure.textlength(name, font=font)) for name in names)
    top = 28 if title else 0
    canvas = Image.new("RGB", (grid.width + label_width, grid.height + top), "white")
    canvas.paste(grid, (label_width, top))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((8, 6), title, fill="black", font=_font(16))
    for r, name in enumerate(names[: -(-array.shape[0] // cols)]):
        draw.text((6, top + r * row_height + row_height // 2), name, fill="black", font=font, anchor="lm")
    return canvas


def save_image(image: Image.Image, path: str | Path) -> Path:
    """Save a PIL image atomically (format from the suffix)."""
    buffer = io.BytesIO()
    image.save(buffer, format=Image.registered_extensions().get(Path(path).suffix.lower(), "PNG"))
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def read_metrics(path: str | Path) -> list[dict]:
    """Rows of a metrics.jsonl file (a torn last line from a crash is skipped)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def pyplot():
    """matplotlib.pyplot drawing into files only (the Agg backend: no window, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure to a PNG (tight layout, 110 dpi) atomically, and close it."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    pyplot().close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def loss_curves(metrics_path: str | Path, out_path: str | Path) -> Path:
    """Losses (left) and D(x), D(G(z)) (right) against the step."""
    plt = pyplot()
    rows = [r for r in read_metrics(metrics_path) if "d_loss" in r or "l1" in r]  # l1 alone: pix2pix's L1-only
    steps = [r["step"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    panels = (
        (left, "losses", (("d_loss", "d_loss"), ("g_loss", "g_loss"), ("l1", "l1"))),
        (
            right,
            "discriminator scores",
            (("d_real", "D(x)"), ("d_fake", "D(G(z))"), ("d_mismatch", "D(x, y of another x)")),
        ),
    )
    for axis, title, series in panels:
        for key, label in series:
            if rows and key in rows[0]:
                axis.plot(steps, [r[key] for r in rows], label=label)
        axis.set_xlabel("generator step")
        axis.set_title(title)
        if axis.lines:
            axis.legend()
    return save_figure(fig, out_path)
