"""`condgan import-cyclegan`: a reference CycleGAN pair (G_A: A -> B, G_B: B -> A) becomes one cyclegan run whose
two directions reproduce the reference's outputs and which translate, export and the web demo accept; a pair
that does not fit is one line and writes nothing.

The fixtures hold one reference ResNet generator (resnet_9blocks, instance norm, no dropout: CycleGAN's
defaults, ngf 8) with its input and the output the reference computed. G_A is that checkpoint; G_B is the same
checkpoint with its last convolution's output channels reversed, so the reference's output of G_B is the
fixture's output with its channels reversed (exactly: Tanh acts per channel), and the two directions differ.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.cli import main
from condgan.data.loader import to_float, to_uint8
from condgan.errors import CheckpointError, ConfigError
from condgan.import_pix2pix import import_cyclegan
from condgan.inference.translate import load_translator
from condgan.models.reference import (
    load_reference_state_dict,
    read_reference_checkpoint,
    reference_generator,
    reference_key_map,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pix2pix_reference"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"reference pix2pix fixtures not found at {FIXTURES}")
G_A = FIXTURES / "resnet_9blocks_net_G.pth"
HEAD = "model.26"  # resnet_9blocks' last convolution: model.(17 + 9)


def fixture_io() -> dict:
    return torch.load(FIXTURES / "resnet_9blocks_io.pt", weights_only=False)


@pytest.fixture
def g_b(tmp_path: Path) -> Path:
    """The fixture generator with its output channels reversed, saved as the reference saves latest_net_G_B.pth."""
    state = torch.load(G_A, weights_only=True)
    state[f"{HEAD}.weight"], state[f"{HEAD}.bias"] = state[f"{HEAD}.weight"].flip(0), state[f"{HEAD}.bias"].flip(0)
    path = tmp_path / "latest_net_G_B.pth"
    torch.save(state, path)
    return path


def reference_state(ngf: int = 8, input_nc: int = 3, output_nc: int = 3) -> dict[str, torch.Tensor]:
    """A resnet_9blocks state_dict under the reference's key names (for the pairs that must not fit)."""
    model = reference_generator("resnet_9blocks", input_nc, output_nc, ngf, "instance", False)
    ours = model.state_dict()
    return {reference: ours[key] for key, reference in reference_key_map(model).items()}


def test_both_directions_reproduce_the_reference(tmp_path: Path, g_b: Path) -> None:
    run = import_cyclegan(G_A, g_b, tmp_path / "h2z")  # the reference's CycleGAN defaults
    io = fixture_io()
    to_b = load_translator(run, direction="AtoB").translate_tensor(io["input"])
    to_a = load_translator(run, direction="BtoA").translate_tensor(io["input"])
    assert to_b.shape == io["output"].shape == to_a.shape
    assert (to_b - io["output"]).abs().max().item() <= 1e-5
    assert (to_a - io["output"].flip(1)).abs().max().item() <= 1e-5
    assert (to_a - to_b).abs().max().item() > 0.01  # the directions are told apart

    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "cyclegan" and config["loss"]["kind"] == "lsgan"
    model = config["model"]
    assert (model["generator"], model["resnet_blocks"], model["norm"], model["g_dropout"], model["g_width"]) == (
        "resnet", 9, "instance", False, 8
    )  # fmt: skip
    assert (config["data"]["source_channels"], config["data"]["channels"], config["data"]["image_size"]) == (3, 3, 256)
    step = run / "checkpoints" / "step_00000000"
    assert sorted(p.name for p in step.glob("*.safetensors")) == ["generator_ab.safetensors",
                                                                  "generator_ba.safetensors"]  # fmt: skip
    record = json.loads((run / "imported.json").read_text())
    assert record["G_A"]["source"] == str(G_A.resolve()) and record["G_B"]["source"] == str(g_b.resolve())
    assert record["G_A"]["sha256"] != record["G_B"]["sha256"] and len(record["G_B"]["sha256"]) == 64


def test_cli_import_then_translate_export_and_serve_both_ways(tmp_path: Path, g_b: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["import-cyclegan", str(G_A), str(g_b), "--image-size", "64", "--out", str(run)]) == 0
    assert "imported" in capsys.readouterr().err
    source = to_uint8(fixture_io()["input"])[0]  # (3, 64, 64) uint8: what a PNG holds
    Image.fromarray(source.permute(1, 2, 0).numpy()).save(tmp_path / "input.png")
    reference = reference_generator("resnet_9blocks", 3, 3, 8, "instance", False)  # built and loaded independently
    load_reference_state_dict(reference, read_reference_checkpoint(G_A), "fixture")
    with torch.no_grad():
        expected = reference.eval()(to_float(source[None]))[0]  # (3, 64, 64)
    for direction, want in (("AtoB", expected), ("BtoA", expected.flip(0))):
        out = tmp_path / f"{direction}.png"
        assert main(["translate", str(run), str(tmp_path / "input.png"), "-o", str(out), "--direction", direction]) == 0
        written = np.asarray(Image.open(out)).astype(int)  # (64, 64, 3)
        assert np.abs(written - to_uint8(want[None])[0].permute(1, 2, 0).numpy()).max() <= 1

    assert main(["export", str(run), "-o", str(tmp_path / "h2z.onnx")]) == 0
    from condgan.inference.export import read_metadata

    for direction in ("AtoB", "BtoA"):
        assert read_metadata(tmp_path / f"h2z.{direction}.onnx")["direction"] == direction

    from condgan.web.views import load_models  # what `condgan serve RUN` loads

    models = load_models([str(run)], device="cpu")
    assert sorted(models.translators) == [f"{run} (A→B)", f"{run} (B→A)"]
    assert models.translators[f"{run} (B→A)"].direction == "BtoA"


def assert_one_line_and_nothing_written(argv: list[str], expected: str, tmp_path: Path, capsys) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("condgan: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert expected in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run, no temporary folder


def test_bad_pairs_are_one_line_and_write_nothing(tmp_path: Path, g_b: Path, capsys) -> None:
    out = ["--out", str(tmp_path / "run")]
    wider, gray = tmp_path / "wider.pth", tmp_path / "gray_in.pth"
    torch.save(reference_state(ngf=16), wider)
    torch.save(reference_state(input_nc=1), gray)
    cases = [
        ([str(G_A), str(tmp_path / "missing_G_B.pth")], "missing_G_B.pth: no such checkpoint file"),
        ([str(G_A), str(FIXTURES / "unet_256_net_G.pth")],
         "unet_256_net_G.pth has no key 'model.1.weight' (checkpoint none, model (8, 3, 7, 7)) for ResnetGenerator"),
        ([str(FIXTURES / "basic_net_D.pth"), str(g_b)], "--netG: the checkpoint holds no generator of the reference"),
        ([str(G_A), str(wider)], "resnet_9blocks_net_G.pth and wider.pth are not one CycleGAN pair: G_B should have "
                                 "ngf 8, 3 -> 3 channels (G_A's ngf, mapping G_A's output channels back to its "
                                 "input's) but has ngf 16, 3 -> 3 channels"),
        ([str(G_A), str(gray)], "but has ngf 8, 1 -> 3 channels"),
        ([str(G_A), str(g_b), "--netG", "resnet_6blocks"],
         "has no key 'model.16.weight' (checkpoint none, model (32, 16, 3, 3)) for ResnetGenerator"),
        ([str(G_A), str(g_b), "--dropout"], "no key 'model.10.conv_block.6.weight'"),
        ([str(G_A), str(g_b), "--netG", "unet_512"], "unknown --netG 'unet_512'; valid choices: unet_32"),
        ([str(G_A), str(g_b), "--data", "horse2zebra"], "--data 'horse2zebra': a cyclegan run reads unaligned:DIR"),
    ]  # fmt: skip
    for args, expected in cases:
        assert_one_line_and_nothing_written(["import-cyclegan", *args, *out], expected, tmp_path, capsys)


def test_an_existing_run_is_kept_unless_forced(tmp_path: Path, g_b: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        import_cyclegan(G_A, g_b, tmp_path / "taken")
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    with pytest.raises(CheckpointError, match="not one CycleGAN pair"):  # a failed forced import keeps it too
        torch.save(reference_state(ngf=4), tmp_path / "narrow.pth")
        import_cyclegan(G_A, tmp_path / "narrow.pth", tmp_path / "taken", force=True)
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    run = import_cyclegan(G_A, g_b, tmp_path / "taken", force=True, data="unaligned:data/horse2zebra")
    assert not (run / "keep.txt").exists() and json.loads((run / "config.json").read_text())["data"]["name"] == (
        "unaligned:data/horse2zebra"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest_net_G_B.pth", "narrow.pth", "taken"]
