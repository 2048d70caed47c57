"""Training on real data (scikit-learn's digits): it learns, it resumes exactly, it writes a run."""

import json

import numpy as np
import pytest
import torch

from condgan.errors import ConfigError
from condgan.inference.generate import load_generator
from condgan.plots import read_metrics
from condgan.training import train
from tests.conftest import tiny_config

QUIET = {"progress": False, "log": lambda message: None}


def digits_classifier():
    """An independent judge: logistic regression on the real 8x8 digits (values 0..16)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    return LogisticRegression(max_iter=2000).fit(digits.data, digits.target)


def conditional_accuracy(generator, judge, per_class=50):
    labels = np.repeat(np.arange(10), per_class)
    images = generator.generate(labels=labels.tolist(), seed=123).reshape(len(labels), -1)
    return float((judge.predict(images.astype(np.float64) * 16.0 / 255.0) == labels).mean())


def test_training_makes_the_class_asked_for(trained_run, tmp_path):
    judge = digits_classifier()
    untrained = train(tiny_config("train.steps=1"), out=tmp_path / "untrained", **QUIET)
    before = conditional_accuracy(load_generator(untrained), judge)
    after = conditional_accuracy(load_generator(trained_run), judge)
    assert before < 0.3, before
    assert after > 0.7, after


def test_run_directory_contents(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"]["num_classes"] == 10 and config["data"]["image_size"] == 8
    assert config["data"]["class_names"] == [str(i) for i in range(10)]
    folder = trained_run / "checkpoints" / "step_00000800"
    for name in ("generator", "discriminator", "generator_ema"):
        assert (folder / f"{name}.safetensors").is_file()
    assert (folder / "state.pt").is_file()
    assert (trained_run / "checkpoints" / "latest").read_text().strip() == folder.name
    rows = read_metrics(trained_run / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(100, 801, 100))
    assert {"d_loss", "g_loss", "d_real", "d_fake", "time"} <= set(rows[0])
    assert (trained_run / "losses.png").is_file()
    assert sorted(p.name for p in (trained_run / "samples").iterdir()) == ["step_0000800.png"]
    assert not list(trained_run.rglob("*.tmp"))


def test_discriminator_learns_to_separate_real_from_fake(tmp_path):
    """Early on D(x) rises above D(G(z)): both players are being trained on real data."""
    run = train(tiny_config("train.steps=40"), out=tmp_path / "r", **QUIET)
    rows = read_metrics(run / "metrics.jsonl")
    early, late = rows[0], rows[-1]
    assert late["d_real"] - late["d_fake"] > 0.02
    assert late["d_loss"] < early["d_loss"] - 0.02


def _losses(run):
    return [(r["step"], r["d_loss"], r["g_loss"]) for r in read_metrics(run / "metrics.jsonl")]


@pytest.mark.parametrize("model", ["mlp", "dcgan", "dcgan+augment"])
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, model):
    extra = ["data.image_size=28", "model.g_width=8", "model.d_width=8", "model.conditioning=projection"]
    model, _, augmented = model.partition("+")  # DiffAugment's random draws resume with the run's RNG too
    overrides = [f"model.generator={model}", f"model.discriminator={model}", "model.dropout=0.3"]
    overrides += extra if model == "dcgan" else []
    overrides += ["loss.augment=translation,cutout,brightness,contrast"] if augmented else []
    whole = train(tiny_config(*overrides, "train.steps=12"), out=tmp_path / "whole", **QUIET)
    part = train(tiny_config(*overrides, "train.steps=5", "train.checkpoint_every=5"), out=tmp_path / "part", **QUIET)
    train(tiny_config("train.steps=12"), out=part, resume=True, **QUIET)
    assert _losses(part) == _losses(whole)
    a = load_generator(whole).generate(labels=[1, 2, 3])
    b = load_generator(part).generate(labels=[1, 2, 3])
    assert np.array_equal(a, b)


def test_time_budget_and_epochs_bound_training(tmp_path):
    run = train(tiny_config("train.epochs=2", "train.batch_size=64"), out=tmp_path / "e", **QUIET)
    steps = read_metrics(run / "metrics.jsonl")[-1]["step"]
    assert steps == 2 * (1437 // 64)
    run = train(tiny_config("train.time_budget=1.5", "train.log_every=5"), out=tmp_path / "t", **QUIET)
    assert 0 < read_metrics(run / "metrics.jsonl")[-1]["time"] < 5


def test_unconditional_gan_trains_and_samples(tmp_path):
    run = train(tiny_config("model.num_classes=0", "train.steps=10"), out=tmp_path / "vanilla", **QUIET)
    generator = load_generator(run)
    assert generator.num_classes == 0 and generator.class_names == ()
    assert generator.generate(n=5).shape == (5, 8, 8)


@pytest.mark.parametrize("loss", ["lsgan", "hinge", "wgan-gp"])
def test_other_losses_and_penalties_train(tmp_path, loss):
    run = train(tiny_config(f"loss.kind={loss}", "loss.r1_gamma=0.1", "train.steps=5"), out=tmp_path / loss, **QUIET)
    rows = read_metrics(run / "metrics.jsonl")
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in rows)
    assert "r1" in rows[0] and ("gradient_penalty" in rows[0]) == (loss == "wgan-gp")


def test_acgan_trains_its_classifier(tmp_path):
    overrides = ["data.image_size=28", "model.generator=dcgan", "model.discriminator=dcgan"]
    overrides += ["model.conditioning=acgan", "model.g_width=8", "model.d_width=8", "train.steps=60"]
    run = train(tiny_config(*overrides), out=tmp_path / "ac", **QUIET)
    rows = read_metrics(run / "metrics.jsonl")
    assert np.mean([r["d_class_acc"] for r in rows[-10:]]) > np.mean([r["d_class_acc"] for r in rows[:3]])


def test_contrastive_d_learns_to_tell_classes_apart(tmp_path):
    overrides = ["data.image_size=28", "model.generator=dcgan", "model.discriminator=dcgan"]
    overrides += ["model.conditioning=contrastive", "model.g_width=8", "model.d_width=8", "train.steps=60"]
    run = train(tiny_config(*overrides), out=tmp_path / "re", **QUIET)
    rows = read_metrics(run / "metrics.jsonl")
    assert all(np.isfinite(r["d_aux"]) and np.isfinite(r["g_aux"]) for r in rows)
    # D's data-to-data cross-entropy on real images falls as its embedding learns the classes
    assert np.mean([r["d_aux"] for r in rows[-10:]]) < np.mean([r["d_aux"] for r in rows[:3]])


def test_mode_seeking_enters_gs_loss(tmp_path):
    run = train(tiny_config("loss.mode_seeking=1", "train.steps=4"), out=tmp_path / "ms", **QUIET)
    rows = read_metrics(run / "metrics.jsonl")
    assert all(np.isfinite(r["mode_seeking"]) and r["mode_seeking"] > 0 for r in rows)
    off = train(tiny_config("train.steps=2"), out=tmp_path / "off", **QUIET)
    assert "mode_seeking" not in read_metrics(off / "metrics.jsonl")[0]


def test_existing_run_is_not_overwritten_without_force(tmp_path):
    run = train(tiny_config("train.steps=2"), out=tmp_path / "r", **QUIET)
    before = (run / "metrics.jsonl").read_text()
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        train(tiny_config("train.steps=3"), out=run, **QUIET)
    assert (run / "metrics.jsonl").read_text() == before
    train(tiny_config("train.steps=3"), out=run, force=True, **QUIET)
    assert read_metrics(run / "metrics.jsonl")[-1]["step"] == 3


def test_no_budget_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no training budget"):
        train(tiny_config(), out=tmp_path / "r", **QUIET)


def test_training_is_deterministic(tmp_path):
    a = train(tiny_config("train.steps=5"), out=tmp_path / "a", **QUIET)
    b = train(tiny_config("train.steps=5"), out=tmp_path / "b", **QUIET)
    assert _losses(a) == _losses(b)
    assert torch.equal(
        torch.from_numpy(load_generator(a).generate(labels=[0, 1])),
        torch.from_numpy(load_generator(b).generate(labels=[0, 1])),
    )


def test_the_ema_updates_every_k_steps_with_decay_to_the_k():
    from torch import nn

    from condgan.trainer import EMA

    torch.manual_seed(0)
    module = nn.Linear(3, 2)
    ema = EMA(module, decay=0.99, every=3)
    start = ema.module.weight.clone()
    with torch.no_grad():
        module.weight.add_(1.0)
    ema.update(module)
    ema.update(module)
    assert torch.equal(ema.module.weight, start)  # steps 1 and 2: no work
    ema.update(module)
    decay = min(0.99, (1 + 3) / (10 + 3)) ** 3  # the warm-up's decay at update 3, for three steps
    torch.testing.assert_close(ema.module.weight, start + (1.0 - decay) * (module.weight - start))


def test_ema_every_below_one_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"train.ema_every must be >= 1, got 0"):
        train(tiny_config("train.steps=1", "train.ema_every=0"), out=tmp_path / "r", **QUIET)


def test_a_set_below_the_networks_smallest_size_is_resized_up_to_it():
    from condgan.config import load_config
    from condgan.training import load_training_data

    lines = []
    config, dataset = load_training_data(load_config(overrides=["data.name=digits"]), log=lines.append)  # dcgan
    assert dataset.image_size == 28 and tuple(dataset.images.shape[1:]) == (1, 28, 28) and len(dataset) > 1000
    assert lines == ["condgan: digits images are 8 px, below the dcgan networks' smallest size 28; resizing them "
                     "to 28 px (set data.image_size to choose the size)"]  # fmt: skip
    mixed = load_config(overrides=["data.name=digits", "model.generator=mlp"])  # a dcgan D is enough
    assert load_training_data(mixed, log=lines.append)[1].image_size == 28 and "mlp/dcgan networks'" in lines[-1]
    lines.clear()
    mlp = load_config(overrides=["data.name=digits", "model.generator=mlp", "model.discriminator=mlp"])
    assert load_training_data(mlp, log=lines.append)[1].image_size == 8 and not lines  # mlp takes any size
    asked = load_config(overrides=["data.name=digits", "data.image_size=32"])
    assert load_training_data(asked, log=lines.append)[1].image_size == 32 and not lines  # a size asked for stays


@pytest.mark.slow
def test_the_issue_command_trains_a_vanilla_dcgan_on_digits(tmp_path, capsys):
    """`condgan train --data digits --num-classes 0` used to stop at "dcgan supports image sizes 28, 32, 64, got 8"."""
    from condgan.cli import main

    out = tmp_path / "vanilla"
    assert main(["train", "--data", "digits", "--num-classes", "0", "--steps", "2", "--out", str(out),
                 "--no-progress", "--set", "train.batch_size=16"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert sum("resizing them to 28 px" in line for line in err.splitlines()) == 1
    saved = json.loads((out / "config.json").read_text())
    assert saved["data"]["image_size"] == 28 and saved["model"]["num_classes"] == 0
    assert load_generator(out, device="cpu").generate(n=2).shape[1:3] == (28, 28)
