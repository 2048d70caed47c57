"""`evaluate_run` and the quick evals during training, on real runs trained on sklearn's digits.

The domain evaluator for digits is trained once per session into a temporary CONDGAN_CACHE
(shared with test_eval_cli.py), so nothing here reads or writes the user's cache.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from condgan.errors import CheckpointError, CondganError, ConfigError, MetricError
from condgan.evaluation import evaluate_run
from condgan.evaluation.cgan import balanced_labels, floor_subset
from condgan.inference.generate import load_generator
from condgan.plots import read_metrics
from condgan.training import train
from tests.conftest import tiny_config

METRIC_KEYS = {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage"}


@pytest.fixture
def run_copy(trained_run, tmp_path):
    """A copy of the session's trained digits run (eval writes into the run directory)."""
    return shutil.copytree(trained_run, tmp_path / "run")


def _quiet(message: str) -> None:
    pass


def test_balanced_labels_and_floor_subset():
    labels = balanced_labels(25, 10)
    assert torch.bincount(labels).tolist() == [3, 2, 3, 2, 3, 2, 3, 2, 3, 2]
    assert labels.tolist() == sorted(labels.tolist())
    real_labels = torch.tensor([0, 1, 0, 1, 0, 1, 2])
    index = floor_subset(real_labels, torch.tensor([2, 5, 1]), total=8, seed=0)
    assert torch.bincount(real_labels[index]).tolist() == [2, 3, 1]  # class 1 has only 3: all of them
    assert len(set(index.tolist())) == len(index)
    assert floor_subset(real_labels, None, total=4, seed=0).shape == (4,)


def test_evaluate_trained_run(run_copy, condgan_cache):
    result = evaluate_run(run_copy, num_samples=500, seed=1, log=_quiet)
    metrics, floor = result["metrics"], result["floor"]
    assert set(metrics) == set(floor) == METRIC_KEYS | {"conditional_accuracy", "intra_fid"}
    assert result["samples"] == {"generated": 500, "real_test": 360, "real_floor": 500}
    assert result["step"] == 800 and result["weights"] == "generator_ema.safetensors"
    # Well above chance (0.1) for the trained digits run; the evaluator itself is near perfect on real digits.
    assert metrics["conditional_accuracy"] > 0.6
    assert floor["conditional_accuracy"] > 0.95
    assert 0 <= metrics["fid"] and floor["fid"] < metrics["fid"]
    for name in ("precision", "recall", "coverage"):
        assert 0 <= metrics[name] <= 1 and 0 <= floor[name] <= 1
    rows = result["per_class"]
    assert [row["class"] for row in rows] == [str(i) for i in range(10)]
    assert all(row["samples"] == 50 and row["real_floor"] == 50 for row in rows)
    assert metrics["intra_fid"] == pytest.approx(sum(row["fid"] for row in rows) / 10)
    assert metrics["conditional_accuracy"] == pytest.approx(sum(row["accuracy"] for row in rows) / 10)
    assert json.loads((run_copy / "eval.json").read_text()) == json.loads(json.dumps(result))
    report = (run_copy / "eval.md").read_text()
    assert "| conditional accuracy |" in report and "real floor" in report and "500 generated" in report
    assert "## Per class" in report and "![samples" in report and "Inception FID not computed" in report
    assert Image.open(run_copy / "eval_grid.png").size[1] > 10 * 8
    assert not list(run_copy.glob(".eval*"))  # no temporary files left behind


@pytest.mark.slow
def test_untrained_model_is_far_from_the_floor(tmp_path, condgan_cache):
    run = train(tiny_config("train.steps=1"), out=tmp_path / "untrained", progress=False, log=_quiet)
    result = evaluate_run(run, num_samples=200, log=_quiet)
    assert result["metrics"]["conditional_accuracy"] < 0.4
    assert result["floor"]["fid"] * 10 < result["metrics"]["fid"]
    assert result["metrics"]["precision"] < result["floor"]["precision"]


def test_unconditional_run_has_no_label_metrics(tmp_path, condgan_cache):
    run = train(tiny_config("model.num_classes=0", "train.steps=20"), out=tmp_path / "vanilla", progress=False,
                log=_quiet)  # fmt: skip
    result = evaluate_run(run, num_samples=100, log=_quiet)
    assert set(result["metrics"]) == set(result["floor"]) == METRIC_KEYS
    assert result["per_class"] == [] and result["samples"]["real_floor"] == 100


def test_run_without_generator_checkpoint(trained_run, tmp_path):
    run = tmp_path / "empty"
    run.mkdir()
    shutil.copy(trained_run / "config.json", run / "config.json")
    with pytest.raises(CheckpointError, match="has no complete checkpoint yet; train it"):
        evaluate_run(run, num_samples=100)
    with pytest.raises(CheckpointError, match="does not exist"):
        evaluate_run(tmp_path / "missing")


def test_dataset_the_evaluator_cannot_load(run_copy, tmp_path, condgan_cache):
    config = json.loads((run_copy / "config.json").read_text())
    config["data"]["name"] = f"folder:{tmp_path / 'gone'}"
    (run_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(MetricError, match=r"the domain evaluator cannot load dataset 'folder:.*gone'"):
        evaluate_run(run_copy, num_samples=100, log=_quiet)
    assert not (run_copy / "eval.json").exists()


def test_too_few_samples_for_per_class_metrics(run_copy):
    with pytest.raises(MetricError, match=r"50 samples over 10 classes have 5 images of class '0'; per-class .* "
                       r"need at least 10 of each class; pass --samples 100 or more"):  # fmt: skip
        evaluate_run(run_copy, num_samples=50)
    with pytest.raises(MetricError, match="too few; the metrics need at least 20"):
        evaluate_run(run_copy, num_samples=5)
    assert not (run_copy / "eval.json").exists()


def test_unknown_task_names_the_evaluable_ones(run_copy, monkeypatch):
    from condgan import evaluation

    monkeypatch.setattr(evaluation, "TASK_EVALUATORS", {"pix2pix": evaluation.TASK_EVALUATORS["pix2pix"]})
    with pytest.raises(CondganError, match="task 'cgan' has no evaluation; evaluable tasks: pix2pix"):
        evaluate_run(run_copy)
    config = json.loads((run_copy / "config.json").read_text())
    config["task"] = "inpainting"  # not a task at all: the run's config does not load
    (run_copy / "config.json").write_text(json.dumps(config))
    message = r"is not a valid condgan config \(task must be one of cgan, pix2pix, cyclegan, got"
    with pytest.raises(CondganError, match=message):
        evaluate_run(run_copy)


def test_inception_needs_weights_and_torch_fidelity(run_copy, tmp_path, condgan_cache):
    from condgan.metrics.inception import WEIGHTS_FILE, check_inception, torch_fidelity_installed

    with pytest.raises(MetricError, match=r"Inception weights file .*nope\.pth does not exist; download .*"):
        evaluate_run(run_copy, num_samples=100, inception_weights=tmp_path / "nope.pth")
    assert check_inception(None).startswith("Inception FID not computed (no weights given); for it: pip install")
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(b"not an Inception checkpoint")
    if torch_fidelity_installed():
        with pytest.raises(MetricError, match="cannot load Inception weights"):
            evaluate_run(run_copy, num_samples=100, inception_weights=weights, log=_quiet)
    else:
        result = evaluate_run(run_copy, num_samples=100, inception_weights=weights, log=_quiet)
        assert result["inception"] == (
            "Inception FID not computed: torch-fidelity is not installed; pip install 'condgan[inception]'"
        )
        assert "inception_fid" not in result["metrics"] and result["metrics"]["fid"] > 0  # domain metrics still run


# ----------------------------------------------------------------------------- during training


def test_eval_during_training_logs_and_keeps_the_best(tmp_path, condgan_cache):
    run = train(
        tiny_config("train.steps=120", "train.eval_every=40", "train.eval_samples=200", "train.keep_best=accuracy"),
        out=tmp_path / "run",
        progress=False,
        log=_quiet,
    )
    rows = [row for row in read_metrics(run / "metrics.jsonl") if "eval_fid" in row]
    assert [row["step"] for row in rows] == [40, 80, 120]
    assert all(0 <= row["eval_accuracy"] <= 1 and row["eval_fid"] > 0 for row in rows)
    best = json.loads((run / "best" / "best.json").read_text())
    top = max(rows, key=lambda row: row["eval_accuracy"])
    assert best["metric"] == "accuracy" and best["step"] == top["step"]
    assert best["value"] == pytest.approx(top["eval_accuracy"], abs=1e-6)
    assert load_generator(run / "best").generate(labels=[3, 4]).shape == (2, 8, 8)  # best/ is a run directory
    assert not list(run.glob(".best*"))


@pytest.mark.slow
def test_eval_callback_trains_a_missing_evaluator_without_changing_training(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "fresh-cache"))
    lines: list[str] = []
    plain = train(tiny_config("train.steps=30"), out=tmp_path / "plain", progress=False, log=_quiet)
    evaluated = train(tiny_config("train.steps=30", "train.eval_every=10", "train.eval_samples=100"),
                      out=tmp_path / "evaluated", progress=False, log=lines.append)  # fmt: skip
    assert sum("training the domain evaluator for digits" in line for line in lines) == 1
    # The evaluator's training and the evals draw no numbers from the training's random stream.
    a, b = load_generator(plain, device="cpu"), load_generator(evaluated, device="cpu")
    for (name, x), (_, y) in zip(a.module.state_dict().items(), b.module.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_eval_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"train.keep_best must be one of '', fid, accuracy, got 'psnr'"):
        train(tiny_config("train.steps=5", "train.eval_every=5", "train.keep_best=psnr"), out=tmp_path / "a",
              progress=False, log=_quiet)  # fmt: skip
    with pytest.raises(ConfigError, match="keep_best=accuracy needs class labels; this run is unconditional"):
        train(tiny_config("train.steps=5", "train.eval_every=5", "train.keep_best=accuracy", "model.num_classes=0"),
              out=tmp_path / "b", progress=False, log=_quiet)  # fmt: skip
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before anything was written
