"""Numbers in the docs come from committed JSON, never from typing.

A docs page (and a marked region of README.md) may hold template expressions:

    FID {{ r.recipe_search.results.find(variant="projection, lr 8e-4").ema.fid | .2f }}
    {{ recipe_table("recipe_search") }}

`{{ EXPR }}` or `{{ EXPR | FORMAT }}`: EXPR is a Python expression over the names in `namespace()`
(`r.NAME` is benchmarks/results/NAME.json, `p["NAME"]` a shipped pretrained model's eval.json and
meta.json, plus the table functions below); FORMAT is a Python format spec (`.2f`, `,.0f`, `.1%`).
A missing file or key fails the build with the page, the expression and what was missing.

The MkDocs hook (hooks.py) renders every page this way at build time. README.md is shown by
GitHub as it is, so its generated parts are written into the file between
`<!-- docgen: EXPR -->` and `<!-- /docgen -->`; `python docs/scripts/render.py --readme` rewrites
them (`make docs` does) and tests/test_docs.py fails when they are out of date.
"""

from __future__ import annotations

import argparse
import re
import sys

from docdata import RESULTS, ROOT, Files, Pretrained, RenderError, figure, fmt, source
from reference import cli_reference, config_reference
from tables import TABLES

EXPRESSION = re.compile(r"\{\{(.+?)\}\}", re.S)
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
README_REGION = re.compile(r"(<!-- docgen: (.+?) -->\n)(.*?)(<!-- /docgen -->)", re.S)


def cfg(key: str, task: str = ""):
    """The default of a config key (`train.lr`), under `--task TASK` when given (condgan.config.load_config)."""
    from condgan.config import load_config

    value = load_config(overrides=[f"task={task}"] if task else [])
    for part in key.split("."):
        value = getattr(value, part)
    return value


def const(where: str):
    """A constant of the code, `module:NAME` (e.g. `condgan.demo:DEMO_TIME_BUDGET`)."""
    import importlib

    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)


def namespace() -> dict:
    names = {"r": Files(RESULTS), "p": Pretrained(), "fmt": fmt, "source": source, "figure": figure}
    names.update(cfg=cfg, const=const, cli_reference=cli_reference, config_reference=config_reference)
    names.update(TABLES)
    names.update({"abs": abs, "min": min, "max": max, "round": round, "len": len, "sum": sum})
    return names


def evaluate(expression: str, where: str = ""):
    text, _, spec = expression.partition(" | ")
    try:
        value = eval(text.strip(), {"__builtins__": {}, **namespace()})  # noqa: S307 (the docs' own templates)
    except RenderError as exc:
        raise RenderError(f"{where}: {{{{{expression.strip()}}}}}: {exc}") from None
    except Exception as exc:
        raise RenderError(f"{where}: {{{{{expression.strip()}}}}}: {type(exc).__name__}: {exc}") from None
    return fmt(value, spec.strip())


def split_fences(markdown: str) -> list[tuple[bool, str]]:
    """The text as (inside a fenced code block?, text) pieces, in order; fences of ``` or ~~~, nested
    by length as CommonMark does."""
    pieces: list[tuple[bool, str]] = []
    fence = None
    current: list[str] = []
    for line in markdown.splitlines(keepends=True):
        match = FENCE.match(line)
        if fence is None and match:
            pieces.append((False, "".join(current)))
            current, fence = [line], match.group(1)
        elif fence is not None and match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                and not line.strip()[len(match.group(1)):].strip():
            current.append(line)
            pieces.append((True, "".join(current)))
            current, fence = [], None
        else:
            current.append(line)
    pieces.append((fence is not None, "".join(current)))
    return [piece for piece in pieces if piece[1]]


def render(markdown: str, where: str = "") -> str:
    """Replace every {{ EXPR }} / {{ EXPR | FORMAT }} outside fenced code blocks with its value."""
    return "".join(text if code else EXPRESSION.sub(lambda m: evaluate(m.group(1), where), text)
                   for code, text in split_fences(markdown))  # fmt: skip


def render_readme(text: str) -> str:
    """README.md with each `<!-- docgen: EXPR -->` region's body rendered anew."""
    return README_REGION.sub(lambda m: m.group(1) + evaluate(m.group(2), "README.md").strip() + "\n" + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="rewrite README.md's generated regions")
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md's generated regions are stale")
    args = parser.parse_args(argv)
    readme = ROOT / "README.md"
    current = readme.read_text()
    fresh = render_readme(current)
    if args.check:
        if fresh != current:
            print("README.md's generated regions are out of date: run make docs", file=sys.stderr)
            return 1
        return 0
    if args.readme and fresh != current:
        readme.write_text(fresh)
        print("rewrote README.md's generated regions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
