"""Differentiable augmentation for the discriminator (DiffAugment, Zhao et al. 2020).

D sees every image, real or generated, through the same random transforms, in its own loss and in
G's: the transforms are differentiable, so G still learns through them, and D cannot win by
memorising the training images' exact pixels. Each transform draws its own parameters per image.

    augment(images, ("translation", "cutout"))   # (B, C, H, W) in [-1, 1] -> the same shape

- translation: a shift by up to 1/8 of the side in each direction, the uncovered border filled
  with the image's background (its corner value, the paper's zeros on our scale would be mid-grey)
- cutout: a square of half the side set to 0 (mid-grey on the [-1, 1] scale), as the paper
- brightness: + U(-0.5, 0.5) on the paper's [0, 1] scale (x2 on ours)
- contrast: (x - mean) * U(0.5, 1.5) + mean, the mean over each image
"""

from __future__ import annotations

from collections.abc import Callable

import torch

TRANSLATION_RATIO = 0.125  # the paper's: a shift of up to 1/8 of the side
CUTOUT_RATIO = 0.5  # the paper's: a square of half the side


def translation(images: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Shift each image by whole pixels, up to `ratio` of its side each way; the border is its background."""
    b, _, h, w = images.shape
    max_y, max_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    shift_y = torch.randint(-max_y, max_y + 1, (b, 1, 1), device=images.device)
    shift_x = torch.randint(-max_x, max_x + 1, (b, 1, 1), device=images.device)
    rows = torch.arange(h, device=images.device).view(1, h, 1) - shift_y  # (B, H, 1): source row per output row
    cols = torch.arange(w, device=images.device).view(1, 1, w) - shift_x  # (B, 1, W)
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).unsqueeze(1)  # (B, 1, H, W)
    index = rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)  # (B, H, W): flat source pixel
    flat = images.flatten(2)  # (B, C, H*W)
    shifted = flat.gather(2, index.flatten(1).unsqueeze(1).expand(-1, images.shape[1], -1)).view_as(images)
    background = images[:, :, :1, :1]  # (B, C, 1, 1): the top-left corner's value
    return torch.where(inside, shifted, background)


def cutout(images: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Set a square of `ratio` of the side, centred anywhere in the image (clipped at its edges), to 0."""
    b, _, h, w = images.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    centre_y = torch.randint(0, h, (b, 1, 1), device=images.device)
    centre_x = torch.randint(0, w, (b, 1, 1), device=images.device)
    top, left = centre_y - size_y // 2, centre_x - size_x // 2  # (B, 1, 1) each
    rows = torch.arange(h, device=images.device).view(1, h, 1)
    cols = torch.arange(w, device=images.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + size_y) & (cols >= left) & (cols < left + size_x)  # (B, H, W)
    return images * (~hole).unsqueeze(1).to(images.dtype)  # (B, 1, H, W) mask over every channel


def brightness(images: torch.Tensor) -> torch.Tensor:
    return images + (torch.rand(images.shape[0], 1, 1, 1, device=images.device) - 0.5) * 2


def contrast(images: torch.Tensor) -> torch.Tensor:
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * (torch.rand(images.shape[0], 1, 1, 1, device=images.device) + 0.5) + mean


AUGMENTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "translation": translation,
    "cutout": cutout,
    "brightness": brightness,
    "contrast": contrast,
}


def parse(policy: str) -> tuple[str, ...]:
    """'translation,cutout' -> ('translation', 'cutout'); '' -> (); an unknown name is a ValueError."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    unknown = [name for name in names if name not in AUGMENTS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; use a comma list of {', '.join(AUGMENTS)}")
    return names


def augment(images: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    """The transforms in order, each with its own random draw per image (none: the images as they are)."""
    for name in names:
        images = AUGMENTS[name](images)
    return images


def check_policy(value: str) -> str | None:
    """Config check: a comma list of AUGMENTS' names, or '' (off)."""
    try:
        parse(value)
    except ValueError:
        return f"'' (off) or a comma list of {', '.join(AUGMENTS)}"
    return None
