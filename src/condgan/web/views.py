"""What the web demo shows, as plain functions of loaded models (no web framework here).

Every function returns PIL images (scaled up with nearest-neighbour so small images stay sharp)
or raises CondganError with a one-line message that the page shows.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from condgan.errors import CondganError, DataError
from condgan.inference.generate import ClassConditionalGenerator, load_generator
from condgan.inference.sampling import slerp
from condgan.models.grid import grid_inputs
from condgan.plots import class_grid, tile

DISPLAY = 64  # each generated image is shown at least this many pixels wide
DISPLAY_SEEN = 256  # the input as the model sees it is shown about this wide (its pixels visible)
DISPLAY_OUTPUT = 384  # a translation is shown about this wide (smoothly scaled)
MAX_IMAGES = 64  # images per grid
MAX_SIDE = 4096  # uploads and drawings: at most MAX_SIDE x MAX_SIDE pixels, checked before decoding
MAX_PIXELS = MAX_SIDE * MAX_SIDE
MAX_UPLOAD_BYTES = 20 * 2**20  # the largest upload taken (the server refuses larger ones before this code sees them)
MAX_DRAWING_CHARS = 4 * 2**20  # a drawing pad's data URL: a 1024 px canvas of scribbles stays far below this
DATA_URL_PREFIX = "data:image/png;base64,"
FRAME_MARGIN = 0.05  # a pad drawing is framed with this much room around its strokes (training items fill their frame)
DIRECTION_NAMES = {"AtoB": "A→B", "BtoA": "B→A"}  # a cyclegan run's two menu entries: "RUN (A→B)", "RUN (B→A)"


@dataclass
class LoadedModels:
    """The models a demo serves, by label: the RUN or pretrained:NAME given on the command line; a cyclegan
    run is two translators, one per direction, labelled `direction_label(RUN, direction)`."""

    generators: dict[str, ClassConditionalGenerator] = field(default_factory=dict)
    translators: dict = field(default_factory=dict)  # label -> condgan.inference.translate.Translator


def direction_label(run: str, direction: str) -> str:
    """The menu label (and API value) of one direction of a cyclegan run: `RUN (A→B)` or `RUN (B→A)`."""
    return f"{run} ({DIRECTION_NAMES[direction]})"


def load_models(runs: list[str], device: str = "auto") -> LoadedModels:
    """Load each run (class-conditional, pix2pix, or cyclegan: both directions); a run that cannot be loaded
    is a CondganError."""
    models = LoadedModels()
    for run in runs:
        model = load_generator(run, device=device)
        label = str(run)
        if hasattr(model, "translate_tensor") and model.config.task == "cyclegan":  # this is its AtoB generator
            models.translators[direction_label(label, "AtoB")] = model
            models.translators[direction_label(label, "BtoA")] = load_generator(run, device=device, direction="BtoA")
        elif hasattr(model, "translate_tensor"):
            models.translators[label] = model
        else:
            models.generators[label] = model
    return models


def _scale(size: int) -> int:
    return max(1, DISPLAY // size)


def pick(models: dict, label: str | None, kind: str):
    """The model chosen in a dropdown, or a clear message when there is none."""
    if not models:
        hint = "a class-conditional run" if kind == "generator" else "a pix2pix or cyclegan run"
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
        z, labels = grid_inputs(generator.num_classes, generator.z_dim, rows, seed, truncation)  # (K*rows, ...)
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


def _display(array: np.ndarray, size: int, smooth: bool) -> Image.Image:
    """uint8 (C, S, S) -> a PIL image `size` px wide for the page (smooth: Lanczos; else nearest, pixels shown)."""
    pixels = array.transpose(1, 2, 0)  # (S, S, C)
    image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    scale = max(1, size // image.width)
    if smooth:
        return image.resize((image.width * scale, image.height * scale), Image.LANCZOS)
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def translate_image(translator, image: Image.Image, name: str) -> tuple[Image.Image, Image.Image]:
    """(the input as the model sees it, shown with its pixels; the model's output, shown large and smooth).

    The image goes to the model as `condgan translate` sends it by default (Translator.fit_input: the
    model's training size and its training data's background polarity)."""
    source = translator.fit_input(image, name)  # uint8 (Cs, S, S)
    (output,) = translator.translate_images([source], [name])
    return _display(source, DISPLAY_SEEN, smooth=False), _display(output, DISPLAY_OUTPUT, smooth=True)


def framed(drawing: Image.Image, margin: float = FRAME_MARGIN) -> Image.Image:
    """A pad drawing cropped to its strokes and centred in a white square, with `margin` (of the strokes'
    longer side) on each side: a small or off-centre drawing then fills the frame as the training items
    fill theirs. A drawing without dark strokes is returned as it is."""
    flat = Image.alpha_composite(Image.new("RGBA", drawing.size, "white"), drawing.convert("RGBA")).convert("RGB")
    rows, cols = np.nonzero(np.asarray(flat.convert("L")) < 128)  # the ink
    if len(rows) == 0:
        return flat
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    side = max(bottom - top, right - left)
    size = side + 2 * round(side * margin)
    square = Image.new("RGB", (size, size), "white")
    square.paste(flat.crop((left, top, right, bottom)), ((size - (right - left)) // 2, (size - (bottom - top)) // 2))
    return square


def drawing_image(value: str | None) -> Image.Image:
    """The drawing pad's value (a PNG data URL) decoded, or one line saying why it cannot be used."""
    if not value:
        raise DataError("the drawing pad is empty: draw an outline on it (or start from an example)")
    if not isinstance(value, str) or not value.startswith(DATA_URL_PREFIX):
        raise DataError(f"a drawing must be a PNG data URL ({DATA_URL_PREFIX}...); send the canvas's toDataURL()")
    if len(value) > MAX_DRAWING_CHARS:
        raise DataError(f"the drawing is {len(value):,} characters; at most {MAX_DRAWING_CHARS:,} are taken "
                        "(a canvas up to 1024 px); send a smaller canvas")  # fmt: skip
    try:
        data = base64.b64decode(value[len(DATA_URL_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise DataError(
            "the drawing is not valid base64 after its data URL prefix; send the canvas's toDataURL()"
        ) from None
    image = _decoded(io.BytesIO(data), "the drawing")
    flat = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA")).convert("L")
    if np.ptp(np.asarray(flat)) == 0:
        raise DataError("the drawing pad is empty: draw an outline on it (or start from an example)")
    return image


def upload_image(path: str | Path | None) -> tuple[Image.Image, str]:
    """A decoded uploaded file, or one line saying why it cannot be used (naming the file, not its temp path).

    Checked before any pixel is decoded: the file's size and the image's declared dimensions (a
    decompression bomb declares huge dimensions in a tiny file), then decoded whole (a truncated file
    is refused, not padded with grey)."""
    if not path:
        raise DataError("no file uploaded: choose a PNG or JPEG image first")
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    if size > MAX_UPLOAD_BYTES:
        raise DataError(f"{path.name} is {size / 2**20:.1f} MB; uploads up to {MAX_UPLOAD_BYTES // 2**20} MB are "
                        "taken; upload a smaller image")  # fmt: skip
    with open(path, "rb") as handle:
        return _decoded(handle, path.name), path.name


def _decoded(stream, name: str) -> Image.Image:
    """Open, check the declared dimensions against MAX_PIXELS, then decode fully; DataError on any failure."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise DataError(f"{name} is {width}x{height} pixels; images up to {MAX_SIDE}x{MAX_SIDE} are taken "
                                "(a drawing needs far fewer); scale it down first")  # fmt: skip
            image.load()
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own, larger limit
        raise DataError(f"{name} declares over {Image.MAX_IMAGE_PIXELS:,} pixels (a decompression bomb?); images "
                        f"up to {MAX_SIDE}x{MAX_SIDE} are taken; scale it down first") from None  # fmt: skip
    except (OSError, SyntaxError, ValueError) as exc:
        what = "is truncated or damaged" if "truncated" in str(exc) else "is not an image that can be read"
        raise DataError(f"{name} {what}; upload a PNG or JPEG drawing") from None
    return image
