"""The `condgan` command line: parse arguments, then call library functions.

User errors (CondganError) print one line to stderr and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from condgan.threads import use_condgan_threads

# Before torch loads: idle OpenMP threads spin briefly, then sleep (condgan/threads.py says why).
use_condgan_threads()


def _train_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file of config overrides (configs/*.yaml)")
    parser.add_argument("--out", type=Path, help="run directory to create (default runs/<data>)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set train.lr=1e-4 (repeatable)")  # fmt: skip
    parser.add_argument("--data", help="fashion-mnist | mnist | kmnist | digits | cifar10 | folder:PATH; pix2pix: "
                                       "aligned:DIR | pairs:DIR; cyclegan: unaligned:DIR")  # fmt: skip
    parser.add_argument("--image-size", type=int, help="resize images to this size (28, 32, 64)")
    parser.add_argument("--task", help="cgan (class-conditional, default) | pix2pix (paired image translation) | "
                                       "cyclegan (unpaired image translation)")  # fmt: skip
    parser.add_argument("--model", help="generator and discriminator architecture: mlp | dcgan")
    parser.add_argument("--generator", help="generator only: mlp | dcgan | unet | resnet (pix2pix: unet)")
    parser.add_argument("--discriminator", help="mlp | dcgan | patchgan | pixel (pix2pix: patchgan)")
    parser.add_argument("--direction", help="pix2pix aligned data: AtoB (left half is the input) | BtoA")
    parser.add_argument("--conditioning", help="concat | projection | acgan | contrastive")
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
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress output (a bar on a terminal, else a line every 30 s)")  # fmt: skip


FLAG_KEYS = {
    "task": "task",
    "generator": "model.generator",
    "discriminator": "model.discriminator",
    "direction": "data.direction",
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
    name = config.data.name
    for prefix in ("folder:", "aligned:", "pairs:", "unaligned:"):
        name = name.removeprefix(prefix)
    out = args.out or Path("runs") / name.replace("/", "_").strip("_")
    train(config, out=out, force=args.force, progress=not args.no_progress)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from condgan.inference import sampling

    generator = sampling.load(args.run, args.device, args.precision)
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


def cmd_export(args: argparse.Namespace) -> int:
    from condgan.inference.export import export_run

    reports = export_run(args.run, args.output, opset=args.opset, use_ema=not args.no_ema,
                         direction=args.direction or "")  # fmt: skip
    for report in reports:
        meta, diff = report["metadata"], report["max_abs_diff"]
        check = f"; onnxruntime matches PyTorch to {diff:.1e}" if diff is not None else ""
        way = f" {meta['direction']}" if "direction" in meta else ""
        print(f"condgan: wrote {report['path']} ({meta['task']}{way} generator, {meta['weights']} weights, "
              f"step {meta['step']}, inputs {', '.join(report['inputs'])}{check})", file=sys.stderr)  # fmt: skip
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from condgan.evaluation import evaluate_run
    from condgan.evaluation.report import format_table, summary_line

    result = evaluate_run(args.run, num_samples=args.samples, seed=args.seed, batch_size=args.batch_size,
                          device=args.device, inception_weights=args.inception_weights, out=args.out)  # fmt: skip
    print(format_table(result))
    if result.get("inception"):
        print(result["inception"], file=sys.stderr)
    print(summary_line(result))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from condgan.web.app import serve

    serve(args.runs, host=args.host, port=args.port, device=args.device)
    return 0


def cmd_pretrained(args: argparse.Namespace) -> int:
    from condgan.inference import pretrained

    if args.pretrained_command == "list":
        print("\n".join(pretrained.describe()) or "no pretrained models found")
        return 0
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    dest = pretrained.pack(args.run, args.name, out_root=args.out, recipe=args.recipe, force=args.force, log=log,
                           data=args.data)  # fmt: skip
    print(f"condgan: load it with load_generator('pretrained:{args.name}') (folder {dest})", file=sys.stderr)
    return 0


def _serve_parsers(commands) -> None:
    serve = commands.add_parser("serve", help="web demo (Gradio) of runs or pretrained models on 127.0.0.1")
    serve.add_argument("runs", nargs="*", metavar="RUN",
                       help="run directories or pretrained:NAME (default: every shipped pretrained model)")  # fmt: skip
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    serve.add_argument("--device", default="auto")
    serve.set_defaults(func=cmd_serve)

    pre = commands.add_parser("pretrained", help="list the shipped pretrained models, or pack a run as one")
    pre_commands = pre.add_subparsers(dest="pretrained_command", required=True, metavar="COMMAND")
    pre_commands.add_parser("list", help="the pretrained:NAME models available").set_defaults(func=cmd_pretrained)
    pack = pre_commands.add_parser("pack", help="turn a trained run into a pretrained model folder (EMA, fp16)")
    pack.add_argument("run", help="run directory")
    pack.add_argument("--name", required=True, help="the NAME of pretrained:NAME, e.g. fashion-mnist")
    pack.add_argument("--out", type=Path, help="folder to write NAME/ into (default: the package's pretrained_models)")
    pack.add_argument("--recipe", default="", help="the command that trained the run, for the model's README")
    pack.add_argument("--force", action="store_true", help="replace an existing model of that name")
    pack.add_argument("--data", default="", help="the data set its config names instead of the run's (a path that "
                      "exists elsewhere too, e.g. the one its recipe makes: unaligned:data/sneaker2boot)")  # fmt: skip
    pack.set_defaults(func=cmd_pretrained)


EXAMPLES: dict[str, tuple[str, ...]] = {
    "train": (
        "condgan train --data fashion-mnist --time-budget 300 --out runs/fashion",
        "condgan train --config configs/digits.yaml --set train.lr=1e-4 --out runs/digits",
        "condgan train --data digits --num-classes 0 --steps 2000 --out runs/vanilla",
        "condgan train --resume runs/fashion --steps 8000",
        "condgan train --task cyclegan --data unaligned:data/sneaker2boot --steps 2000 --out runs/sneaker2boot",
    ),
    "sample": (
        "condgan sample pretrained:fashion-mnist --class sneaker --n 16 -o sneakers.png",
        "condgan sample runs/fashion --grid grid.png --interpolate interpolation.png",
    ),
    "demo": ("condgan demo --out runs/demo --time-budget 60",),
    "export": ("condgan export pretrained:fashion-mnist -o generator.onnx",),
    "eval": ("condgan eval pretrained:fashion-mnist --samples 2000", "condgan eval runs/sneaker2boot --samples 1000"),
    "translate": (
        "condgan translate pretrained:edges2fashion edges.png -o clothes.png",
        "condgan translate runs/edges data/fm-edges32/test --aligned -o translated/",
        "condgan translate runs/sneaker2boot data/sneaker2boot/testB -o sneakers/ --direction BtoA",
    ),
    "data": ("condgan data make-pairs --from fashion-mnist --task edges --size 32 --out data/fm-edges32",),
    "data make-pairs": ("condgan data make-pairs --from fashion-mnist --task edges --size 32 --out data/fm-edges32",),
    "data make-unpaired": (
        "condgan data make-unpaired --from fashion-mnist --a sneaker --b ankle-boot --size 32 --out data/sneaker2boot",
        "condgan data make-unpaired --from-pairs data/fm-edges32 --out data/edges2fashion-unpaired",
    ),
    "data fetch": (
        "condgan data fetch facades",
        "condgan data fetch horse2zebra",
        "condgan data fetch maps --unpaired",
    ),
    "import-pix2pix": ("condgan import-pix2pix latest_net_G.pth --netG unet_256 --out runs/facades-reference",),
    "import-cyclegan": ("condgan import-cyclegan latest_net_G_A.pth latest_net_G_B.pth --out runs/horse2zebra",),
    "serve": ("condgan serve runs/fashion pretrained:edges2fashion --port 7860",),
    "pretrained": ("condgan pretrained list",),
    "pretrained list": ("condgan pretrained list",),
    "pretrained pack": ("condgan pretrained pack runs/fashion --name my-fashion --recipe 'condgan demo'",),
}


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser by its name ('train', 'data make-pairs', ...), nested ones too."""
    found = {}
    for action in parser._actions:  # argparse has no public way to reach subparsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[prefix + name] = sub
                found.update(subcommands(sub, prefix + name + " "))
    return found


def _add_examples(parser: argparse.ArgumentParser) -> None:
    for name, sub in subcommands(parser).items():
        if name in EXAMPLES:
            sub.epilog = "examples:\n" + "\n".join(f"  {example}" for example in EXAMPLES[name])
            sub.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' lines as written


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("condgan")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed; pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="condgan", description="Conditional GANs: train, sample, evaluate.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a model into a run directory")
    _train_args(train)
    train.set_defaults(func=cmd_train)

    sample = commands.add_parser("sample", help="generate images from a trained run")
    sample.add_argument("run", help="run directory or pretrained:NAME")
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
    sample.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16: ~4x the images/s of a conv generator on CPUs with AMX/AVX512-BF16 and on "
                             "GPUs, the same FID (slower on CPUs without bf16 units)")  # fmt: skip
    sample.set_defaults(func=cmd_sample)

    demo = commands.add_parser("demo", help="train the default Fashion-MNIST model and write its pictures")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--time-budget", type=float, default=None, help="seconds of training (default: the recipe's)")
    demo.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    demo.add_argument("--no-progress", action="store_true", help="no progress output")
    demo.set_defaults(func=cmd_demo)

    export = commands.add_parser("export", help="export a run's generator (EMA weights, eval mode) to ONNX")
    export.add_argument("run", help="run directory or pretrained:NAME")
    export.add_argument("--format", default="onnx", choices=["onnx"], help="file format (onnx)")
    export.add_argument("-o", "--output", type=Path, required=True, help="file to write, e.g. gen.onnx")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    export.add_argument("--no-ema", action="store_true", help="export the raw generator weights, not the EMA")
    export.add_argument("--direction", choices=["AtoB", "BtoA"],
                        help="cyclegan: only this one (default: both, OUT.AtoB.onnx and OUT.BtoA.onnx)")  # fmt: skip
    export.set_defaults(func=cmd_export)

    evaluate = commands.add_parser("eval", help="measure a run's samples beside real data (eval.md, eval.json)")
    evaluate.add_argument("run", help="run directory or pretrained:NAME")
    evaluate.add_argument("--samples", type=int, default=10_000,
                          help="cgan: generated images, balanced over classes; pix2pix: test pairs at most; "
                               "cyclegan: test images per side at most")  # fmt: skip
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--batch-size", type=int, default=1000, help="images per generator/evaluator batch")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--out", type=Path, metavar="DIR",
                          help="report folder (default: the run; pretrained:NAME: runs/pretrained-NAME)")  # fmt: skip
    evaluate.add_argument("--inception-weights", type=Path, metavar="PATH",
                          help="Inception weights file: adds Inception FID (needs condgan[inception])")  # fmt: skip
    evaluate.set_defaults(func=cmd_eval)
    from condgan.cli_translation import translation_parsers  # after use_condgan_threads(), like every import here

    translation_parsers(commands)
    _serve_parsers(commands)
    _add_examples(parser)
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
