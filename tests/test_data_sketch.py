"""The `sketch` pair task: drawings of real Fashion-MNIST items (outline and main inner lines, black on white,
stroke width varying, wobble, gaps), seeded, fast enough for 70,000 images."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from condgan.data import load_dataset
from condgan.data.make_pairs import make_pairs
from condgan.data.sketch import sketch


@pytest.fixture(scope="module")
def items() -> torch.Tensor:
    """200 real Fashion-MNIST test items at 32 px, uint8 (200, 1, 32, 32)."""
    return load_dataset("fashion-mnist", "test", image_size=32).images[:200]


def outline_of(item: np.ndarray) -> np.ndarray:
    """The boundary pixels of an item's filled silhouette (32, 32) bool: an independent outline."""
    mask = ndimage.binary_fill_holes(item > 20)
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def test_sketches_are_black_outlines_on_white_that_follow_the_item(items: torch.Tensor) -> None:
    drawings = sketch(items, np.random.default_rng(0))
    assert drawings.shape == (200, 1, 32, 32) and drawings.dtype == torch.uint8
    near_outline, outline_inked, ink_per_length, white_border = [], [], [], []
    for drawing, item in zip(drawings[:, 0].numpy(), items[:, 0].numpy(), strict=True):
        border = np.concatenate([drawing[0], drawing[-1], drawing[:, 0], drawing[:, -1]])
        white_border.append(np.median(border) == 255)  # white paper (an item cut by the frame is closed along it)
        assert drawing.min() < 100  # black ink
        ink = drawing < 128
        outline = outline_of(item)
        distance_to_outline = ndimage.distance_transform_edt(~outline)
        near_outline.append((distance_to_outline[ink] <= 2).mean())
        outline_inked.append((ndimage.distance_transform_edt(~ink)[outline] <= 1.5).mean())
        ink_per_length.append((255 - drawing.astype(float)).sum() / 255 / outline.sum())
    assert np.mean(white_border) > 0.8
    assert np.mean(near_outline) > 0.85  # the ink is the item's outline (a few inner lines aside)...
    assert np.mean(outline_inked) > 0.7  # ...most of the outline is drawn (gaps aside)
    widths = np.array(ink_per_length)  # ink per outline pixel: the stroke width, about
    assert widths.std() / widths.mean() > 0.2 and widths.max() > 2 * widths.min()  # widths vary between drawings


def test_sketches_are_seeded_and_polarity_and_channels_do_not_matter(items: torch.Tensor) -> None:
    first = sketch(items[:32], np.random.default_rng(5))
    assert torch.equal(first, sketch(items[:32], np.random.default_rng(5)))
    assert not torch.equal(first, sketch(items[:32], np.random.default_rng(6)))  # wobble, widths, gaps are drawn
    dark_on_light = sketch(255 - items[:32], np.random.default_rng(5))  # the background is measured, not assumed
    assert (dark_on_light.int() - first.int()).abs().float().mean() < 1.0
    rgb = sketch(items[:32].expand(-1, 3, -1, -1), np.random.default_rng(5))  # gray in RGB: the same drawing
    assert rgb.shape == (32, 1, 32, 32) and torch.equal(rgb, first)


def test_sketches_are_fast_enough_for_fashion_mnist(items: torch.Tensor) -> None:
    many = items.repeat(5, 1, 1, 1)  # 1,000 images
    started = time.perf_counter()
    sketch(many, np.random.default_rng(0))
    seconds = time.perf_counter() - started
    assert seconds < 20, f"{seconds:.1f} s for 1,000 drawings: 70,000 would take {70 * seconds / 60:.0f} min"


def test_make_pairs_sketch_writes_aligned_drawing_pairs(tmp_path: Path) -> None:
    out = make_pairs("fashion-mnist", "sketch", 32, tmp_path / "sketch", limit=24, seed=3)
    meta = json.loads((out / "pairs.json").read_text())
    assert meta["task"] == "sketch" and meta["domains"]["B"] == "fashion-mnist" and "drawing" in meta["A"]
    pair = np.asarray(Image.open(out / "train" / "00000.png"))
    assert pair.shape == (32, 64) and np.median(pair[:, :32]) == 255  # drawing | item
    items = load_dataset("fashion-mnist", "train", image_size=32).images[:24]
    assert np.array_equal(pair[:, 32:], items[0, 0].numpy())
