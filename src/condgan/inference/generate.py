"""Load a trained generator from a run directory and ask it for images.

from condgan import load_generator
g = load_generator("runs/demo")
images = g.generate(labels=[7, 7, "bag"], seed=0)   # uint8 (3, 28, 28)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from condgan.checkpoint import load_module_weights
from condgan.config import Config
from condgan.errors import CondganError
from condgan.inference.runs import generator_weights_path, load_config_of, resolve_run_dir
from condgan.models.grid import draw_noise
from condgan.runtime import resolve_device

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
FOLD_MIN_IMAGES = 32  # fewer images of a class are made by the module, with the other classes


class ClassConditionalGenerator:
    """A trained class-conditional (or unconditional) generator, in eval mode, on one device.

    Images are made class by class with the generator's folded network for that class
    (`fold_class`, models/folding.py: batch norms and label folded into the weights), which gives
    the module's images up to float rounding at up to 2x the speed. `precision="bf16"` runs the
    folded networks in bfloat16: 4x faster again on CPUs with AMX or AVX512-BF16 (and on GPUs),
    pixels within a fraction of a uint8 level of float32's and the same FID (docs/results/speed.md,
    from benchmarks/results/sample_throughput*.json); much slower on CPUs without bf16 units.
    """

    def __init__(self, module: nn.Module, config: Config, device: torch.device, precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise CondganError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        # channels-last: the convolutions' fast layout on CPUs and GPUs alike (no-op for the MLP)
        self.module = module.to(device, memory_format=torch.channels_last).eval()
        convolutional = any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules())
        # images per forward pass: a conv generator's activations stay in the CPU's caches at 128
        # (2x the images/s of 1,024 at a time, benchmarks/sample_throughput.py); big batches elsewhere
        self.chunk = 128 if convolutional and device.type == "cpu" else 1024
        self.dtype = PRECISIONS[precision]
        self._folded: dict[int | None, nn.Module] = {}
        self._folded_version: tuple = ()
        self.config = config
        self.device = device
        self.num_classes = config.model.num_classes
        self.class_names = tuple(config.data.class_names)
        self.z_dim = config.model.z_dim
        self.image_size = config.data.image_size
        self.channels = config.data.channels

    def folded(self, label: int | None) -> nn.Module:
        """Class `label`'s folded network (the module's `fold_class`) in this generator's precision,
        folded once and kept until the module's weights or statistics change (`_drop_stale_folds`)."""
        if label not in self._folded:
            network = self.module.fold_class(label)
            self._folded[label] = network.to(self.device, self.dtype, memory_format=torch.channels_last)
        return self._folded[label]

    def class_index(self, label: int | str) -> int:
        """A class by index or by name (case-insensitive); CondganError naming the valid ones."""
        if not self.num_classes:
            raise CondganError("this generator is unconditional (num_classes 0); ask for a number of images instead")
        if isinstance(label, (int, np.integer)) or (isinstance(label, str) and label.strip().lstrip("-").isdigit()):
            index = int(label)
            if not 0 <= index < self.num_classes:
                raise CondganError(f"class index {index} out of range; valid: 0..{self.num_classes - 1}")
            return index
        names = [n.lower() for n in self.class_names]
        if str(label).lower() not in names:
            raise CondganError(f"unknown class {label!r}; valid classes: {', '.join(self.class_names)}")
        return names.index(str(label).lower())

    def noise(self, n: int, seed: int | None = 0, truncation: float = 0.0) -> torch.Tensor:
        """(n, z_dim) standard normal noise; with `truncation` t > 0 values beyond +-t are redrawn."""
        return draw_noise(n, self.z_dim, seed, truncation)

    @torch.no_grad()
    def generate_tensor(self, z: torch.Tensor, labels: torch.Tensor | None, batch_size: int = 0) -> torch.Tensor:
        """float [-1, 1] (N, C, H, W) on the CPU, made `batch_size` at a time (0: `self.chunk`).

        A class with at least FOLD_MIN_IMAGES images asked for is made with its folded network; the
        rest go through the module itself, in one batch: smaller class batches lose more to their
        size than folding wins. So do float (N, K) class weights (the web demo's class morph)."""
        batch_size = batch_size or self.chunk
        out = torch.zeros(z.shape[0], self.channels, self.image_size, self.image_size)
        rest = torch.arange(z.shape[0])
        if hasattr(self.module, "fold_class") and (labels is None or not labels.is_floating_point()):
            self._drop_stale_folds()
            groups = [(None, rest)] if labels is None else self._class_groups(labels)
            for label, rows in groups:
                if len(rows) < FOLD_MIN_IMAGES:
                    continue
                network = self.folded(label)
                for start in range(0, len(rows), batch_size):
                    chunk = rows[start : start + batch_size]
                    out[chunk] = network(z[chunk].to(self.device, self.dtype)).float().cpu()
            small = [rows for _, rows in groups if len(rows) < FOLD_MIN_IMAGES]
            rest = torch.cat(small).sort().values if small else rest[:0]
        with self.autocast():
            for start in range(0, len(rest), batch_size):
                chunk = rest[start : start + batch_size]
                chunk_labels = labels[chunk].to(self.device) if labels is not None else None
                out[chunk] = self.module(z[chunk].to(self.device), chunk_labels).float().cpu()
        return out

    def _drop_stale_folds(self) -> None:
        """Forget the folded networks if the module's weights or statistics changed since they were
        made (an optimizer step or load_state_dict updates them in place, which bumps `_version`)."""
        state = [*self.module.parameters(), *self.module.buffers()]
        version = tuple((t.data_ptr(), t._version) for t in state)
        if version != self._folded_version:
            self._folded, self._folded_version = {}, version

    @staticmethod
    def _class_groups(labels: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """[(class, the rows that ask for it)] in class order."""
        return [(int(k), (labels == k).nonzero().squeeze(1)) for k in labels.unique()]

    def autocast(self):
        """The module's own forward in this generator's precision (bf16 autocast; a no-op for fp32)."""
        enabled = self.dtype != torch.float32
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=enabled)

    def generate(
        self,
        labels: list[int | str] | np.ndarray | None = None,
        n: int | None = None,
        seed: int | None = 0,
        truncation: float = 0.0,
        as_pil: bool = False,
        batch_size: int = 0,
    ):
        """Images for the given class labels (names or indices), or `n` images when unconditional.

        Returns uint8 numpy (N, H, W) for grayscale or (N, H, W, C) for RGB; a list of PIL images
        with `as_pil=True`. `batch_size`: images per forward pass (0: 128 for a conv generator on the
        CPU, else 1,024).
        """
        if self.num_classes:
            if labels is None:
                raise CondganError(f"pass labels: this generator is conditional ({', '.join(self.class_names)})")
            label_tensor = torch.tensor([self.class_index(label) for label in labels], dtype=torch.long)
            count = len(label_tensor)
        else:
            if labels is not None:
                raise CondganError("this generator is unconditional (num_classes 0); pass n instead of labels")
            if n is None or n < 0:
                raise CondganError("pass n, the number of images, for an unconditional generator")
            label_tensor, count = None, n
        images = self.generate_tensor(self.noise(count, seed, truncation), label_tensor, batch_size)
        array = images.add_(1).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        array = array[..., 0] if self.channels == 1 else array  # (N, H, W) or (N, H, W, C)
        if as_pil:
            from PIL import Image

            return [Image.fromarray(a) for a in array]
        return array


def load_generator(
    run: str | Path, device: str = "auto", use_ema: bool = True, precision: str = "fp32", direction: str = ""
) -> ClassConditionalGenerator:
    """Rebuild a run's generator from its config.json and newest checkpoint (EMA weights by default).

    `precision`: "fp32" or "bf16" (ClassConditionalGenerator), for class-conditional runs.
    A pix2pix run gives a `condgan.inference.translate.Translator` (`.translate_file`,
    `.translate_tensor`); a cyclegan run the Translator of `direction` (AtoB, the default, or BtoA).
    """
    from condgan.models import build_generator

    run_dir = resolve_run_dir(run)
    config = load_config_of(run_dir)
    if config.task in ("pix2pix", "cyclegan"):  # an image-to-image generator: translate.Translator
        from condgan.inference.translate import load_translator

        if precision != "fp32":
            raise CondganError(f"precision {precision!r} is for class-conditional runs; {run} translates in fp32")
        return load_translator(run_dir, device, use_ema, direction=direction)
    module = build_generator(config)
    load_module_weights(module, generator_weights_path(run_dir, use_ema))
    return ClassConditionalGenerator(module, config, resolve_device(device), precision)
