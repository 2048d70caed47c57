"""`condgan eval RUN` for a CycleGAN run: both directions on the test split of its unaligned set.

For each direction, A->B (G_AB on side A's test images; side B is the target) and B->A (G_BA on side
B's; side A is the target), every image quantised to uint8 as an image file would be:

- FID of the translations against the target side's real test images, in the domain evaluator's
  features when the target side comes from a named set that has one (`unpaired.json` of
  `condgan data make-unpaired` names each side's set under "domains"; images are resized to the
  evaluator's size). Its *real floor* is the FID of as many real training images of the target side.
  Without an evaluator there is no FID, and the note says why (as for pix2pix).
- class share: for a set made from two classes (`make-unpaired --from SET --a X --b Y`: "classes"),
  the share of translations that evaluator puts in the target side's class. Floor: the share for
  the target side's real test images.
- cycle L1: mean |G_BA(G_AB(a)) - a| on the [0, 1] scale (for B->A: |G_AB(G_BA(b)) - b|); 0 = the
  cycle gives the input back exactly. The reconstruction starts from the quantised translation.
- identity L1: mean |G_AB(b) - b| (for B->A: |G_BA(a) - a|): how much a generator changes an image
  that is already of its target side. Only when the two sides have the same channels.
- with the true partners (`make-unpaired --from-pairs` keeps the test split's in test_pairs.json):
  L1, PSNR and SSIM of each translation against its partner (`evaluation.pix2pix.image_metrics`), and
  class agreement: the share of translations the target side's evaluator puts in their partner's class.

*Input as output* is what a generator that changes nothing scores (the source images themselves,
measured the same way). The cycle and identity L1 alone reward it (0 for both), FID and the class
share do not: read them together.

Written beside eval.json and eval.md: eval_cycle_AtoB.png and eval_cycle_BtoA.png, the first
TRIPLETS test images of the source side in three rows: input, translated, reconstructed.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from condgan.config import Config
from condgan.data.loader import to_float, to_uint8
from condgan.data.make_unpaired import TRUE_PARTNERS
from condgan.data.paired import read_metadata
from condgan.data.unaligned import SIDES, UnalignedDataset, available_splits, load_unaligned, side_files
from condgan.errors import DataError, MetricError
from condgan.evaluation.common import EvalOptions, class_agreement, evaluator_predictions, load_domain_evaluator
from condgan.evaluation.pix2pix import image_metrics, mean_l1
from condgan.inference.translate import load_translator
from condgan.metrics.functional import fid_from_features
from condgan.models.cyclegan import DIRECTIONS, GENERATOR_NAMES

TRIPLETS = 16
TRIPLET_FILES = {direction: f"eval_cycle_{direction}.png" for direction in DIRECTIONS}
MIN_IMAGES = 2  # per side: FID needs two images of each set


def _sides(direction: str) -> tuple[str, str]:
    """(source side, target side) of a direction."""
    return ("A", "B") if direction == "AtoB" else ("B", "A")


def evaluate_cyclegan(run_dir: Path, config: Config, options: EvalOptions) -> dict:
    """`condgan.evaluation.TASK_EVALUATORS["cyclegan"]`: options.num_samples caps the images per side."""
    from condgan.inference.runs import checkpoint_step, generator_weights_path
    from condgan.plots import save_image

    if options.inception_weights is not None:
        raise MetricError(f"--inception-weights {options.inception_weights}: Inception FID is for cgan runs; a "
                          "cyclegan run's FID is in the domain evaluator's features; leave the option out")  # fmt: skip
    timings: dict[str, float] = {}
    started = time.perf_counter()
    d = config.data
    translators = {direction: load_translator(run_dir, str(options.device), direction=direction)
                   for direction in DIRECTIONS}  # fmt: skip
    split = "test" if "test" in available_splits(d.name) else "train"
    test = _load(config, split, options.num_samples)
    images = {"A": test.images_a, "B": test.images_b}  # uint8 (N_A, C_A, S, S), (N_B, C_B, S, S)
    for side in SIDES:
        if images[side].shape[0] < MIN_IMAGES:
            raise MetricError(f"{d.name}: side {side} of the {split} split has {images[side].shape[0]} image(s); "
                              f"evaluation needs at least {MIN_IMAGES} per side")  # fmt: skip
    floor_set = _load(config, "train", max(len(images["A"]), len(images["B"]))) if split == "test" else None
    meta = test.metadata
    domains = meta.get("domains") if isinstance(meta.get("domains"), dict) else {}
    classes = meta.get("classes") if isinstance(meta.get("classes"), dict) else {}
    partners = read_partners(Path(d.name.partition(":")[2]).expanduser(), test) if split == "test" else {}
    timings["load"] = round(time.perf_counter() - started, 2)

    metrics: dict[str, float] = {}
    floor: dict[str, float] = {}
    baseline: dict[str, float] = {}
    directions: dict[str, dict] = {}
    out_dir = Path(options.out_dir or run_dir)
    for direction in DIRECTIONS:
        source, target = _sides(direction)
        started = time.perf_counter()
        forward, backward = translators[direction], translators["BtoA" if direction == "AtoB" else "AtoB"]
        translated = to_uint8(forward.translate_tensor(to_float(images[source]), options.batch_size))
        reconstructed = to_uint8(backward.translate_tensor(to_float(translated), options.batch_size))
        values = {"cycle_l1": mean_l1(reconstructed, images[source])}
        baseline[f"cycle_l1_{direction}"] = 0.0  # a generator that changes nothing gives every input back
        if images[source].shape[1] == images[target].shape[1]:
            identity = to_uint8(forward.translate_tensor(to_float(images[target]), options.batch_size))
            values["identity_l1"] = mean_l1(identity, images[target])
            baseline[f"identity_l1_{direction}"] = 0.0
        timings[f"translate_{direction}"] = round(time.perf_counter() - started, 2)

        started = time.perf_counter()
        pairs = partners.get(direction)
        if pairs is not None:
            index_source, index_target = pairs
            partner_values = image_metrics(translated[index_source], images[target][index_target])
            values.update({f"partner_{name}": value for name, value in partner_values.items()})
            if images[source].shape[1] == images[target].shape[1]:
                unchanged = image_metrics(images[source][index_source], images[target][index_target])
                baseline.update({f"partner_{name}_{direction}": value for name, value in unchanged.items()})
        domain = str(domains.get(target) or "")
        evaluator, note = (load_domain_evaluator(domain, images[target].shape[1], options.log) if domain
                           else (None, "unpaired.json names no set its images come from"))  # fmt: skip
        if evaluator is not None:
            floor_images = _side(floor_set, target) if floor_set is not None else None
            target_class = _class_index(evaluator, classes.get(target))
            found, found_floor, found_baseline = evaluator_metrics(
                evaluator, translated, images[target], images[source], floor_images, target_class, pairs,
                options.batch_size)  # fmt: skip
            values.update(found)
            floor.update({f"{name}_{direction}": value for name, value in found_floor.items()})
            baseline.update({f"{name}_{direction}": value for name, value in found_baseline.items()})
        timings[f"metrics_{direction}"] = round(time.perf_counter() - started, 2)
        metrics.update({f"{name}_{direction}": value for name, value in values.items()})

        shown = slice(0, TRIPLETS)
        page = triplet_page(images[source][shown], translated[shown], reconstructed[shown], source, target,
                            title=f"{split} split, {source} > {target} > {source}")  # fmt: skip
        save_image(page, out_dir / TRIPLET_FILES[direction])
        directions[direction] = {
            "source": source,
            "target": target,
            "source_images": int(images[source].shape[0]),
            "target_images": int(images[target].shape[0]),
            "target_domain": domain or None,
            "target_class": classes.get(target),
            "weights": generator_weights_path(run_dir, True, GENERATOR_NAMES[direction]).name,
            "partners": int(pairs[0].shape[0]) if pairs is not None else 0,
            "evaluator": _evaluator_note(evaluator is not None, note, floor_set, target, "class_share" in values),
            "triplets": TRIPLET_FILES[direction],
        }
    return {
        "num_samples": int(images["A"].shape[0] + images["B"].shape[0]),
        "step": checkpoint_step(run_dir),
        "generator": config.model.generator,
        "split": split,
        "image_size": int(test.image_size),
        "sides": {side: meta.get(side) for side in SIDES},
        "images": {side: int(images[side].shape[0]) for side in SIDES},
        "floor_images": None if floor_set is None else {side: len(_side(floor_set, side)) for side in SIDES},
        "true_partners": TRUE_PARTNERS if partners else None,
        "directions": directions,
        "metrics": metrics,
        "floor": floor,
        "input_as_output": baseline,
        "timings": timings,
    }


def evaluator_metrics(
    evaluator, translated: torch.Tensor, target: torch.Tensor, source: torch.Tensor, floor_images: torch.Tensor | None,
    target_class: int | None, pairs: tuple[torch.Tensor, torch.Tensor] | None, batch_size: int,
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:  # fmt: skip
    """(model, real floor, input as output) in the target side's evaluator, for uint8 translations of `source`
    against the target side's real `target` images: FID; the share in `target_class` when given; the class
    agreement with the true partners (`pairs`: indices into source and target) when given. The floor is
    `floor_images` (real training images of the target side); input as output needs equal channels."""
    real_classes, real = evaluator_predictions(evaluator, target, batch_size)
    fake_classes, fake = evaluator_predictions(evaluator, translated, batch_size)
    values, floor, baseline = {"fid": fid_from_features(real, fake)}, {}, {}
    if floor_images is not None:
        floor["fid"] = fid_from_features(real, evaluator_predictions(evaluator, floor_images, batch_size)[1])
    source_classes = None
    if source.shape[1] == target.shape[1]:
        source_classes, source_features = evaluator_predictions(evaluator, source, batch_size)
        baseline["fid"] = fid_from_features(real, source_features)
    if target_class is not None:
        share = lambda classes: float((classes == target_class).double().mean())  # noqa: E731
        values["class_share"], floor["class_share"] = share(fake_classes), share(real_classes)
        if source_classes is not None:
            baseline["class_share"] = share(source_classes)
    if pairs is not None:
        values["partner_agreement"] = class_agreement(fake_classes[pairs[0]], real_classes[pairs[1]])
        if source_classes is not None:
            baseline["partner_agreement"] = class_agreement(source_classes[pairs[0]], real_classes[pairs[1]])
    return values, floor, baseline


def _load(config: Config, split: str, limit: int) -> UnalignedDataset:
    """One split of the run's unaligned set as the run sees it (size, channels), the first `limit` per side."""
    d = config.data
    return load_unaligned(d.name, split, d.image_size, source_channels=d.source_channels, channels=d.channels,
                          limit=limit)  # fmt: skip


def _evaluator_note(found: bool, note: str, floor_set: UnalignedDataset | None, target: str, share: bool) -> str:
    if not found:
        return f"no FID or class share for side {target}: {note}"
    if floor_set is None:
        return f"FID {note}; no FID floor: the set has no test split, so the train split is evaluated"
    return (f"FID {note}; real floor: FID of {len(_side(floor_set, target)):,} real training images of side {target}"
            + (", class share of its real test images" if share else ""))  # fmt: skip


def _side(dataset: UnalignedDataset, side: str) -> torch.Tensor:
    return dataset.images_a if side == "A" else dataset.images_b


def _class_index(evaluator, name: str | None) -> int | None:
    """The evaluator's index of a class name (as make-unpaired writes it), or None."""
    names = [str(n).lower() for n in evaluator.info.get("class_names", [])]
    return names.index(name.lower()) if isinstance(name, str) and name.lower() in names else None


def read_partners(root: Path, test: UnalignedDataset) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The true partners among the loaded test images, per direction: {"AtoB": (index into side A, index into
    side B), "BtoA": (index into side B, index into side A)}; {} when the set has no test_pairs.json.

    A partner list naming a file that is not in the test split is a DataError; pairs beyond the loaded images
    (--samples) are left out."""
    partners = read_metadata(root, TRUE_PARTNERS)
    if not partners:
        return {}
    path = root / TRUE_PARTNERS
    existing = {side: {f"test{side}/{file.name}" for file in side_files(root, "test", side)} for side in SIDES}
    position = {"A": {f"testA/{name}": i for i, name in enumerate(test.names_a)},
                "B": {f"testB/{name}": i for i, name in enumerate(test.names_b)}}  # fmt: skip
    index_a, index_b = [], []
    for name_a, name_b in partners.items():
        if name_a not in existing["A"] or not isinstance(name_b, str) or name_b not in existing["B"]:
            raise DataError(f"{path}: the pair {name_a!r} -> {name_b!r} names no testA/testB image of {root}; "
                            "expected testA/NAME -> testB/NAME; remake the set with condgan data make-unpaired "
                            "--from-pairs")  # fmt: skip
        if name_a in position["A"] and name_b in position["B"]:
            index_a.append(position["A"][name_a])
            index_b.append(position["B"][name_b])
    if not index_a:
        return {}
    a, b = torch.tensor(index_a), torch.tensor(index_b)
    return {"AtoB": (a, b), "BtoA": (b, a)}


def triplet_page(source: torch.Tensor, translated: torch.Tensor, reconstructed: torch.Tensor, source_side: str,
                 target_side: str, title: str = ""):  # fmt: skip
    """A PIL grid of uint8 images in three rows: the input, its translation, the translation translated back."""
    from condgan.plots import class_grid

    rows = [source, translated, reconstructed]
    channels = max(row.shape[1] for row in rows)
    grid = torch.cat([row.expand(-1, channels, -1, -1) for row in rows])  # (3N, C, S, S)
    labels = [source_side, f"{source_side}>{target_side}", f"{source_side}>{target_side}>{source_side}"]
    return class_grid(to_float(grid), labels, cols=source.shape[0], title=title)


# ----------------------------------------------------------------------------- eval.md

LABELS = {
    "fid": ("FID (domain evaluator)", "lower"),
    "class_share": ("share in the target side's class", "higher"),
    "cycle_l1": ("cycle L1 (back to the input)", "lower"),
    "identity_l1": ("identity L1 (a target-side image)", "lower"),
    "partner_l1": ("L1 to the true partner", "lower"),
    "partner_psnr": ("PSNR to the true partner (dB)", "higher"),
    "partner_ssim": ("SSIM to the true partner", "higher"),
    "partner_agreement": ("class agreement with the true partner", "higher"),
}


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def markdown(result: dict) -> str:
    """The eval.md page of a cyclegan result: a table per direction and its triplet page."""
    metrics, floor, baseline = result["metrics"], result.get("floor", {}), result.get("input_as_output", {})
    sides = result.get("sides", {})
    lines = [
        f"# Evaluation of `{result['run']}`",
        "",
        f"CycleGAN, `{result['generator']}` generators, checkpoint step {result.get('step', '?')}, eval mode. "
        f"The **{result['split']}** split of `{result['dataset']}` at {result['image_size']} px: "
        f"{result['images']['A']:,} images of side A ({sides.get('A') or 'A'}) and {result['images']['B']:,} "
        f"of side B ({sides.get('B') or 'B'}).",
        "",
    ]
    for direction, info in result["directions"].items():
        source, target = info["source"], info["target"]
        lines += [
            f"## {source} → {target}",
            "",
            f"`{info['weights']}` on the {info['source_images']:,} images of side {source}; the target side "
            f"{target} has {info['target_images']:,}"
            + (f", class `{info['target_class']}`" if info.get("target_class") else "")
            + (f"; {info['partners']:,} true partners" if info.get("partners") else "")
            + ".",
            "",
            "| metric | model | real floor | input as output | better |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for name, (label, better) in LABELS.items():
            key = f"{name}_{direction}"
            if key in metrics:
                lines.append(f"| {label} | {_fmt(metrics[key])} | {_fmt(floor.get(key))} | {_fmt(baseline.get(key))} "
                             f"| {better} |")  # fmt: skip
        lines += [
            "",
            f"- {info['evaluator']}.",
            "",
            f"![rows: {source}, {source}>{target}, {source}>{target}>{source}]({info['triplets']})",
            "",
        ]
    lines += [
        "## How to read it",
        "",
        "FID compares the translations as a set with the target side's real test images in the domain "
        "evaluator's features (0 = same distribution); its *real floor* is what real training images of the "
        "target side score. The class share is how often the evaluator sees the target side's class in a "
        "translation; its floor is how often it sees it in the target side's real images. Cycle L1 is how far "
        "translating there and back lands from the input, identity L1 how much a generator changes an image "
        "that is already of its target side ([0, 1] scale, 0 = unchanged). *Input as output* is a generator "
        "that changes nothing: it meets the cycle and identity terms perfectly and fails FID and the class "
        "share, so read the columns together. With true partners (a set made with `--from-pairs`), L1, PSNR "
        "and SSIM compare each translation with the image it was unpaired from, and class agreement says "
        "whether the evaluator puts both in one class.",
        "",
        f"- Time: {result.get('seconds', 0):.0f} s.",
        "",
    ]
    return "\n".join(lines)
