"""Training progress for the person watching: a tqdm bar on a terminal (or in a notebook), plain
lines in a log file or a pipe.

A bar redraws itself with carriage returns many times a second; written into a file that is
thousands of updates on one line. Off a terminal, `ProgressLines` writes one whole line at the
first step, then at most one every `every_seconds`, then a last one when training stops:

    condgan: step 1200/5000 (24%), 9.8 steps/s, d_loss 1.214, g_loss 0.873, 2 min 2 s, ~6 min 28 s left
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

EVERY_SECONDS = 30.0  # a plain line at most this often


def training_progress(total_steps: int | None, initial: int, time_budget: float, enabled: bool = True, stream=None):
    """A progress object with tqdm's `update(n)`, `set_postfix(dict)` and `close()`, or None when disabled:
    a tqdm bar when `stream` (default stderr) is a terminal or a notebook shows it, else ProgressLines."""
    if not enabled:
        return None
    stream = stream if stream is not None else sys.stderr
    budget = f"budget {time_budget:.0f} s" if time_budget and not total_steps else ""
    if _interactive(stream):
        from tqdm.auto import tqdm

        desc = f"training ({budget})" if budget else "training"
        return tqdm(total=total_steps, initial=initial, desc=desc, unit="step", dynamic_ncols=True, file=stream)
    return ProgressLines(total_steps, initial, budget, stream=stream)


def _interactive(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or _in_notebook()


def _in_notebook() -> bool:
    """Running inside a Jupyter kernel (a notebook draws tqdm as a widget); merely importing ipykernel is not."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class ProgressLines:
    """tqdm's interface as whole lines: the first step, then at most one line every `every_seconds`,
    and the last step at close()."""

    def __init__(self, total: int | None, initial: int = 0, budget: str = "", stream: TextIO | None = None,
                 every_seconds: float = EVERY_SECONDS, clock=time.monotonic):  # fmt: skip
        self.total, self.step, self.start_step, self.budget = total, initial, initial, budget
        self.stream = stream if stream is not None else sys.stderr
        self.every, self.clock = every_seconds, clock
        self.started = clock()
        self.last_line: float | None = None  # when the last line was written
        self.last_step = initial  # the step the last line was about
        self.postfix: dict[str, str] = {}

    def update(self, n: int = 1) -> None:
        self.step += n
        if self.last_line is None or self.clock() - self.last_line >= self.every:
            self._write()

    def set_postfix(self, values: dict) -> None:
        self.postfix = {key: str(value) for key, value in values.items()}

    def close(self) -> None:
        if self.step != self.last_step:
            self._write()

    def line(self) -> str:
        seconds = self.clock() - self.started
        done = self.step - self.start_step
        parts = [f"step {self.step}/{self.total} ({100 * self.step / self.total:.0f}%)" if self.total
                 else f"step {self.step}"]  # fmt: skip
        if seconds > 0 and done:
            parts.append(f"{done / seconds:.1f} steps/s")
        parts += [f"{key} {value}" for key, value in self.postfix.items()]
        parts.append(_duration(seconds))
        if self.total and done and seconds > 0 and self.step < self.total:
            parts.append(f"~{_duration((self.total - self.step) * seconds / done)} left")
        if self.budget:
            parts.append(self.budget)
        return "condgan: " + ", ".join(parts)

    def _write(self) -> None:
        print(self.line(), file=self.stream, flush=True)
        self.last_line, self.last_step = self.clock(), self.step


def _duration(seconds: float) -> str:
    """12 s, 3 min 5 s, 1 h 2 min."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
