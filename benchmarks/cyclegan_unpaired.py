"""CycleGAN on small unpaired tasks on a CPU: what learning without pairs costs, and whether it translates.

    python benchmarks/cyclegan_unpaired.py                          # both tasks, 15 minutes a run (45 in all)
    python benchmarks/cyclegan_unpaired.py --tasks sneaker2boot --minutes 3 --name cyclegan_probe_resnet
    python benchmarks/cyclegan_unpaired.py --quick                  # a few steps: checks that the script works

Tasks, each at 32 px from Fashion-MNIST, each run with `--minutes` of training on `--threads` threads:
- edges2fashion: the Canny edge pairs of `condgan data make-pairs --task edges` with the pairing destroyed
  (`make-unpaired --from-pairs`: each side shuffled, the test split's true partners kept aside). CycleGAN
  learns edges <-> clothes from the unpaired sides; pix2pix learns from the true pairs for the same time
  (the paired upper bound, configs/pix2pix-edges32.yaml). Both are scored edges -> clothes on the whole test
  split: FID in the Fashion-MNIST domain evaluator's features (beside the real floor) and class agreement
  (the evaluator puts the output in the class of the true partner). Targets: CycleGAN's FID at most twice
  pix2pix's, class agreement at least 0.75.
- sneaker2boot: `make-unpaired --from fashion-mnist --a sneaker --b ankle-boot`. Targets, each direction:
  at least 90% of the translated test images in the target side's class, cycle L1 at most 0.05.

The CycleGAN recipe is configs/cyclegan-small.yaml; `--set KEY=VALUE` changes it for every CycleGAN run.
Writes benchmarks/results/NAME.json (default cyclegan_unpaired) and NAME.png: for each task, rows of test
inputs, their translations and, for edges2fashion, pix2pix's output and the true partner.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import torch  # noqa: E402
from bench_common import ROOT, machine, setup, write_result  # noqa: E402

from condgan.config import load_config  # noqa: E402
from condgan.data.datasets import cache_dir  # noqa: E402

CYCLEGAN_YAML = ROOT / "configs" / "cyclegan-small.yaml"
PIX2PIX_YAML = ROOT / "configs" / "pix2pix-edges32.yaml"
TASKS = ("edges2fashion", "sneaker2boot")
TARGETS = {
    "edges2fashion": {"fid_ratio_at_most": 2.0, "class_agreement_at_least": 0.75},
    "sneaker2boot": {"class_share_at_least": 0.90, "cycle_l1_at_most": 0.05},
}
COLUMNS = 12  # test images in the picture


def make_data(task: str, root: Path, limit: int) -> dict[str, Path]:
    """The task's data folders under `root`, made once: {"unpaired": DIR} (and {"paired": DIR} for edges)."""
    from condgan.data.make_pairs import make_pairs
    from condgan.data.make_unpaired import make_unpaired_classes, make_unpaired_pairs

    tag = f"-limit{limit}" if limit else ""
    folders: dict[str, Path] = {}
    if task == "edges2fashion":
        paired = root / f"fashion-mnist-edges-32{tag}"
        if not (paired / "pairs.json").is_file():
            print(f"making the edges pairs in {paired} (once)", flush=True)
            make_pairs("fashion-mnist", "edges", 32, paired, limit=limit, force=True)
        unpaired = root / f"fashion-mnist-edges-32-unpaired{tag}"
        if not (unpaired / "unpaired.json").is_file():
            make_unpaired_pairs(paired, unpaired, force=True)
        folders = {"paired": paired, "unpaired": unpaired}
    else:
        unpaired = root / f"fashion-mnist-sneaker2boot-32{tag}"
        if not (unpaired / "unpaired.json").is_file():
            make_unpaired_classes("fashion-mnist", "sneaker", "ankle-boot", unpaired, size=32, limit=limit,
                                  force=True)  # fmt: skip
        folders = {"unpaired": unpaired}
    return folders


def train_and_eval(yaml_path: Path, overrides: list[str], run: Path, samples: int) -> dict:
    from condgan.evaluation import evaluate_run
    from condgan.training import train

    print(f"training {run.name} -> {run}", flush=True)
    started = time.perf_counter()
    train(load_config(yaml_path, overrides), out=run, force=True, progress=False, log=print)
    wall = time.perf_counter() - started
    evaluation = evaluate_run(run, num_samples=samples, log=print)
    row = json.loads([line for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()][-1])
    return {
        "steps": row["step"],
        "train_seconds": row["time"],
        "wall_seconds_with_loading": round(wall, 1),
        "metrics": evaluation["metrics"],
        "floor": evaluation["floor"],
        "input_as_output": evaluation.get("input_as_output", {}),
        "run": str(run),
    }


def verdict(task: str, runs: dict[str, dict]) -> dict:
    """The task's measured numbers against its targets."""
    m = runs["cyclegan"]["metrics"]
    if task == "edges2fashion":
        paired = runs["pix2pix"]["metrics"]
        ratio = m["fid_AtoB"] / paired["fid"]
        agreement = m["partner_agreement_AtoB"]
        t = TARGETS[task]
        return {"fid_cyclegan": m["fid_AtoB"], "fid_pix2pix": paired["fid"], "fid_ratio": ratio,
                "class_agreement_cyclegan": agreement, "class_agreement_pix2pix": paired["class_agreement"],
                "met": ratio <= t["fid_ratio_at_most"] and agreement >= t["class_agreement_at_least"]}  # fmt: skip
    t = TARGETS[task]
    shares = {d: m[f"class_share_{d}"] for d in ("AtoB", "BtoA")}
    cycles = {d: m[f"cycle_l1_{d}"] for d in ("AtoB", "BtoA")}
    met = min(shares.values()) >= t["class_share_at_least"] and max(cycles.values()) <= t["cycle_l1_at_most"]
    return {"class_share": shares, "cycle_l1": cycles, "met": met}


def picture(task: str, runs: dict[str, dict], data: dict[str, Path], out: Path) -> None:
    """Rows: inputs | CycleGAN's translation (| pix2pix's | the true partner) for edges -> clothes, both ways
    for sneaker <-> boot."""
    from condgan.data.loader import to_float
    from condgan.data.unaligned import load_unaligned
    from condgan.evaluation.cyclegan import read_partners
    from condgan.inference.translate import load_translator
    from condgan.plots import class_grid, save_image

    test = load_unaligned(f"unaligned:{data['unpaired']}", "test", 32)
    a, b = to_float(test.images_a[:COLUMNS]), to_float(test.images_b[:COLUMNS])
    cyclegan = Path(runs["cyclegan"]["run"])
    to_b, to_a = load_translator(cyclegan, direction="AtoB"), load_translator(cyclegan, direction="BtoA")
    if task == "edges2fashion":
        index_a, index_b = read_partners(data["unpaired"], test)["AtoB"]
        order = torch.argsort(index_a)[:COLUMNS]
        edges = to_float(test.images_a[index_a[order]])
        partners = to_float(test.images_b[index_b[order]])
        pix2pix = load_translator(Path(runs["pix2pix"]["run"])).translate_tensor(edges)
        rows, labels = [edges, to_b.translate_tensor(edges), pix2pix, partners], ["edges", "CycleGAN",
                                                                                  "pix2pix", "true"]  # fmt: skip
    else:
        rows = [a, to_b.translate_tensor(a), b, to_a.translate_tensor(b)]
        labels = ["sneaker", "> boot", "boot", "> sneaker"]
    save_image(class_grid(torch.cat(rows), labels, cols=COLUMNS), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated subset of {', '.join(TASKS)}")
    parser.add_argument("--minutes", type=float, default=15.0, help="training minutes per run")
    parser.add_argument("--runs", default="/tmp/condgan-bench/cyclegan_unpaired", help="where the runs go")
    parser.add_argument("--name", default="cyclegan_unpaired", help="results file stem")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--samples", type=int, default=10000, help="test images per side to score")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra override for every CycleGAN run, e.g. --set model.generator=resnet")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a few steps on a few images: checks the script")
    args = parser.parse_args()
    tasks = [task for task in args.tasks.split(",") if task]
    unknown = [task for task in tasks if task not in TASKS]
    if unknown:
        raise SystemExit(f"unknown tasks {unknown}; valid: {', '.join(TASKS)}")
    device = setup(args.threads, "cpu")
    limit = 64 if args.quick else 0
    budget = ["train.steps=3", "train.time_budget=0"] if args.quick else [
        "train.steps=1000000000", f"train.time_budget={args.minutes * 60:g}"]  # fmt: skip
    common = [f"train.threads={args.threads}", "train.seed=0", *budget]
    result = {
        "benchmark": "cyclegan_unpaired",
        "command": " ".join(["python benchmarks/cyclegan_unpaired.py", f"--tasks {args.tasks}",
                             f"--minutes {args.minutes:g}", f"--threads {args.threads}", f"--name {args.name}",
                             *(f"--set {o}" for o in args.overrides)]),
        **machine(device, args.threads),
        "minutes_per_run": 0 if args.quick else args.minutes,
        "cyclegan_recipe": str(CYCLEGAN_YAML.relative_to(ROOT)),
        "cyclegan_overrides": args.overrides,
        "pix2pix_recipe": str(PIX2PIX_YAML.relative_to(ROOT)),
        "targets": {task: TARGETS[task] for task in tasks},
        "quick": args.quick,
        "tasks": {},
    }  # fmt: skip
    root = Path(args.runs)
    for task in tasks:
        data = make_data(task, cache_dir() / "unpaired-bench", limit)
        samples = min(args.samples, limit) if limit else args.samples
        runs = {"cyclegan": train_and_eval(
            CYCLEGAN_YAML, [f"data.name=unaligned:{data['unpaired']}", *common, *args.overrides],
            root / f"{task}-cyclegan", samples)}  # fmt: skip
        if "paired" in data:
            runs["pix2pix"] = train_and_eval(PIX2PIX_YAML, [f"data.name=aligned:{data['paired']}", *common],
                                             root / f"{task}-pix2pix", samples)  # fmt: skip
        outcome = verdict(task, runs)
        print(task, outcome, flush=True)
        sheet = Path(args.name + f"_{task}.png")
        result["tasks"][task] = {"data": {k: str(v) for k, v in data.items()}, "runs": runs, "result": outcome,
                                 "picture": str(sheet)}  # fmt: skip
        out = write_result(args.name, result)
        picture(task, runs, data, out.parent / sheet)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"wrote {write_result(args.name, result)}")


if __name__ == "__main__":
    main()
