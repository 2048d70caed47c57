"""Tasks define what a batch means, their networks and their players' losses; the trainer knows neither."""

from __future__ import annotations

from condgan.errors import ConfigError
from condgan.tasks.cgan import CGANTask
from condgan.tasks.cyclegan import CycleGANTask
from condgan.tasks.pix2pix import Pix2PixTask

TASKS = {"cgan": CGANTask, "pix2pix": Pix2PixTask, "cyclegan": CycleGANTask}


def task_class(name: str):
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; valid choices: {', '.join(TASKS)}")
    return TASKS[name]


__all__ = ["TASKS", "CGANTask", "CycleGANTask", "Pix2PixTask", "task_class"]
