"""What keeps the docs from rotting, used by tests/test_docs.py (docs/about.md describes the rules).

- `runnable_blocks(path)`: the fenced blocks marked `<!-- runnable -->`, with their test-only
  replacements (`test="OLD => NEW;..."`) and `needs="PATH"`.
- `link_problems(files)`: every Markdown link and image resolves, and every `#anchor` matches a
  heading of its target, slugged as MkDocs' `toc` extension does.
- `path_problems(files)`: every repository path written in `code` (`src/condgan/...`,
  `benchmarks/...`, `configs/...`, `tests/...`) exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from docdata import ROOT, site_files
from render import render, split_fences

DOCS = ROOT / "docs"
MARKER = re.compile(r"^<!--\s*runnable\b(.*?)-->\s*$")
OPTION = re.compile(r'([\w-]+)="([^"]*)"')
FENCE_OPEN = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
REPO_PATH = re.compile(r"^(?:src/condgan|benchmarks|configs|tests|docs|notebooks)/[\w./-]+$")
LANGUAGES = {"bash": "bash", "sh": "bash", "shell": "bash", "python": "python", "py": "python"}


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the fence
    language: str  # bash | python
    code: str
    replacements: list[tuple[str, str]] = field(default_factory=list)
    needs: str = ""
    timeout: float = 300.0

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def test_code(self) -> str:
        """The code as the test runs it: each replacement made, each required to match."""
        code = self.code
        for old, new in self.replacements:
            if old not in code:
                raise ValueError(f"{self.where}: test replacement {old!r} is not in the block")
            code = code.replace(old, new)
        return code


def runnable_blocks(path: Path) -> list[Block]:
    """The marked blocks of a Markdown file, in order. A marker must be followed by a fence."""
    text = path.read_text()
    lines = text.splitlines()
    in_code = [code for code, piece in split_fences(text) for _ in piece.splitlines()]
    blocks = []
    i = 0
    while i < len(lines):
        marker = None if in_code[i] else MARKER.match(lines[i].strip())
        i += 1
        if not marker:
            continue
        options = dict(OPTION.findall(marker.group(1)))
        unknown = set(options) - {"test", "needs", "timeout"}
        while i < len(lines) and not lines[i].strip():
            i += 1
        fence = FENCE_OPEN.match(lines[i]) if i < len(lines) else None
        if unknown or fence is None or fence.group(2) not in LANGUAGES:
            what = f"unknown option {sorted(unknown)}" if unknown else "not followed by a bash or python fence"
            raise ValueError(f"{path.relative_to(ROOT)}:{i}: runnable marker {what}")
        start, ticks = i + 1, fence.group(1)
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(ticks):
            i += 1
        replacements = []
        for pair in filter(None, (p.strip() for p in options.get("test", "").split(";"))):
            old, arrow, new = pair.partition("=>")
            if not arrow:
                raise ValueError(f"{path.relative_to(ROOT)}:{start}: test replacement {pair!r} is not OLD => NEW")
            replacements.append((old.strip(), new.strip()))
        code = "\n".join(lines[start:i]) + "\n"
        blocks.append(Block(path, start, LANGUAGES[fence.group(2)], code, replacements, options.get("needs", ""),
                            float(options.get("timeout", 300))))  # fmt: skip
        i += 1
    return blocks


def markdown_files() -> list[Path]:
    """README.md and every page of the site."""
    return [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "scripts" not in p.parts)]


# ----------------------------------------------------------------------------- links and anchors


def _heading_text(text: str) -> str:
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links -> their text
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), text)
    text = re.sub(r"<[^>]+>", "", text)
    text = re.sub(r"(\*\*|__|\*|_)(\S.*?\S|\S)\1", r"\2", text)
    return text


def anchors(markdown: str) -> set[str]:
    """The ids MkDocs gives the headings of a page (toc's slugify, `_1` for repeats)."""
    from markdown.extensions.toc import slugify

    seen: dict[str, int] = {}
    found = set()
    for code, text in split_fences(markdown):
        if code:
            continue
        for line in text.splitlines():
            match = HEADING.match(line)
            if not match:
                continue
            slug = slugify(_heading_text(match.group(2)), "-")
            if slug in seen:
                seen[slug] += 1
                slug = f"{slug}_{seen[slug]}"
            else:
                seen[slug] = 0
            found.add(slug)
    return found


def _prose(markdown: str) -> str:
    """The text outside fenced blocks and code spans (where links live)."""
    return "".join(CODE_SPAN.sub("", text) for code, text in split_fences(markdown) if not code)


def _rendered(path: Path, cache: dict) -> str:
    if path not in cache:
        text = path.read_text()
        cache[path] = render(text, str(path.relative_to(ROOT))) if DOCS in path.parents else text
    return cache[path]


def link_problems(files: list[Path]) -> list[str]:
    """Broken links and anchors in the files, one line each (empty when all resolve)."""
    generated = {DOCS / uri: source for uri, source in site_files().items()}
    cache: dict[Path, str] = {}
    problems = []
    for path in files:
        for target in LINK.findall(_prose(_rendered(path, cache))):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if linked.is_dir():
                linked = linked / "index.md"
            if not linked.exists() and linked not in generated:
                problems.append(f"{path.relative_to(ROOT)}: link to {target}: {file_part} does not exist")
                continue
            if anchor and linked.suffix == ".md" and anchor not in anchors(_rendered(linked, cache)):
                where = file_part or "this file"
                problems.append(f"{path.relative_to(ROOT)}: link to {target}: no heading #{anchor} in {where}")
    return problems


def path_problems(files: list[Path]) -> list[str]:
    """Repository paths written in code spans that do not exist (placeholders in CAPITALS and globs skipped)."""
    problems = []
    for path in files:
        for code, text in split_fences(path.read_text()):
            if code:
                continue
            for span in CODE_SPAN.findall(text):
                candidate = span[1].strip()
                if not REPO_PATH.match(candidate) or "*" in candidate or re.search(r"[A-Z]{2,}", candidate):
                    continue
                if not (ROOT / candidate.rstrip("/")).exists():
                    problems.append(f"{path.relative_to(ROOT)}: `{candidate}` does not exist")
    return problems
