"""How an evaluation result reads: eval.json, eval.md, the terminal table and the one-line summary.

Works on any result of `condgan.evaluation.evaluate_run` whose "metrics" and "floor" map metric
names to numbers; names missing from METRIC_INFO are shown as they are (a task can add its own). A
name ending in a direction (`fid_AtoB`, CycleGAN's) reads as its metric with the direction's arrow.
"""

from __future__ import annotations

import json
from pathlib import Path

from condgan.checkpoint import atomic_write_text

# name -> (label, which way is better). KID's std is shown beside KID.
METRIC_INFO: dict[str, tuple[str, str]] = {
    "conditional_accuracy": ("conditional accuracy", "higher"),
    "fid": ("FID", "lower"),
    "intra_fid": ("intra-class FID (mean)", "lower"),
    "kid": ("KID (± std over subsets)", "lower"),
    "precision": ("precision", "higher"),
    "recall": ("recall", "higher"),
    "density": ("density", "near 1"),
    "coverage": ("coverage", "higher"),
    "inception_fid": ("Inception FID", "lower"),
    "l1": ("L1 to the target", "lower"),  # pix2pix (evaluation/pix2pix.py)
    "psnr": ("PSNR (dB)", "higher"),
    "ssim": ("SSIM", "higher"),
    "class_agreement": ("class agreement (output vs target)", "higher"),
    "class_share": ("share in the target side's class", "higher"),  # cyclegan (evaluation/cyclegan.py)
    "cycle_l1": ("cycle L1", "lower"),
    "identity_l1": ("identity L1", "lower"),
    "partner_l1": ("L1 to the true partner", "lower"),
    "partner_psnr": ("PSNR to the true partner", "higher"),
    "partner_ssim": ("SSIM to the true partner", "higher"),
    "partner_agreement": ("class agreement with the true partner", "higher"),
}
DIRECTIONS = {"_AtoB": "A→B", "_BtoA": "B→A"}  # name suffix -> shown after the label
HIDDEN = {"kid_std"}


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def _cell(values: dict, name: str) -> str:
    if name not in values:
        return "-"
    if name == "kid" and "kid_std" in values:
        return f"{fmt(values['kid'])} ± {fmt(values['kid_std'])}"
    return fmt(values[name])


def _split_direction(name: str) -> tuple[str, str]:
    """'fid_AtoB' -> ('fid', 'A→B'); a name without a direction -> (name, '')."""
    for suffix, arrow in DIRECTIONS.items():
        if name.endswith(suffix):
            return name[: -len(suffix)], arrow
    return name, ""


def table_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """(metric, model, real floor, better) for every metric of the result, known ones first (in METRIC_INFO's
    order, each direction of a metric beside the other)."""
    metrics, floor = result["metrics"], result.get("floor", {})
    known = list(METRIC_INFO)
    names = [n for n in metrics if n not in HIDDEN]
    names.sort(key=lambda n: known.index(_split_direction(n)[0]) if _split_direction(n)[0] in known else len(known))
    rows = []
    for name in names:
        base, arrow = _split_direction(name)
        label, better = METRIC_INFO.get(base, (base, ""))
        rows.append((f"{label} {arrow}".strip(), _cell(metrics, name), _cell(floor, name), better))
    return rows


def format_table(result: dict) -> str:
    """The terminal table: metric | model | real floor | better."""
    rows = [("metric", "model", "real floor", "better"), *table_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def summary_line(result: dict) -> str:
    """One line: the headline numbers beside the floor, the sample count, the time and where the report is."""
    metrics, floor = result["metrics"], result.get("floor", {})
    parts = []
    for name, label in (("conditional_accuracy", "accuracy"), ("fid", "FID"), ("intra_fid", "intra-FID"),
                        ("kid", "KID"), ("inception_fid", "Inception FID"), ("fid_AtoB", "FID A→B"),
                        ("fid_BtoA", "FID B→A"), ("class_share_AtoB", "class share A→B"),
                        ("class_share_BtoA", "class share B→A"), ("cycle_l1_AtoB", "cycle L1 A→B"),
                        ("cycle_l1_BtoA", "cycle L1 B→A")):  # fmt: skip
        if name in metrics:
            real = f" (real {fmt(floor[name])})" if name in floor else ""
            parts.append(f"{label} {fmt(metrics[name])}{real}")
    step = f" step {result['step']}" if result.get("step") is not None else ""
    report = result.get("report") or Path(result["run"]) / "eval.md"
    return (
        f"condgan eval {result['run']}{step}: {', '.join(parts)}; "
        f"{result['num_samples']:,} samples, {result.get('seconds', 0):.0f} s -> {report}"
    )


def markdown(result: dict) -> str:
    if result.get("task") == "pix2pix":  # its own page: outputs against targets, input | output | target triplets
        from condgan.evaluation.pix2pix import markdown as pix2pix_markdown

        return pix2pix_markdown(result)
    if result.get("task") == "cyclegan":  # a table per direction, input | translated | reconstructed triplets
        from condgan.evaluation.cyclegan import markdown as cyclegan_markdown

        return cyclegan_markdown(result)
    samples = result.get("samples", {})
    settings = result.get("settings", {})
    evaluator = result.get("evaluator", {})
    lines = [
        f"# Evaluation of `{result['run']}`",
        "",
        f"Task `{result['task']}`, dataset `{result['dataset']}`, generator `{result.get('generator', '?')}`, "
        f"checkpoint step {result.get('step', '?')} (`{result.get('weights', '?')}`), seed {result['seed']}.",
        "",
        f"- **Samples:** {samples.get('generated', result['num_samples']):,} generated"
        + (f" ({samples['generated'] // len(result['class_names']):,} per class)" if result.get("class_names") else "")
        + f", compared with the {samples.get('real_test', 0):,} real test images.",
        f"- **Real floor:** {samples.get('real_floor', 0):,} real training images"
        + (" (balanced over the classes)" if result.get("class_names") else "")
        + " against the same test images: what real held-out data scores, the best this evaluator can tell."
        + (
            " It has fewer images than the generated set (the training split is smaller), so its FID is biased "
            "upwards: compare with care."
            if samples.get("real_floor", 0) < samples.get("generated", 0)
            else ""
        ),
        f"- **Feature space:** the domain evaluator `{evaluator.get('name', '?')}` "
        f"({evaluator.get('feature_dim', '?')} features; test accuracy {fmt(evaluator.get('test_accuracy'))}).",
        f"- KID: {settings.get('kid_subsets', '?')} subsets of {settings.get('kid_subset_size', '?')}; "
        f"precision/recall k={settings.get('precision_recall_k', '?')}, "
        f"density/coverage k={settings.get('density_coverage_k', '?')}.",
        "",
        "| metric | model | real floor | better |",
        "| --- | ---: | ---: | --- |",
        *(f"| {m} | {v} | {f} | {b} |" for m, v, f, b in table_rows(result)),
        "",
        "How to read it: FID and KID are distances to the test set in the evaluator's features (0 = same "
        "distribution); precision is the share of samples that look real (fidelity), recall the share of real "
        "images the samples reach (diversity); density near 1 and coverage near the floor mean samples spread "
        "like real ones. A model is as good as this evaluator can tell when its numbers reach the floor's.",
        "",
    ]
    if result.get("per_class"):
        lines += [
            "## Per class",
            "",
            "| class | samples | accuracy | real accuracy | FID | real FID |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *(
                f"| {row['class']} | {row['samples']:,} | {fmt(row['accuracy'])} | {fmt(row['floor_accuracy'])} "
                f"| {fmt(row['fid'])} | {fmt(row['floor_fid'])} |"
                for row in result["per_class"]
            ),
            "",
            "Real accuracy: the evaluator on the real test images of the class. FID per class: the class's samples "
            "against its test images (fewer samples than the whole set, so larger than the overall FID).",
            "",
        ]
    if result.get("grid"):
        lines += ["## Samples", "", f"![samples, one row per class]({result['grid']})", ""]
    lines += ["## Notes", ""]
    if result.get("inception"):
        lines.append(f"- {result['inception']}")
    if result.get("timings"):
        spent = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result["timings"].items())
        lines.append(f"- Time: {result.get('seconds', 0):.0f} s in all ({spent}).")
    lines.append("")
    return "\n".join(lines)


def write_report(out_dir: Path, result: dict) -> None:
    """eval.json (the result) and eval.md in `out_dir`, each written atomically."""
    atomic_write_text(Path(out_dir) / "eval.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(Path(out_dir) / "eval.md", markdown(result))
