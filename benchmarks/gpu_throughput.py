"""GPU training throughput of the dcgan and pix2pix recipes, with and without each speed option.

    python benchmarks/gpu_throughput.py                      # on a CUDA machine: the whole table
    python benchmarks/gpu_throughput.py --device cpu --quick # a smoke test of the script on a CPU

Variants (train.* config fields, see src/condgan/acceleration.py):
    fp32            baseline: float32, NCHW, eager
    amp             train.precision=auto: bf16 autocast where the GPU has it, else fp16 + grad scaler
    channels_last   train.channels_last=true (fp32)
    compile         train.compile=true (fp32)
    all             amp + channels_last + compile

Recipes: `dcgan` = configs/fashion-mnist.yaml (the default recipe: dcgan G/D, 28 px gray, 10
classes, batch 64); `pix2pix` = the pix2pix defaults (U-Net 256 + 70x70 PatchGAN, 256 px RGB
pairs, L1 + GAN, the paper's batch 1; --pix2pix-batch changes it). Batches are random tensors
already on the device, so the figure is the training step itself (condgan's loaders are one
index_select per batch). images/s = training images through one D+G step per second, after
`--warmup` steps (torch.compile compiles there). Writes benchmarks/results/gpu_throughput.json
and prints a Markdown table.
"""

from __future__ import annotations

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
from bench_common import ROOT, machine, markdown_table, sync, write_result  # noqa: E402

from condgan.acceleration import prepare_task, resolve_precision  # noqa: E402
from condgan.config import load_config  # noqa: E402
from condgan.trainer import Trainer  # noqa: E402
from condgan.training import build_task  # noqa: E402

VARIANTS = {
    "fp32": ["train.precision=fp32"],
    "amp": ["train.precision=auto"],
    "channels_last": ["train.precision=fp32", "train.channels_last=true"],
    "compile": ["train.precision=fp32", "train.compile=true"],
    "all": ["train.precision=auto", "train.channels_last=true", "train.compile=true"],
}
QUIET = ["train.sample_every=0", "train.checkpoint_every=0", "train.log_every=1000000"]


def recipe_config(recipe: str, variant: str, device: torch.device, batch: int):
    if recipe == "dcgan":
        overrides = ["data.image_size=28", "data.channels=1", "model.num_classes=10",
                     "data.class_names=[" + ",".join(str(i) for i in range(10)) + "]"]  # fmt: skip
        config = load_config(ROOT / "configs" / "fashion-mnist.yaml", overrides)
    else:
        overrides = ["task=pix2pix", "data.image_size=256", "data.channels=3", "data.source_channels=3",
                     "model.num_classes=0"]  # fmt: skip
        config = load_config(overrides=overrides)
    extra = [*QUIET, *VARIANTS[variant], f"train.device={device}"] + ([f"train.batch_size={batch}"] if batch else [])
    return load_config(overrides=extra, base=config.to_dict())


def synthetic_batches(config, device: torch.device):
    """An endless stream of one fixed random batch, already on the device."""
    b, d = config.train.batch_size, config.data
    generator = torch.Generator().manual_seed(0)
    if config.task == "pix2pix":
        source = torch.rand(b, d.source_channels, d.image_size, d.image_size, generator=generator) * 2 - 1
        target = torch.rand(b, d.channels, d.image_size, d.image_size, generator=generator) * 2 - 1
        batch = (source.to(device), target.to(device))
    else:
        images = torch.rand(b, d.channels, d.image_size, d.image_size, generator=generator) * 2 - 1
        batch = (images.to(device), torch.randint(0, config.model.num_classes, (b,), generator=generator).to(device))

    class Stream:
        batches_per_epoch = 1000

        def __iter__(self):
            return self

        def __next__(self):
            return batch

        def state_dict(self):
            return {"epoch": 0, "position": 0}

    return Stream()


def measure(config, device: torch.device, warmup: int, steps: int) -> dict:
    torch.manual_seed(0)
    task = prepare_task(build_task(config, device), config.train, device)
    with tempfile.TemporaryDirectory(prefix="condgan-gpu-bench-") as tmp:
        trainer = Trainer(task, config.train, Path(tmp), synthetic_batches(config, device), progress=False)
        started = time.perf_counter()
        for _ in range(warmup):
            trainer._train_step()  # the step the trainer runs, without its logging and checkpoints
        sync(device)
        warmup_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(steps):
            trainer._train_step()
        sync(device)
        seconds = time.perf_counter() - started
    images = steps * config.train.batch_size * config.train.d_steps
    return {"images_per_s": images / seconds, "steps_per_s": steps / seconds, "warmup_seconds": warmup_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) | cuda:N | cpu (a smoke test only)")
    parser.add_argument("--recipes", default="dcgan,pix2pix")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--warmup", type=int, default=30, help="steps before the clock starts (compiling)")
    parser.add_argument("--steps", type=int, default=200, help="measured steps per recipe and variant")
    parser.add_argument("--dcgan-batch", type=int, default=0, help="0 = the recipe's (64)")
    parser.add_argument("--pix2pix-batch", type=int, default=0, help="0 = the recipe's (1, as the paper)")
    parser.add_argument("--quick", action="store_true", help="2 warm-up + 3 measured steps: checks the script works")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_throughput: no CUDA GPU visible; run it on a GPU machine (or --device cpu --quick)")
    if args.quick:
        args.warmup, args.steps = 2, 3
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    results = []
    for recipe in args.recipes.split(","):
        batch = args.dcgan_batch if recipe == "dcgan" else args.pix2pix_batch
        for variant in args.variants.split(","):
            config = recipe_config(recipe, variant, device, batch)
            print(f"{recipe} / {variant} ...", flush=True)
            measured = measure(config, device, args.warmup, args.steps)
            dtype = resolve_precision(config.train.precision, device)
            autocast = str(dtype).replace("torch.", "") if dtype else "float32"
            results.append({"recipe": recipe, "variant": variant, "batch_size": config.train.batch_size,
                            "autocast": autocast, **measured})  # fmt: skip
    for row in results:
        base = next(r for r in results if r["recipe"] == row["recipe"] and r["variant"] == results[0]["variant"])
        row["speedup"] = row["images_per_s"] / base["images_per_s"]
    result = {"benchmark": "gpu_throughput", "quick": args.quick, "warmup_steps": args.warmup,
              "measured_steps": args.steps, "results": results, **machine(device, torch.get_num_threads())}  # fmt: skip
    path = write_result("gpu_throughput", result)
    headers = ["recipe", "variant", "batch", "autocast", "images/s", f"x {results[0]['variant']}", "warm-up s"]
    rows = [[r["recipe"], r["variant"], r["batch_size"], r["autocast"], r["images_per_s"], r["speedup"],
             r["warmup_seconds"]] for r in results]  # fmt: skip
    print(markdown_table(headers, rows))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
