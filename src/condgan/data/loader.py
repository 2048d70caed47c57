"""Batches sliced from a dataset held in memory: no per-item Python work per step.

Each epoch is a permutation drawn from (seed, epoch), so the position in the stream is two
integers and a resumed run sees exactly the batches an uninterrupted one would have seen.
Under DDP each rank takes every `world_size`-th item of the same permutation.
"""

from __future__ import annotations

import torch


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().mul_(2.0 / 255.0).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (clamped, rounded)."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def crop_flip_draws(
    batch: int, load: int, size: int, generator: torch.Generator, flip: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crop corners (2, batch) (y0, x0 in [0, load - size]) and flips (batch,) for random_crop_flip:
    the offsets drawn first, then the flips (none drawn without `flip`)."""
    offsets = torch.randint(0, load - size + 1, (2, batch), generator=generator)  # (2, B): y0, x0
    flips = torch.rand(batch, generator=generator) < 0.5 if flip else torch.zeros(batch, dtype=torch.bool)
    return offsets, flips


def random_crop_flip(
    images: torch.Tensor, size: int, generator: torch.Generator | None, flip: bool = True,
    draws: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:  # fmt: skip
    """A random `size` crop and, with `flip`, a random horizontal flip of each image: (B, C, L, L) ->
    (B, C, size, size), as one advanced-indexing gather (rows = y0 + arange(size), columns = x0 +
    arange(size), reversed for flipped images). The crops and flips are `draws` when given, else
    crop_flip_draws from `generator`."""
    batch, load = images.shape[0], images.shape[-1]
    if load == size and not flip:
        return images
    offsets, flips = draws if draws is not None else crop_flip_draws(batch, load, size, generator, flip)
    span = torch.arange(size)
    rows = offsets[0, :, None] + span  # (B, size)
    cols = offsets[1, :, None] + span  # (B, size)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    device = images.device
    b = torch.arange(batch, device=device)[:, None, None, None]
    c = torch.arange(images.shape[1], device=device)[None, :, None, None]
    return images[b, c, rows.to(device)[:, None, :, None], cols.to(device)[:, None, None, :]]  # (B, C, size, size)


class InMemoryBatches:
    """An endless stream of shuffled (images, labels) batches, images as float in [-1, 1].

    The tensors are moved to `device` once; each batch is one `index_select`.
    """

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        seed: int = 0,
        device: torch.device | str = "cpu",
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ):
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError("all tensors must have the same first dimension")
        per_rank = n // world_size
        if per_rank < batch_size:
            from condgan.errors import DataError

            raise DataError(
                f"dataset has {n} items ({per_rank} per process), fewer than one batch of {batch_size}; "
                "lower train.batch_size or add data"
            )
        self.tensors = tuple(t.to(device) for t in tensors)
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.epoch = 0
        self.position = 0  # batches already taken in this epoch
        self._order: torch.Tensor | None = None

    @property
    def batches_per_epoch(self) -> int:
        return (self.tensors[0].shape[0] // self.world_size) // self.batch_size

    def _epoch_order(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.tensors[0].shape[0], generator=generator)
        order = order[self.rank :: self.world_size][: self.batches_per_epoch * self.batch_size]
        return order.to(self.tensors[0].device)

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, ...]:
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
            self._order = None
        if self._order is None:
            self._order = self._epoch_order()
        index = self._order[self.position * self.batch_size : (self.position + 1) * self.batch_size]
        self.position += 1
        batch = tuple(t.index_select(0, index) for t in self.tensors)
        return tuple(to_float(t) if t.dtype == torch.uint8 else t for t in batch)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = None
