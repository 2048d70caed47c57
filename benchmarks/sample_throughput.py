"""Sampling throughput: images/s of each class-conditional generator at batch 1, 64 and 1024.

    python benchmarks/sample_throughput.py [--threads 2] [--seconds 5] [--device auto] [--run RUN]

For every generator in condgan.models.GENERATORS that builds for Fashion-MNIST (28x28, 1
channel, 10 classes, the Config defaults otherwise), three paths are timed:
- `module`: the generator's own forward pass under inference_mode, float32, float images;
- `api fp32`: `ClassConditionalGenerator.generate(labels=..., seed=...)`, what `condgan sample`
  and the Python API call: it draws the noise, makes the images class by class with the folded
  networks (models/folding.py) and returns uint8 arrays;
- `api bf16`: the same with precision="bf16".
Weights are untrained (the speed does not depend on them); `--run RUN` times a trained run's
generator instead. Each generator's forward FLOPs per image (torch.utils.flop_counter) over the
machine's matmul throughput in float32 and in bfloat16, measured in the same run, give the
images/s that even a perfect use of the CPU could not beat. Writes
benchmarks/results/sample_throughput.json (with --run: sample_throughput_<run name>.json) and
prints a Markdown table. With `--run RUN --quality N`, N samples in each precision are also scored
by the run's domain evaluator (FID, conditional accuracy) and their pixels compared: what bf16 costs.
Target: >= 20,000 images/s at batch 1024 for 28x28 generators.
"""

from __future__ import annotations

from condgan.threads import use_condgan_threads

use_condgan_threads()  # before torch is imported

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import bench_common as bench  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from condgan.config import load_config  # noqa: E402
from condgan.data.datasets import FASHION_CLASSES  # noqa: E402
from condgan.inference.generate import ClassConditionalGenerator, load_generator  # noqa: E402
from condgan.models import GENERATORS, build_generator  # noqa: E402

BATCHES = (1, 64, 1024)
QUICK_BATCHES = (1, 64)  # --quick: a smoke run; bf16 at batch 1024 takes minutes on CPUs without bf16 units
TARGET = 20_000  # images/s at the largest batch (1024), 28x28


def rate(call, images_per_call: int, seconds: float, device: torch.device, least: int = 3) -> float:
    """Images per second of `call()`, after `least` warm-up calls, over at least `seconds` and `least` calls."""
    for _ in range(least):
        call()
    bench.sync(device)
    calls, started = 0, time.perf_counter()
    while calls < least or time.perf_counter() - started < seconds:
        call()
        calls += 1
    bench.sync(device)
    return calls * images_per_call / (time.perf_counter() - started)


def flops_per_image(generator: ClassConditionalGenerator, device: torch.device, batch: int = 8) -> float:
    """Forward FLOPs per image (torch.utils.flop_counter; a multiply-add counts 2)."""
    z = generator.noise(batch, seed=0).to(device)
    labels = torch.arange(batch, device=device) % generator.num_classes
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        generator.module(z, labels)
    return counter.get_total_flops() / batch


def generators(args, device: torch.device, precision: str) -> dict[str, ClassConditionalGenerator | str]:
    """name -> generator in `precision`, or -> the reason it was skipped."""
    if args.run:
        return {f"run {args.run}": load_generator(args.run, device=str(device), precision=precision)}
    found: dict[str, ClassConditionalGenerator | str] = {}
    for name in GENERATORS:
        config = load_config(bench.DEFAULT_YAML, [f"model.generator={name}", "model.num_classes=10"]).replace(
            data={"image_size": 28, "channels": 1, "class_names": list(FASHION_CLASSES)}
        )
        try:
            torch.manual_seed(0)  # the same untrained weights for both precisions
            module = build_generator(config)
        except Exception as error:  # a generator that is not class-conditional at 28x28 (pix2pix's U-Net)
            found[name] = f"skipped ({type(error).__name__}: {str(error)[:80]})"
            continue
        found[name] = ClassConditionalGenerator(module, config, device, precision)
    return found


def precision_quality(run: str, device: torch.device, samples: int) -> dict:
    """FID and conditional accuracy of `samples` class-balanced images of `run` in fp32 and in bf16,
    scored by the run's domain evaluator against the test split, and how far apart their pixels are."""
    from condgan.evaluation.cgan import balanced_labels
    from condgan.evaluation.common import domain_evaluator, real_split
    from condgan.inference.runs import load_config_of, resolve_run_dir
    from condgan.metrics.evaluator import predict
    from condgan.metrics.functional import conditional_accuracy, fid_from_features

    config = load_config_of(resolve_run_dir(run))
    if not config.model.num_classes:
        raise SystemExit("--quality needs a class-conditional run")
    evaluator = domain_evaluator(config, device)
    _, test_features = predict(evaluator, real_split(config, "test").images, 1000)
    labels = balanced_labels(samples, config.model.num_classes)
    images, quality = {}, {}
    for precision in ("fp32", "bf16"):
        generator = load_generator(run, device=str(device), precision=precision)
        images[precision] = generator.generate(labels=labels.tolist(), seed=0)  # uint8 (N, H, W) or (N, H, W, C)
        batch = torch.from_numpy(images[precision])
        batch = batch[:, None] if batch.ndim == 3 else batch.permute(0, 3, 1, 2)  # (N, C, H, W)
        predicted, features = predict(evaluator, batch, 1000)
        quality[precision] = {
            "fid": float(fid_from_features(test_features, features)),
            "conditional_accuracy": float(conditional_accuracy(predicted, labels)),
        }
    difference = np.abs(images["fp32"].astype(np.int16) - images["bf16"].astype(np.int16))
    quality["uint8_difference"] = {
        "mean": float(difference.mean()),
        "max": int(difference.max()),
        "share_over_2_levels": float((difference > 2).mean()),
    }
    return {"samples": samples, **quality}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench.add_common_args(parser)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per point")
    parser.add_argument("--run", help="time this run directory's generator instead of untrained ones")
    parser.add_argument("--quality", type=int, default=0, metavar="N",
                        help="with --run: score N samples in fp32 and bf16 by the run's evaluator")  # fmt: skip
    args = parser.parse_args()
    if args.quality and not args.run:
        parser.error("--quality needs --run RUN (a trained class-conditional run or pretrained:NAME)")
    batches, least, matmul_n = (QUICK_BATCHES, 1, 512) if args.quick else (BATCHES, 3, None)
    if args.quick:
        args.seconds = 0.3
    device = bench.setup(args.threads, args.device)
    matmul_seconds = 0.3 if args.quick else 2.0
    matmul = bench.matmul_flops_per_second(device, matmul_seconds, n=matmul_n)
    matmul_bf16 = bench.matmul_flops_per_second(device, matmul_seconds, torch.bfloat16, n=matmul_n)
    results, rows = [], []
    half = generators(args, device, "bf16")
    for name, generator in generators(args, device, "fp32").items():
        if isinstance(generator, str):
            results.append({"generator": name, "note": generator})
            continue
        size = generator.image_size
        flops = flops_per_image(generator, device)
        bound = matmul["flops_per_second"] / flops  # images/s if every FLOP ran at the matmul peak
        bound_bf16 = matmul_bf16["flops_per_second"] / flops
        for batch in batches:
            z = generator.noise(batch, seed=0).to(device)
            labels = torch.arange(batch, device=device) % generator.num_classes
            label_list = labels.tolist()

            def forward(g=generator, z=z, labels=labels):
                with torch.inference_mode():
                    return g.module(z, labels)

            def api(g=generator, labels=label_list):
                return g.generate(labels=labels, seed=0)

            module_rate = rate(forward, batch, args.seconds, device, least)
            api_rate = rate(api, batch, args.seconds, device, least)
            api_bf16_rate = rate(lambda g=half[name], labels=label_list: g.generate(labels=labels, seed=0),
                                 batch, args.seconds, device, least)  # fmt: skip
            parameters = sum(p.numel() for p in generator.module.parameters())
            results.append({
                "generator": name, "image_size": size, "channels": generator.channels, "parameters": parameters,
                "batch": batch, "module_images_per_s": module_rate, "api_images_per_s": api_rate,
                "api_bf16_images_per_s": api_bf16_rate, "flops_per_image": flops,
                "images_per_s_at_matmul_peak": bound, "images_per_s_at_bf16_matmul_peak": bound_bf16,
                "fraction_of_matmul_peak": api_rate / bound,
                "bf16_fraction_of_bf16_matmul_peak": api_bf16_rate / bound_bf16,
            })  # fmt: skip
            rows.append([name, f"{size}x{size}", batch, module_rate, api_rate, api_bf16_rate, flops / 1e6, bound,
                         bound_bf16])  # fmt: skip
    big = [r for r in results if r.get("batch") == batches[-1] and r["image_size"] == 28]
    result = {
        "benchmark": "sample_throughput",
        "quick": args.quick,
        "seconds_per_point": args.seconds,
        "matmul": matmul,
        "matmul_bf16": matmul_bf16,
        "results": results,
        "target": {
            "images_per_s_at_batch_1024_28px": TARGET,
            "batch": batches[-1],  # where "met" was judged: 1024, or --quick's largest batch
            "met": {
                r["generator"]: {"fp32": r["api_images_per_s"] >= TARGET, "bf16": r["api_bf16_images_per_s"] >= TARGET}
                for r in big
            },
        },
        **bench.machine(device, args.threads),
    }
    if args.quality:
        result["precision_quality"] = precision_quality(args.run, device, args.quality)
    name = f"sample_throughput_{Path(args.run.replace(':', '-')).name}" if args.run else "sample_throughput"
    path = bench.write_result(name, result)
    headers = ["generator", "size", "batch", "module images/s", "api fp32 images/s", "api bf16 images/s",
               "MFLOP/image", "images/s at fp32 matmul peak", "at bf16 matmul peak"]  # fmt: skip
    print(bench.markdown_table(headers, rows))
    for peak in (matmul, matmul_bf16):
        print(f"matmul peak: {peak['flops_per_second'] / 1e9:.1f} GFLOP/s ({peak['n']}x{peak['n']} {peak['dtype']})")
    for note in (r for r in results if "note" in r):
        print(f"{note['generator']}: {note['note']}")
    if args.quality:
        quality = result["precision_quality"]
        for precision in ("fp32", "bf16"):
            print(f"{precision}: FID {quality[precision]['fid']:.4f}, accuracy "
                  f"{quality[precision]['conditional_accuracy']:.4f} ({args.quality:,} samples)")  # fmt: skip
        print(f"bf16 - fp32 pixels: mean {quality['uint8_difference']['mean']:.3f} levels, max "
              f"{quality['uint8_difference']['max']}")  # fmt: skip
    print(f"\ntarget >= {TARGET:,} images/s at batch {batches[-1]}: {result['target']['met']}; wrote {path}")


if __name__ == "__main__":
    main()
