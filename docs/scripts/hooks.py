"""MkDocs hooks (mkdocs.yml `hooks:`): render each page's {{ ... }} expressions from committed JSON and
the code (render.py, tables.py, reference.py), and serve benchmarks/results/ beside the results pages."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docdata import site_files  # noqa: E402
from render import render  # noqa: E402


def on_files(files, config):
    from mkdocs.structure.files import File

    for uri, path in site_files().items():
        files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


def on_page_markdown(markdown, page, config, files):
    return render(markdown, page.file.src_uri)
