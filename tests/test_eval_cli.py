"""`condgan eval RUN`: the printed table, the summary line, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from condgan.cli import main


def run_cli(*args, cache):
    env = {**os.environ, "CONDGAN_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "condgan", *map(str, args)], capture_output=True, text=True, timeout=300, env=env
    )


def test_eval_prints_the_table_with_the_floor(trained_run, tmp_path, condgan_cache, capsys):
    run = shutil.copytree(trained_run, tmp_path / "run")
    report = tmp_path / "report"
    assert main(["eval", str(run), "--samples", "200", "--seed", "3", "--device", "cpu", "--out", str(report)]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].split() == ["metric", "model", "real", "floor", "better"]
    table = {line.split("  ")[0]: line for line in lines[2:-1]}
    for label in ("conditional accuracy", "FID", "intra-class FID (mean)", "KID (± std over subsets)", "precision",
                  "recall", "density", "coverage"):  # fmt: skip
        assert label in table
    result = json.loads((report / "eval.json").read_text())
    accuracy = f"{result['metrics']['conditional_accuracy']:.4g}"
    assert table["conditional accuracy"].split()[2:4] == [accuracy, f"{result['floor']['conditional_accuracy']:.4g}"]
    assert lines[-1].startswith(f"condgan eval {run} step 800: accuracy {accuracy} (real ")
    assert lines[-1].endswith(f"200 samples, {result['seconds']:.0f} s -> {report / 'eval.md'}")
    assert "Inception FID not computed" in err
    assert result["seed"] == 3 and (report / "eval.md").is_file() and (report / "eval_grid.png").is_file()
    assert not (run / "eval.json").exists()  # --out: the run directory is left as it was


def test_eval_of_a_pretrained_model_writes_under_runs(tmp_path, condgan_cache, monkeypatch, capsys):
    from condgan.inference.runs import available, shipped_root

    if "digits" not in available():
        pytest.skip("no pretrained:digits model is shipped in this checkout")
    folder = shipped_root() / "digits"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "pretrained:digits", "--samples", "100"]) == 0
    assert capsys.readouterr().out.strip().endswith("-> runs/pretrained-digits/eval.md")
    assert (tmp_path / "runs" / "pretrained-digits" / "eval.json").is_file()
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before  # the package is not written to


@pytest.mark.parametrize(
    "setup, args, message",
    [
        ("missing", [], "does not exist; train one with `condgan train --out"),
        ("run", ["--samples", "30"], "30 samples over 10 classes have 3 images of class '0'"),
        ("run", ["--inception-weights", "/nonexistent/inception.pth"], "/nonexistent/inception.pth does not exist"),
        ("run", ["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_eval_errors_are_one_line_with_exit_code_2(trained_run, tmp_path, condgan_cache, capsys, setup, args, message):
    run = tmp_path / "run"
    if setup == "run":
        shutil.copytree(trained_run, run)
    assert main(["eval", str(run), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("condgan: error: ") and "\n" not in err and message in err, err
    assert not (run / "eval.json").exists()


def test_run_without_a_generator_fails_in_a_subprocess_without_traceback(trained_run, tmp_path, condgan_cache):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(trained_run / "config.json", run / "config.json")
    done = run_cli("eval", run, cache=condgan_cache)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"condgan: error: {run} has no complete checkpoint yet; train it (or resume it) first"
    ), done.stderr


def test_a_pix2pix_runs_pictures_go_where_its_report_goes(pix2pix_run, tmp_path, condgan_cache, capsys):
    before = {p.name for p in pix2pix_run.iterdir()}
    report = tmp_path / "report"
    assert main(["eval", str(pix2pix_run), "--samples", "40", "--device", "cpu", "--out", str(report)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"-> {report / 'eval.md'}")
    assert "](eval_triplets.png)" in (report / "eval.md").read_text() and (report / "eval_triplets.png").is_file()
    assert {p.name for p in pix2pix_run.iterdir()} == before  # nothing written into the run (before: the picture)
