"""Translate images with a trained (or imported) pix2pix run.

    from condgan.inference.translate import load_translator
    t = load_translator("pretrained:sketch2fashion")
    t.translate_file("my_drawing.png", "garment.png")                 # any size, either polarity
    t.translate_folder("drawings/", "garments/", output_size=128)
    t.translate_file("edges_256.png", "photo.png", native_size=True)  # fully convolutional at 256 px

Two ways to run the generator on an image file:
- fitted (the default, `fit_input`): the input is brought to what the model was trained on: transparent
  pixels become the background, a non-square image is padded to a square with its own background colour
  (the median of its border), it is resized to the training size (area-averaged when shrinking, so a
  256 px pen stroke stays a grey line at 32 px), converted to the model's input channels (a colour
  drawing counts as its luminance) and inverted when its background is not the training sources'
  (`data.source_background`: white strokes on black for a model trained on black on white). The output
  is cropped to the input's own area and resized to the input's own size, or to `output_size` on its
  longer side.
- native (`native_size=True`): the generator is fully convolutional, so any height and width that are
  multiples of its stride (2**unet_downs for a U-Net, 4 for a ResNet) are translated as they are. Other
  sizes are resized to the nearest such size, translated, and the output resized back, with a warning; a
  size that would have to change by more than 2x (or below one stride) is refused. Channels: gray input for
  an RGB model is copied to three channels; a color image for a grayscale-input model is refused unless it
  is gray in fact (R = G = B). No polarity change. A network trained at 32 px sees a 256 px drawing's
  strokes and shapes 8x too large this way: use it for models trained at the size of their inputs.

`inference="paper"` runs G as the paper does at test time (dropout on, batch norm with the image's own
statistics, one image at a time); the default "eval" uses the running statistics and no dropout
(deterministic).
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
from condgan.data.paired import background_name
from condgan.errors import CondganError, DataError
from condgan.inference.runs import generator_weights_path, load_config_of, resolve_run_dir
from condgan.runtime import resolve_device

INFERENCE_MODES = ("eval", "paper")
MAX_RESIZE = 2.0  # a side may be scaled by at most this factor (up or down) to fit the stride
MAX_OUTPUT_SIZE = 4096  # --output-size: the largest side an output may be given
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's convert("L")


def fitted_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """The nearest (height, width) that are multiples of `multiple` (each at least one multiple)."""
    return tuple(max(multiple, int(round(side / multiple)) * multiple) for side in (height, width))  # type: ignore[return-value]


def fit_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """Where a width x height image lands in a size x size square when its longer side is scaled to `size`
    and it is centred: (left, top, right, bottom)."""
    scale = size / max(width, height)
    fitted_width, fitted_height = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = (size - fitted_width) // 2, (size - fitted_height) // 2
    return left, top, left + fitted_width, top + fitted_height


def output_dimensions(width: int, height: int, output_size: int) -> tuple[int, int]:
    """The (width, height) of an output: the input's own, or `output_size` on the longer side (aspect kept)."""
    if not output_size:
        return width, height
    scale = output_size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def check_output_size(output_size: int) -> None:
    if isinstance(output_size, bool) or not isinstance(output_size, int) or not 0 <= output_size <= MAX_OUTPUT_SIZE:
        raise CondganError(f"output size {output_size!r} is not valid; give the output's longer side in pixels, "
                           f"1 to {MAX_OUTPUT_SIZE} (or 0: the input's own size)")  # fmt: skip


def resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Area-averaged when shrinking (every input pixel counts: thin strokes stay), bicubic when growing."""
    if image.size == size:
        return image
    shrinking = size[0] <= image.width and size[1] <= image.height
    return image.resize(size, Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC)


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
        self.source_background = config.data.source_background  # "white" | "black" | "" (unknown: no inversion)
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
    def input_half(self, image: Image.Image, name: str) -> Image.Image:
        """The input half of an aligned A | B pair (A for AtoB, B for BtoA)."""
        width, height = image.size
        if width != 2 * height:
            raise DataError(f"{name}: {width}x{height} is not an aligned pair (width must be twice the height)")
        box = (0, 0, height, height) if self.direction == "AtoB" else (height, 0, 2 * height, height)
        return image.crop(box)

    def source_array(self, image: Image.Image, name: str, aligned: bool = False) -> np.ndarray:
        """A PIL image -> uint8 (Cs, H, W) in the model's input channels, as it is (the input half if `aligned`)."""
        if aligned:
            image = self.input_half(image, name)
        rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)  # (H, W, 3)
        if self.source_channels == 3:
            return rgb.transpose(2, 0, 1)
        if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
            raise DataError(
                f"{name}: a color image, but this model translates grayscale input; convert it to grayscale "
                "first (or leave out --native-size: the fitted input counts a colour drawing as its grey levels)"
            )
        return rgb[None, :, :, 0]

    def fit_input(self, image: Image.Image, name: str) -> np.ndarray:
        """A drawing or picture of any size, shape and polarity -> uint8 (Cs, S, S) at the training size S,
        as the model's training inputs were: transparent pixels count as white (the canvas), a non-square
        image is padded to a square with its background colour (the median of its border pixels), it is
        resized to S (area-averaged when shrinking), converted to the model's input channels (luminance
        for a grayscale model) and inverted when its background (white or black) is not the training
        sources' (`data.source_background`; "" = unknown, never inverted)."""
        width, height = image.size
        if width < 1 or height < 1:
            raise DataError(f"{name}: an empty image ({width}x{height}); give a drawing of at least 1x1 pixel")
        if image.mode in ("RGBA", "LA", "PA", "La") or "transparency" in image.info:
            image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
        image = image.convert("RGB")
        pixels = np.asarray(image)  # (H, W, 3)
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])  # (2W + 2H, 3)
        fill = np.median(border, axis=0).round().astype(np.uint8)  # (3,): the background colour
        left, top, right, bottom = fit_box(width, height, self.image_size)
        canvas = Image.new("RGB", (self.image_size, self.image_size), tuple(int(v) for v in fill))
        canvas.paste(resized(image, (right - left, bottom - top)), (left, top))
        fitted = np.asarray(canvas.convert("L"))[None] if self.source_channels == 1 else np.asarray(canvas)
        fitted = fitted if self.source_channels == 1 else fitted.transpose(2, 0, 1)  # (Cs, S, S)
        if self.source_background and background_name(float(fill @ LUMA)) != self.source_background:
            fitted = 255 - fitted
        return np.array(fitted, dtype=np.uint8, order="C")  # a writable copy (PIL arrays are read-only)

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

    def translate_pictures(
        self, images: list[Image.Image], names: list[str], *, aligned: bool = False, native_size: bool = False,
        output_size: int = 0, warn: Callable[[str], None] | None = None,
    ) -> list[np.ndarray]:  # fmt: skip
        """Decoded images -> uint8 (Ct, H, W) outputs: fitted to the model (default) or at their own size
        (`native_size`), each output the input's own size or `output_size` on its longer side."""
        check_output_size(output_size)
        inputs = [self.input_half(image, name) if aligned else image for image, name in zip(images, names, strict=True)]
        if native_size:
            arrays = [self.source_array(image, name) for image, name in zip(inputs, names, strict=True)]
            boxes = [None] * len(inputs)
        else:
            arrays = [self.fit_input(image, name) for image, name in zip(inputs, names, strict=True)]
            boxes = [fit_box(*image.size, self.image_size) for image in inputs]
        outputs = self.translate_images(arrays, names, warn)
        return [
            _output_picture(output, box, output_dimensions(*image.size, output_size))
            for output, box, image in zip(outputs, boxes, inputs, strict=True)
        ]

    def translate_file(
        self, source: str | Path, out: str | Path, aligned: bool = False, warn: Callable[[str], None] | None = None,
        *, native_size: bool = False, output_size: int = 0,
    ) -> Path:  # fmt: skip
        """Translate one image file into `out` (format from its suffix; written atomically); see the module
        docstring for `native_size` and `output_size`."""
        source, out = Path(source), Path(out)
        (output,) = self.translate_pictures([read_image(source)], [str(source)], aligned=aligned,
                                            native_size=native_size, output_size=output_size, warn=warn)  # fmt: skip
        write_image(output, out)
        return out

    def translate_folder(
        self, folder: str | Path, out_dir: str | Path, aligned: bool = False,
        warn: Callable[[str], None] | None = None, *, native_size: bool = False, output_size: int = 0,
    ) -> list[Path]:  # fmt: skip
        """Translate every PNG/JPEG in `folder` to `out_dir/<name>.png`; every file is read and
        checked before anything is written."""
        folder, out_dir = Path(folder), Path(out_dir)
        check_output_size(output_size)
        files = sorted(
            f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and f.name[0] != "."
        )
        if not files:
            raise DataError(f"{folder}: no PNG/JPEG images to translate")
        if out_dir.resolve() == folder.resolve():
            raise DataError(f"{out_dir}: write the translations to another folder than the inputs")
        outputs = self.translate_pictures([read_image(file) for file in files], [str(file) for file in files],
                                          aligned=aligned, native_size=native_size, output_size=output_size,
                                          warn=warn)  # fmt: skip
        written = []
        for file, output in zip(files, outputs, strict=True):
            written.append(write_image(output, out_dir / f"{file.stem}.png"))
        return written


def _output_picture(output: np.ndarray, box: tuple[int, int, int, int] | None, size: tuple[int, int]) -> np.ndarray:
    """uint8 (Ct, h, w) -> (Ct, H, W): the input's area (`box`, for a fitted input) resized to size = (W, H)."""
    if box is None and output.shape[1:] == (size[1], size[0]):
        return output
    pixels = output.transpose(1, 2, 0)  # (h, w, Ct)
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    if box is not None:
        picture = picture.crop(box)
    array = np.asarray(resized(picture, size))
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


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


def load_translator(
    run: str | Path, device: str = "auto", use_ema: bool = True, inference: str = "eval", direction: str = ""
) -> Translator:
    """Rebuild a pix2pix run's generator, or one direction's of a cyclegan run (`direction` AtoB, the
    default, or BtoA), from its config.json and newest checkpoint."""
    from condgan.models import build_generator

    run_dir = resolve_run_dir(run)
    config = load_config_of(run_dir)
    if config.task == "cyclegan":
        from condgan.models.cyclegan import GENERATOR_NAMES, build_cycle_generator, direction_config

        direction = direction or "AtoB"
        module = build_cycle_generator(config, direction)  # an unknown direction: one line naming the valid ones
        load_module_weights(module, generator_weights_path(run_dir, use_ema, GENERATOR_NAMES[direction]))
        return Translator(module, direction_config(config, direction), resolve_device(device), inference)
    if config.task != "pix2pix":
        raise CondganError(f"{run_dir} is a {config.task} run; translate needs a pix2pix run or a cyclegan run "
                           "(condgan sample for cgan)")  # fmt: skip
    if direction and direction != config.data.direction:
        raise CondganError(f"{run_dir} is a pix2pix run: it translates one way only ({config.data.direction}); "
                           "leave out the direction (cyclegan runs translate both ways)")  # fmt: skip
    module = build_generator(config)
    load_module_weights(module, generator_weights_path(run_dir, use_ema))
    return Translator(module, config, resolve_device(device), inference)
