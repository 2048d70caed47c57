"""`condgan demo`: the pictures and report it promises, and the offline fallback to digits."""

import json

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
    from condgan.data import datasets, download

    monkeypatch.setattr(datasets, "data_dirs", lambda name: [tmp_path / "nowhere" / name])
    monkeypatch.setattr(datasets, "cache_dir", lambda: tmp_path / "cache")
    closed = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused
    sources = {f: (sha, [closed]) for f, (sha, _) in download.SOURCES["fashion-mnist"].items()}
    monkeypatch.setitem(download.SOURCES, "fashion-mnist", sources)
    run = run_demo(tmp_path / "demo", time_budget=1, progress=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if "falling back" in line]
    assert len(lines) == 1 and "fashion-mnist unavailable" in lines[0] and "digits" in lines[0]
    assert json.loads((run / "config.json").read_text())["data"]["name"] == "digits"
    assert (run / "grid.png").is_file()
