"""notebooks/quickstart.ipynb is stored without outputs and runs top to bottom (nbclient, in a
temporary folder, with a condgan cache that already holds the Fashion-MNIST evaluator)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.docs_support import ROOT, seeded_cache

NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def test_notebook_is_stored_without_outputs():
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    dirty = [i for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]  # fmt: skip
    assert dirty == [], f"cells {dirty} have outputs: jupyter nbconvert --clear-output --inplace {NOTEBOOK}"


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(tmp_path, tmp_path_factory, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    cache = seeded_cache(tmp_path_factory.getbasetemp() / "condgan-docs-cache")
    monkeypatch.setenv("CONDGAN_CACHE", str(cache))  # the kernel inherits the environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    [setup] = [cell for cell in notebook.cells if "TRAIN_SECONDS = 60" in cell.source]
    setup.source = setup.source.replace("TRAIN_SECONDS = 60", "TRAIN_SECONDS = 15")  # every cell still runs
    resources = {"metadata": {"path": str(tmp_path)}}  # the kernel's working folder
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources)
    client.execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # the grid, the interpolation, the loss curves, the translation
    text = "".join(o.get("text", "") for o in outputs)
    assert "conditional accuracy" in text and "FID" in text
    run = tmp_path / "runs" / "quickstart"
    assert (run / "grid.png").is_file() and (run / "eval.json").is_file()
    assert (run / "t-shirt-edges2fashion.png").is_file()
    shutil.rmtree(run, ignore_errors=True)
    assert os.environ["CONDGAN_CACHE"] == str(cache)
