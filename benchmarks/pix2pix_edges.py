"""pix2pix vs the L1-only generator on Fashion-MNIST edges -> clothes at 32 px, each trained for the same time.

    OMP_NUM_THREADS=2 python benchmarks/pix2pix_edges.py              # 3 x 15 minutes of training
    OMP_NUM_THREADS=2 python benchmarks/pix2pix_edges.py --minutes 0.5  # a quick check of the script
    python benchmarks/pix2pix_edges.py --steps 2000 --l1-weights 10,100,1000  # SSIM against lambda, equal steps

Variants, all the same U-Net/PatchGAN and the same data, each with `--minutes` of training time:
- l1_only:  loss.gan_weight=0 (D never runs, so it gets about twice the steps),
- pix2pix:  bce + 100 * L1, the paper's loss,
- mismatch: pix2pix plus the seed's mismatched-pair negatives (loss.mismatch_weight=1, Reed et al.).
Each is measured on the whole test split (10,000 pairs): L1, PSNR, SSIM (scikit-image), and FID in the
Fashion-MNIST domain evaluator's features (with its real floor) and class agreement (the evaluator puts
the output in the class it puts the target in: the paper's FCN-score idea). The data set is made once by
`condgan data make-pairs --from fashion-mnist --task edges --size 32` (60,000 + 10,000 pairs).

Writes benchmarks/results/pix2pix_edges.json (pix2pix_edges_<M>min.json for other budgets) and a picture
benchmarks/results/pix2pix_edges[_<M>min].png: rows input | L1-only | pix2pix | mismatch | target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import torch  # noqa: E402

from condgan.config import load_config  # noqa: E402
from condgan.data.datasets import cache_dir  # noqa: E402
from condgan.data.make_pairs import make_pairs  # noqa: E402
from condgan.evaluation.pix2pix import evaluate_pix2pix  # noqa: E402
from condgan.training import train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {
    "l1_only": ["loss.gan_weight=0"],
    "pix2pix": [],
    "mismatch": ["loss.mismatch_weight=1"],
}
# CPU settings (the paper's U-Net and 70x70 PatchGAN, narrower and with larger batches to fit 2 cores):
COMMON = ["model.g_width=32", "model.d_width=32", "train.batch_size=32", "train.log_every=50",
          "train.sample_every=500", "train.checkpoint_every=500"]  # fmt: skip


def data_dir(path: str | None) -> Path:
    folder = Path(path) if path else cache_dir() / "pairs" / "fashion-mnist-edges-32"
    if not (folder / "pairs.json").is_file():
        print(f"making the edges pairs in {folder} (once)", flush=True)
        make_pairs("fashion-mnist", "edges", 32, folder, force=True)
    return folder


def comparison_picture(runs: dict[str, Path], data: Path, out: Path, count: int = 12) -> None:
    """Rows input | each variant's output | target for the first `count` test pairs."""
    from condgan.data.paired import load_split
    from condgan.inference.translate import load_translator
    from condgan.plots import class_grid, save_image

    first = load_translator(next(iter(runs.values())))
    dataset, _ = load_split(first.config, "test", limit=count)
    source, target = dataset.float_pairs()
    rows = [source] + [load_translator(run).translate_tensor(source) for run in runs.values()] + [target]
    save_image(class_grid(torch.cat(rows), ["input", *runs, "target"], cols=count), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training minutes per variant")
    parser.add_argument("--steps", type=int, default=0,
                        help="train each variant this many steps instead (ignores --minutes)")  # fmt: skip
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of the variants")
    parser.add_argument("--data", help="aligned pairs folder (default: made once under the condgan cache)")
    parser.add_argument("--runs", default="/tmp/condgan-bench/pix2pix_edges", help="where the run directories go")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="pix2pix_edges", help="results file stem (benchmarks/results/NAME.json)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra override for every variant, e.g. --set model.n_layers=1")  # fmt: skip
    parser.add_argument("--l1-weights", default="",
                        help="lambdas, comma-separated: each GAN variant once per lambda, e.g. 10,100")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = [name for name in args.variants.split(",") if name]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; valid: {', '.join(VARIANTS)}")
    try:
        lambdas = [float(w) for w in args.l1_weights.split(",") if w]
    except ValueError:
        raise SystemExit(
            f"--l1-weights takes comma-separated numbers, e.g. 10,100,1000; got {args.l1_weights!r}"
        ) from None
    plan = {}  # label -> the variant's overrides
    for name in names:
        if lambdas and name != "l1_only":
            plan.update({f"{name}_l1w{w:g}": [*VARIANTS[name], f"loss.l1_weight={w:g}"] for w in lambdas})
        else:
            plan[name] = VARIANTS[name]
    data = data_dir(args.data)
    budget = f"train.steps={args.steps}" if args.steps else f"train.time_budget={args.minutes * 60}"
    suffix = f"_{args.steps}steps" if args.steps else ("" if args.minutes == 15 else f"_{args.minutes:g}min")
    result = {
        "benchmark": "pix2pix_edges",
        "task": "Fashion-MNIST edges (Canny) -> image, 32 px, 60k train / 10k test pairs",
        "budget_per_variant": f"{args.steps} steps" if args.steps else f"{args.minutes:g} minutes of training",
        "common_overrides": [*COMMON, *args.overrides],
        "seed": args.seed,
        "torch": torch.__version__,
        "threads": args.threads,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "load_average_before": list(os.getloadavg()),
        "variants": {},
    }
    runs: dict[str, Path] = {}
    for name, variant in plan.items():
        overrides = ["task=pix2pix", f"data.name=aligned:{data}", budget,
                     f"train.seed={args.seed}", f"train.threads={args.threads}", *COMMON, *args.overrides,
                     *variant]  # fmt: skip
        run = Path(args.runs) / name
        print(f"training {name} ({budget}) -> {run}", flush=True)
        started = time.perf_counter()
        train(load_config(overrides=overrides), out=run, force=True, progress=False, log=print)
        wall = time.perf_counter() - started
        evaluation = evaluate_pix2pix(run, log=print)
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        runs[name] = run
        result["variants"][name] = {
            "overrides": variant,
            "steps": rows[-1]["step"],
            "train_seconds": rows[-1]["time"],
            "wall_seconds_with_loading": round(wall, 1),
            "metrics": evaluation["metrics"],
            "fid_floor": evaluation["floor"].get("fid"),
            "pairs": evaluation["pairs"],
            "run": str(run),
        }
        print(name, json.dumps(result["variants"][name]["metrics"]), flush=True)
    variants = result["variants"]
    if "pix2pix" in variants and "l1_only" in variants:
        result["pix2pix_ssim_beats_l1_only"] = (
            variants["pix2pix"]["metrics"]["ssim"] > variants["l1_only"]["metrics"]["ssim"]
        )
    if "l1_only" in variants:
        result["ssim_minus_l1_only"] = {
            name: v["metrics"]["ssim"] - variants["l1_only"]["metrics"]["ssim"] for name, v in variants.items()
        }
    if "pix2pix" in variants and "mismatch" in variants:
        result["mismatch_minus_pix2pix"] = {
            key: variants["mismatch"]["metrics"][key] - variants["pix2pix"]["metrics"][key]
            for key in variants["pix2pix"]["metrics"]
        }
    result["load_average_after"] = list(os.getloadavg())
    if runs:
        picture = RESULTS / f"{args.name}{suffix}.png"
        comparison_picture(runs, data, picture)
        result["picture"] = str(picture.relative_to(RESULTS.parent.parent))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.name}{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
