"""Translate images with a trained (or imported) pix2pix run.

    from condgan.translate import load_translator
    t = load_translator("runs/edges")
    t.translate_file("shoe_edges.png", "shoe.png")
    t.translate_folder("edges/", "photos/")

Sizes: the generator is fully convolutional, so any height and width that are multiples of
its stride (2**unet_downs for a U-Net, 4 for a ResNet) are translated as they are. Other sizes
are resized to the nearest such size, translated, and the output resized back, with a warning;
a size that would have to change by more than 2x (or below one stride) is refused. Channels:
gray input for an RGB model is copied to three channels; a color image for a grayscale-input
model is refused unless it is gray in fact (R = G = B). `inference="paper"` runs G as the paper
does at test time (dropout on, batch norm with the image's own statistics, one image at a time);
the default "eval" uses the running statistics and no dropout (deterministic).
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from condgan.checkpoint import atomic_write_bytes, load_module_weights
from condgan.config import Config
from condgan.data.folder import IMAGE_SUFFIXES
from condgan.data.loader import to_float, to_uint8
from condgan.errors import CondganError, DataError
from condgan.runtime import resolve_device

INFERENCE_MODES = ("eval", "paper")
MAX_RESIZE = 2.0  # a side may be scaled by at most this factor (up or down) to fit the stride


def fitted_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """The nearest (height, width) that are multiples of `multiple` (each at least one multiple)."""
    return tuple(max(multiple, int(round(side / multiple)) * multiple) for side in (height, width))  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Translator:
    """A pix2pix generator in eval mode on one device: source images in, target images out."""

    def __init__(self, module: nn.Module, config: Config, device: torch.device, inference: str = "eval"):
        if inference not in INFERENCE_MODES:
            raise CondganError(f"unknown inference mode {inference!r}; valid choices: {', '.join(INFERENCE_MODES)}")
        self.module = module.to(device).eval()
        self.config = config
        self.device = device
        self.inference = inference
        self.source_channels = config.data.source_channels
        self.channels = config.data.channels
        self.image_size = config.data.image_size
        self.direction = config.data.direction
        self.size_multiple = int(module.size_multiple)
        self.num_classes, self.class_names = 0, ()  # no classes: callers that ask get a clear answer

    # ------------------------------------------------------------------ tensors
    @torch.no_grad()
    def translate_tensor(self, source: torch.Tensor, batch_size: int = 64, seed: int = 0) -> torch.Tensor:
        """float [-1, 1] (N, Cs, H, W) -> float [-1, 1] (N, Ct, H, W) on the CPU; H, W fit the stride."""
        try:
            self.module.check_input(source[:1])
        except ValueError as exc:
            raise CondganError(str(exc)) from None
        if self.inference == "paper":
            return self._translate_paper(source, seed)
        out = [
            self.module(source[start : start + batch_size].to(self.device)).float().cpu()
            for start in range(0, source.shape[0], batch_size)
        ]
        return torch.cat(out) if out else source.new_zeros((0, self.channels, *source.shape[-2:]))

    def _translate_paper(self, source: torch.Tensor, seed: int) -> torch.Tensor:
        """Train-mode G on a copy (its batch-norm statistics move, the run's do not), one image per batch."""
        module = copy.deepcopy(self.module).train()
        out = []
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            for i in range(source.shape[0]):
                out.append(module(source[i : i + 1].to(self.device)).float().cpu())
        return torch.cat(out) if out else source.new_zeros((0, self.channels, *source.shape[-2:]))

    # ------------------------------------------------------------------ images
    def source_array(self, image: Image.Image, name: str, aligned: bool = False) -> np.ndarray:
        """A PIL image -> uint8 (Cs, H, W) in the model's input channels (the input half if `aligned`)."""
        if aligned:
            width, height = image.size
            if width != 2 * height:
                raise DataError(f"{name}: {width}x{height} is not an aligned pair (width must be twice the height)")
            box = (0, 0, height, height) if self.direction == "AtoB" else (height, 0, 2 * height, height)
            image = image.crop(box)
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
        if self.source_channels == 3:
            return rgb.transpose(2, 0, 1)
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
            raise DataError(
                f"{name}: a color image, but this model translates grayscale input; convert it to grayscale first"
            )
        return rgb[None, :, :, 0]

    def translate_images(
        self, images: list[np.ndarray], names: list[str], warn: Callable[[str], None] | None = None
    ) -> list[np.ndarray]:
        """uint8 (Cs, H, W) arrays -> uint8 (Ct, H, W) arrays of the same sizes (see the module docstring)."""
        warn = warn or (lambda message: None)
        outputs: list[np.ndarray] = []
        for array, name in zip(images, names, strict=True):
            height, width = array.shape[-2:]
            new_height, new_width = fitted_size(height, width, self.size_multiple)
            source = to_float(torch.from_numpy(np.ascontiguousarray(array))[None])  # (1, Cs, H, W)
            if (new_height, new_width) != (height, width):
                scale = max(new_height / height, height / new_height, new_width / width, width / new_width)
                if scale > MAX_RESIZE or min(height, width) < self.size_multiple / MAX_RESIZE:
                    raise DataError(
                        f"{name}: {width}x{height} does not fit this model (sides must be multiples of "
                        f"{self.size_multiple}) and is too far from a size that does; resize or crop it to "
                        f"about {self.size_multiple * max(1, round(width / self.size_multiple))}x"
                        f"{self.size_multiple * max(1, round(height / self.size_multiple))} first"
                    )
                warn(f"{name}: {width}x{height} is not a multiple of {self.size_multiple}; resized to "
                     f"{new_width}x{new_height} for the model and the output back to {width}x{height}")  # fmt: skip
                source = nn.functional.interpolate(source, size=(new_height, new_width), mode="bicubic").clamp(-1, 1)
            output = self.translate_tensor(source)
            if output.shape[-2:] != (height, width):
                output = nn.functional.interpolate(output, size=(height, width), mode="bicubic").clamp(-1, 1)
            outputs.append(to_uint8(output)[0].numpy())
        return outputs

    def translate_file(
        self, source: str | Path, out: str | Path, aligned: bool = False, warn: Callable[[str], None] | None = None
    ) -> Path:
        """Translate one image file into `out` (format from its suffix; written atomically)."""
        source, out = Path(source), Path(out)
        (output,) = self.translate_images([self.source_array(read_image(source), str(source), aligned)], [str(source)],
                                          warn)  # fmt: skip
        write_image(output, out)
        return out

    def translate_folder(
        self, folder: str | Path, out_dir: str | Path, aligned: bool = False, warn: Callable[[str], None] | None = None
    ) -> list[Path]:
        """Translate every PNG/JPEG in `folder` to `out_dir/<name>.png`; every file is read and
        checked before anything is written."""
        folder, out_dir = Path(folder), Path(out_dir)
        files = sorted(
            f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and f.name[0] != "."
        )
        if not files:
            raise DataError(f"{folder}: no PNG/JPEG images to translate")
        if out_dir.resolve() == folder.resolve():
            raise DataError(f"{out_dir}: write the translations to another folder than the inputs")
        arrays = [self.source_array(read_image(file), str(file), aligned) for file in files]
        outputs = self.translate_images(arrays, [str(file) for file in files], warn)
        written = []
        for file, output in zip(files, outputs, strict=True):
            written.append(write_image(output, out_dir / f"{file.stem}.png"))
        return written


def read_image(path: Path) -> Image.Image:
    """A decoded PIL image, or one DataError line naming the file."""
    if not path.is_file():
        raise DataError(f"{path}: no such image file")
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: cannot decode image ({_one_line(exc)}); replace it") from None


def write_image(array: np.ndarray, path: Path) -> Path:
    """uint8 (C, H, W) -> an image file (PNG unless the suffix says otherwise), atomically."""
    pixels = array.transpose(1, 2, 0)
    image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_translator(run: str | Path, device: str = "auto", use_ema: bool = True, inference: str = "eval") -> Translator:
    """Rebuild a pix2pix run's generator from its config.json and newest checkpoint."""
    from condgan.generate import generator_weights_path, load_config_of, resolve_run_dir
    from condgan.models import build_generator

    run_dir = resolve_run_dir(run)
    config = load_config_of(run_dir)
    if config.task != "pix2pix":
        raise CondganError(f"{run_dir} is a {config.task} run; translate needs a pix2pix run (condgan sample for cgan)")
    module = build_generator(config)
    load_module_weights(module, generator_weights_path(run_dir, use_ema))
    return Translator(module, config, resolve_device(device), inference)
