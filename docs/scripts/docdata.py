"""The data behind the docs' numbers: committed JSON files, read with attribute access, and the
helpers that format them (used by tables.py and render.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PRETRAINED = ROOT / "src" / "condgan" / "pretrained_models"


class RenderError(Exception):
    """A template expression that cannot be rendered (a missing file or key, a bad expression)."""


class Data:
    """JSON with attribute access (`d.variants.l1_only.metrics.ssim`) and `find(key=value)` on lists."""

    def __init__(self, value, where: str):
        self.value, self.where = value, where

    def __getattr__(self, name: str) -> Data:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, key) -> Data:
        try:
            return wrap(self.value[key], f"{self.where}.{key}" if isinstance(key, str) else f"{self.where}[{key}]")
        except (KeyError, IndexError, TypeError):
            raise RenderError(f"{self.where} has no {key!r}") from None

    def find(self, **criteria) -> Data:
        for index, item in enumerate(self.value):
            if all(isinstance(item, dict) and item.get(k) == v for k, v in criteria.items()):
                return wrap(item, f"{self.where}[{index}]")
        raise RenderError(f"{self.where} has no item with {criteria}")

    def get(self, key, default=None):
        return wrap(self.value[key], f"{self.where}.{key}") if key in self.value else default

    def keys(self) -> list:
        return list(self.value)

    def __contains__(self, key) -> bool:
        return key in self.value

    def __iter__(self):
        items = self.value.items() if isinstance(self.value, dict) else enumerate(self.value)
        return (wrap(v, f"{self.where}[{k!r}]") for k, v in items)

    def __len__(self) -> int:
        return len(self.value)


def wrap(value, where: str):
    return Data(value, where) if isinstance(value, (dict, list)) else value


def plain(value):
    return value.value if isinstance(value, Data) else value


class Files:
    """`r.NAME` / `r["NAME"]`: benchmarks/results/NAME.json."""

    def __init__(self, folder: Path, suffix: str = ".json"):
        self.folder, self.suffix = folder, suffix

    def path(self, name: str) -> Path:
        return self.folder / (name + self.suffix)

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def __getattr__(self, name: str) -> Data:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Data:
        path = self.path(name)
        if not path.is_file():
            raise RenderError(f"{path.relative_to(ROOT)} does not exist")
        return Data(json.loads(path.read_text()), path.stem)


class Pretrained:
    """`p["fashion-mnist"].eval.metrics.fid`, `p["digits"].meta.bytes`: a shipped model's JSON files."""

    def names(self) -> list[str]:
        return sorted(d.name for d in PRETRAINED.iterdir() if (d / "config.json").is_file())

    def __getitem__(self, name: str) -> Data:
        folder = PRETRAINED / name
        if not (folder / "config.json").is_file():
            raise RenderError(f"no shipped pretrained model {name!r} in {PRETRAINED.relative_to(ROOT)}")
        files = {f.stem: json.loads(f.read_text()) for f in folder.glob("*.json")}
        return Data(files, f"pretrained:{name}")


# ----------------------------------------------------------------------------- formatting


def fmt(value, spec: str = "") -> str:
    value = plain(value)
    if spec:
        return format(value, spec)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def table(header: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> str:
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def best_marked(values: list, spec: str, lower_is_better: bool) -> list[str]:
    """Format a column, the best value in bold (every value equal to it; none when all are equal)."""
    present = [v for v in values if v is not None]
    best = (min if lower_is_better else max)(present) if present else None
    cells = []
    for v in values:
        if v is None:
            cells.append("-")
        else:
            text = fmt(v, spec)
            cells.append(f"**{text}**" if len(set(present)) > 1 and v == best else text)
    return cells


def _git_date(path: Path) -> str:
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%cs", "--", str(path)], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"committed {out}" if out else "date not recorded"


def source(name: str, command: str = "") -> str:
    """One line under a table: the JSON, the command that wrote it, the machine and the date."""
    data = Files(RESULTS)[name].value
    command = data.get("command") or command
    if not command:
        raise RenderError(f"{name}.json records no command: pass source({name!r}, command=...)")
    machine = data.get("machine", "machine not recorded")
    if data.get("cpu_model"):
        machine = f"{data['cpu_model']}, {machine}"
    if data.get("cpu_vector_units"):
        bf16_units = ["AMX"] if data.get("cpu_amx") else ["bf16"] if data.get("cpu_bf16") else []
        units = [data["cpu_vector_units"], *bf16_units]
        machine += f" ({', '.join(units)})"
    details = [machine]
    if (data.get("cpu_steal_share") or 0) > 0.05:  # a shared VM: the timings ran on part of the CPU
        details.append(f"{data['cpu_steal_share']:.0%} of CPU time taken by other guests")
    if data.get("threads"):
        details.append(f"{data['threads']} thread{'s' if data['threads'] != 1 else ''}")
    if data.get("torch"):
        details.append(f"torch {data['torch']}")
    date = data.get("date", "")[:16] or _git_date(RESULTS / f"{name}.json")
    details.append(date)
    return f"*`{command}`; {', '.join(details)}; [`benchmarks/results/{name}.json`]({_repo_link(name)}).*"


def _repo_link(name: str) -> str:
    """The JSON file as the site serves it (site_files), relative to a page in results/."""
    return f"data/{name}.json"


def site_files() -> dict[str, Path]:
    """Files the site serves from outside docs/: {path in the site: file}. benchmarks/results/*.png
    and *.json appear under results/figures/ and results/data/, beside the results pages."""
    files = {f"results/figures/{p.name}": p for p in sorted(RESULTS.glob("*.png"))}
    files.update({f"results/data/{p.name}": p for p in sorted(RESULTS.glob("*.json"))})
    return files


def figure(name: str, alt: str) -> str:
    """An image from benchmarks/results/, which the site serves under results/figures/ (pages in results/)."""
    if not (RESULTS / name).is_file():
        raise RenderError(f"benchmarks/results/{name} does not exist")
    return f"![{alt}](figures/{name})"
