"""What the web demo shows, as plain functions of loaded models (no web framework here).

Every function returns PIL images (scaled up with nearest-neighbour so small images stay sharp)
or raises CondganError with a one-line message that the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from condgan.errors import CondganError, DataError
from condgan.generate import ClassConditionalGenerator, load_generator
from condgan.plots import class_grid, tile
from condgan.sampling import slerp

DISPLAY = 64  # each generated image is shown at least this many pixels wide
DISPLAY_TRANSLATION = 256  # translation inputs and outputs are shown about this wide
MAX_IMAGES = 64  # images per grid
SQUARE_TOLERANCE = 0.1  # an upload may be this far from square (relative) and still be resized to the model's size


@dataclass
class LoadedModels:
    """The models a demo serves, by label (the RUN or pretrained:NAME given on the command line)."""

    generators: dict[str, ClassConditionalGenerator] = field(default_factory=dict)
    translators: dict = field(default_factory=dict)  # label -> condgan.translate.Translator


def load_models(runs: list[str], device: str = "auto") -> LoadedModels:
    """Load each run (class-conditional or pix2pix); a run that cannot be loaded is a CondganError."""
    models = LoadedModels()
    for run in runs:
        model = load_generator(run, device=device)
        label = str(run)
        if hasattr(model, "translate_tensor"):
            models.translators[label] = model
        else:
            models.generators[label] = model
    return models


def _scale(size: int) -> int:
    return max(1, DISPLAY // size)


def pick(models: dict, label: str | None, kind: str):
    """The model chosen in a dropdown, or a clear message when there is none."""
    if not models:
        hint = "a class-conditional run" if kind == "generator" else "a pix2pix run"
        raise CondganError(f"no {kind} loaded; start the demo with {hint}: condgan serve RUN (or pretrained:NAME)")
    if label not in models:
        raise CondganError(f"choose a {kind} from the list (loaded: {', '.join(models)})")
    return models[label]


def class_choices(generator: ClassConditionalGenerator) -> list[str]:
    return list(generator.class_names) if generator.num_classes else []


def _check_count(n: int | float | None) -> int:
    if n is None or not 1 <= int(n) <= MAX_IMAGES:
        raise CondganError(f"number of images must be 1..{MAX_IMAGES}, got {n}")
    return int(n)


def _check_seed(seed: int | float | None, what: str = "seed") -> int:
    if seed is None or int(seed) != seed or not 0 <= int(seed) < 2**63:
        raise CondganError(f"{what} must be a whole number >= 0, got {seed}")
    return int(seed)


def _check_truncation(truncation: float | None) -> float:
    if truncation is None or truncation < 0:
        raise CondganError(f"truncation must be 0 (off) or positive, got {truncation}")
    return float(truncation)


def _labels(generator: ClassConditionalGenerator, class_name: str | None, n: int) -> torch.Tensor | None:
    if not generator.num_classes:
        return None
    if not class_name:
        raise CondganError(f"choose a class ({', '.join(generator.class_names)})")
    return torch.full((n,), generator.class_index(class_name), dtype=torch.long)


def sample_grid(
    generator: ClassConditionalGenerator, class_name: str | None, n: int, seed: int, truncation: float
) -> Image.Image:
    """`n` images of one class (any images for an unconditional model), tiled in a near-square grid."""
    n, seed, truncation = _check_count(n), _check_seed(seed), _check_truncation(truncation)
    images = generator.generate_tensor(generator.noise(n, seed, truncation), _labels(generator, class_name, n))
    return tile(images, cols=int(np.ceil(np.sqrt(n))), scale=_scale(generator.image_size))  # (N, C, H, W) tiled


def interpolation(
    generator: ClassConditionalGenerator,
    mode: str,
    class_a: str | None,
    class_b: str | None,
    seed_a: int,
    seed_b: int,
    steps: int,
    truncation: float = 0.0,
) -> Image.Image:
    """A morph in `steps` frames: between the noise of two seeds (class A held), or between two classes
    (the noise of seed A held; the class input is the weighted mix of the two classes)."""
    seed_a, truncation = _check_seed(seed_a, "seed A"), _check_truncation(truncation)
    if not 2 <= int(steps) <= MAX_IMAGES:
        raise CondganError(f"steps must be 2..{MAX_IMAGES}, got {steps}")
    t = torch.linspace(0, 1, int(steps))  # (T,)
    if mode == "seeds":
        seed_b = _check_seed(seed_b, "seed B")
        ends = torch.cat([generator.noise(1, seed_a, truncation), generator.noise(1, seed_b, truncation)])
        z = slerp(ends[0], ends[1], t)  # (T, z_dim)
        labels = _labels(generator, class_a, len(t))
    elif mode == "classes":
        if not generator.num_classes:
            raise CondganError("this generator is unconditional: it has no classes to morph between; morph seeds")
        a, b = _labels(generator, class_a, 1), _labels(generator, class_b, 1)
        z = generator.noise(1, seed_a, truncation).repeat(len(t), 1)  # (T, z_dim)
        eye = torch.eye(generator.num_classes)
        labels = (1 - t)[:, None] * eye[a] + t[:, None] * eye[b]  # (T, K) class weights
    else:
        raise CondganError(f"unknown interpolation mode {mode!r}; choose seeds or classes")
    images = generator.generate_tensor(z, labels)
    return tile(images, cols=len(t), scale=_scale(generator.image_size))


def latent_picture(generator: ClassConditionalGenerator, seed: int, truncation: float = 0.0, rows: int = 8):
    """(picture, caption). Conditional: row = class, column = one fixed z (the same z down a column).
    Unconditional: samples laid out by the domain evaluator's predicted class (a row per class)."""
    seed, truncation = _check_seed(seed), _check_truncation(truncation)
    if generator.num_classes:
        z = generator.noise(rows, seed, truncation).repeat(generator.num_classes, 1)  # (K*rows, z_dim)
        labels = torch.arange(generator.num_classes).repeat_interleave(rows)  # (K*rows,)
        picture = class_grid(generator.generate_tensor(z, labels), generator.class_names, cols=rows)
        caption = (
            f"Each column keeps one noise vector z (seed {seed}) and each row asks for one class: the class "
            "input decides *what* is drawn, z decides *how* (pose, thickness, style), independently."
        )
        return picture, caption
    return predicted_class_picture(generator, seed, truncation)


def predicted_class_picture(generator: ClassConditionalGenerator, seed: int, truncation: float, n: int = 400):
    """An unconditional model's samples sorted into rows by the class the domain evaluator sees in them."""
    from condgan.data.loader import to_uint8
    from condgan.metrics.evaluator import load_evaluator, predict

    d = generator.config.data
    try:
        evaluator = load_evaluator(d.name, d.image_size, d.channels, train_if_missing=False)
    except CondganError:
        raise CondganError(
            f"no domain evaluator cached for {d.name}; run `condgan eval` on this run once to train it, then reload"
        ) from None
    images = generator.generate_tensor(generator.noise(n, seed, truncation), None)  # (N, C, H, W)
    predicted, _ = predict(evaluator, to_uint8(images))
    names = list(evaluator.info.get("class_names") or range(int(predicted.max()) + 1))
    per_row = 10
    rows, counts = [], []
    for k in range(len(names)):
        chosen = images[predicted == k][:per_row]
        counts.append(int((predicted == k).sum()))
        pad = torch.ones(per_row - len(chosen), *images.shape[1:])  # white where a class has too few samples
        rows.append(torch.cat([chosen, pad]))
    labels = [f"{name} ({count})" for name, count in zip(names, counts, strict=True)]
    picture = class_grid(torch.cat(rows), labels, cols=per_row)
    missing = [str(name) for name, count in zip(names, counts, strict=True) if count == 0]
    caption = (
        f"{n} samples of an unconditional model, sorted by the class the domain evaluator sees in each "
        f"(count in brackets). You cannot ask it for a class, only take what comes"
        + (f"; it never made: {', '.join(missing)}" if missing else "")
        + ". A conditional model takes the class as an input instead."
    )
    return picture, caption


# ----------------------------------------------------------------------------- translation


def _as_source(translator, image: Image.Image, name: str) -> np.ndarray:
    """A square-ish PIL image -> uint8 (Cs, S, S) at the model's training size S."""
    width, height = image.size
    if abs(width - height) > SQUARE_TOLERANCE * max(width, height):
        raise DataError(
            f"{name} is {width}x{height}; this model translates square images ({translator.image_size}x"
            f"{translator.image_size}); crop it to a square first"
        )
    size = translator.image_size
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    image = image.convert("RGB").resize((size, size), Image.LANCZOS)
    if translator.source_channels == 1:
        image = image.convert("L").convert("RGB")  # a drawing in colour counts as its grey levels
    return translator.source_array(image, name)


def _display(array: np.ndarray) -> Image.Image:
    """uint8 (C, S, S) -> a PIL image scaled up (nearest) to about 256 px for the page."""
    pixels = array.transpose(1, 2, 0)  # (S, S, C)
    image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    scale = max(1, DISPLAY_TRANSLATION // image.width)
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def translate_image(translator, image: Image.Image, name: str) -> tuple[Image.Image, Image.Image]:
    """(the input as the model sees it, the model's output), both scaled up for display."""
    source = _as_source(translator, image, name)
    (output,) = translator.translate_images([source], [name])
    return _display(source), _display(output)


def sketch_image(editor_value) -> Image.Image:
    """The flattened drawing of a sketch pad, or an error when nothing was drawn."""
    composite = editor_value.get("composite") if isinstance(editor_value, dict) else None
    if composite is None:
        raise DataError("the sketch pad is empty: draw on it first (or upload an image below)")
    image = composite if isinstance(composite, Image.Image) else Image.fromarray(np.asarray(composite))
    grey = np.asarray(image.convert("L"))
    if grey.min() == grey.max():
        raise DataError("the sketch pad is empty: draw on it first (or upload an image below)")
    return image


def upload_image(path: str | Path | None) -> tuple[Image.Image, str]:
    """A decoded uploaded file, or one line saying why it is not an image (naming the file, not its temp path)."""
    if not path:
        raise DataError("no file uploaded: choose a PNG or JPEG image first")
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            return image, path.name
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise DataError(f"{path.name} is not an image that can be read; upload a PNG or JPEG drawing") from None
