"""Tasks define what a batch means and the two players' losses; the trainer knows neither."""

from __future__ import annotations

from condgan.errors import ConfigError
from condgan.tasks.cgan import CGANTask

TASKS = {"cgan": CGANTask}


def task_class(name: str):
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; valid choices: {', '.join(TASKS)}")
    return TASKS[name]


__all__ = ["TASKS", "CGANTask", "task_class"]
