"""`condgan import-pix2pix`: checkpoints saved by the reference pix2pix become run directories that
translate (and eval) accept, reproducing the reference's outputs; a checkpoint that does not fit is named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.cli import main
from condgan.config import load_config
from condgan.data.loader import to_float, to_uint8
from condgan.errors import CheckpointError, ConfigError
from condgan.import_pix2pix import checkpoint_widths, import_pix2pix
from condgan.inference.translate import load_translator
from condgan.models.reference import load_reference_state_dict, read_reference_checkpoint, reference_generator

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pix2pix_reference"
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"reference pix2pix fixtures not found at {FIXTURES}")
OPTIONS = {  # fixture -> (netG, norm, dropout) as the reference was told
    "unet_128": ("unet_128", "instance", False),
    "unet_256": ("unet_256", "batch", True),
    "resnet_9blocks": ("resnet_9blocks", "instance", False),
}


def fixture_io(name: str) -> dict:
    return torch.load(FIXTURES / f"{name}_io.pt", weights_only=False)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_imported_run_reproduces_the_reference_output(name: str, tmp_path: Path) -> None:
    netG, norm, dropout = OPTIONS[name]
    run = import_pix2pix(FIXTURES / f"{name}_net_G.pth", tmp_path / name, netG=netG, norm=norm, dropout=dropout)
    io = fixture_io(name)
    translator = load_translator(run)
    output = translator.translate_tensor(io["input"])
    assert output.shape == io["output"].shape and (output - io["output"]).abs().max().item() <= 1e-5
    config = json.loads((run / "config.json").read_text())
    options = io["options"]
    assert config["task"] == "pix2pix" and config["model"]["g_width"] == options["ngf"]  # widths read from the file
    assert (config["data"]["source_channels"], config["data"]["channels"]) == (
        options["input_nc"],
        options["output_nc"],
    )
    trained = load_config(overrides=["task=pix2pix"]).train  # what `condgan train --task pix2pix` would use
    assert {k: config["train"][k] for k in ("lr", "ema_decay", "lr_decay", "batch_size")} == {
        "lr": trained.lr, "ema_decay": trained.ema_decay, "lr_decay": trained.lr_decay, "batch_size": trained.batch_size
    }  # fmt: skip
    record = json.loads((run / "imported.json").read_text())
    assert len(record["sha256"]) == 64 and record["netG"] == netG


def test_cli_import_then_translate_a_png_matches_the_reference_network(tmp_path: Path, capsys) -> None:
    run = tmp_path / "facades"
    checkpoint = FIXTURES / "unet_256_net_G.pth"
    args = ["import-pix2pix", str(checkpoint), "--netG", "unet_256", "--norm", "batch", "--dropout", "--out", str(run)]
    assert main(args) == 0
    source = to_uint8(fixture_io("unet_256")["input"])[0]  # (3, 256, 256) uint8: what a PNG holds
    Image.fromarray(source.permute(1, 2, 0).numpy()).save(tmp_path / "input.png")
    assert main(["translate", str(run), str(tmp_path / "input.png"), "-o", str(tmp_path / "output.png")]) == 0
    reference = reference_generator("unet_256", 3, 3, 4, "batch", True)  # built and loaded independently
    load_reference_state_dict(reference, read_reference_checkpoint(checkpoint), "fixture")
    with torch.no_grad():
        expected = to_uint8(reference.eval()(to_float(source[None])))[0].permute(1, 2, 0).numpy()
    written = np.asarray(Image.open(tmp_path / "output.png"))
    assert written.shape == (256, 256, 3) and np.abs(written.astype(int) - expected).max() <= 1
    assert "imported" in capsys.readouterr().err


def test_mismatched_options_name_the_first_key_and_shapes(tmp_path: Path, capsys) -> None:
    checkpoint = FIXTURES / "unet_256_net_G.pth"
    args = ["import-pix2pix", str(checkpoint), "--netG", "unet_128", "--norm", "batch", "--out", str(tmp_path / "r")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "has no key 'model.model.1.model.3.model.3.model.3.model.3.model.3.model.3.weight'" in err
    assert "(checkpoint none, model (32, 32, 4, 4))" in err and "--netG" in err
    assert not (tmp_path / "r").exists()
    with pytest.raises(
        CheckpointError, match=r"'model\.model\.1\.model\.2\.weight' \(checkpoint none, model \(16,\)\)"
    ):
        import_pix2pix(FIXTURES / "unet_128_net_G.pth", tmp_path / "r", netG="unet_128", norm="batch")
    with pytest.raises(
        CheckpointError, match=r"another shape for 'model\.model\.0\.weight' \(checkpoint \(8, 1, 4, 4\)"
    ):
        import_pix2pix(FIXTURES / "unet_128_net_G.pth", tmp_path / "r", netG="unet_128", norm="instance", ngf=16)
    with pytest.raises(CheckpointError, match="--use_dropout"):
        import_pix2pix(FIXTURES / "resnet_9blocks_net_G.pth", tmp_path / "r", netG="resnet_9blocks", norm="instance",
                       dropout=True)  # fmt: skip
    assert not (tmp_path / "r").exists()


def test_bad_files_and_options(tmp_path: Path) -> None:
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint" * 8)
    with pytest.raises(CheckpointError, match="garbage.pth is not a state_dict"):
        import_pix2pix(tmp_path / "garbage.pth", tmp_path / "r")
    with pytest.raises(ConfigError, match="unknown --netG 'unet_512'"):
        import_pix2pix(FIXTURES / "unet_256_net_G.pth", tmp_path / "r", netG="unet_512")
    with pytest.raises(ConfigError, match="does not fit unet_256; use a multiple of 256"):
        import_pix2pix(FIXTURES / "unet_256_net_G.pth", tmp_path / "r", image_size=200)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        import_pix2pix(FIXTURES / "unet_256_net_G.pth", tmp_path / "taken", dropout=True)
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_widths_come_from_the_checkpoint() -> None:
    state = read_reference_checkpoint(FIXTURES / "unet_128_net_G.pth")
    assert checkpoint_widths(state, "unet_128") == {"ngf": 8, "input_nc": 1, "output_nc": 3}
    state = read_reference_checkpoint(FIXTURES / "resnet_9blocks_net_G.pth")
    assert checkpoint_widths(state, "resnet_9blocks") == {"ngf": 8, "input_nc": 3, "output_nc": 3}
    assert checkpoint_widths({}, "unet_256") == {"ngf": 64, "input_nc": 3, "output_nc": 3}  # the reference defaults
