"""`condgan eval` of a CycleGAN run, on real unaligned Fashion-MNIST sets: both directions' metrics, the
triplet pages, the true partners of a set made with --from-pairs, and metrics that move when a generator is
broken (an identity G, a G that paints real target images, a wrong partner list).

The Fashion-MNIST domain evaluator comes from tests/docs_support.py (the user's cached one, else a one-epoch
one trained once into a temporary cache)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from condgan.cli import main
from condgan.config import load_config
from condgan.data.loader import to_float, to_uint8
from condgan.data.make_pairs import make_pairs
from condgan.data.make_unpaired import make_unpaired_pairs
from condgan.errors import DataError
from condgan.evaluation import evaluate_run
from condgan.inference.runs import load_config_of
from condgan.inference.translate import Translator, load_translator
from condgan.models.cyclegan import direction_config
from condgan.training import train
from tests.docs_support import seeded_cache

QUIET = {"progress": False, "log": lambda message: None}
DIRECTIONS = ("AtoB", "BtoA")


@pytest.fixture
def cache(tmp_path_factory, monkeypatch) -> Path:
    """A CONDGAN_CACHE holding the Fashion-MNIST domain evaluator (28 px, gray)."""
    root = seeded_cache(tmp_path_factory.getbasetemp() / "condgan-docs-cache")
    monkeypatch.setenv("CONDGAN_CACHE", str(root))
    return root


def _side_images(root: Path, folder: str) -> np.ndarray:
    """uint8 (N, 1, S, S): the PNGs of DIR/folder in name order, read with PIL (not condgan's reader)."""
    return np.stack([np.asarray(Image.open(f))[None] for f in sorted((root / folder).glob("*.png"))])


def _data_root(run: Path) -> Path:
    return Path(load_config_of(run).data.name.partition(":")[2])


class FixedGenerator(nn.Module):
    """A stand-in generator: the identity, or (with `images`) real images of the target side whatever it is given."""

    size_multiple = 1

    def __init__(self, images: torch.Tensor | None = None):
        super().__init__()
        self.images = images
        self.anchor = nn.Parameter(torch.zeros(1))  # a parameter, so the module has a device

    def check_input(self, source: torch.Tensor) -> None:
        pass

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return source if self.images is None else self.images[: source.shape[0]].to(source.device)


def _use_generators(monkeypatch, modules: dict[str, nn.Module]) -> None:
    """Make the cyclegan evaluation load these modules (per direction) instead of the run's generators."""

    def fake(run, device="auto", use_ema=True, inference="eval", direction=""):
        config = direction_config(load_config_of(Path(run)), direction)
        return Translator(modules[direction], config, torch.device("cpu"))

    monkeypatch.setattr("condgan.evaluation.cyclegan.load_translator", fake)


# ---------------------------------------------------------------- a run on two classes: sneakers (A), ankle boots (B)
def test_both_directions_are_measured_and_written(cyclegan_run, cache, tmp_path):
    report = tmp_path / "report"
    result = evaluate_run(cyclegan_run, num_samples=100, device="cpu", out=report, log=QUIET["log"])
    names = {"fid", "class_share", "cycle_l1", "identity_l1"}
    assert set(result["metrics"]) == {f"{n}_{d}" for n in names for d in DIRECTIONS}
    assert set(result["floor"]) == {f"{n}_{d}" for n in ("fid", "class_share") for d in DIRECTIONS}
    assert result["images"] == {"A": 32, "B": 32} and result["num_samples"] == 64 and result["split"] == "test"
    assert result["directions"]["AtoB"]["target_class"] == "ankle-boot"
    assert result["directions"]["BtoA"]["target_class"] == "sneaker"
    metrics, floor = result["metrics"], result["floor"]
    for d in DIRECTIONS:
        assert 0 <= metrics[f"class_share_{d}"] <= 1 and floor[f"class_share_{d}"] > 0.8  # real boots are boots
        assert 0 < metrics[f"cycle_l1_{d}"] < 1 and 0 < metrics[f"identity_l1_{d}"] < 1
        assert 0 <= floor[f"fid_{d}"] < metrics[f"fid_{d}"]  # 4 steps of training are far from real images
    # cycle L1 against an independent computation: the test PNGs read with PIL, the run's translators
    root = _data_root(cyclegan_run)
    ab, ba = (load_translator(cyclegan_run, "cpu", direction=d) for d in DIRECTIONS)
    for direction, forward, backward, folder in (("AtoB", ab, ba, "testA"), ("BtoA", ba, ab, "testB")):
        real = torch.from_numpy(_side_images(root, folder))
        back = to_uint8(backward.translate_tensor(to_float(to_uint8(forward.translate_tensor(to_float(real))))))
        expected = np.abs(back.numpy().astype(float) - real.numpy().astype(float)).mean() / 255
        assert metrics[f"cycle_l1_{direction}"] == pytest.approx(expected, rel=1e-9)
    assert json.loads((report / "eval.json").read_text()) == json.loads(json.dumps(result))
    page = (report / "eval.md").read_text()
    assert "## A → B" in page and "## B → A" in page and "| share in the target side's class |" in page
    for direction in DIRECTIONS:
        picture = Image.open(report / f"eval_cycle_{direction}.png")
        assert f"](eval_cycle_{direction}.png)" in page
        assert picture.width > 16 * 64 and picture.height > 3 * 64  # 16 columns, 3 rows of 32 px shown at 64
    assert not (cyclegan_run / "eval.json").exists() and not list(cyclegan_run.glob("eval_cycle_*"))
    fewer = evaluate_run(cyclegan_run, num_samples=20, device="cpu", out=tmp_path / "fewer", log=QUIET["log"])
    assert fewer["images"] == {"A": 20, "B": 20}


def test_an_identity_generator_meets_the_cycle_and_misses_the_class(cyclegan_run, cache, tmp_path, monkeypatch):
    """G_AB = G_BA = identity: cycle and identity L1 are 0, the class share is what the sneakers themselves score.
    A G_AB that paints real boots whatever it is given: the class share reaches the real floor and the cycle
    L1 (through an identity G_BA) becomes large. The metrics move in opposite directions, as they should."""
    _use_generators(monkeypatch, {"AtoB": FixedGenerator(), "BtoA": FixedGenerator()})
    same = evaluate_run(cyclegan_run, num_samples=100, device="cpu", out=tmp_path / "identity", log=QUIET["log"])
    metrics, unchanged = same["metrics"], same["input_as_output"]
    for d in DIRECTIONS:
        assert metrics[f"cycle_l1_{d}"] == metrics[f"identity_l1_{d}"] == 0.0
        assert metrics[f"class_share_{d}"] == unchanged[f"class_share_{d}"] < 0.2  # sneakers are seldom boots
        assert metrics[f"fid_{d}"] == pytest.approx(unchanged[f"fid_{d}"])

    boots = to_float(torch.from_numpy(_side_images(_data_root(cyclegan_run), "testB")))
    _use_generators(monkeypatch, {"AtoB": FixedGenerator(boots), "BtoA": FixedGenerator()})
    painter = evaluate_run(cyclegan_run, num_samples=100, device="cpu", out=tmp_path / "painter", log=QUIET["log"])
    m, floor = painter["metrics"], painter["floor"]
    assert m["class_share_AtoB"] == floor["class_share_AtoB"] > metrics["class_share_AtoB"] + 0.6
    assert m["fid_AtoB"] == pytest.approx(0.0, abs=1e-4) and metrics["fid_AtoB"] > 1  # the target's own images
    assert m["cycle_l1_AtoB"] > 0.1  # a boot does not turn back into its sneaker


# ---------------------------------------------------------------- a set made --from-pairs: the true partners are known
@pytest.fixture(scope="module")
def partner_run(tmp_path_factory) -> Path:
    """A cyclegan run (2 steps) on the unpaired halves of Fashion-MNIST super-resolution pairs (A: blurred,
    B: sharp; 48 test pairs), whose test_pairs.json holds the true partners."""
    root = tmp_path_factory.mktemp("cyclegan-partners")
    pairs = make_pairs("fashion-mnist", "superres", 32, root / "pairs", limit=48)
    sides = make_unpaired_pairs(pairs, root / "sides")
    config = load_config(overrides=["task=cyclegan", f"data.name=unaligned:{sides}", "model.g_width=8",
                                    "model.d_width=8", "model.resnet_blocks=1", "model.n_layers=2",
                                    "train.batch_size=4", "train.steps=2", "train.sample_every=0",
                                    "loss.pool_size=0"])  # fmt: skip
    return train(config, out=root / "run", **QUIET)


@pytest.fixture
def partner_copy(partner_run, tmp_path) -> Path:
    """The run and its data in tmp_path, so a test may change the partner list."""
    data = shutil.copytree(_data_root(partner_run), tmp_path / "sides")
    run = shutil.copytree(partner_run, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config["data"]["name"] = f"unaligned:{data}"
    (run / "config.json").write_text(json.dumps(config))
    return run


def test_the_true_partners_are_measured(partner_copy, cache, tmp_path, monkeypatch):
    result = evaluate_run(partner_copy, num_samples=100, device="cpu", out=tmp_path / "model", log=QUIET["log"])
    partner = {"partner_l1", "partner_psnr", "partner_ssim"}
    assert partner | {"partner_agreement", "fid", "cycle_l1", "identity_l1"} == {
        k[: -len("_AtoB")] for k in result["metrics"] if k.endswith("_AtoB")}  # fmt: skip
    # side A (blurred images) comes from no named set: no FID, no agreement B->A; no classes: no class share
    assert partner | {"cycle_l1", "identity_l1"} == {
        k[: -len("_BtoA")] for k in result["metrics"] if k.endswith("_BtoA")}  # fmt: skip
    assert result["directions"]["AtoB"]["partners"] == result["directions"]["BtoA"]["partners"] == 48
    assert result["directions"]["BtoA"]["evaluator"].startswith("no FID or class share for side A")
    assert "L1 to the true partner" in (tmp_path / "model" / "eval.md").read_text()

    # An identity generator's partner L1 is the distance between each blurred image and its sharp partner,
    # counted here from the files and test_pairs.json alone.
    _use_generators(monkeypatch, {"AtoB": FixedGenerator(), "BtoA": FixedGenerator()})
    data = _data_root(partner_copy)
    partners = json.loads((data / "test_pairs.json").read_text())
    pixels = lambda name: np.asarray(Image.open(data / name), dtype=float)  # noqa: E731
    expected = np.mean([np.abs(pixels(a) - pixels(b)).mean() / 255 for a, b in partners.items()])
    true = evaluate_run(partner_copy, num_samples=100, device="cpu", out=tmp_path / "true", log=QUIET["log"])
    assert true["metrics"]["partner_l1_AtoB"] == pytest.approx(expected, rel=1e-9)
    assert true["metrics"]["partner_l1_BtoA"] == pytest.approx(expected, rel=1e-9)
    assert true["metrics"]["partner_agreement_AtoB"] > 0.4  # chance is about 0.1: a blurred garment is often still one

    # A wrong partner list (each A paired with the next A's partner): agreement, L1 and SSIM all get worse.
    names = list(partners.values())
    wrong = dict(zip(partners, names[1:] + names[:1], strict=True))
    (data / "test_pairs.json").write_text(json.dumps(wrong))
    shuffled = evaluate_run(partner_copy, num_samples=100, device="cpu", out=tmp_path / "wrong", log=QUIET["log"])
    t, w = true["metrics"], shuffled["metrics"]
    assert w["partner_agreement_AtoB"] < t["partner_agreement_AtoB"] - 0.3
    assert w["partner_l1_AtoB"] > t["partner_l1_AtoB"] and w["partner_ssim_AtoB"] < t["partner_ssim_AtoB"]
    assert w["fid_AtoB"] == t["fid_AtoB"] and w["cycle_l1_AtoB"] == t["cycle_l1_AtoB"]  # they ignore partners


def test_partners_beyond_the_images_evaluated_are_left_out(partner_copy, cache, tmp_path):
    data = _data_root(partner_copy)
    partners = json.loads((data / "test_pairs.json").read_text())
    first = {f"testA/{i:05d}.png" for i in range(20)}, {f"testB/{i:05d}.png" for i in range(20)}
    expected = sum(a in first[0] and b in first[1] for a, b in partners.items())
    result = evaluate_run(partner_copy, num_samples=20, device="cpu", out=tmp_path / "some", log=QUIET["log"])
    assert 0 < expected < 20 and result["directions"]["AtoB"]["partners"] == expected


def test_a_partner_list_naming_a_missing_file_is_one_line(partner_copy, cache, capsys):
    data = _data_root(partner_copy)
    partners = json.loads((data / "test_pairs.json").read_text())
    partners["testA/00000.png"] = "testB/99999.png"
    (data / "test_pairs.json").write_text(json.dumps(partners))
    with pytest.raises(DataError, match=r"test_pairs.json: the pair 'testA/00000.png' -> 'testB/99999.png' names no"):
        evaluate_run(partner_copy, num_samples=100, device="cpu", log=QUIET["log"])
    assert main(["eval", str(partner_copy), "--samples", "100", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("condgan: error: ") and "\n" not in err and "make-unpaired --from-pairs" in err
    assert not (partner_copy / "eval.json").exists()


def test_a_set_without_a_test_split_is_evaluated_on_its_training_images(partner_copy, cache, tmp_path):
    data = _data_root(partner_copy)
    for folder in ("testA", "testB"):
        shutil.rmtree(data / folder)
    result = evaluate_run(partner_copy, num_samples=30, device="cpu", out=tmp_path / "train", log=QUIET["log"])
    assert result["split"] == "train" and result["images"] == {"A": 30, "B": 30} and result["floor_images"] is None
    assert "fid_AtoB" in result["metrics"] and "fid_AtoB" not in result["floor"]  # real training images: no floor
    assert not any(name.startswith("partner_") for name in result["metrics"])  # partners are known for test only
    assert "no FID floor: the set has no test split" in result["directions"]["AtoB"]["evaluator"]


# ---------------------------------------------------------------- the command line
def test_the_cli_prints_both_directions(cyclegan_run, cache, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["eval", str(cyclegan_run), "--samples", "32", "--device", "cpu", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["metric", "model", "real", "floor", "better"]
    labels = {line.split("  ")[0] for line in lines[2:-1]}
    assert {"FID A→B", "FID B→A", "cycle L1 A→B", "identity L1 B→A", "share in the target side's class A→B"} <= labels
    result = json.loads((out / "eval.json").read_text())
    assert main(["eval", str(cyclegan_run), "--inception-weights", str(tmp_path / "pt_inception.pth")]) == 2
    assert "Inception FID is for cgan runs" in capsys.readouterr().err and not (cyclegan_run / "eval.json").exists()
    fid = result["metrics"]["fid_AtoB"]
    assert lines[-1].startswith(f"condgan eval {cyclegan_run} step 4: FID A→B {fid:.4g} (real ")
    assert lines[-1].endswith(f"64 samples, {result['seconds']:.0f} s -> {out / 'eval.md'}")
