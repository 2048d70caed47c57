"""The `condgan` commands of image-to-image translation: translate, data (make-pairs, make-unpaired, fetch),
import-pix2pix and import-cyclegan; cli.py adds them to the parser (translation_parsers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_translate(args: argparse.Namespace) -> int:
    from condgan.inference.translate import load_translator

    translator = load_translator(args.run, args.device, inference=args.inference, direction=args.direction or "")
    warn = lambda message: print(f"condgan: warning: {message}", file=sys.stderr)  # noqa: E731
    sizes = {"native_size": args.native_size, "output_size": args.output_size}
    if args.input.is_dir():
        written = translator.translate_folder(args.input, args.output, aligned=args.aligned, warn=warn, **sizes)
        print(f"condgan: translated {len(written)} images -> {args.output}", file=sys.stderr)
    else:
        translator.translate_file(args.input, args.output, aligned=args.aligned, warn=warn, **sizes)
        print(f"condgan: translated {args.input} -> {args.output}", file=sys.stderr)
    return 0


def cmd_make_pairs(args: argparse.Namespace) -> int:
    from condgan.data.make_pairs import make_pairs

    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    out = make_pairs(args.source, args.task, args.size, args.out, limit=args.limit, seed=args.seed, force=args.force,
                     log=log)  # fmt: skip
    print(f"condgan: wrote {args.task} pairs to {out}; train with --task pix2pix --data aligned:{out}", file=sys.stderr)
    return 0


def cmd_make_unpaired(args: argparse.Namespace) -> int:
    from condgan.data.make_unpaired import make_unpaired_classes, make_unpaired_pairs

    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    common = {"size": args.size, "limit": args.limit, "force": args.force, "log": log}
    if args.from_pairs is not None:
        if args.a or args.b:
            from condgan.errors import ConfigError

            raise ConfigError("--a and --b choose classes of --from SET; --from-pairs takes no classes, leave them out")
        out = make_unpaired_pairs(args.from_pairs, args.out, seed=args.seed, **common)
    else:
        if not (args.a and args.b):
            from condgan.errors import ConfigError

            raise ConfigError(f"--from {args.source} needs --a CLASS and --b CLASS, the two sides' classes")
        out = make_unpaired_classes(args.source, args.a, args.b, args.out, **common)
    print(f"condgan: wrote an unaligned set to {out}; train with --task cyclegan --data unaligned:{out}",
          file=sys.stderr)  # fmt: skip
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from condgan.data.cyclegan_sets import CYCLEGAN, family_of
    from condgan.data.pix2pix_sets import fetch_set

    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    family = family_of(args.name, unpaired=args.unpaired)
    if family is not CYCLEGAN and args.name in CYCLEGAN.sets:
        log(f"condgan: {args.name}: the pix2pix (paired) archive; --unpaired fetches CycleGAN's {args.name} zip")
    dest = fetch_set(family, args.name, args.root, accept_license=args.accept_license, force=args.force, log=log)
    print(f"condgan: {args.name} is in {dest}; train with {family.train_hint(dest)}", file=sys.stderr)
    return 0


def cmd_import_pix2pix(args: argparse.Namespace) -> int:
    from condgan.import_pix2pix import import_pix2pix

    out = import_pix2pix(args.checkpoint, args.out, netG=args.netG, norm=args.norm, dropout=args.dropout,
                         ngf=args.ngf, input_nc=args.input_nc, output_nc=args.output_nc, image_size=args.image_size,
                         direction=args.direction, data=args.data or "", force=args.force)  # fmt: skip
    print(f"condgan: imported {args.checkpoint} -> {out}; try: condgan translate {out} IMAGE -o OUT", file=sys.stderr)
    return 0


def cmd_import_cyclegan(args: argparse.Namespace) -> int:
    from condgan.import_pix2pix import import_cyclegan

    out = import_cyclegan(args.g_a, args.g_b, args.out, netG=args.netG, norm=args.norm, dropout=args.dropout,
                          ngf=args.ngf, input_nc=args.input_nc, output_nc=args.output_nc, image_size=args.image_size,
                          data=args.data or "", force=args.force)  # fmt: skip
    print(f"condgan: imported {args.g_a} (A->B) and {args.g_b} (B->A) -> {out}; try: condgan translate {out} IMAGE "
          "-o OUT --direction AtoB|BtoA", file=sys.stderr)  # fmt: skip
    return 0


def translation_parsers(commands) -> None:
    """`translate`, `data make-pairs|make-unpaired|fetch`, `import-pix2pix` and `import-cyclegan`."""
    translate = commands.add_parser("translate", help="translate an image (or a folder) with a pix2pix or cyclegan run")
    translate.add_argument("run", help="run directory of a pix2pix or cyclegan run, or pretrained:NAME")
    translate.add_argument("input", type=Path, help="input image, or a folder of images")
    translate.add_argument("-o", "--output", type=Path, required=True, help="output image, or output folder")
    translate.add_argument("--aligned", action="store_true", help="inputs are A|B pairs: translate their input half")
    translate.add_argument("--native-size", action="store_true",
                           help="run the network at the input's own size (fully convolutional) instead of fitting "
                                "the input to the training size and background polarity (the default)")  # fmt: skip
    translate.add_argument("--output-size", type=int, default=0, metavar="N",
                           help="the output's longer side in pixels (default: the input image's own size, so a "
                                "256 px drawing gives a 256 px picture)")  # fmt: skip
    translate.add_argument("--inference", default="eval", choices=["eval", "paper"],
                           help="eval: running BN statistics, no dropout; paper: as in the paper's tests")  # fmt: skip
    translate.add_argument("--direction", choices=["AtoB", "BtoA"],
                           help="cyclegan runs: AtoB (default, G_AB) or BtoA (G_BA)")  # fmt: skip
    translate.add_argument("--device", default="auto")
    translate.set_defaults(func=cmd_translate)

    data = commands.add_parser("data", help="datasets for pix2pix and cyclegan: make-pairs, make-unpaired, fetch")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    make = data_commands.add_parser("make-pairs", help="build a paired task (aligned format) from an image set")
    make.add_argument("--from", dest="source", required=True, help="fashion-mnist | digits | cifar10 | folder:PATH ...")
    make.add_argument("--task", required=True, choices=["edges", "inpaint", "superres", "colorize", "sketch"],
                      help="sketch: drawing-like outlines (varying width, wobble, gaps) for drawn input")  # fmt: skip
    make.add_argument("--size", type=int, default=32, choices=[32, 64], help="image size of both sides")
    make.add_argument("--out", type=Path, required=True, help="folder to create (OUT/train, OUT/test)")
    make.add_argument("--limit", type=int, default=0, help="at most this many pairs per split (0 = all)")
    make.add_argument("--seed", type=int, default=0, help="inpaint: where the squares go")
    make.add_argument("--force", action="store_true", help="replace an existing folder")
    make.set_defaults(func=cmd_make_pairs)
    unpaired = data_commands.add_parser("make-unpaired", help="build an unaligned set (trainA/B, testA/B) for cyclegan")
    origin = unpaired.add_mutually_exclusive_group(required=True)
    origin.add_argument("--from", dest="source", help="two classes of this set: fashion-mnist | digits | folder:PATH")
    origin.add_argument("--from-pairs", metavar="DIR",
                        help="the two halves of a paired set (aligned:DIR, pairs:DIR or DIR), each side "
                             "shuffled so no pair survives; true test partners in OUT/test_pairs.json")  # fmt: skip
    unpaired.add_argument("--a", help="--from: side A's class (name or index), e.g. sneaker")
    unpaired.add_argument("--b", help="--from: side B's class (name or index), e.g. ankle-boot")
    unpaired.add_argument("--out", type=Path, required=True, help="folder to create (OUT/trainA, trainB, testA, testB)")
    unpaired.add_argument("--size", type=int, default=0, help="resize both sides to this size (0 = their own)")
    unpaired.add_argument("--limit", type=int, default=0, help="at most this many images per side and split (0 = all)")
    unpaired.add_argument("--seed", type=int, default=0, help="--from-pairs: the shuffle")
    unpaired.add_argument("--force", action="store_true", help="replace an existing folder")
    unpaired.set_defaults(func=cmd_make_unpaired)
    fetch = data_commands.add_parser("fetch", help="download a reference pix2pix or CycleGAN dataset (facades, "
                                                   "horse2zebra, ...)")  # fmt: skip
    fetch.add_argument("name", metavar="NAME",
                       help="pix2pix (paired): facades | maps | edges2shoes | edges2handbags | night2day | cityscapes; "
                            "CycleGAN (unpaired): apple2orange | summer2winter_yosemite | horse2zebra | monet2photo | "
                            "cezanne2photo | ukiyoe2photo | vangogh2photo | maps | cityscapes | facades | "
                            "iphone2dslr_flower | ae_photos")  # fmt: skip
    fetch.add_argument("--unpaired", action="store_true",
                       help="the CycleGAN zip of a name in both lists (facades, maps, cityscapes)")  # fmt: skip
    fetch.add_argument("--root", type=Path,
                       help="folder to unpack into (default ~/.cache/condgan/pix2pix or cyclegan)")  # fmt: skip
    fetch.add_argument("--accept-license", action="store_true", help="cityscapes: you agreed to its license")
    fetch.add_argument("--force", action="store_true", help="download again even if present")
    fetch.set_defaults(func=cmd_fetch)

    imp = commands.add_parser("import-pix2pix", help="turn a reference pix2pix latest_net_G.pth into a run directory")
    imp.add_argument("checkpoint", type=Path, help="the reference's generator weights (latest_net_G.pth)")
    imp.add_argument("--out", type=Path, required=True, help="run directory to create")
    imp.add_argument("--netG", default="unet_256", help="unet_256 | unet_128 | resnet_9blocks | resnet_6blocks")
    imp.add_argument("--norm", default="batch", help="batch | instance | none (the reference's --norm)")
    imp.add_argument("--dropout", action="store_true", help="the model was trained with dropout (no --no_dropout)")
    imp.add_argument("--ngf", type=int, default=0, help="generator width (0 = from the checkpoint)")
    imp.add_argument("--input-nc", type=int, default=0, help="input channels (0 = from the checkpoint)")
    imp.add_argument("--output-nc", type=int, default=0, help="output channels (0 = from the checkpoint)")
    imp.add_argument("--image-size", type=int, default=0, help="training size (default 256, 128 for unet_128)")
    imp.add_argument("--direction", default="AtoB", choices=["AtoB", "BtoA"], help="the reference's --direction")
    imp.add_argument("--data", help="aligned:DIR or pairs:DIR that condgan eval should use")
    imp.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    imp.set_defaults(func=cmd_import_pix2pix)

    cyc = commands.add_parser("import-cyclegan", help="turn a reference CycleGAN pair latest_net_G_A.pth, "
                                                      "latest_net_G_B.pth into a run directory")  # fmt: skip
    cyc.add_argument("g_a", type=Path, metavar="G_A", help="the reference's G_A, A -> B (latest_net_G_A.pth)")
    cyc.add_argument("g_b", type=Path, metavar="G_B", help="the reference's G_B, B -> A (latest_net_G_B.pth)")
    cyc.add_argument("--out", type=Path, required=True, help="run directory to create")
    cyc.add_argument("--netG", default="resnet_9blocks", help="resnet_9blocks | resnet_6blocks | unet_256 | unet_128")
    cyc.add_argument("--norm", default="instance", help="instance | batch | none (the reference's --norm)")
    cyc.add_argument("--dropout", action="store_true", help="the models were trained with dropout (CycleGAN's are not)")
    cyc.add_argument("--ngf", type=int, default=0, help="generator width (0 = from the checkpoints)")
    cyc.add_argument("--input-nc", type=int, default=0, help="side A's channels (0 = from G_A)")
    cyc.add_argument("--output-nc", type=int, default=0, help="side B's channels (0 = from G_A)")
    cyc.add_argument("--image-size", type=int, default=0, help="training size (default 256, 128 for unet_128)")
    cyc.add_argument("--data", help="the unaligned:DIR set the run belongs to")
    cyc.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    cyc.set_defaults(func=cmd_import_cyclegan)


# The worked examples that end each subcommand's --help (tests/test_cli.py parses every one).
