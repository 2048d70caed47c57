"""`ImageDataset`: a named set's images and labels held in memory as one uint8 tensor.

The lowest floor of `condgan.data`: the readers (datasets.py's IDX and digits sets, cifar.py,
folder.py) build it, and it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageDataset:
    """Images and labels in memory: images (N, C, H, W) uint8, labels (N,) int64."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def batches(self, batch_size: int, seed: int = 0, device="cpu", rank: int = 0, world_size: int = 1):
        """An endless, resumable stream of (images in [-1, 1], labels) batches."""
        from condgan.data.loader import InMemoryBatches

        return InMemoryBatches((self.images, self.labels), batch_size, seed, device, rank, world_size)
