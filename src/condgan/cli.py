"""The `condgan` command line: parse arguments, then call library functions.

User errors (CondganError) print one line to stderr and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Before torch loads: idle OpenMP threads sleep instead of spinning (2-core machines stall otherwise).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file of config overrides (configs/*.yaml)")
    parser.add_argument("--out", type=Path, help="run directory to create (default runs/<data>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set train.lr=1e-4 (repeatable)")  # fmt: skip
    parser.add_argument("--data", help="fashion-mnist | mnist | kmnist | digits | cifar10 | folder:PATH")
    parser.add_argument("--image-size", type=int, help="resize images to this size (28, 32, 64)")
    parser.add_argument("--model", help="generator and discriminator architecture: mlp | dcgan")
    parser.add_argument("--conditioning", help="concat | projection | acgan")
    parser.add_argument("--num-classes", type=int, help="0 trains an unconditional (vanilla) GAN")
    parser.add_argument("--loss", help="bce | lsgan | hinge | wgan-gp")
    parser.add_argument("--steps", type=int, help="generator steps to train")
    parser.add_argument("--epochs", type=float, help="passes over the training set")
    parser.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop after this much training time")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--resume", type=Path, metavar="RUN", help="continue this run from its newest checkpoint")
    parser.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


FLAG_KEYS = {
    "data": "data.name",
    "image_size": "data.image_size",
    "conditioning": "model.conditioning",
    "num_classes": "model.num_classes",
    "loss": "loss.kind",
    "steps": "train.steps",
    "epochs": "train.epochs",
    "time_budget": "train.time_budget",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "seed": "train.seed",
    "device": "train.device",
}


def _config_from_args(args: argparse.Namespace, base: dict | None = None):
    from condgan.config import load_config

    overrides = []
    for flag, key in FLAG_KEYS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.model is not None:
        overrides += [f"model.generator={args.model}", f"model.discriminator={args.model}"]
    return load_config(args.config, overrides + list(args.overrides), base=base)


def cmd_train(args: argparse.Namespace) -> int:
    from condgan.training import train

    config = _config_from_args(args)
    if args.resume is not None:
        budget_given = any(getattr(args, k) is not None for k in ("steps", "epochs", "time_budget"))
        train(config if budget_given else None, out=args.resume, resume=True, progress=not args.no_progress)
        return 0
    out = args.out or Path("runs") / config.data.name.replace("folder:", "").replace("/", "_").strip("_")
    train(config, out=out, force=args.force, progress=not args.no_progress)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from condgan import sampling

    generator = sampling.load(args.run, args.device)
    did = False
    if args.output:
        sampling.write_samples(generator, args.output, args.classes, args.n, args.seed, args.truncation)
        did = True
    if args.grid:
        sampling.write_grid(generator, args.grid, args.seed, args.truncation)
        did = True
    if args.npz:
        sampling.write_npz(generator, args.npz, args.per_class, args.n, args.seed, args.truncation)
        did = True
    if args.interpolate:
        sampling.write_interpolation(generator, args.interpolate, args.seed)
        did = True
    if not did:
        from condgan.errors import CondganError

        raise CondganError(
            "nothing to write; pass -o FILE.png, --grid FILE.png, --npz FILE.npz or --interpolate FILE.png"
        )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from condgan.demo import run_demo

    run_demo(args.out, force=args.force, time_budget=args.time_budget, progress=not args.no_progress)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="condgan", description="Conditional GANs: train, sample, evaluate.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model into a run directory")
    _train_args(train)
    train.set_defaults(func=cmd_train)

    sample = commands.add_parser("sample", help="generate images from a trained run")
    sample.add_argument("run", help="run directory")
    sample.add_argument("--class", dest="classes", action="append", metavar="CLASS",
                        help="class name or index (repeatable; default: all classes in turn)")  # fmt: skip
    sample.add_argument("--n", type=int, default=64, help="number of images for -o or an unconditional --npz")
    sample.add_argument("-o", "--output", type=Path, help="write a grid of the samples to this PNG")
    sample.add_argument("--grid", type=Path, help="write a class grid (row = class) to this PNG")
    sample.add_argument("--per-class", type=int, default=1000, help="images per class for --npz")
    sample.add_argument("--npz", type=Path, help="write images (uint8) and labels (int64) to this .npz")
    sample.add_argument("--interpolate", type=Path, nargs="?", const=Path("interpolation.png"), metavar="PNG",
                        help="write latent interpolation strips (one per class)")  # fmt: skip
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--truncation", type=float, default=0.0, help="redraw noise beyond +-T (0 = off)")
    sample.add_argument("--device", default="auto")
    sample.set_defaults(func=cmd_sample)

    demo = commands.add_parser("demo", help="train the default Fashion-MNIST model and write its pictures")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--time-budget", type=float, default=None, help="seconds of training (default: the recipe's)")
    demo.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    demo.add_argument("--no-progress", action="store_true")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from condgan.errors import CondganError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CondganError as exc:
        print(f"condgan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("condgan: interrupted; the run directory keeps its last complete checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
