"""Drawn sketches -> garments: do 256 px drawings come out as the item they were drawn from?

    OMP_NUM_THREADS=2 python benchmarks/sketch_translate.py                       # shipped models
    python benchmarks/sketch_translate.py --model sketch2fashion=runs/sketch2fashion  # a run before it is packed

The drawings are made differently from any training input (condgan's `sketch` pairs render a silhouette's
level set with a varying stroke, wobble and gaps): from each Fashion-MNIST **test** item, skimage's
`find_contours` of the item at a threshold relative to its brightness (on the image padded with background, so
an outline cut by the frame is closed), simplified by `approximate_polygon`, its vertices jittered like a hand on
a mouse, drawn with Pillow's `ImageDraw.line` at one constant pen width per drawing (5, 8 or 12 px: the web
pad's brushes) on a white 256 px canvas; a few inner lines (contours at a high brightness level, long enough,
at most two) with a pen 0.6 as wide. The same number of drawings per class, written as PNGs.

Each model translates the folder through `Translator.translate_folder`, as `condgan translate` does:
by default (fitted: the drawing brought to the training size and polarity, the output back at 256 px), and
edges2fashion also with `native_size=True` (the network run at 256 px: the old behaviour, the floor). Each
output is scored by the Fashion-MNIST domain evaluator (metrics/evaluator.py) at its 28 px: the share put in
the class of the item the sketch came from, the share put in that class's group (tops, footwear, trouser,
dress, bag), the share per class, and FID against the 10,000 real test images in the evaluator's features.

Writes benchmarks/results/sketch_translate.json and sketch_translate.png (rows: classes; columns: the
drawing, then each model's output).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_common import RESULTS, machine, setup, write_result  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

CANVAS = 256
PEN_WIDTHS = (5, 8, 12)  # canvas pixels, one per drawing
INNER_PEN = 0.6  # inner lines: this share of the outline's pen
OUTLINE_LEVEL = 0.12  # the outline: this share of the item's brightness (its 95th percentile)
INNER_LEVEL = 0.7  # inner lines: contours at this share of the brightness...
INNER_LENGTH = (8.0, 40.0)  # ...this long (item pixels), at most MAX_INNER of them
MAX_INNER = 2
MIN_OUTLINE = 6.0  # item pixels: shorter outline pieces are specks, not drawn
TOLERANCE = 0.35  # approximate_polygon, item pixels
TREMOR = 1.5  # canvas pixels: the standard deviation of a vertex's jitter
GROUPS = {
    "tops": ("t-shirt", "pullover", "coat", "shirt"),
    "footwear": ("sandal", "sneaker", "ankle-boot"),
    "trouser": ("trouser",),
    "dress": ("dress",),
    "bag": ("bag",),
}
SHEET_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")


def draw_item(image: np.ndarray, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """uint8 (28, 28) item, light on black -> a 256 px black-on-white drawing of it, and how it was drawn."""
    from skimage.measure import approximate_polygon, find_contours

    gray = np.pad(image.astype(np.float64) / 255.0, 1)  # background around: outlines cut by the frame close
    brightness = float(np.percentile(gray[gray > 0.02], 95)) if (gray > 0.02).any() else 1.0
    scale = CANVAS / image.shape[0]
    pen = int(rng.choice(PEN_WIDTHS))
    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    draw = ImageDraw.Draw(canvas)

    def stroke(contour: np.ndarray, width: int) -> None:
        simple = approximate_polygon(contour, tolerance=TOLERANCE)  # (K, 2) rows, columns in the padded image
        points = (simple[:, ::-1] - 1 + 0.5) * scale + rng.normal(0, TREMOR, simple.shape)  # (K, 2) x, y
        draw.line([tuple(p) for p in points], fill=0, width=width, joint="curve")

    outlines = [c for c in find_contours(gray, OUTLINE_LEVEL * brightness) if _length(c) >= MIN_OUTLINE]
    for contour in outlines:
        stroke(contour, pen)
    low, high = INNER_LENGTH
    inner = [c for c in find_contours(gray, INNER_LEVEL * brightness) if low <= _length(c) <= high]
    inner = sorted(inner, key=_length, reverse=True)[: int(rng.integers(0, MAX_INNER + 1))]
    for contour in inner:
        stroke(contour, max(2, round(INNER_PEN * pen)))
    return canvas, {"pen": pen, "outlines": len(outlines), "inner_lines": len(inner)}


def _length(contour: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(contour, axis=0), axis=1).sum())


def make_drawings(folder: Path, per_class: int, seed: int) -> tuple[list[str], np.ndarray, dict]:
    """Write per_class drawings of each class's test items into folder: (file names, labels, drawing stats)."""
    from condgan.data import load_dataset

    test = load_dataset("fashion-mnist", "test")  # 28 px, the native size
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names, labels, pens, inner_counts = [], [], [], []
    for label, class_name in enumerate(test.class_names):
        chosen = np.sort(rng.choice(np.flatnonzero(test.labels.numpy() == label), per_class, replace=False))
        for index in chosen:
            canvas, how = draw_item(test.images[index, 0].numpy(), rng)
            name = f"{class_name}_{index:05d}.png"
            canvas.save(folder / name)
            names.append(name)
            labels.append(label)
            pens.append(how["pen"])
            inner_counts.append(how["inner_lines"])
    stats = {"pen_widths": {str(w): pens.count(w) for w in PEN_WIDTHS},
             "inner_lines_mean": float(np.mean(inner_counts))}  # fmt: skip
    return names, np.array(labels), stats


def read_outputs(folder: Path, names: list[str], size: int) -> torch.Tensor:
    """The translated PNGs, area-averaged to the evaluator's size: uint8 (N, 1, size, size)."""
    arrays = [np.asarray(Image.open(folder / name).convert("L").resize((size, size), Image.Resampling.BOX))
              for name in names]  # fmt: skip
    return torch.from_numpy(np.stack(arrays))[:, None]


def wilson_interval(hits: int, n: int, z: float = 1.96) -> list[float]:
    """The 95% Wilson score interval of a share hits / n: what another set of drawings might give."""
    share = hits / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(float(centre - half), 4), round(float(centre + half), 4)]


def scores(predicted: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]) -> dict:
    group_of = {class_names.index(c): g for g, members in GROUPS.items() for c in members}
    in_group = np.array([group_of[int(p)] == group_of[int(y)] for p, y in zip(predicted, labels, strict=True)])
    hits, n = int((predicted == labels).sum()), len(labels)
    return {
        "class_share": hits / n,
        "class_share_ci95": wilson_interval(hits, n),
        "group_share": float(in_group.mean()),
        "per_group": {g: float(in_group[[group_of[int(y)] == g for y in labels]].mean()) for g in GROUPS},
        "per_class": {c: float((predicted[labels == i] == i).mean()) for i, c in enumerate(class_names)},
        "predicted_counts": {c: int((predicted == i).sum()) for i, c in enumerate(class_names)},
    }


def sheet(drawings: Path, outputs: dict[str, Path], names: list[str], labels: np.ndarray, class_names, out: Path,
          cell: int = 96) -> None:  # fmt: skip
    """Rows: one drawing per class in SHEET_CLASSES; columns: the drawing, then each model's output."""
    from condgan.plots import _font, save_image

    columns = ["drawing (256 px)", *outputs]
    label_width, header = 90, 34
    rows = [class_names.index(c) for c in SHEET_CLASSES]
    picture = Image.new("RGB", (label_width + len(columns) * (cell + 4), header + len(rows) * (cell + 4)), "white")
    draw = ImageDraw.Draw(picture)
    font = _font(11)
    for c, title in enumerate(columns):
        for line, text in enumerate(title.split(" ", 1) if len(title) > 16 else [title]):
            draw.text((label_width + c * (cell + 4) + 2, 4 + 13 * line), text, fill="black", font=font)
    for r, label in enumerate(rows):
        name = names[int(np.flatnonzero(labels == label)[0])]
        y = header + r * (cell + 4)
        draw.text((4, y + cell // 2), class_names[label], fill="black", font=font, anchor="lm")
        for c, folder in enumerate([drawings, *outputs.values()]):
            tile = Image.open(folder / name).convert("RGB").resize((cell, cell), Image.Resampling.LANCZOS)
            picture.paste(tile, (label_width + c * (cell + 4), y))
    save_image(picture, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        dest="models",
        action="append",
        default=[],
        metavar="LABEL=RUN",
        help="a model to score (repeatable; default: the shipped edges2fashion and sketch2fashion)",
    )
    parser.add_argument("--per-class", type=int, default=100, help="drawings per class (10 classes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the drawings and outputs (default: a temp folder)")
    parser.add_argument("--name", default="sketch_translate", help="results file stem")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ceiling", type=Path, metavar="PAIRS_DIR", help="also train a small classifier on "
                        "this sketch pair set's training sketches and score it on the drawings (what the drawings "
                        "hold of the class), e.g. data/fm-sketch32")  # fmt: skip
    parser.add_argument("--ceiling-epochs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="2 drawings per class: checks that the script works")
    args = parser.parse_args()
    device = setup(args.threads, "cpu")
    from condgan.data import load_dataset
    from condgan.inference import runs
    from condgan.inference.translate import load_translator
    from condgan.metrics.evaluator import load_evaluator, predict
    from condgan.metrics.functional import fid_from_features

    per_class = 2 if args.quick else args.per_class
    models = dict(m.split("=", 1) for m in args.models) or {
        name: f"pretrained:{name}" for name in ("edges2fashion", "sketch2fashion") if name in runs.available()
    }
    variants = []  # (label, run, native_size)
    for label, run in models.items():
        if label == "edges2fashion" or run == "pretrained:edges2fashion":
            variants.append((f"{label} --native-size", run, True))
        variants.append((label, run, False))
    work = args.work or Path(tempfile.mkdtemp(prefix="condgan-sketch-"))
    shutil.rmtree(work / "drawings", ignore_errors=True)
    started = time.perf_counter()
    names, labels, drawing_stats = make_drawings(work / "drawings", per_class, args.seed)
    drawing_seconds = time.perf_counter() - started
    evaluator = load_evaluator("fashion-mnist")
    class_names = tuple(evaluator.info["class_names"])
    test = load_dataset("fashion-mnist", "test")
    _, real_features = predict(evaluator, test.images)
    item_classes, _ = predict(evaluator, test.images[[int(n.split("_")[-1][:5]) for n in names]])
    result = {
        "benchmark": "sketch_translate",
        "command": "python benchmarks/sketch_translate.py "
        + " ".join(f"--model {k}={v}" for k, v in models.items())
        + (f" --per-class {per_class}" if per_class != 100 else "")
        + (f" --ceiling {args.ceiling}" if args.ceiling else "")
        + (" --quick" if args.quick else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        **machine(device, args.threads),
        "cpu_model": cpu_model(),
        "drawings": {
            "count": len(names),
            "per_class": per_class,
            "split": "fashion-mnist test",
            "canvas": CANVAS,
            "how": f"find_contours at {OUTLINE_LEVEL} x the item's brightness, approximate_polygon ({TOLERANCE} "
            f"px), vertex jitter {TREMOR} px, PIL lines of one pen width per drawing {PEN_WIDTHS}; up to "
            f"{MAX_INNER} inner lines (contours at {INNER_LEVEL} x brightness, {INNER_LENGTH[0]:g}-"
            f"{INNER_LENGTH[1]:g} px long) at {INNER_PEN} x the pen",
            **drawing_stats,
            "seconds": round(drawing_seconds, 1),
        },  # fmt: skip
        "evaluator": {
            "test_accuracy": evaluator.info.get("test_accuracy"),
            "image_size": evaluator.image_size,
            "items_drawn_class_share": float((item_classes.numpy() == labels).mean()),
        },  # fmt: skip
        "goal": "class_share >= 0.80 on drawn 256 px sketches through translate",
        "models": {},
    }
    outputs = {}
    for label, run, native in variants:
        folder = work / label.replace(" ", "_").replace("-", "")
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        translator = load_translator(run, "cpu")
        translator.translate_folder(work / "drawings", folder, native_size=native)
        seconds = time.perf_counter() - started
        images = read_outputs(folder, names, evaluator.image_size)
        predicted, features = predict(evaluator, images)
        entry = scores(predicted.numpy(), labels, class_names)
        entry["fid"] = fid_from_features(real_features.double().numpy(), features.double().numpy())
        entry.update({"run": run, "native_size": native, "translate_seconds": round(seconds, 1),
                      "training_size": translator.image_size,
                      "source_background": translator.source_background})  # fmt: skip
        result["models"][label] = entry
        outputs[label] = folder
        print(f"{label}: class {entry['class_share']:.3f}, group {entry['group_share']:.3f}, "
              f"FID {entry['fid']:.2f} ({seconds:.0f} s)", flush=True)  # fmt: skip
    if args.ceiling:
        print(f"ceiling: a sketch classifier trained on {args.ceiling} ...", flush=True)
        fit = load_translator(next(iter(models.values())), "cpu").fit_input  # the drawing as a model sees it
        epochs = 1 if args.quick else args.ceiling_epochs
        result["ceiling"] = sketch_classifier_ceiling(args.ceiling, work / "drawings", names, labels, fit, epochs,
                                                      class_names)  # fmt: skip
        print(f"ceiling: class {result['ceiling']['class_share']:.3f}", flush=True)
    best = max(result["models"].values(), key=lambda m: m["class_share"])
    result["goal_met"] = best["class_share"] >= 0.80
    picture = (Path(tempfile.gettempdir()) / "condgan-bench-quick" if args.quick else RESULTS) / f"{args.name}.png"
    sheet(work / "drawings", outputs, names, labels, class_names, picture)
    result["sheet"] = str(picture.relative_to(RESULTS.parent.parent)) if not args.quick else str(picture)
    result["quick"] = args.quick
    print(f"wrote {write_result(args.name, result)} and {picture}")


def sketch_classifier_ceiling(pairs: Path, drawings: Path, names: list[str], labels: np.ndarray, fit, epochs: int,
                              class_names: tuple[str, ...]) -> dict:  # fmt: skip
    """How much of the item's class a 32 px sketch still holds: a small CNN trained on the training pairs'
    sketches (labels: the Fashion-MNIST training items' classes, in the pairs' order) names the class of the
    held-out drawings, fitted as translate fits them (`fit`). A translator's drawn-class share can hardly
    beat this: its output is a function of the same fitted drawing."""
    from condgan.data import load_dataset

    torch.manual_seed(0)
    train_labels = load_dataset("fashion-mnist", "train").labels
    files = sorted((pairs / "train").glob("*.png"))
    if len(files) != len(train_labels):
        raise SystemExit(f"--ceiling {pairs}: {len(files)} training pairs, expected one per Fashion-MNIST "
                         f"training item ({len(train_labels)}); make it with `condgan data make-pairs "
                         "--task sketch`")  # fmt: skip
    first = np.asarray(Image.open(files[0]).convert("L"))
    side = first.shape[0]  # aligned pairs: the sketch is the left square
    sketches = torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("L"))[:, :side] for f in files]))
    sketches = sketches.float().div(255)[:, None]  # (N, 1, S, S), white background
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(64, 128, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Dropout(0.3), torch.nn.Linear(128 * (side // 8) ** 2, 256), torch.nn.ReLU(),
        torch.nn.Linear(256, len(class_names)),
    )  # fmt: skip
    batch = 128
    steps = epochs * (len(sketches) // batch)
    optimizer = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(sketches))
        for b in range(len(sketches) // batch):
            index = order[b * batch : (b + 1) * batch]
            shift = (int(torch.randint(-1, 2, ())), int(torch.randint(-1, 2, ())))  # a pixel of jitter
            loss = torch.nn.functional.cross_entropy(net(torch.roll(sketches[index], shift, (2, 3))),
                                                     train_labels[index], label_smoothing=0.1)  # fmt: skip
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    net.eval()
    fitted = np.stack([fit(Image.open(drawings / name), name) for name in names])  # (N, 1, S, S) uint8
    with torch.no_grad():
        predicted = net(torch.from_numpy(fitted).float().div(255)).argmax(1).numpy()
    hits = int((predicted == labels).sum())
    per_class = {c: float((predicted[labels == i] == i).mean()) for i, c in enumerate(class_names)}
    return {"pairs": str(pairs), "epochs": epochs, "seconds": round(time.perf_counter() - started, 1),
            "class_share": hits / len(labels), "class_share_ci95": wilson_interval(hits, len(labels)),
            "per_class": per_class}  # fmt: skip


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


if __name__ == "__main__":
    main()
