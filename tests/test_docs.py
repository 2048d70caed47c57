"""The documentation cannot rot: the site builds with warnings as errors, README's generated tables
match the JSON, links and anchors resolve, repository paths exist, and every example marked
runnable runs (docs/about.md describes the rules; docs/scripts/ holds the machinery)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs_support import ROOT, SHARED, seeded_cache

sys.path.insert(0, str(ROOT / "docs" / "scripts"))

import doccheck  # noqa: E402
import render  # noqa: E402
import tables  # noqa: E402
from reference import cli_reference, config_reference, field_comments  # noqa: E402

README = ROOT / "README.md"
# Files the docs name before they exist: produced by another part of the project (docs/results/sketch.md
# renders the table once the JSON is committed).
EXPECTED_LATER = {"benchmarks/results/sketch_translate.json"}


def test_site_builds_strict(tmp_path):
    """`mkdocs build --strict`: a broken link or anchor, a page outside the navigation, a bad docstring
    reference or a template expression that no JSON backs fails the build."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    site = tmp_path / "site"
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert 'id="condgan-train"' in cli and "--time-budget" in cli
    config = (site / "reference" / "config" / "index.html").read_text()
    assert "train.batch_size" in config
    api = (site / "reference" / "api" / "index.html").read_text()
    assert "load_generator" in api and "evaluate_run" in api
    assert (site / "results" / "figures" / "pix2pix_edges.png").is_file()
    assert (site / "results" / "data" / "recipe_search.json").is_file()
    for page in site.rglob("*.html"):
        assert "{{" not in re.sub(r"<code>.*?</code>|<pre.*?</pre>", "", page.read_text(), flags=re.S), page


def test_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert "make demo" in text
    # CI (.ci/run) must call the README's test command exactly
    assert re.search(r"^make test\b", text, re.M)
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_readme_tables_match_the_json():
    text = README.read_text()
    assert "<!-- docgen: models_table() -->" in text
    assert render.render_readme(text) == text, "README.md's generated regions are stale: run `make docs`"


def test_links_and_anchors_resolve():
    assert doccheck.link_problems(doccheck.markdown_files()) == []


def test_link_check_finds_broken_links(tmp_path):
    page = ROOT / "docs" / "_link_check_probe.md"
    page.write_text("[a](tutorials/pix2pix.md#no-such-heading) [b](missing.md) [c](reference/cli.md#condgan-eval)\n")
    try:
        problems = doccheck.link_problems([page])
    finally:
        page.unlink()
    assert len(problems) == 2
    assert "no heading #no-such-heading" in problems[0] and "missing.md does not exist" in problems[1]


def test_repository_paths_exist():
    problems = doccheck.path_problems(doccheck.markdown_files())
    assert [p for p in problems if not any(p.endswith(f"`{e}` does not exist") for e in EXPECTED_LATER)] == []


def test_references_cover_every_command_and_key():
    import dataclasses

    from condgan.cli import build_parser
    from condgan.config import Config

    cli = cli_reference()
    for action in build_parser()._subparsers._group_actions:
        for name in action.choices:
            assert f"## condgan {name}" in cli
    keys = config_reference()
    for section in dataclasses.fields(Config()):
        value = getattr(Config(), section.name)
        names = [f"{section.name}.{f.name}" for f in dataclasses.fields(value)] if dataclasses.is_dataclass(value) \
            else [section.name]  # fmt: skip
        for name in names:
            assert f"| `{name}`<br>" in keys


def test_field_comments_are_read_from_the_source():
    from condgan.config import ModelConfig, TrainConfig

    comments = field_comments(TrainConfig)
    assert comments["eval_every"][0].startswith("generator steps between quick evals")
    assert "quick evaluation during training" in comments["eval_every"][1]
    assert field_comments(ModelConfig)["conditioning"][0].startswith("concat | projection | acgan")


def test_a_missing_number_fails_the_render():
    with pytest.raises(render.RenderError, match="no 'not_a_key'"):
        render.render("{{ r.recipe_search.not_a_key }}", "probe")
    with pytest.raises(render.RenderError, match="does not exist"):
        render.render("{{ r.no_such_benchmark.x }}", "probe")
    assert render.render("```\n{{ not rendered in code }}\n```\n", "probe") == "```\n{{ not rendered in code }}\n```\n"


def test_results_table_renders_any_benchmark_shape():
    assert "| l1_only |" in tables.results_table("pix2pix_edges")
    assert "| mlp |" in tables.results_table("sample_throughput")


def test_runnable_markers_are_well_formed():
    blocks = [b for path in doccheck.markdown_files() for b in doccheck.runnable_blocks(path)]
    assert len(blocks) >= 20
    for block in blocks:
        block.test_code()  # every test-only replacement matches its block


# ----------------------------------------------------------------------------- the runnable examples

PAGES = [p for p in doccheck.markdown_files() if doccheck.runnable_blocks(p)]


@pytest.fixture(scope="session")
def docs_cache(tmp_path_factory):
    return seeded_cache(tmp_path_factory.getbasetemp() / "condgan-docs-cache")


def checkout_like(tmp_path: Path) -> Path:
    """tmp/checkout (configs/ and docs/ linked in) beside tmp/shared, as a checkout sits beside ../shared."""
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("configs", "docs"):
        (work / name).symlink_to(ROOT / name)
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED)
    return work


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_runnable_examples(page, tmp_path, docs_cache):
    work = checkout_like(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "CONDGAN_CACHE": str(docs_cache), "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    for index, block in enumerate(doccheck.runnable_blocks(page)):
        if block.needs and not (work / block.needs).exists():
            pytest.skip(f"{block.where} needs {block.needs}")
        code = block.test_code()
        if block.language == "python":
            script = work / f"_block_{index}.py"
            script.write_text(code)
            command = [sys.executable, script.name]
        else:
            command = ["bash", "-euo", "pipefail", "-c", code]
        try:
            result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=block.timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{block.where}: took more than {block.timeout:.0f} s:\n{code}")
        assert result.returncode == 0, (
            f"{block.where} failed (exit {result.returncode}):\n{code}\n--- stdout\n{result.stdout[-2000:]}"
            f"\n--- stderr\n{result.stderr[-3000:]}"
        )
    shutil.rmtree(work, ignore_errors=True)


# Decimals, percentages and ratios typed into the results pages and the README (outside their generated
# parts) would drift from the JSON; these few are not results (a section number, a benchmark's threshold).
TYPED_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+|\d+(?:\.\d+)?%|\d+(?:\.\d+)?x)(?![\w.])")
NOT_RESULTS = {
    "docs/results/pix2pix.md": {"4.1", "4.2"},
    "docs/results/index.md": {"0.90"},
    "docs/results/sketch.md": {"95%"},
}  # a paper's section numbers, a goal, a confidence level


def test_results_are_not_typed():
    pages = [README, *sorted((ROOT / "docs" / "results").glob("*.md"))]
    typed = {}
    for page in pages:
        text = render.README_REGION.sub("", page.read_text())
        prose = "".join(piece for code, piece in render.split_fences(text) if not code)
        prose = re.sub(r"`[^`]*`|\]\([^)]*\)", "", render.EXPRESSION.sub("", prose))
        name = str(page.relative_to(ROOT))
        found = set(TYPED_NUMBER.findall(prose)) - NOT_RESULTS.get(name, set())
        if found:
            typed[name] = sorted(found)
    assert typed == {}, "numbers typed by hand; render them from the JSON ({{ ... }}, docs/about.md)"


def test_sketch_results_render_when_the_json_appears(tmp_path, monkeypatch):
    import json

    import docdata

    assert "Not measured yet" in tables.sketch_results("no_such_file")
    model = {"class_share": 0.5, "group_share": 0.75, "fid": 9.0, "per_class": {"t-shirt": 0.5, "bag": 0.5}}
    result = {
        "command": "python benchmarks/sketch_translate.py",
        "machine": "x86_64, 2 cpus",
        "date": "2026-12-01",
        "goal": "class_share >= 0.80",
        "goal_met": False,
        "models": {"a": model, "b": {**model, "fid": 8.0}},
    }
    (tmp_path / "sketch_probe.json").write_text(json.dumps(result))
    monkeypatch.setattr(docdata, "RESULTS", tmp_path)
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    monkeypatch.setattr(tables, "r", docdata.Files(tmp_path))
    text = tables.sketch_results("sketch_probe")
    assert "| `b` | 50.0% | 75.0% | **8.00** |" in text
    assert "| bag | 50% | 50% |" in text and "(not met)" in text
