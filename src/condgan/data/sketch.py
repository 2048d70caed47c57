"""The `sketch` pair task: drawing-like inputs from any image set, as a person would draw the item.

    make_pairs("fashion-mnist", "sketch", size=32, out="data/fm-sketch32")

Each input is black strokes on white: the item's outer contour and its main inner lines, drawn
with a stroke whose width varies between drawings and along each one, a slight wobble (a smooth
random displacement of the line), and a few short gaps. The strokes are rendered at SUPERSAMPLE x
the image size and averaged down (area), as a canvas drawing shown to the model is.

How it is drawn, for a batch (no per-pixel Python):
- the item is where the gray image differs from its background (the border median) by more than a
  threshold drawn per drawing (scaled by how far the item stands out), its small holes filled; the outer
  contour is the edge of that silhouette, bicubic between pixels, closed along the frame;
- the inner lines are Canny edges of the image (sigma 1) inside the item away from its contour, each
  connected piece kept with a probability drawn per drawing, blurred into a ridge;
- at SUPERSAMPLE x, the image and the ridge are read through a smoothly displaced grid (the wobble);
  a pixel's distance to the contour is |f - t| / |grad f| and to an inner line the ridge's Gaussian
  profile inverted; it is ink where that distance is under half the local width (a smooth random
  field around the drawing's base width); a band-limited random field cuts the gaps.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SUPERSAMPLE = 4  # strokes are rendered at 4x the image size, then area-averaged down
CHUNK = 256  # images rendered at a time (at 32 px: 256 x 256 x 256 floats per field)
WIDTH_RANGE = (0.55, 2.2)  # base stroke width per drawing, in image pixels (a 6-12 px brush on a 256 canvas)
WIDTH_VARIATION = (0.0, 0.45)  # relative change of the width along a drawing
WOBBLE_RANGE = (0.1, 0.6)  # amplitude of the line's displacement, in image pixels
THRESHOLD_RANGE = (0.025, 0.1)  # the item's outline: this far from the background (x its brightness / 0.6, <= 1)
MIN_HOLE = 0.012  # holes in the item under this share of the image are filled (texture, print)
GAP_FRACTION = (0.0, 0.08)  # share of the canvas where a gap cuts the line
INNER_KEEP = (0.25, 1.0)  # probability that a piece of inner line is drawn
INNER_WIDTH = 0.7  # inner lines are drawn this much thinner than the outline
INNER_SIGMA = 0.8  # image pixels: the blur that turns inner-line pixels into a ridge
MIN_INNER_LENGTH = 7  # pixels (at 32 px) of an inner line worth drawing
MAX_INNER_LINES = 4  # at most this many inner lines per drawing (drawn per drawing from 0..4)
CANNY_THRESHOLDS = (0.1, 0.25)  # low, high on the gradient of the [0, 1] image: the strong inner edges only


def _noise(rng: np.random.Generator, count: int, channels: int, grid: int, size: int) -> torch.Tensor:
    """Smooth random fields: normal values on a grid x grid lattice, bicubic up to size -> (N, channels, size, size)."""
    coarse = torch.from_numpy(rng.standard_normal((count, channels, grid, grid)).astype(np.float32))
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], count: int) -> torch.Tensor:
    return torch.from_numpy(rng.uniform(*bounds, size=count).astype(np.float32)).view(count, 1, 1, 1)


def _label_per_image(mask: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Connected pieces (8-neighbour) of each image of a (N, S, S) mask, labelled in one call:
    (labels (N, S, S), count, image index of each label (count + 1,), label 0 = none)."""
    from scipy import ndimage

    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True  # connect within an image, never across images
    labels, count = ndimage.label(mask, structure=structure)
    image_of = np.zeros(count + 1, np.int64)
    where = np.nonzero(labels)
    image_of[labels[where]] = where[0]
    return labels, count, image_of


def silhouette(foreground: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """(N, S, S) foreground, (N,) thresholds -> float (N, S, S) whose 0.5 level set is the item's outline:
    1 on the item (foreground > t) and in its holes smaller than MIN_HOLE of the image (texture and print
    draw no line; a bag's handle or the gap between trouser legs stay), foreground / 2t elsewhere."""
    size = foreground.shape[-1]
    inside = foreground > threshold[:, None, None]  # (N, S, S)
    labels, count, _ = _label_per_image(~inside)
    border = np.unique(np.concatenate([labels[:, 0], labels[:, -1], labels[:, :, 0], labels[:, :, -1]], axis=1))
    area = np.bincount(labels.ravel(), minlength=count + 1)
    small_hole = area < MIN_HOLE * size * size
    small_hole[border] = False  # background connected to the border is not a hole
    small_hole[0] = False
    outside = np.clip(foreground / (2 * threshold[:, None, None]), 0, 0.5)
    return np.where(inside | small_hole[labels], 1.0, outside).astype(np.float32)


def _extent(labels: np.ndarray, count: int) -> np.ndarray:
    """The larger side of each labelled piece's bounding box, in pixels: (count + 1,)."""
    image, rows, cols = np.nonzero(labels)
    pieces = labels[image, rows, cols]
    extent = np.zeros(count + 1, np.int64)
    for coordinate in (rows, cols):
        low = np.full(count + 1, labels.shape[-1], np.int64)
        high = np.full(count + 1, -1, np.int64)
        np.minimum.at(low, pieces, coordinate)
        np.maximum.at(high, pieces, coordinate)
        extent = np.maximum(extent, high - low + 1)
    return extent


def inner_lines(gray: np.ndarray, foreground: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The main inner lines (N, S, S) float in [0, 1], 1 on a line's crest, e^(-d^2 / 2 sigma^2) at distance d.

    Canny edges well inside the item; only line-like pieces (pixels <= 2 x their extent: not a texture
    cluster) at least MIN_INNER_LENGTH long, at most a drawn number per drawing (the longest first),
    each kept with a drawn probability; blurred by INNER_SIGMA and divided by the local maximum so that
    straight and diagonal lines have the same crest."""
    from scipy import ndimage
    from skimage.feature import canny

    size = gray.shape[-1]
    low, high = CANNY_THRESHOLDS
    edge_maps = np.stack([canny(image, sigma=1.0, low_threshold=low, high_threshold=high) for image in gray])
    inside = ndimage.binary_erosion(foreground > THRESHOLD_RANGE[0], structure=np.ones((1, 5, 5), bool))
    labels, count, image_of = _label_per_image(edge_maps & inside)
    length = np.bincount(labels.ravel(), minlength=count + 1)
    order = np.lexsort((-length, image_of))  # by drawing, longest first
    rank = np.empty(count + 1, np.int64)
    rank[order] = np.arange(count + 1) - np.searchsorted(image_of[order], image_of[order])  # 0 = the longest
    most = rng.integers(0, MAX_INNER_LINES + 1, size=len(gray))
    keep_probability = rng.uniform(*INNER_KEEP, size=len(gray))
    kept = (length >= MIN_INNER_LENGTH * size / 32) & (length <= 2 * _extent(labels, count) + 1)
    kept &= (rank < most[image_of]) & (rng.random(count + 1) < keep_probability[image_of])
    kept[0] = False  # label 0: no line
    ridge = ndimage.gaussian_filter(kept[labels].astype(np.float32), sigma=(0, INNER_SIGMA, INNER_SIGMA))
    crest = ndimage.maximum_filter(ridge, size=(1, 7, 7))  # reaches a line from any ink distance
    return np.where(crest > 1e-3, ridge / np.maximum(crest, 1e-3), 0).astype(np.float32)


def item_fields(gray: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """gray float (N, S, S) in [0, 1] -> (silhouette field (N, S, S), inner-line ridge (N, S, S))."""
    border = np.concatenate([gray[:, 0], gray[:, -1], gray[:, :, 0], gray[:, :, -1]], axis=1)  # (N, 4S)
    foreground = np.abs(gray - np.median(border, axis=1)[:, None, None])  # (N, S, S)
    brightness = np.percentile(foreground.reshape(len(gray), -1), 95, axis=1)  # (N,): how far the item stands out
    threshold = rng.uniform(*THRESHOLD_RANGE, size=len(gray)) * np.clip(brightness / 0.6, 0.3, 1.0)
    return silhouette(foreground, threshold), inner_lines(gray, foreground, rng)


def _render(foreground: torch.Tensor, ridge: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """foreground, ridge (B, 1, S, S) -> ink coverage float (B, 1, S, S) in [0, 1]."""
    from scipy.special import ndtri

    count, size = foreground.shape[0], foreground.shape[-1]
    high = size * SUPERSAMPLE
    threshold = 0.5  # the silhouette field's outline
    width = _uniform(rng, WIDTH_RANGE, count)
    variation = _uniform(rng, WIDTH_VARIATION, count)
    wobble = _uniform(rng, WOBBLE_RANGE, count)
    gap_fraction = _uniform(rng, GAP_FRACTION, count)
    # the wobble: a grid displaced by a smooth field (image pixels -> grid units: 2 / size)
    axis = (torch.arange(high, dtype=torch.float32) + 0.5) / high * 2 - 1  # (H,) pixel centres in [-1, 1]
    base = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), dim=-1)  # (H, H, 2): x, y
    displacement = _noise(rng, count, 2, 5, high).permute(0, 2, 3, 1) * wobble.view(count, 1, 1, 1)  # (B, H, H, 2)
    grid = base + displacement * (2 / size)  # (B, H, H, 2)
    # zeros outside the frame: an item cut by the frame gets its outline closed along the edge, as drawn
    field = F.grid_sample(foreground, grid, mode="bicubic", padding_mode="zeros", align_corners=False)  # (B, 1, H, H)
    lines = F.grid_sample(ridge, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (B, 1, H, H)
    # distance (in image pixels) to the contour: |f - t| / |grad f|, the gradient per image pixel
    padded = F.pad(field, (1, 1, 1, 1), mode="replicate")  # (B, 1, H + 2, H + 2)
    grad_x = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) * (SUPERSAMPLE / 2)  # (B, 1, H, H)
    grad_y = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) * (SUPERSAMPLE / 2)  # (B, 1, H, H)
    slope = torch.sqrt(grad_x**2 + grad_y**2).clamp_min(1e-3)
    contour_distance = (field - threshold).abs() / slope  # (B, 1, H, H)
    # distance to an inner line: invert its profile q(d) = exp(-d^2 / (2 sigma^2))
    line_distance = INNER_SIGMA * torch.sqrt(-2 * torch.log(lines.clamp(1e-6, 1.0)))  # (B, 1, H, H)
    distance = torch.minimum(contour_distance, line_distance / INNER_WIDTH)  # inner lines: thinner strokes
    local_width = width * (1 + variation * _noise(rng, count, 1, 6, high)).clamp(0.4, 1.8)  # (B, 1, H, H)
    coverage = ((local_width / 2 - distance) * SUPERSAMPLE + 0.5).clamp(0, 1)  # (B, 1, H, H), 1 px soft edge
    gap_field = _noise(rng, count, 1, 4 * size // 8 + 4, high)  # (B, 1, H, H): blobs of about 2 image pixels
    quantile = torch.from_numpy(ndtri(1 - gap_fraction.numpy().clip(1e-6, 0.5)))  # (B, 1, 1, 1): normal quantiles
    gap_level = gap_field.std(dim=(1, 2, 3), keepdim=True) * quantile  # the field is about normal: cut that share
    coverage = coverage * (gap_field <= gap_level)
    return F.avg_pool2d(coverage, SUPERSAMPLE)  # (B, 1, S, S)


def sketch(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """uint8 (N, C, S, S) -> black strokes on white, uint8 (N, 1, S, S): a drawing of each image's item."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1) if images.shape[1] == 3 else torch.ones(1)
    gray = (images.float() * weights).sum(1).numpy() / 255.0  # (N, S, S) luminance (ITU-R 601) in [0, 1]
    out = torch.empty((len(gray), 1, *gray.shape[1:]), dtype=torch.uint8)
    for start in range(0, len(gray), CHUNK):
        foreground, ridge = item_fields(gray[start : start + CHUNK], rng)
        ink = _render(torch.from_numpy(foreground)[:, None], torch.from_numpy(ridge)[:, None], rng)  # (B, 1, S, S)
        out[start : start + CHUNK] = ((1 - ink) * 255).round().to(torch.uint8)
    return out
