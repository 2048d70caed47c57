"""The pix2pix task on the shared trainer: defaults from the paper, the loss terms, training on real
paired data (Fashion-MNIST edges), exact resume, the learning-rate schedule, eval and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from condgan.cli import main
from condgan.config import load_config
from condgan.data.make_pairs import make_pairs
from condgan.errors import ConfigError
from condgan.evaluation.pix2pix import evaluate_pix2pix, image_metrics
from condgan.models import build_discriminator, build_generator
from condgan.models.patchgan import PatchDiscriminator
from condgan.models.pix2pix import unet_downs_for
from condgan.models.unet import UNetGenerator
from condgan.plots import read_metrics
from condgan.tasks.pix2pix import Pix2PixTask
from condgan.trainer import lr_factor
from condgan.training import train

QUIET = {"progress": False, "log": lambda message: None}


@pytest.fixture(scope="module")
def edges(tmp_path_factory) -> Path:
    """200 Fashion-MNIST train and 64 test images with their Canny edges, 32 px (real paired data)."""
    root = tmp_path_factory.mktemp("p2p")
    out = make_pairs("fashion-mnist", "edges", 32, root / "edges", limit=200)
    for file in sorted((out / "test").glob("*.png"))[64:]:
        file.unlink()
    return out


def small(edges: Path, *overrides: str):
    return load_config(overrides=[
        "task=pix2pix", f"data.name=aligned:{edges}", "model.g_width=8", "model.d_width=8", "train.batch_size=8",
        "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=0", *overrides,
    ])  # fmt: skip


def resolved(edges: Path, *overrides: str):
    from condgan.data.paired import load_training_pairs
    from condgan.training import resolve_config

    config = small(edges, *overrides)
    return resolve_config(config, load_training_pairs(config))


# --- config and models ------------------------------------------------------------------------------


def test_task_defaults_follow_the_paper_and_yield_to_the_user() -> None:
    config = load_config(overrides=["task=pix2pix"])
    m, t, loss = config.model, config.train, config.loss
    assert (m.generator, m.discriminator, m.g_width, m.d_width, m.norm, m.n_layers) == ("unet", "patchgan", 64, 64,
                                                                                         "batch", 3)  # fmt: skip
    assert m.g_dropout and (loss.kind, loss.l1_weight, loss.gan_weight, loss.mismatch_weight) == ("bce", 100, 1, 0)
    assert (t.batch_size, t.lr, t.beta1, t.beta2, t.ema_decay, t.lr_decay, t.lr_decay_start) == (
        1, 2e-4, 0.5, 0.999, 0.0, "linear", 0.5)  # fmt: skip
    assert config.data.direction == "AtoB" and config.data.flip
    mine = load_config(overrides=["task=pix2pix", "train.batch_size=32", "model.generator=resnet"])
    assert mine.train.batch_size == 32 and mine.model.generator == "resnet" and mine.train.ema_decay == 0.0
    assert load_config().model.generator == "dcgan" and load_config().train.lr_decay == "none"  # cgan untouched


def test_unet_depth_from_the_image_size() -> None:
    assert [unet_downs_for(s) for s in (256, 128, 64, 32, 96, 286)] == [8, 7, 6, 5, 5, 1]


def test_built_networks_and_reference_initialization(edges: Path) -> None:
    torch.manual_seed(0)
    config = resolved(edges, "model.g_width=16", "model.d_width=16")
    generator, discriminator = build_generator(config), build_discriminator(config)
    assert isinstance(generator, UNetGenerator) and generator.num_downs == 5 and generator.in_channels == 1
    assert isinstance(discriminator, PatchDiscriminator) and discriminator.in_channels == 2  # (x, y) concatenated
    assert generator(torch.zeros(2, 1, 32, 32)).shape == (2, 1, 32, 32)
    assert discriminator(torch.zeros(2, 2, 32, 32)).shape == (2, 1, 2, 2)
    conv_types = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    convs = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, conv_types)])
    norms = torch.cat([m.weight for m in discriminator.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(convs.mean().item()) < 2e-3 and abs(convs.std().item() - 0.02) < 1e-3  # N(0, 0.02)
    assert abs(norms.mean().item() - 1) < 0.01 and abs(norms.std().item() - 0.02) < 0.01  # N(1, 0.02)
    assert all(m.bias is None or not m.bias.any() for m in generator.modules() if hasattr(m, "bias"))
    resnet = build_generator(resolved(edges, "model.generator=resnet", "model.resnet_blocks=6"))
    assert resnet(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    pixel = build_discriminator(resolved(edges, "model.discriminator=pixel", "model.norm=instance"))
    assert pixel(torch.zeros(1, 2, 32, 32)).shape == (1, 1, 32, 32)


def test_config_errors_name_the_fix(edges: Path) -> None:
    with pytest.raises(ConfigError, match="needs images of at least 48 px"):
        build_discriminator(resolved(edges, "model.n_layers=4"))
    with pytest.raises(ConfigError, match="needs the image size to be a multiple of 64"):
        build_generator(resolved(edges, "model.unet_downs=6"))
    with pytest.raises(ConfigError, match="task pix2pix needs model.generator unet or resnet"):
        build_generator(resolved(edges, "model.generator=dcgan"))
    with pytest.raises(ConfigError, match="is a pix2pix network; use it with task pix2pix"):
        build_generator(load_config(overrides=["model.generator=unet", "data.image_size=32", "data.channels=1"]))
    config = resolved(edges)
    g, d = build_generator(config), build_discriminator(config)
    with pytest.raises(ConfigError, match="batch_size >= 2"):
        Pix2PixTask(resolved(edges, "loss.mismatch_weight=1", "train.batch_size=1"), g, d)
    with pytest.raises(ConfigError, match="supports loss.kind bce, lsgan, hinge"):
        Pix2PixTask(resolved(edges, "loss.kind=wgan-gp"), g, d)


# --- the loss terms -------------------------------------------------------------------------------


def task_and_batch(edges: Path, *overrides: str):
    torch.manual_seed(0)
    config = resolved(edges, "model.g_dropout=false", *overrides)
    task = Pix2PixTask(config, build_generator(config).eval(), build_discriminator(config).eval())
    from condgan.data.paired import load_split

    source, target = load_split(config, "test", limit=8)[0].float_pairs()
    return task, source, target


def bce_terms(task: Pix2PixTask, source, target, fake, other):
    """Each D term computed here by hand, from torch's BCE-with-logits (an independent formula)."""
    judge = lambda y: task.discriminator(torch.cat([source, y], 1))  # noqa: E731
    real, fake_logits, wrong = judge(target), judge(fake), judge(other)
    bce = F.binary_cross_entropy_with_logits
    return (bce(real, torch.ones_like(real)), bce(fake_logits, torch.zeros_like(fake_logits)),
            bce(wrong, torch.zeros_like(wrong)), bce(fake_logits, torch.ones_like(fake_logits)))  # fmt: skip


def test_d_loss_is_halved_and_mismatch_is_reed_et_al(edges: Path) -> None:
    task, source, target = task_and_batch(edges)
    loss, logs = task.d_loss((source, target))
    fake = task._fake[2].detach()
    real_term, fake_term, wrong_term, g_term = bce_terms(task, source, target, fake, target.roll(1, 0))
    assert loss.item() == pytest.approx(0.5 * (real_term + fake_term).item(), rel=1e-5)
    assert "d_mismatch" not in logs
    g_loss, g_logs = task.g_loss((source, target))
    l1 = (fake - target).abs().mean()
    assert g_logs["l1"] == pytest.approx(l1.item(), rel=1e-5)
    assert g_loss.item() == pytest.approx((g_term + 100 * l1).item(), rel=1e-5)

    task, source, target = task_and_batch(edges, "loss.mismatch_weight=1")
    loss, logs = task.d_loss((source, target))
    real_term, fake_term, wrong_term, _ = bce_terms(task, source, target, task._fake[2].detach(), target.roll(1, 0))
    reed = real_term + 0.5 * (fake_term + wrong_term)  # Reed et al. 2016's matching-aware D loss
    assert loss.item() == pytest.approx(reed.item(), rel=1e-5) and 0 < logs["d_mismatch"] < 1


def test_g_step_sends_gradients_through_d_to_g_only(edges: Path) -> None:
    """G's loss backpropagates through D's input into G; D's weights get no gradient (no wasted work)
    and are trainable again afterwards."""
    task, source, target = task_and_batch(edges)
    task.d_loss((source, target))
    g_loss, _ = task.g_loss((source, target))
    g_loss.backward()
    assert all(p.grad is None for p in task.discriminator.parameters())
    assert all(p.grad is not None for p in task.generator.parameters() if p.requires_grad)
    assert all(p.requires_grad for p in task.discriminator.parameters())


def test_l1_only_baseline_never_runs_d(edges: Path) -> None:
    task, source, target = task_and_batch(edges, "loss.gan_weight=0")
    calls = []
    task.discriminator.register_forward_hook(lambda *args: calls.append(1))
    loss, logs = task.d_loss((source, target))
    g_loss, g_logs = task.g_loss((source, target))
    assert loss is None and calls == [] and logs == {} and set(g_logs) == {"l1"}
    assert g_loss.item() == pytest.approx(100 * g_logs["l1"], rel=1e-6)


# --- training ---------------------------------------------------------------------------------------


def test_lr_factor_schedule() -> None:
    assert [lr_factor(p, "linear") for p in (0.0, 0.25, 0.5, 0.75, 1.0)] == [1.0, 1.0, 1.0, 0.5, 0.0]
    assert lr_factor(0.9, "none") == 1.0 and lr_factor(0.6, "linear", 0.2) == pytest.approx(0.5)


@pytest.mark.slow
def test_training_on_real_pairs_reduces_l1_and_writes_the_run(edges: Path, tmp_path: Path) -> None:
    overrides = ["model.g_width=16", "model.d_width=16", "train.batch_size=16", "train.sample_every=40"]
    before = train(small(edges, *overrides, "train.steps=1"), out=tmp_path / "before", **QUIET)
    after = train(small(edges, *overrides, "train.steps=80"), out=tmp_path / "after", **QUIET)
    l1_before = evaluate_pix2pix(before, fid=False)["metrics"]["l1"]
    result = evaluate_pix2pix(after, fid=False)
    assert result["metrics"]["l1"] < 0.8 * l1_before and result["split"] == "test" and result["pairs"] == 64
    rows = read_metrics(after / "metrics.jsonl")
    assert {"d_loss", "d_real", "d_fake", "g_loss", "l1", "lr"} <= set(rows[0])
    lrs = [row["lr"] for row in rows]
    assert lrs[0] == lrs[39] == 2e-4 and lrs[-1] == pytest.approx(2e-4 / 40) and lrs == sorted(lrs, reverse=True)
    grid = Image.open(after / "samples" / "step_0000040.png")
    assert grid.height > 3 * 64 and (after / "eval_triplets.png").is_file() and (after / "eval.md").is_file()
    saved = json.loads((after / "config.json").read_text())
    assert saved["data"]["source_channels"] == 1 and saved["data"]["load_size"] == 36
    assert saved["data"]["source_background"] == "white"  # measured from the black-on-white edges


class StopAt:
    """Interrupt a run after the given step (after its checkpoint), as Ctrl-C would."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer) -> None:
        if trainer.step == self.step:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_resume_gives_the_same_losses_and_weights(edges: Path, tmp_path: Path) -> None:
    overrides = ["train.steps=10", "train.checkpoint_every=4", "model.g_width=16", "loss.mismatch_weight=1",
                 "data.stroke_augment=0.5"]  # fmt: skip
    whole = train(small(edges, *overrides), out=tmp_path / "whole", **QUIET)
    with pytest.raises(KeyboardInterrupt):
        train(small(edges, *overrides), out=tmp_path / "part", callbacks=[StopAt(6)], **QUIET)
    part = train(None, out=tmp_path / "part", resume=True, **QUIET)  # from step 4, the last checkpoint

    def losses(run: Path) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "time"} for row in read_metrics(run / "metrics.jsonl")]

    assert len(losses(part)) == 10 and losses(part) == losses(whole) and "d_mismatch" in losses(part)[0]
    from condgan.inference.translate import load_translator

    source = torch.rand(2, 1, 32, 32) * 2 - 1
    assert torch.equal(load_translator(whole).translate_tensor(source), load_translator(part).translate_tensor(source))


# --- evaluation and the CLI -------------------------------------------------------------------------


def test_image_metrics_against_hand_computation() -> None:
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.integers(0, 256, (3, 1, 32, 32), dtype=np.uint8))
    same = image_metrics(target, target)
    assert same == {"l1": 0.0, "psnr": 100.0, "ssim": pytest.approx(1.0)}
    noisy = (target.int() + torch.from_numpy(rng.integers(-8, 9, (3, 1, 32, 32)))).clamp(0, 255).to(torch.uint8)
    result = image_metrics(noisy, target)
    mse = ((noisy.double() - target.double()) ** 2).flatten(1).mean(1)
    assert result["psnr"] == pytest.approx((10 * torch.log10(255**2 / mse)).mean().item(), rel=1e-6)
    assert result["l1"] == pytest.approx((noisy.double() - target.double()).abs().mean().item() / 255, rel=1e-9)
    assert 0.5 < result["ssim"] < 1.0


def test_class_agreement_is_the_share_of_outputs_classed_as_their_target(edges: Path) -> None:
    """The FCN-score analogue: 1 for outputs equal to the targets; for outputs that are another item's
    target, exactly the share of neighbours the evaluator puts in one class (counted here by hand)."""
    from condgan.data.loader import to_uint8
    from condgan.data.paired import load_split
    from condgan.evaluation.pix2pix import domain_metrics
    from condgan.metrics.evaluator import load_evaluator, predict

    config = resolved(edges)
    dataset, _ = load_split(config, prefer="test")
    targets = to_uint8(dataset.float_pairs()[1])  # (64, 1, 32, 32)
    quiet = lambda message: None  # noqa: E731
    same, floor, _ = domain_metrics(config, "fashion-mnist", targets, targets, 64, quiet)
    assert same["class_agreement"] == 1.0 and same["fid"] == pytest.approx(0.0, abs=1e-4) and floor["fid"] > 0
    shifted = targets.roll(1, dims=0)
    evaluator = load_evaluator("fashion-mnist", train_if_missing=False)
    size = (evaluator.image_size, evaluator.image_size)
    resized = to_uint8(F.interpolate(dataset.float_pairs()[1], size=size, mode="bilinear", antialias=True))
    classes, _ = predict(evaluator, resized)
    expected = float((classes == classes.roll(1)).double().mean())
    got = domain_metrics(config, "fashion-mnist", shifted, targets, 64, quiet)[0]["class_agreement"]
    assert got == pytest.approx(expected) and got < 0.5


def test_cli_train_translate_and_eval(edges: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    args = ["train", "--task", "pix2pix", "--data", f"aligned:{edges}", "--out", str(run), "--steps", "3",
            "--batch-size", "4", "--set", "model.g_width=8", "--set", "model.d_width=8", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    assert json.loads((run / "config.json").read_text())["task"] == "pix2pix"
    assert main(["eval", str(run), "--samples", "40"]) == 0
    out = capsys.readouterr().out
    assert "SSIM" in out and "PSNR" in out and "FID" in out  # Fashion-MNIST targets: a domain with an evaluator
    result = json.loads((run / "eval.json").read_text())
    assert result["pairs"] == 40 and result["target_domain"] == "fashion-mnist" and "fid" in result["floor"]
    assert 0.0 <= result["metrics"]["class_agreement"] <= 1.0 and "class agreement" in out
    assert "input | output | target" in (run / "eval.md").read_text().lower()
    assert main(["train", "--task", "pix2pix", "--data", "fashion-mnist", "--out", str(tmp_path / "x"),
                 "--steps", "1"]) == 2  # fmt: skip
    assert "pix2pix data must be aligned:DIR or pairs:DIR" in capsys.readouterr().err


@pytest.mark.slow
def test_a_foreign_aligned_set_at_256_px_trains_translates_and_evaluates(tmp_path: Path) -> None:
    """JPEG pairs at 256 px, RGB, the input on the right (BtoA), made without make-pairs."""
    from skimage.feature import canny

    from condgan.data.datasets import load_dataset

    clothes = load_dataset("fashion-mnist", "test", image_size=256).images[:8, 0].numpy()  # (8, 256, 256)
    for i, image in enumerate(clothes):
        edges = np.where(canny(image / 255.0, sigma=4), 0, 255).astype(np.uint8)
        color = (image[..., None] * np.array([0.9, 0.6, 0.3])).astype(np.uint8)  # an RGB target
        pair = np.concatenate([color, np.repeat(edges[..., None], 3, axis=2)], axis=1)  # target | input
        split = "train" if i < 6 else "val"
        (tmp_path / "set" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pair).save(tmp_path / "set" / split / f"{i}.jpg", quality=95)
    run = tmp_path / "run"
    args = ["train", "--task", "pix2pix", "--data", f"aligned:{tmp_path / 'set'}", "--direction", "BtoA",
            "--out", str(run), "--steps", "2", "--batch-size", "2", "--set", "model.g_width=4",
            "--set", "model.d_width=4", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    saved = json.loads((run / "config.json").read_text())["data"]
    assert (saved["image_size"], saved["load_size"], saved["channels"]) == (256, 286, 3)
    source = tmp_path / "set" / "val" / "6.jpg"
    assert main(["translate", str(run), str(source), "--aligned", "-o", str(tmp_path / "out.png")]) == 0
    assert Image.open(tmp_path / "out.png").size == (256, 256)
    result = evaluate_pix2pix(run)
    assert result["split"] == "val" and result["pairs"] == 2 and result["target_domain"] is None
    assert set(result["metrics"]) == {"l1", "psnr", "ssim"} and "no FID" in result["fid_note"]
