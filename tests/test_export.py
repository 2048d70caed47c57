"""ONNX export: onnxruntime matches PyTorch to 1e-4, dynamic axes, metadata, EMA weights, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from condgan.cli import main
from condgan.config import load_config
from condgan.inference.export import ExportError, export_module_onnx, export_onnx, read_metadata
from condgan.models.dcgan import DCGANGenerator
from condgan.models.mlp import MLPGenerator
from condgan.models.resnet import ResnetGenerator
from condgan.models.unet import UNetGenerator
from tests.conftest import tiny_config

ort = pytest.importorskip("onnxruntime")

TOLERANCE = 1e-4


def _warmed(module: torch.nn.Module, *inputs) -> torch.nn.Module:
    """Run a few training-mode batches so batch norm's running statistics are not the trivial 0/1."""
    module.train()
    with torch.no_grad():
        for _ in range(3):
            module(*inputs)
    return module.eval()


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


CLASS_CONDITIONAL = {
    "mlp": lambda k: MLPGenerator(z_dim=16, num_classes=k, image_size=8, channels=1),
    "dcgan-cbn": lambda k: DCGANGenerator(z_dim=16, num_classes=k, image_size=28, channels=1, width=8),
    "dcgan-concat": lambda k: DCGANGenerator(
        z_dim=16, num_classes=k, image_size=32, channels=3, width=8, conditional_bn=False
    ),
}


@pytest.mark.parametrize("num_classes", [10, 0], ids=["conditional", "unconditional"])
@pytest.mark.parametrize("name", list(CLASS_CONDITIONAL))
def test_class_conditional_generator_matches_pytorch(tmp_path, name, num_classes):
    torch.manual_seed(0)
    generator = CLASS_CONDITIONAL[name](num_classes)
    labels = torch.arange(32) % 10 if num_classes else None
    _warmed(generator, torch.randn(32, 16), labels)
    path = tmp_path / "gen.onnx"
    report = export_module_onnx(generator, path, metadata={"task": "cgan"})
    assert report["max_abs_diff"] is not None and report["max_abs_diff"] < TOLERANCE
    session = _session(path)
    assert [i.name for i in session.get_inputs()] == (["z", "labels"] if num_classes else ["z"])
    for batch in (1, 7, 64):  # dynamic batch: none of these is the export's batch of 2
        z = torch.randn(batch, 16)
        feeds = {"z": z.numpy()}
        y = torch.randint(0, 10, (batch,)) if num_classes else None
        if num_classes:
            feeds["labels"] = y.numpy()
        got = session.run(None, feeds)[0]
        with torch.no_grad():
            expected = generator(z, y).numpy()
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)
    assert not generator.training  # exporting did not change the caller's module


@pytest.mark.parametrize(
    "make",
    [
        lambda: UNetGenerator(in_channels=3, out_channels=3, num_downs=5, width=8),
        lambda: UNetGenerator(in_channels=1, out_channels=3, num_downs=4, width=8, norm="instance", dropout=True),
        lambda: ResnetGenerator(in_channels=3, out_channels=3, width=8, num_blocks=2),
    ],
    ids=["unet-batch", "unet-instance-dropout", "resnet"],
)
def test_image_to_image_generator_has_dynamic_batch_and_size(tmp_path, make):
    torch.manual_seed(0)
    generator = make()
    _warmed(generator, torch.rand(4, generator.in_channels, 32, 32) * 2 - 1)
    path = tmp_path / "pix2pix.onnx"
    report = export_module_onnx(generator, path, metadata={"task": "pix2pix"}, image_size=32)
    assert report["inputs"] == ["source"]
    session = _session(path)
    m = generator.size_multiple
    for batch, height, width in [(1, 32, 32), (3, 2 * m, 3 * m), (2, 64, 64)]:
        source = torch.rand(batch, generator.in_channels, height, width) * 2 - 1
        got = session.run(None, {"source": source.numpy()})[0]
        with torch.no_grad():
            expected = generator(source).numpy()
        assert got.shape == (batch, generator.out_channels, height, width)
        np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A digits MLP run with a fast EMA, so the EMA and raw generators clearly differ."""
    from condgan.training import train

    out = tmp_path_factory.mktemp("export") / "run"
    config = tiny_config("train.steps=30", "train.ema_decay=0.9", "train.log_every=10")
    train(config, out=out, progress=False, log=lambda m: None)
    return out


def test_run_export_uses_ema_generator_and_records_metadata(small_run, tmp_path):
    from condgan.inference.generate import load_generator

    path = tmp_path / "gen.onnx"
    report = export_onnx(small_run, path)
    meta = read_metadata(path)
    assert meta["task"] == "cgan" and meta["kind"] == "class-conditional"
    assert json.loads(meta["class_names"]) == [str(i) for i in range(10)]
    assert json.loads(meta["z_dim"]) == 16 and json.loads(meta["image_size"]) == 8
    assert meta["weights"] == "ema" and json.loads(meta["step"]) == 30
    assert "[-1, 1]" in meta["output_range"] and "labels" in meta["input_range"]
    assert report["metadata"]["weights"] == "ema"

    ema, raw = load_generator(small_run, device="cpu"), load_generator(small_run, device="cpu", use_ema=False)
    z, labels = ema.noise(20, seed=3), torch.arange(20) % 10
    got = _session(path).run(None, {"z": z.numpy(), "labels": labels.numpy()})[0]
    np.testing.assert_allclose(got, ema.generate_tensor(z, labels).numpy(), atol=TOLERANCE, rtol=0)
    assert np.abs(got - raw.generate_tensor(z, labels).numpy()).max() > 100 * TOLERANCE  # it is the EMA one


def test_cli_export(small_run, tmp_path, capsys):
    path = tmp_path / "out" / "gen.onnx"
    assert main(["export", str(small_run), "--format", "onnx", "-o", str(path), "--no-ema"]) == 0
    assert read_metadata(path)["weights"] == "generator"
    assert "onnxruntime matches PyTorch" in capsys.readouterr().err

    assert main(["export", str(tmp_path / "missing"), "-o", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("condgan: error:") and "does not exist" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_unsupported_opset_is_a_clear_error(tmp_path):
    generator = CLASS_CONDITIONAL["mlp"](10).eval()
    with pytest.raises(ExportError, match="opset 3"):
        export_module_onnx(generator, tmp_path / "g.onnx", opset=3)
    assert not (tmp_path / "g.onnx").exists()


def test_pix2pix_run_export_has_dynamic_batch_and_size(tmp_path):
    from condgan.checkpoint import load_module_weights
    from condgan.data.make_pairs import make_pairs
    from condgan.inference.runs import generator_weights_path, load_config_of
    from condgan.models import build_generator
    from condgan.training import train

    pairs = make_pairs("fashion-mnist", "edges", 32, tmp_path / "edges", limit=24)
    overrides = ["task=pix2pix", f"data.name=aligned:{pairs}", "model.g_width=8", "model.d_width=8",
                 "train.batch_size=4", "train.steps=3", "train.sample_every=0"]  # fmt: skip
    run = train(load_config(overrides=overrides), out=tmp_path / "run", progress=False, log=lambda m: None)
    path = tmp_path / "p2p.onnx"
    export_onnx(run, path)
    meta = read_metadata(path)
    assert meta["task"] == "pix2pix" and meta["kind"] == "image-to-image"
    assert json.loads(meta["size_multiple"]) == 32 and json.loads(meta["source_channels"]) == 1
    assert "[-1, 1]" in meta["input_range"] and meta["weights"] == "generator"  # pix2pix keeps no EMA

    generator = build_generator(load_config_of(run))
    load_module_weights(generator, generator_weights_path(run))
    generator.eval()
    session = _session(path)
    for shape in [(3, 1, 32, 32), (1, 1, 64, 96)]:
        source = torch.rand(*shape) * 2 - 1
        with torch.no_grad():
            expected = generator(source).numpy()
        np.testing.assert_allclose(session.run(None, {"source": source.numpy()})[0], expected, atol=TOLERANCE, rtol=0)
