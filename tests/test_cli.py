"""The command line, run as a user would: `python -m condgan ...` in a subprocess."""

import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from condgan.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "condgan", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_sample_by_class_name_and_index(trained_run, tmp_path):
    assert main(["sample", str(trained_run), "--class", "7", "--n", "16", "-o", str(tmp_path / "sevens.png")]) == 0
    image = Image.open(tmp_path / "sevens.png")
    assert image.size[0] > 8 * 4
    assert main(["sample", str(trained_run), "--grid", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size[1] > 10 * 8


def test_sample_npz_has_the_documented_keys(trained_run, tmp_path):
    out = tmp_path / "samples.npz"
    assert main(["sample", str(trained_run), "--per-class", "7", "--npz", str(out)]) == 0
    with np.load(out) as data:
        assert data["images"].dtype == np.uint8 and data["images"].shape == (70, 8, 8)
        assert data["labels"].dtype == np.int64 and list(np.bincount(data["labels"])) == [7] * 10


def test_sample_in_bf16_is_close_to_fp32(trained_run, tmp_path):
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.npz"
        assert main(["sample", str(trained_run), "--per-class", "40", "--npz", str(out), "--precision", precision]) == 0
    with np.load(tmp_path / "fp32.npz") as exact, np.load(tmp_path / "bf16.npz") as half:
        assert (exact["labels"] == half["labels"]).all()
        difference = np.abs(exact["images"].astype(int) - half["images"].astype(int))
    assert 0 < difference.mean() < 1 and difference.max() <= 8  # bfloat16 rounding, not other images


def test_sample_interpolation(trained_run, tmp_path):
    out = tmp_path / "interp.png"
    assert main(["sample", str(trained_run), "--interpolate", str(out)]) == 0
    assert Image.open(out).size[0] > 10 * 8


def test_train_then_resume_through_the_cli(tmp_path):
    out = tmp_path / "cli-run"
    common = ["--data", "digits", "--model", "mlp", "--conditioning", "concat", "--no-progress"]
    result = run_cli("train", *common, "--steps", "3", "--out", out, "--set", "train.log_every=1")
    assert result.returncode == 0, result.stderr
    assert (out / "checkpoints" / "step_00000003").is_dir()
    result = run_cli("train", "--resume", out, "--steps", "5", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr and (out / "checkpoints" / "step_00000005").is_dir()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "nope", "--steps", "1"], "data.name must be one of fashion-mnist, mnist"),
        (["train", "--model", "gpt", "--data", "digits", "--steps", "1"], "model.generator must be one of mlp, dcgan"),
        (
            ["train", "--loss", "l3", "--data", "digits", "--model", "mlp", "--steps", "1"],
            "loss.kind must be one of bce, lsgan",
        ),
        (["train", "--set", "train.nope=1"], "unknown config key 'train.nope'; valid keys in train"),
        (["train", "--data", "digits", "--set", "train.batch_size=0"], "train.batch_size must be >= 1, got 0"),
        (["train", "--data", "digits", "--set", "train.d_steps=0"], "train.d_steps must be >= 1, got 0"),
        (["train", "--resume", "/nonexistent/run"], "not a run directory"),
        (["sample", "/nonexistent/run", "--grid", "g.png"], "run directory /nonexistent/run does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir()), "nothing may be left behind"


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.batch_size=0", "train.batch_size must be >= 1, got 0"),
        ("train.batch_size=-5", "train.batch_size must be >= 1, got -5"),
        ("train.d_steps=0", "train.d_steps must be >= 1, got 0"),
        ("train.lr=-1", "train.lr must be > 0, got -1.0"),
        ("train.steps=-3", "train.steps must be >= 0, got -3"),
        ("train.ema_decay=1.5", "train.ema_decay must be in [0, 1), got 1.5"),
        ("model.z_dim=0", "model.z_dim must be >= 1, got 0"),
        ("train.log_every=0", "train.log_every must be >= 1, got 0"),
        ("loss.kind=l3", "loss.kind must be one of bce, lsgan, hinge, wgan-gp, got 'l3'"),
        ("train.precision=fp8", "train.precision must be one of auto, fp32, bf16, fp16, got 'fp8'"),
    ],
)
def test_bad_config_values_through_the_cli(tmp_path, monkeypatch, capsys, override, message):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "digits", "--steps", "5", "--no-progress", "--set", override]) == 2
    err = capsys.readouterr().err
    assert err == f"condgan: error: {message}\n"
    assert not list(tmp_path.iterdir()), "nothing may be left behind"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--class", "12", "-o", "x.png"], "class index 12 out of range; valid: 0..9"),
        (["--class", "sneaker", "-o", "x.png"], "unknown class 'sneaker'; valid classes: 0, 1, 2"),
        (["-o", "x.gif"], "must end in .png or .jpg"),
        (["--npz", "x.npy"], "must end in .npz"),
        ([], "nothing to write"),
    ],
)
def test_bad_sample_requests(trained_run, tmp_path, capsys, extra, message):
    assert main(["sample", str(trained_run), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_corrupt_checkpoint_is_a_clear_error(trained_run, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    weights = broken / "checkpoints" / "step_00000800" / "generator_ema.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert main(["sample", str(broken), "--grid", str(tmp_path / "g.png")]) == 2
    assert "corrupt weights file" in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()


def test_existing_output_run_needs_force(trained_run, capsys):
    assert main(["train", "--data", "digits", "--steps", "1", "--out", str(trained_run), "--no-progress"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err


def test_version_is_the_installed_package_version():
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout == f"condgan {version('condgan')}\n"
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'\nversion = "{version("condgan")}"\n' in pyproject


def test_every_subcommand_help_ends_with_examples_of_itself_that_parse():
    from condgan.cli import build_parser, subcommands

    found = subcommands(build_parser())
    assert {"train", "sample", "eval", "data make-pairs", "pretrained pack"} <= set(found)
    for name, parser in found.items():
        help_text = parser.format_help()
        assert "\nexamples:\n" in help_text, f"condgan {name} --help has no examples"
        examples = [line.strip() for line in help_text.split("\nexamples:\n")[1].strip().splitlines()]
        assert examples, name
        for example in examples:
            assert (example + " ").startswith(f"condgan {name} "), f"{name}: {example!r} does not use its own name"
            args = build_parser().parse_args(shlex.split(example)[1:])  # an example that does not parse exits
            assert args.command == name.split()[0]
