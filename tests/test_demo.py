"""`condgan demo`: the pictures and report it promises, and the offline fallback to digits."""

import json
import re

import pytest
from PIL import Image

from condgan.demo import run_demo


@pytest.mark.slow
def test_demo_writes_grid_curves_and_report(tmp_path):
    run = run_demo(tmp_path / "demo", time_budget=4, progress=False)
    grid = Image.open(run / "grid.png")
    assert grid.width > 10 * 28 and grid.height > 10 * 28
    assert (run / "losses.png").is_file() and (run / "interpolation.png").is_file()
    report = (run / "report.md").read_text()
    assert "fashion-mnist" in report and "![samples](grid.png)" in report
    assert json.loads((run / "config.json").read_text())["data"]["class_names"][7] == "sneaker"


def test_demo_falls_back_to_digits_when_offline(tmp_path, monkeypatch, capsys):
    import functools

    from condgan.data import datasets, download
    from condgan.metrics import evaluator

    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "condgan-cache"))  # no evaluator cached
    # the digits evaluator in one epoch (the demo's own trains in ~30 s): measured is measured
    monkeypatch.setattr(evaluator, "train_evaluator", functools.partial(evaluator.train_evaluator, epochs=1))
    monkeypatch.setattr(datasets, "data_dirs", lambda name: [tmp_path / "nowhere" / name])
    monkeypatch.setattr(datasets, "cache_dir", lambda: tmp_path / "cache")
    closed = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused
    sources = {f: (sha, [closed]) for f, (sha, _) in download.SOURCES["fashion-mnist"].items()}
    monkeypatch.setitem(download.SOURCES, "fashion-mnist", sources)
    run = run_demo(tmp_path / "demo", time_budget=1, progress=False)
    err = capsys.readouterr().err.splitlines()
    lines = [line for line in err if "falling back" in line]
    assert len(lines) == 1 and "fashion-mnist unavailable" in lines[0] and "digits" in lines[0]
    assert json.loads((run / "config.json").read_text())["data"]["name"] == "digits"
    assert (run / "grid.png").is_file()
    assert sum("training the domain evaluator for digits (28 px)" in line for line in err) == 1
    report = (run / "report.md").read_text()
    measured = re.search(r"- conditional accuracy \(domain evaluator, 1,000 samples\): (0\.\d{3}|1\.000)\n", report)
    assert measured and "not measured" not in report and "not cached" not in report
    assert list((tmp_path / "condgan-cache" / "evaluators").glob("digits-28px-1ch-*.safetensors"))


def test_the_online_demo_uses_only_a_cached_evaluator(tmp_path, monkeypatch):
    """Fashion-MNIST's evaluator takes minutes to train: the demo measures with it only when it is cached."""
    from condgan.demo import _evaluator_accuracy, _report
    from condgan.inference.generate import load_generator

    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    generator = load_generator("pretrained:digits", device="cpu")
    assert _evaluator_accuracy(generator, train_if_missing=False) is None
    assert not (tmp_path / "cache").exists()
    report = _report(generator.config, [], 1.0, None, tmp_path / "run")
    assert f"not measured (no cached digits evaluator); `condgan eval {tmp_path / 'run'}` trains one" in report
