"""What a task tells the trainer about its game: the players, each an optimizer over some of the task's modules.

    def players(self) -> dict[str, Player]:      # in the order of their updates within one step
        return {"d": Player("discriminator", ("discriminator",), self.d_loss),
                "g": Player("generator", ("generator",), self.g_loss)}

The player's name keys its optimizer in the checkpoint (`<name>_optimizer`) and its gradient scaler;
the module names are the task's `modules()` keys, which are also the weight files' names
(`<module>.safetensors`, `<module>_ema.safetensors` for the EMA of a generator-role module).
The role picks the learning rate (generator: train.lr; discriminator: train.d_lr, 0 = lr) and how
many updates the player gets per step (generator: 1; discriminator: train.d_steps). The first player
draws a fresh batch for each of its updates; the players after it see the last batch drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROLES = ("generator", "discriminator")


@dataclass(frozen=True)
class Player:
    role: str  # "generator" | "discriminator"
    modules: tuple[str, ...]  # the task's modules that this player's optimizer updates
    loss: Callable[[Any], tuple[Any, dict[str, float]]]  # batch -> (loss tensor, or None: no update; logs)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown player role {self.role!r}; valid roles: {', '.join(ROLES)}")
        if not self.modules:
            raise ValueError("a player needs at least one module to update")
