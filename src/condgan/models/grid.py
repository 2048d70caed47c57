"""The noise and labels a generator module is asked with: seeded draws (truncated if asked) and the class
grid (row = class, column = one noise vector) of `condgan sample --grid`, the web demo and the sample
pictures written during training. Below tasks and inference, which both use it."""

from __future__ import annotations

import torch
from torch import nn


def draw_noise(n: int, z_dim: int, seed: int | None = 0, truncation: float = 0.0) -> torch.Tensor:
    """(n, z_dim) standard normal noise, seeded; with `truncation` t > 0 values beyond +-t are redrawn."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, z_dim, generator=generator)
    if truncation > 0:
        outside = z.abs() > truncation
        while outside.any():
            z[outside] = torch.randn(int(outside.sum()), generator=generator)
            outside = z.abs() > truncation
    return z


def grid_inputs(
    num_classes: int, z_dim: int, cols: int = 10, seed: int = 0, truncation: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Noise and labels of a class grid: (rows*cols, z_dim), (rows*cols,) or None.

    Conditional: row r is class r and column c uses noise vector c in every row, so a column shows
    one noise across the classes. Unconditional: `cols` rows of fresh noise, labels None."""
    if not num_classes:
        return draw_noise(cols * cols, z_dim, seed, truncation), None
    z = draw_noise(cols, z_dim, seed, truncation).repeat(num_classes, 1)
    return z, torch.arange(num_classes).repeat_interleave(cols)


@torch.no_grad()
def grid_images(
    module: nn.Module, num_classes: int, z_dim: int, cols: int = 10, seed: int = 0, truncation: float = 0.0
) -> torch.Tensor:
    """The class grid (grid_inputs' noise and labels) drawn by a generator module in eval mode (its mode
    is restored): (rows*cols, C, H, W) in [-1, 1] on the CPU. The one grid of `condgan sample --grid`,
    the demo and the sample pictures written during training."""
    z, labels = grid_inputs(num_classes, z_dim, cols, seed, truncation)
    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    try:
        images = module(z.to(device), None if labels is None else labels.to(device))
    finally:
        module.train(was_training)
    return images.float().cpu()
