"""The image pool of CycleGAN (Zhu et al. 2017, sec. 4; Shrivastava et al. 2017): a history of generated
images, so that a discriminator is also trained on what the generators made a while ago.

    pool = ImagePool(50, seed=0)
    shown = pool.query(fake_images.detach())    # (B, C, H, W) -> (B, C, H, W)

Until the pool holds `size` images, each new image is stored and shown. After that, each new image is,
with `swap_probability` (0.5, the paper's), swapped with a random stored one (the stored one is shown,
the new one takes its place); otherwise it is shown and not stored. Size 0 shows every image as it is.

The draws come from the pool's own generator (two per image once it is full: the coin and the index,
whatever the coin says), so training's random stream is untouched, and `state_dict` (the images and
the generator's state) restores it exactly.
"""

from __future__ import annotations

import torch


class ImagePool:
    def __init__(self, size: int, *, swap_probability: float = 0.5, seed: int = 0):
        if size < 0 or not 0 <= swap_probability <= 1:
            raise ValueError(f"ImagePool needs size >= 0 and a swap_probability in [0, 1], got {size}, "
                             f"{swap_probability}")  # fmt: skip
        self.size, self.swap_probability = size, swap_probability
        self.generator = torch.Generator().manual_seed(seed)
        self.images: torch.Tensor | None = None  # (size, C, H, W), the first `count` rows filled
        self.count = 0

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) new images -> (B, C, H, W): each the new one or a stored one it replaced."""
        if self.size == 0:
            return images
        images = images.detach()
        if self.images is None:
            self.images = images.new_empty((self.size, *images.shape[1:]))
        elif self.images.device != images.device or self.images.dtype != images.dtype:
            self.images = self.images.to(images.device, images.dtype)
        shown = []
        for image in images:  # (C, H, W)
            if self.count < self.size:
                self.images[self.count] = image
                self.count += 1
                shown.append(image)
                continue
            swap = float(torch.rand((), generator=self.generator)) < self.swap_probability
            index = int(torch.randint(self.size, (), generator=self.generator))
            if swap:
                shown.append(self.images[index].clone())
                self.images[index] = image
            else:
                shown.append(image)
        return torch.stack(shown)  # (B, C, H, W)

    def state_dict(self) -> dict:
        images = self.images[: self.count].cpu() if self.images is not None else torch.empty(0)
        return {"images": images, "count": self.count, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.generator.set_state(state["generator"])
        self.images = None
        if self.count:
            stored = state["images"]  # (count, C, H, W); moved to the images' device at the next query
            self.images = stored.new_empty((self.size, *stored.shape[1:]))
            self.images[: self.count] = stored
