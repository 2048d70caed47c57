"""The CycleGAN task on the shared trainer: defaults, networks, losses, training, exact resume, translate, export,
and every bad input through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.checkpoint import latest_checkpoint, load_state, load_weights
from condgan.cli import main
from condgan.config import load_config
from condgan.data.loader import to_float, to_uint8
from condgan.data.make_unpaired import make_unpaired_classes
from condgan.errors import CondganError, ConfigError
from condgan.inference.generate import load_generator
from condgan.inference.translate import load_translator
from condgan.losses import d_cyclegan, g_cyclegan
from condgan.models.cyclegan import build_cycle_networks
from condgan.models.resnet import ResnetBlock, ResnetGenerator
from condgan.models.unet import UNetGenerator
from condgan.tasks.cyclegan import CycleGANTask
from condgan.training import train
from tests.conftest import tiny_config

QUIET = {"progress": False, "log": lambda message: None}
MODULES = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")


def small(data: Path, *overrides: str) -> list[str]:
    """A CycleGAN of small networks (seconds per few steps on a CPU)."""
    return ["task=cyclegan", f"data.name=unaligned:{data}", "model.g_width=8", "model.d_width=8",
            "model.resnet_blocks=1", "model.n_layers=2", "train.batch_size=4", "train.log_every=1",
            "train.sample_every=0", "train.checkpoint_every=0", "loss.pool_size=3", *overrides]  # fmt: skip


@pytest.fixture(scope="module")
def sneakers(tmp_path_factory) -> Path:
    """Real unaligned data: Fashion-MNIST sneakers (A) and ankle boots (B) at 32 px, 32 of each per split."""
    root = tmp_path_factory.mktemp("cyclegan")
    return make_unpaired_classes("fashion-mnist", "sneaker", "ankle-boot", root / "s2b", size=32, limit=32)


@pytest.fixture(scope="module")
def run(sneakers, tmp_path_factory) -> Path:
    """A run trained for 6 steps with a sample sheet and a checkpoint."""
    out = tmp_path_factory.mktemp("cyclegan-run") / "run"
    return train(load_config(overrides=small(sneakers, "train.steps=6", "train.sample_every=6")), out=out, **QUIET)


def _config(a_channels: int = 1, b_channels: int = 1, size: int = 32, *overrides: str):
    config = load_config(overrides=["task=cyclegan", "model.g_width=8", "model.d_width=8", "model.n_layers=2",
                                    f"data.image_size={size}", *overrides])  # fmt: skip
    return config.replace(data={"source_channels": a_channels, "channels": b_channels})


# ---------------------------------------------------------------- defaults and networks
def test_the_task_defaults_are_the_papers():
    c = load_config(overrides=["task=cyclegan"])
    m, loss, t = c.model, c.loss, c.train
    assert (m.generator, m.discriminator, m.g_width, m.d_width, m.norm, m.n_layers) == (
        "resnet", "patchgan", 64, 64, "instance", 3)  # fmt: skip
    assert (m.resnet_blocks, m.g_dropout) == (-1, False)
    assert (loss.kind, loss.cycle_weight, loss.identity_weight, loss.pool_size) == ("lsgan", 10.0, 0.5, 50)
    assert (t.batch_size, t.lr, t.beta1, t.beta2, t.ema_decay, t.lr_decay, t.lr_decay_start) == (
        1, 2e-4, 0.5, 0.999, 0.0, "linear", 0.5)  # fmt: skip
    assert load_config(overrides=["task=cyclegan", "model.generator=unet"]).model.generator == "unet"


@pytest.mark.parametrize("size, blocks", [(256, 9), (128, 6), (32, 6)])
def test_resnet_depth_follows_the_image_size(size, blocks):
    networks = build_cycle_networks(_config(1, 1, size))
    assert sum(isinstance(m, ResnetBlock) for m in networks["generator_ab"].modules()) == blocks


def test_two_generators_and_two_discriminators_fit_each_sides_channels():
    networks = build_cycle_networks(_config(1, 3, 32, "model.resnet_blocks=2"))
    assert list(networks) == list(MODULES)
    a, b = torch.randn(2, 1, 32, 32), torch.randn(2, 3, 32, 32)
    assert isinstance(networks["generator_ab"], ResnetGenerator)
    assert networks["generator_ab"](a).shape == (2, 3, 32, 32) and networks["generator_ba"](b).shape == (2, 1, 32, 32)
    assert networks["discriminator_a"](a).shape == networks["discriminator_b"](b).shape == (2, 1, 6, 6)
    unets = build_cycle_networks(_config(1, 3, 32, "model.generator=unet"))
    assert isinstance(unets["generator_ba"], UNetGenerator) and unets["generator_ba"](b).shape == (2, 1, 32, 32)


# ---------------------------------------------------------------- losses as the task composes them
def _task(*overrides: str, channels: tuple[int, int] = (1, 1)) -> CycleGANTask:
    torch.manual_seed(0)
    config = _config(*channels, 32, "model.resnet_blocks=1", *overrides)
    return CycleGANTask(config, **build_cycle_networks(config))


def test_the_generator_loss_is_adversarial_plus_cycle_plus_identity_with_d_frozen():
    task = _task()
    real_a, real_b = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1
    loss, logs = task.g_loss((real_a, real_b))
    g_ab, g_ba, d_a, d_b = (task.modules()[name] for name in MODULES)
    with torch.no_grad():
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        cycle = (g_ba(fake_b) - real_a).abs().mean() + (g_ab(fake_a) - real_b).abs().mean()
        identity = (g_ba(real_a) - real_a).abs().mean() + (g_ab(real_b) - real_b).abs().mean()
        adversarial = ((d_b(fake_b) - 1) ** 2).mean() + ((d_a(fake_a) - 1) ** 2).mean()  # the reference's MSE
        expected = adversarial + 10 * cycle + 0.5 * 10 * identity
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert logs["cycle_a"] + logs["cycle_b"] == pytest.approx(cycle.item(), rel=1e-5)
    loss.backward()
    assert all(p.grad is None for p in [*d_a.parameters(), *d_b.parameters()])  # D frozen in G's step
    assert all(p.grad is not None for p in [*g_ab.parameters(), *g_ba.parameters()])
    assert all(p.requires_grad for p in d_a.parameters())  # and unfrozen after it


def test_identity_weight_zero_turns_the_identity_term_off():
    task = _task("loss.identity_weight=0")
    loss, logs = task.g_loss((torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32)))
    assert "identity" not in logs
    expected = logs["g_ab"] + logs["g_ba"] + 10 * (logs["cycle_a"] + logs["cycle_b"])
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_the_discriminator_loss_is_halved_on_the_generators_images():
    task = _task("loss.pool_size=0", "loss.kind=bce")
    real_a, real_b = torch.rand(2, 1, 32, 32), torch.rand(2, 1, 32, 32)
    task.g_loss((real_a, real_b))
    fake_a, fake_b = task._fakes
    loss, logs = task.d_loss((real_a, real_b))
    with torch.no_grad():
        d_a, d_b = task.discriminator_a, task.discriminator_b
        softplus = torch.nn.functional.softplus
        expected_a = 0.5 * (softplus(-d_a(real_a)).mean() + softplus(d_a(fake_a)).mean())  # halved BCE by hand
        expected_b = d_cyclegan(d_b(real_b), d_b(fake_b), "bce")
    assert logs["d_a"] == pytest.approx(expected_a.item(), rel=1e-5)
    assert logs["d_b"] == pytest.approx(expected_b.item(), rel=1e-5)
    assert loss.item() == pytest.approx(logs["d_a"] + logs["d_b"], rel=1e-6)
    assert g_cyclegan(torch.zeros(1), "bce").item() == pytest.approx(np.log(2))


@pytest.mark.parametrize(
    "overrides, channels, message",
    [
        (("loss.kind=wgan-gp",), (1, 1), "cyclegan supports loss.kind bce, lsgan, hinge"),
        (("train.d_steps=2",), (1, 1), "train.d_steps=2, use 1"),
        ((), (1, 3), "set loss.identity_weight=0"),
    ],
)
def test_bad_task_settings(overrides, channels, message):
    with pytest.raises(ConfigError, match=message):
        _task(*overrides, channels=channels)


def test_sides_of_different_channels_train_without_the_identity_term():
    task = _task("loss.identity_weight=0", channels=(1, 3))
    loss, _ = task.g_loss((torch.zeros(1, 1, 32, 32), torch.zeros(1, 3, 32, 32)))
    assert torch.isfinite(loss)


# ---------------------------------------------------------------- training on real data
def _rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_few_steps_reduce_the_cycle_loss(sneakers, tmp_path):
    """12 steps (about a second unloaded): |G_BA(G_AB(a)) - a| + |G_AB(G_BA(b)) - b| falls from ~1.5 to ~0.5."""
    out = train(load_config(overrides=small(sneakers, "train.steps=12", "train.lr=1e-3")), out=tmp_path / "r", **QUIET)
    cycle = [row["cycle_a"] + row["cycle_b"] for row in _rows(out)]
    first, last = np.mean(cycle[:3]), np.mean(cycle[-3:])
    assert last < 0.6 * first, (first, last)


def test_the_run_directory_has_both_directions_and_the_sample_sheet(run):
    folder = latest_checkpoint(run)
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{m}.safetensors" for m in MODULES] + ["state.pt"])
    state = load_state(folder / "state.pt")
    assert {"g_optimizer", "d_optimizer", "task_per_rank"} <= set(state) and len(state["task_per_rank"]) == 1
    assert state["task_per_rank"][0]["pool_a"]["count"] == 3  # one process: its pools
    sheet = Image.open(run / "samples" / "step_0000006.png")
    assert sheet.width > 8 * 64 and sheet.height > 6 * 64  # 8 columns, six rows of 64 px (32 px scaled 2x)
    config = json.loads((run / "config.json").read_text())
    assert (config["data"]["source_channels"], config["data"]["channels"], config["data"]["load_size"]) == (1, 1, 36)
    # lr constant for the first half, then linearly to 0, for both players (generators and discriminators)
    assert [row["lr"] for row in _rows(run)] == pytest.approx([2e-4] * 4 + [2e-4 * 2 / 3, 2e-4 / 3], abs=1e-6)
    assert [state[f"{p}_optimizer"]["param_groups"][0]["lr"] for p in "gd"] == pytest.approx([2e-4 / 3] * 2)


def test_a_nonfinite_generator_loss_stops_training_and_keeps_the_last_good_checkpoint(sneakers, tmp_path):
    from condgan.distributed import unwrap
    from condgan.errors import TrainingError

    class Poison:
        def on_step_end(self, trainer):
            if trainer.step == 2:
                with torch.no_grad():
                    next(unwrap(trainer.task.generator_ba).parameters()).fill_(float("nan"))

    config = load_config(overrides=small(sneakers, "train.steps=6", "train.checkpoint_every=2"))
    with pytest.raises(TrainingError, match=r"the generator loss became nan at step 3 .*\(step 2\) is kept"):
        train(config, out=tmp_path / "nan", callbacks=[Poison()], **QUIET)
    assert latest_checkpoint(tmp_path / "nan").name == "step_00000002"


def test_resume_is_exact(sneakers, tmp_path):
    """Train 8 steps, against 4 (killed after the checkpoint) + resumed to 8: the same weights, bit for bit.
    The pools (3 images, 4 new ones a step) are full and swapping by then: this fails if they are not restored."""

    class Interrupt:
        def on_step_end(self, trainer):
            if trainer.step == 4:
                raise KeyboardInterrupt

    overrides = small(sneakers, "train.steps=8", "train.checkpoint_every=4")
    whole = train(load_config(overrides=overrides), out=tmp_path / "whole", **QUIET)
    with pytest.raises(KeyboardInterrupt):
        train(load_config(overrides=overrides), out=tmp_path / "halves", callbacks=[Interrupt()], **QUIET)
    halves = train(None, out=tmp_path / "halves", resume=True, **QUIET)
    for name in MODULES:
        expected, got = load_weights(latest_checkpoint(whole) / f"{name}.safetensors"), load_weights(
            latest_checkpoint(halves) / f"{name}.safetensors")  # fmt: skip
        assert all(torch.equal(expected[key], got[key]) for key in expected), name
    assert _rows(whole) == [{**row, "time": r["time"]} for row, r in zip(_rows(halves), _rows(whole), strict=True)]


# ---------------------------------------------------------------- using a run: translate, load_generator, export
def test_a_translator_per_direction(run, sneakers):
    ab, ba = load_translator(run, "cpu", direction="AtoB"), load_translator(run, "cpu", direction="BtoA")
    assert (ab.source_channels, ab.channels, ba.direction) == (1, 1, "BtoA")
    weights = load_weights(latest_checkpoint(run) / "generator_ba.safetensors")
    assert all(torch.equal(ba.module.state_dict()[k], v) for k, v in weights.items())
    assert not torch.equal(ab.module.head.conv.weight, ba.module.head.conv.weight)
    boot = np.array(Image.open(sneakers / "testB" / "00000.png"))  # (32, 32)
    with torch.no_grad():
        expected = to_uint8(ba.module(to_float(torch.from_numpy(boot)[None, None])))[0]  # G_BA at the native size
    assert np.array_equal(ba.translate_images([boot[None]], ["boot"])[0], expected.numpy())
    assert load_generator(run, "cpu", direction="BtoA").direction == "BtoA"
    with pytest.raises(CondganError, match="unknown direction 'AtoC'; valid choices: AtoB, BtoA"):
        load_translator(run, "cpu", direction="AtoC")


def test_translate_a_folder_and_a_file_through_the_cli(run, sneakers, tmp_path, capsys):
    out = tmp_path / "sneakers"
    assert main(["translate", str(run), str(sneakers / "testB"), "-o", str(out), "--direction", "BtoA"]) == 0
    assert len(list(out.glob("*.png"))) == 32 and Image.open(out / "00000.png").size == (32, 32)
    assert main(["translate", str(run), str(sneakers / "testA" / "00001.png"), "-o", str(tmp_path / "boot.png")]) == 0
    assert "translated" in capsys.readouterr().err


def test_export_writes_both_directions(run, tmp_path, capsys):
    from condgan.inference.export import read_metadata

    assert main(["export", str(run), "-o", str(tmp_path / "s2b.onnx")]) == 0
    err = capsys.readouterr().err
    for direction in ("AtoB", "BtoA"):
        path = tmp_path / f"s2b.{direction}.onnx"
        assert read_metadata(path)["direction"] == direction and f"cyclegan {direction} generator" in err
    assert "onnxruntime matches PyTorch" in err
    assert main(["export", str(run), "-o", str(tmp_path / "one.onnx"), "--direction", "BtoA"]) == 0
    assert read_metadata(tmp_path / "one.onnx")["direction"] == "BtoA"


# ---------------------------------------------------------------- bad input through the CLI: exit 2, one line
def _train_args(data: str, out: Path) -> list[str]:
    return ["train", "--task", "cyclegan", "--data", data, "--steps", "1", "--out", str(out), "--no-progress",
            "--set", "model.g_width=4", "--set", "model.d_width=4"]  # fmt: skip


@pytest.mark.parametrize(
    "case, message",
    [
        ("named set", "cyclegan data must be unaligned:DIR"),
        ("no folder", "no such folder"),
        ("no side", "trainB: missing"),
        ("empty side", "trainB: no PNG/JPEG images"),
        ("unreadable", "trainA/00003.png: not a readable image"),
        ("channels", "set loss.identity_weight=0"),
    ],
)
def test_bad_data_through_the_cli(sneakers, tmp_path, capsys, case, message):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(sneakers, data)
    if case == "no side":
        shutil.rmtree(data / "trainB")
    elif case == "empty side":
        for file in (data / "trainB").iterdir():
            file.unlink()
    elif case == "unreadable":
        (data / "trainA" / "00003.png").write_bytes(b"not a png")
    elif case == "channels":  # side B in colour, side A gray
        for file in (data / "trainB").iterdir():
            pixels = np.asarray(Image.open(file))  # (32, 32)
            Image.fromarray(np.dstack([pixels, pixels // 2, pixels // 3])).save(file)
    name = {"named set": "fashion-mnist", "no folder": f"unaligned:{tmp_path / 'nope'}"}.get(case, f"unaligned:{data}")
    assert main(_train_args(name, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "run").exists(), "nothing half-written"


@pytest.mark.parametrize(
    "command, message",
    [
        (["sample", "RUN", "--grid", "g.png"], "is a cyclegan run; it translates images"),
    ],
)
def test_commands_for_one_generator_refuse_a_cyclegan_run_in_one_line(run, tmp_path, capsys, command, message):
    args = [str(run) if a == "RUN" else str(tmp_path / "out") if a == "OUT" else a for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_an_ema_of_each_generator_when_asked(sneakers, tmp_path):
    out = train(load_config(overrides=small(sneakers, "train.steps=2", "train.ema_decay=0.9", "train.ema_every=1")),
                out=tmp_path / "ema", **QUIET)  # fmt: skip
    files = {p.name for p in latest_checkpoint(out).iterdir()}
    assert {"generator_ab_ema.safetensors", "generator_ba_ema.safetensors"} <= files
    assert not any(name.startswith("discriminator") and "ema" in name for name in files)
    ema = load_weights(latest_checkpoint(out) / "generator_ba_ema.safetensors")
    translator = load_translator(out, "cpu", direction="BtoA")
    assert all(torch.equal(translator.module.state_dict()[k], v) for k, v in ema.items())
    raw = load_translator(out, "cpu", direction="BtoA", use_ema=False)
    assert not all(torch.equal(raw.module.state_dict()[k], v) for k, v in ema.items())


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cgan") / "run"
    return train(tiny_config("train.steps=2"), out=out, **QUIET)


def test_translate_refuses_a_cgan_run(cgan_run, tmp_path, capsys):
    image = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(image)
    assert main(["translate", str(cgan_run), str(image), "-o", str(tmp_path / "y.png")]) == 2
    assert "translate needs a pix2pix run or a cyclegan run" in capsys.readouterr().err


def test_a_cgan_checkpoint_keeps_its_file_and_state_names(cgan_run):
    """The trainer over named players writes cgan runs as before, so run directories of either age resume."""
    folder = latest_checkpoint(cgan_run)
    assert sorted(p.name for p in folder.iterdir()) == [
        "discriminator.safetensors", "generator.safetensors", "generator_ema.safetensors", "state.pt"]  # fmt: skip
    state = load_state(folder / "state.pt")
    assert {"g_optimizer", "d_optimizer", "ema_updates", "batches", "cpu_rng"} <= set(state) and "task" not in state


@pytest.mark.slow
def test_two_processes_with_batch_b_train_as_one_with_batch_2b(sneakers, tmp_path):
    """torchrun (gloo, 2 CPU processes, each its share of the global batch and of its crops) against one
    process: the same logged losses and the same functions. Without pools (loss.pool_size=0): each rank
    keeps its own. Conv biases before instance norm are left out of the weight check: the norm cancels them,
    so their gradients are rounding noise that Adam scales up to full steps, differently in each run."""
    from tests.test_distributed import TOLERANCE, _torchrun

    sets = [o for o in small(sneakers, "loss.pool_size=0")[2:] if not o.startswith("train.batch_size")]
    common = ["--task", "cyclegan", "--data", f"unaligned:{sneakers}", "--steps", "4", "--no-progress",
              *[arg for o in sets for arg in ("--set", o)]]  # fmt: skip
    process = _torchrun(["train", *common, "--batch-size", "2", "--out", str(tmp_path / "two")])
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    assert main(["train", *common, "--batch-size", "4", "--out", str(tmp_path / "one")]) == 0
    two, one = _rows(tmp_path / "two"), _rows(tmp_path / "one")
    assert max(abs(a[k] - b[k]) for a, b in zip(two, one, strict=True) for k in a if k != "time") < TOLERANCE
    images = torch.rand(2, 1, 32, 32) * 2 - 1
    for direction in ("AtoB", "BtoA"):
        outputs = [load_translator(tmp_path / run, "cpu", direction=direction).translate_tensor(images)
                   for run in ("two", "one")]  # fmt: skip
        assert (outputs[0] - outputs[1]).abs().max() < TOLERANCE
    for name in MODULES:
        a, b = (load_weights(latest_checkpoint(tmp_path / run) / f"{name}.safetensors") for run in ("two", "one"))
        cancelled = {k for k in a if k.endswith("conv.bias") or k.endswith(("conv1.bias", "conv2.bias"))}
        cancelled -= {"head.conv.bias", "layers.0.conv.bias"}  # no norm after these two
        assert max((a[k] - b[k]).abs().max().item() for k in a if k not in cancelled) < TOLERANCE, name


@pytest.mark.slow
def test_a_torchrun_run_with_pools_resumes_exactly(sneakers, tmp_path, capsys):
    """2 processes with image pools (3 images each, 2 new ones per rank a step: full and swapping from step 2):
    8 steps in one go against the same run stopped after its step-4 checkpoint and resumed under torchrun: the
    same logged losses and weights, bit for bit. Every rank's pools are in the checkpoint (before, rank 0's
    alone: rank 1 resumed with empty ones and the runs parted at step 5). Resumed by one process instead, rank 0
    continues its pools and one warning line says that rank 1's are dropped."""
    import shutil

    from tests.test_distributed import _torchrun

    sets = small(sneakers, "train.batch_size=2", "train.checkpoint_every=4")[2:]
    args = ["--task", "cyclegan", "--data", f"unaligned:{sneakers}", "--steps", "8", "--no-progress",
            *[arg for o in sets for arg in ("--set", o)]]  # fmt: skip
    whole = tmp_path / "whole"
    process = _torchrun(["train", *args, "--out", str(whole)])
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    saved = load_state(whole / "checkpoints" / "step_00000004" / "state.pt")
    pools = [rank["pool_b"]["images"] for rank in saved["task_per_rank"]]  # G_AB's images, (3, 1, 32, 32) a rank
    assert saved["world_size"] == len(pools) == 2 and pools[0].shape == (3, 1, 32, 32) and not torch.equal(*pools)

    def stopped_after_step_4(name: str) -> Path:
        """The run as a stop after its step-4 checkpoint leaves it (resuming drops the log rows after step 4)."""
        run = tmp_path / name
        shutil.copytree(whole, run)
        shutil.rmtree(run / "checkpoints" / "step_00000008")
        (run / "checkpoints" / "latest").write_text("step_00000004\n")
        return run

    halves = stopped_after_step_4("halves")
    process = _torchrun(["train", "--resume", str(halves), "--no-progress"])
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0 and "condgan: warning" not in err, err[-3000:]
    for name in MODULES:
        expected, got = (load_weights(latest_checkpoint(run) / f"{name}.safetensors") for run in (whole, halves))
        assert all(torch.equal(expected[key], got[key]) for key in expected), name
    assert _rows(whole) == [{**row, "time": r["time"]} for row, r in zip(_rows(halves), _rows(whole), strict=True)]

    capsys.readouterr()
    train(None, out=stopped_after_step_4("one"), resume=True, **QUIET)  # one process: another world size
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("condgan: warning:")]
    assert len(warnings) == 1 and "that of saved rank 1 is dropped" in warnings[0], warnings
