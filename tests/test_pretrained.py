"""Pretrained models: the shipped pretrained:digits works offline from the package, every RUN argument takes
pretrained:NAME, and `condgan pretrained pack` turns a run into such a folder (float16 only when harmless)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from condgan.cli import main
from condgan.errors import CheckpointError, CondganError
from condgan.inference import pretrained, runs
from condgan.inference.generate import ClassConditionalGenerator, load_generator
from condgan.inference.runs import checkpoint_step, generator_weights_path
from condgan.inference.translate import load_translator

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_digits_is_a_real_class_conditional_model() -> None:
    """Its samples are the asked-for digits to an independent classifier (scikit-learn, trained on real digits)."""
    from sklearn.linear_model import LogisticRegression

    from condgan.data import load_dataset

    generator = load_generator("pretrained:digits")
    assert isinstance(generator, ClassConditionalGenerator) and generator.class_names[3] == "3"
    assert all(p.dtype == torch.float32 for p in generator.module.parameters())  # float16 file, float32 model
    real = load_dataset("digits", "train")
    classifier = LogisticRegression(max_iter=2000).fit(real.images.flatten(1).numpy() / 255, real.labels.numpy())
    labels = np.repeat(np.arange(10), 20)
    images = generator.generate(labels=labels.tolist(), seed=5)  # uint8 (200, 8, 8)
    accuracy = (classifier.predict(images.reshape(200, -1) / 255) == labels).mean()
    assert accuracy > 0.8, accuracy


def test_shipped_folder_is_complete_and_small() -> None:
    folder = runs.available()["digits"]
    assert folder == runs.shipped_root() / "digits"
    for shipped in runs.shipped_root().iterdir():  # each holds its task's weight files (cyclegan: two generators)
        if shipped.is_dir() and shipped.name[0] != ".":
            task = json.loads((shipped / "config.json").read_text()).get("task", "cgan")
            assert {f.name for f in shipped.iterdir()} == {"config.json", "eval.json", "meta.json", "README.md",
                                                           *runs.packed_weight_files(task)}, shipped  # fmt: skip
    with safe_open(str(folder / "generator_ema.safetensors"), "pt") as weights:
        dtypes = {weights.get_slice(key).get_dtype() for key in weights.keys()}
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["dtype"] == "float16" and "F16" in dtypes and "F32" not in dtypes
    assert meta["float16_check"]["max_abs_diff"] < 1 / 255
    assert json.loads((folder / "eval.json").read_text())["metrics"]["conditional_accuracy"] > 0.9
    # The budget: 10 MB a model, 24 MB in all. The largest are the sketch demo's default (width 32, 8 MB: width
    # 16 missed the drawn-sketch goal, docs/results/sketch.md) and the CycleGAN pair (two generators).
    sizes = {d.name: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
             for d in runs.shipped_root().iterdir() if d.is_dir()}  # fmt: skip
    assert max(sizes.values()) <= 10 * 1024**2, f"a shipped model is over 10 MB: {sizes}"
    total = sum(sizes.values())
    assert total <= 24 * 1024**2, f"shipped models take {total / 1e6:.1f} MB; the budget is 24 MB"
    assert "condgan train --config configs/digits.yaml" in (folder / "README.md").read_text()


def test_cli_takes_pretrained_names(tmp_path: Path, capsys) -> None:
    out = tmp_path / "threes.png"
    assert main(["sample", "pretrained:digits", "--class", "3", "--n", "16", "-o", str(out)]) == 0
    assert Image.open(out).size[0] > 16
    assert main(["sample", "pretrained:nope", "--n", "4", "-o", str(tmp_path / "x.png")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "unknown pretrained model 'nope'" in error and "pretrained:digits" in error
    assert main(["translate", "pretrained:digits", str(out), "-o", str(tmp_path / "y.png")]) == 2
    assert "translate needs a pix2pix run" in capsys.readouterr().err
    assert main(["pretrained", "list"]) == 0
    assert "pretrained:digits: cgan on digits, float16" in capsys.readouterr().out
    with pytest.raises(CheckpointError, match="available: pretrained:digits"):
        load_generator("pretrained:fashion-mnistt")
    folder = runs.resolve("pretrained:digits")
    assert checkpoint_step(folder) == runs.read_meta(folder)["source_step"] > 0


def test_export_takes_a_pretrained_name(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from condgan.inference.export import export_onnx

    report = export_onnx("pretrained:digits", tmp_path / "digits.onnx")
    step = runs.read_meta(runs.resolve("pretrained:digits"))["source_step"]
    assert report["max_abs_diff"] < 1e-4 and report["metadata"]["step"] == step


def test_pack_round_trip(trained_run: Path, tmp_path: Path, monkeypatch) -> None:
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    evaluation = {"run": str(run), "num_samples": 500, "metrics": {"fid": 3.25, "conditional_accuracy": 0.9},
                  "floor": {"fid": 1.5}}  # fmt: skip
    (run / "eval.json").write_text(json.dumps(evaluation))
    logs: list[str] = []
    folder = pretrained.pack(run, "tiny", out_root=tmp_path / "models", recipe="condgan train --data digits",
                             log=logs.append)  # fmt: skip
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["dtype"] == "float16" and meta["source_step"] == 800 and meta["parameters"] > 0
    assert json.loads((folder / "eval.json").read_text()) == evaluation
    readme = (folder / "README.md").read_text()
    assert "condgan train --data digits" in readme and "fid 3.25 (real 1.5)" in readme
    assert "the EMA weights of step 800" in readme
    assert len(logs) == 1 and "float16" in logs[0]
    assert (folder / "generator_ema.safetensors").stat().st_mode & 0o044 == 0o044  # readable package data

    monkeypatch.setenv(runs.SEARCH_PATH_ENV, str(tmp_path / "models"))
    packed, original = load_generator("pretrained:tiny"), load_generator(run)
    labels = [i % 10 for i in range(64)]
    difference = packed.generate(labels=labels, seed=3).astype(int) - original.generate(labels=labels, seed=3)
    assert np.abs(difference).max() <= 1  # float16 weights: at most one uint8 level anywhere

    with pytest.raises(CondganError, match="exists; pass --force"):
        pretrained.pack(run, "tiny", out_root=tmp_path / "models")
    monkeypatch.setattr(pretrained, "FP16_TOLERANCE", 0.0)  # nothing may change: the weights stay float32
    folder = pretrained.pack(run, "tiny", out_root=tmp_path / "models", force=True)
    assert json.loads((folder / "meta.json").read_text())["dtype"] == "float32"
    with safe_open(str(folder / "generator_ema.safetensors"), "pt") as weights:
        assert {weights.get_slice(key).get_dtype() for key in weights.keys()} <= {"F32", "I64"}

    trained_on = json.loads((run / "config.json").read_text())["data"]["name"]
    elsewhere = "folder:data/digits"  # the name its recipe gives, not a path of this machine's
    folder = pretrained.pack(run, "tiny", out_root=tmp_path / "models", force=True, data=elsewhere)
    config, meta = (json.loads((folder / f).read_text()) for f in ("config.json", "meta.json"))
    assert config["data"]["name"] == meta["dataset"] == elsewhere and meta["source_dataset"] == trained_on
    original = json.loads((run / "config.json").read_text())
    assert {k: v for k, v in config.items() if k != "data"} == {k: v for k, v in original.items() if k != "data"}
    with pytest.raises(CondganError, match="must be letters, digits"):
        pretrained.pack(run, "../escape", out_root=tmp_path / "models")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["tiny"]  # no half-written folder left


def test_cli_pack(trained_run: Path, tmp_path: Path, capsys) -> None:
    assert main(["pretrained", "pack", str(trained_run), "--name", "mine", "--out", str(tmp_path)]) == 0
    assert "load_generator('pretrained:mine')" in capsys.readouterr().err
    assert (tmp_path / "mine" / "generator_ema.safetensors").is_file()
    assert main(["pretrained", "pack", str(tmp_path / "missing"), "--name", "x", "--out", str(tmp_path)]) == 2


CYCLE_FILES = {"config.json", "generator_ab_ema.safetensors", "generator_ba_ema.safetensors", "meta.json", "README.md"}


def test_pack_a_cyclegan_run_keeps_both_generators(cyclegan_run: Path, tmp_path: Path, monkeypatch) -> None:
    """Both EMA generators in one folder, each float16-checked on its own side's test images; pretrained:NAME
    then translates both ways as the run does, in Python, on the command line and in the web demo."""
    from condgan.data.loader import to_float
    from condgan.data.unaligned import load_unaligned
    from condgan.web import views

    logs: list[str] = []
    models = tmp_path / "models"
    folder = pretrained.pack(cyclegan_run, "cycle", out_root=models, recipe="condgan train --task cyclegan",
                             log=logs.append)  # fmt: skip
    assert {f.name for f in folder.iterdir()} == CYCLE_FILES
    meta = json.loads((folder / "meta.json").read_text())
    checks = meta["float16_check"]
    assert meta["task"] == "cyclegan" and set(checks) == set(meta["parameters"]) == {"generator_ab", "generator_ba"}
    assert meta["dtype"] == "float16" and all(c["max_abs_diff"] < 1 / 255 for c in checks.values())
    assert "side A images" in checks["generator_ab"]["probe"] and "side B images" in checks["generator_ba"]["probe"]
    assert "(test split)" in checks["generator_ab"]["probe"]
    assert meta["parameters"]["generator_ab"] == sum(
        p.numel() for p in load_translator(cyclegan_run, "cpu").module.parameters()
    )
    raw = {"generator_ab": "generator_ab.safetensors", "generator_ba": "generator_ba.safetensors"}
    assert meta["source_weights"] == raw  # the run kept no EMA: its raw weights
    assert meta["source_step"] == checkpoint_step(cyclegan_run) == 4
    assert meta["bytes"] == sum((folder / f).stat().st_size for f in runs.packed_weight_files("cyclegan"))
    for file in runs.packed_weight_files("cyclegan"):
        with safe_open(str(folder / file), "pt") as weights:
            assert "F16" in {weights.get_slice(key).get_dtype() for key in weights.keys()}
    readme = (folder / "README.md").read_text()
    assert "cyclegan generator pair" in readme and "generator_ba by at most" in readme
    assert "--direction AtoB" in readme and "condgan train --task cyclegan" in readme
    assert "weights (the run kept no EMA) of step 4" in readme
    assert len(logs) == 1 and "float16" in logs[0]

    monkeypatch.setenv(runs.SEARCH_PATH_ENV, str(models))
    assert runs.available()["cycle"] == folder and "cycle" in runs.names(task="cyclegan")
    assert checkpoint_step(folder) == 4
    listed = [line for line in pretrained.describe() if line.startswith("pretrained:cycle: ")]
    assert len(listed) == 1 and listed[0].startswith("pretrained:cycle: cyclegan (A→B and B→A) on unaligned:")
    data = load_unaligned(runs.load_config_of(cyclegan_run).data.name, "test")
    for direction, images in (("AtoB", data.images_a), ("BtoA", data.images_b)):
        packed = load_translator("pretrained:cycle", "cpu", direction=direction)
        original = load_translator(cyclegan_run, "cpu", direction=direction)
        assert packed.direction == direction
        assert all(p.dtype == torch.float32 for p in packed.module.parameters())  # float16 file, float32 model
        source = to_float(images)
        difference = (packed.translate_tensor(source) - original.translate_tensor(source)).abs().max() / 2
        assert 0 < difference <= 1 / 255, (direction, difference)  # float16 weights: changed, within one level

    image = sorted((Path(data.name.partition(":")[2]) / "testB").glob("*.png"))[0]
    out = tmp_path / "ba.png"
    assert main(["translate", "pretrained:cycle", str(image), "-o", str(out), "--direction", "BtoA"]) == 0
    expected = load_translator(cyclegan_run, "cpu", direction="BtoA").translate_file(image, tmp_path / "run_ba.png")
    difference = np.abs(np.asarray(Image.open(out), int) - np.asarray(Image.open(expected), int))
    assert difference.max() <= 1

    loaded = views.load_models(["pretrained:cycle"], device="cpu")
    assert list(loaded.translators) == ["pretrained:cycle (A→B)", "pretrained:cycle (B→A)"] and not loaded.generators
    assert [t.direction for t in loaded.translators.values()] == ["AtoB", "BtoA"]
    with pytest.raises(CondganError, match="two generators"):  # a command for one generator: one clear line
        generator_weights_path(folder, True)


def test_pack_a_cyclegan_run_without_its_data_or_float16(cyclegan_run: Path, tmp_path: Path, monkeypatch) -> None:
    """Data gone: each generator is probed with noise images of its own input channels (said in the log and
    meta.json); float16 is kept only if both generators pass."""
    run = tmp_path / "run"
    shutil.copytree(cyclegan_run, run)
    config = json.loads((run / "config.json").read_text())
    config["data"]["name"] = f"unaligned:{tmp_path / 'gone'}"
    (run / "config.json").write_text(json.dumps(config))
    logs: list[str] = []
    checks = iter([0.0, 1.0])  # generator_ab passes, generator_ba does not
    real_check = pretrained.half_precision_check

    def one_fails(module, config, log, direction=""):
        return {**real_check(module, config, log, direction), "max_abs_diff": next(checks)}

    monkeypatch.setattr(pretrained, "half_precision_check", one_fails)
    folder = pretrained.pack(run, "cycle", out_root=tmp_path / "models", log=logs.append)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["dtype"] == "float32" and meta["float16_check"]["generator_ba"]["max_abs_diff"] == 1.0
    assert {c["probe"] for c in meta["float16_check"].values()} == {"64 seeded uniform noise images"}
    assert sum("side A of unaligned:" in line and "cannot be read" in line for line in logs) == 1
    assert sum("side B of unaligned:" in line and "cannot be read" in line for line in logs) == 1
    for file in runs.packed_weight_files("cyclegan"):
        with safe_open(str(folder / file), "pt") as weights:
            assert {weights.get_slice(key).get_dtype() for key in weights.keys()} <= {"F32", "I64"}
    (folder / "generator_ba_ema.safetensors").unlink()  # half a cyclegan folder is not a model
    monkeypatch.setenv(runs.SEARCH_PATH_ENV, str(tmp_path / "models"))
    assert "cycle" not in runs.available()


def test_eval_of_a_packed_cyclegan_model(cyclegan_run: Path, tmp_path: Path, tmp_path_factory, monkeypatch) -> None:
    """`condgan eval pretrained:NAME` of a packed cyclegan folder measures both directions from its two files,
    as the run's own evaluation does (within float16's rounding)."""
    from condgan.evaluation import evaluate_run
    from tests.docs_support import seeded_cache

    monkeypatch.setenv("CONDGAN_CACHE", str(seeded_cache(tmp_path_factory.getbasetemp() / "condgan-docs-cache")))
    pretrained.pack(cyclegan_run, "cycle", out_root=tmp_path / "models")
    monkeypatch.setenv(runs.SEARCH_PATH_ENV, str(tmp_path / "models"))
    quiet = lambda message: None  # noqa: E731
    packed = evaluate_run("pretrained:cycle", num_samples=32, device="cpu", out=tmp_path / "packed", log=quiet)
    original = evaluate_run(cyclegan_run, num_samples=32, device="cpu", out=tmp_path / "run", log=quiet)
    assert packed["step"] == original["step"] == 4
    assert packed["directions"]["BtoA"]["weights"] == "generator_ba_ema.safetensors"
    for direction in ("AtoB", "BtoA"):
        assert packed["metrics"][f"cycle_l1_{direction}"] == pytest.approx(original["metrics"][f"cycle_l1_{direction}"],
                                                                        abs=2 / 255)  # fmt: skip
    shown = pretrained.quality(packed)
    assert "fid_AtoB" in shown and "class_share_BtoA" in shown and "cycle_l1_AtoB" in shown and "(real " in shown


@pytest.mark.slow
def test_a_built_wheel_ships_the_models_and_loads_them(tmp_path: Path) -> None:
    """A non-editable install has the model files: build the wheel, install it alone into a folder, load
    pretrained:digits from there in a fresh interpreter."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "wheel"), str(ROOT)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = (tmp_path / "wheel").glob("condgan-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for file in ("config.json", "generator_ema.safetensors", "eval.json", "meta.json", "README.md"):
        assert f"condgan/pretrained_models/digits/{file}" in names
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, capture_output=True)  # fmt: skip
    code = ("import condgan, sys; from condgan import load_generator; g = load_generator('pretrained:digits'); "
            "print(condgan.__file__, g.generate(labels=[7], seed=0).shape)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(tmp_path / "site"), "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert str(tmp_path / "site") in result.stdout and "(1, 8, 8)" in result.stdout


GROUPS = (0, 1, 0, 2, 0, 3, 0, 3, 4, 3)  # Fashion-MNIST class -> tops, trouser, dress, footwear, bag


def outline_drawings(images: np.ndarray, pen: int = 6) -> list[Image.Image]:
    """uint8 (N, 28, 28) items -> 256 px drawings: skimage contours of each item as PIL polylines, black on white."""
    from PIL import ImageDraw
    from skimage.measure import find_contours

    drawings = []
    for item in images:
        canvas = Image.new("L", (256, 256), 255)
        for contour in find_contours(np.pad(item / 255.0, 1), 0.15):
            if len(contour) > 8:
                ImageDraw.Draw(canvas).line([((x - 0.5) * 256 / 28, (y - 0.5) * 256 / 28) for y, x in contour],
                                            fill=0, width=pen, joint="curve")  # fmt: skip
        drawings.append(canvas)
    return drawings


def test_shipped_sketch2fashion_turns_drawn_outlines_into_their_garments() -> None:
    """Outlines drawn from real test items come out, through the fitted translate path, as garments of the item's
    kind to an independent classifier (scikit-learn's LDA on real Fashion-MNIST); it is the first translator."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from condgan.data import load_dataset
    from condgan.inference.translate import load_translator

    assert runs.names(task="pix2pix")[0] == "sketch2fashion" and "edges2fashion" in runs.names()
    train = load_dataset("fashion-mnist", "train", image_size=14)
    classifier = LinearDiscriminantAnalysis(solver="lsqr").fit(train.images[:20000].flatten(1).numpy() / 255,
                                                               train.labels[:20000])  # fmt: skip
    test = load_dataset("fashion-mnist", "test")
    chosen = np.concatenate([np.flatnonzero(test.labels.numpy() == c)[:6] for c in range(10)])  # 60 items
    drawings, labels = outline_drawings(test.images[chosen, 0].numpy()), test.labels[chosen].numpy()
    names = [f"item{i}" for i in chosen]
    translator, shares = load_translator("pretrained:sketch2fashion"), {}
    for native, every in ((False, 1), (True, 3)):  # native: a third of the drawings (256 px runs are slower)
        outputs = translator.translate_pictures(drawings[::every], names[::every], output_size=14, native_size=native)
        predicted, wanted = classifier.predict(np.stack(outputs).reshape(len(outputs), -1) / 255), labels[::every]
        shares[native] = (np.mean(predicted == wanted), np.mean(np.take(GROUPS, predicted) == np.take(GROUPS, wanted)))
    assert shares[False][0] > 0.55 and shares[False][1] > 0.8, shares  # the item's class (0.67), its kind (0.92)
    assert shares[True][1] < shares[False][1] - 0.3, shares  # a 32 px network run at 256 px: much worse (0.15)
