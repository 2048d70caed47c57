"""The docs' own pictures: `python docs/scripts/figures.py` rewrites them.

- docs/assets/architecture.svg: the data flow, config -> ... -> generate / eval / serve / export.
- docs/assets/fashion-mnist-grid.png: a class grid of the shipped `pretrained:fashion-mnist` model
  (`condgan sample pretrained:fashion-mnist --grid ...`, seed 0): a real result, not a drawing.
- docs/assets/t-shirt-drawing.png: a T-shirt drawn as on the web demo's pad (256 px, black strokes on
  white: condgan.web.drawing's example sketch), for the README's `condgan translate` examples.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "docs" / "assets"

STAGES = [  # (title, what, module)
    ("config", "frozen dataclasses\n<- YAML <- --set", "config.py"),
    ("data", "named sets, folders,\npairs; batches", "data/"),
    ("models", "build_generator /\nbuild_discriminator", "models/"),
    ("task", "what a batch means;\nthe players' losses", "tasks/"),
    ("trainer", "generic loop: EMA,\nAMP, DDP, checkpoints", "trainer.py"),
    ("run directory", "config.json, weights,\nsamples, metrics", "runs/NAME/"),
]
USES = [  # what starts from a run directory (or pretrained:NAME)
    ("generate", "condgan sample"),
    ("translate", "condgan translate"),
    ("eval", "condgan eval"),
    ("serve", "condgan serve"),
    ("export", "condgan export"),
]


def architecture(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "condgan", "font.family": "DejaVu Sans"})
    fig, ax = plt.subplots(figsize=(11.5, 4.2))
    ax.set_xlim(0, 11.5)
    ax.set_ylim(0, 4.2)
    ax.axis("off")
    width, height, gap, top = 1.62, 1.25, 0.3, 2.75

    def box(x, y, w, h, title, what, module, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08", linewidth=1.2,
                                    edgecolor="#37474f", facecolor=color))  # fmt: skip
        ax.text(x + w / 2, y + h - 0.22, title, ha="center", va="center", fontsize=11, weight="bold", color="#212121")
        if what:
            ax.text(x + w / 2, y + h / 2 - 0.07, what, ha="center", va="center", fontsize=8, color="#37474f")
        ax.text(x + w / 2, y + 0.14, module, ha="center", va="center", fontsize=7.5, family="DejaVu Sans Mono",
                color="#546e7a")  # fmt: skip

    def arrow(start, end):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, linewidth=1.2, color="#37474f"))

    for i, (title, what, module) in enumerate(STAGES):
        x = 0.15 + i * (width + gap)
        color = "#fff3e0" if title == "run directory" else "#e3f2fd"
        box(x, top - height / 2, width, height, title, what, module, color)
        if i:
            arrow((x - gap, top), (x, top))
    run_x = 0.15 + (len(STAGES) - 1) * (width + gap) + width / 2
    use_w, use_gap = 1.3, 0.22
    start = 11.5 - 0.15 - len(USES) * use_w - (len(USES) - 1) * use_gap
    for i, (title, command) in enumerate(USES):
        x = start + i * (use_w + use_gap)
        box(x, 0.25, use_w, 0.85, title, "", command, "#e8f5e9")
        arrow((run_x, top - height / 2), (x + use_w / 2, 1.1))
    ax.text(0.15, 0.68, "After training, every\ncommand starts from a\nrun directory or\npretrained:NAME.", fontsize=9,
            color="#37474f", va="center")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return path


def class_grid(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    condgan = Path(sys.executable).parent / "condgan"
    subprocess.run([str(condgan), "sample", "pretrained:fashion-mnist", "--grid", str(path), "--seed", "0"], check=True)
    path.chmod(0o644)
    return path


T_SHIRT = [(11, 5), (4, 10), (7, 14), (10, 12), (10, 27), (22, 27), (22, 12), (25, 14), (28, 10), (21, 5)]
NECK = [(11, 5), (16, 8), (21, 5)]


def drawing(path: Path) -> Path:
    from condgan.web.drawing import render_example

    render_example("T-shirt").convert("L").save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rewrite the docs' pictures")
    parser.add_argument("--only", choices=["architecture", "grid", "drawing"], help="just one of them")
    args = parser.parse_args(argv)
    if args.only in (None, "architecture"):
        print(architecture(ASSETS / "architecture.svg"))
    if args.only in (None, "grid"):
        print(class_grid(ASSETS / "fashion-mnist-grid.png"))
    if args.only in (None, "drawing"):
        print(drawing(ASSETS / "t-shirt-drawing.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
