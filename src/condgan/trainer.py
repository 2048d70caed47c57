"""The training loop. Nothing in this file knows what an image, a label or a pair is.

A task supplies `generator` and `discriminator` modules and `d_loss(batch)` / `g_loss(batch)`,
each returning (loss, logs). The trainer alternates `d_steps` discriminator steps and one
generator step, keeps an EMA of the generator, logs to metrics.jsonl (and TensorBoard when it is
installed), writes sample pictures through the task, and checkpoints atomically so that a
resumed run continues exactly as an uninterrupted one would have.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from condgan.checkpoint import latest_checkpoint, load_module_weights, load_state, save_checkpoint
from condgan.config import TrainConfig
from condgan.errors import TrainingError


class EMA:
    """Exponential moving average of a module's weights (buffers are copied)."""

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.updates = 0
        self._params = list(self.module.parameters())
        self._buffers = list(self.module.buffers())

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))  # warm-up for short runs
        torch._foreach_lerp_(self._params, [p.detach() for p in module.parameters()], 1.0 - decay)
        for ema_buffer, buffer in zip(self._buffers, module.buffers(), strict=True):
            ema_buffer.copy_(buffer)


class Trainer:
    def __init__(
        self,
        task,
        config: TrainConfig,
        run_dir: Path,
        batches: Iterator,
        progress: bool = True,
        callbacks: list | tuple = (),
    ):
        """`callbacks`: objects with `on_step_end(trainer)`, called after every generator step
        (for example a periodic evaluation that logs through `trainer.log`)."""
        self.task = task
        self.callbacks = list(callbacks)
        self.config = config
        self.run_dir = Path(run_dir)
        self.batches = batches
        self.progress = progress
        self.g_optimizer = _adam(task.generator, config.lr, config)
        self.d_optimizer = _adam(task.discriminator, config.d_lr or config.lr, config)
        self.ema = EMA(task.generator, config.ema_decay) if config.ema_decay > 0 else None
        self.step = 0
        self.elapsed = 0.0  # training seconds, summed over resumed sessions
        self._writer = None

    @property
    def sampling_generator(self) -> nn.Module:
        return self.ema.module if self.ema else self.task.generator

    # ------------------------------------------------------------------ the loop
    def fit(self, total_steps: int | None, time_budget: float = 0.0) -> dict:
        """Train until `total_steps` generator steps or `time_budget` seconds (whichever first)."""
        c = self.config
        start_step, start_time = self.step, time.perf_counter() - self.elapsed
        bar = _progress_bar(total_steps, start_step, time_budget, self.progress)
        totals: dict[str, float] = {}
        count = 0
        self.task.generator.train()
        self.task.discriminator.train()
        try:
            while (total_steps is None or self.step < total_steps) and not (
                time_budget and self.elapsed >= time_budget
            ):
                logs = self._train_step()
                self.step += 1
                self.elapsed = time.perf_counter() - start_time
                for key, value in logs.items():
                    totals[key] = totals.get(key, 0.0) + value
                count += 1
                if bar is not None:
                    bar.update(1)
                if self.step % c.log_every == 0:
                    row = {k: v / count for k, v in totals.items()}
                    self.log(row)
                    if bar is not None:
                        bar.set_postfix({k: f"{row[k]:.3f}" for k in ("d_loss", "g_loss") if k in row})
                    totals, count = {}, 0
                if c.sample_every and self.step % c.sample_every == 0:
                    self.write_samples()
                if c.checkpoint_every and self.step % c.checkpoint_every == 0:
                    self.save()
                for callback in self.callbacks:
                    callback.on_step_end(self)
        finally:  # an interrupt leaves the last periodic checkpoint: a mid-step save would not resume exactly
            if bar is not None:
                bar.close()
        if count:
            self.log({k: v / count for k, v in totals.items()})
        self.save()
        self.write_samples()
        if self._writer:
            self._writer.close()
        return {"steps": self.step, "seconds": self.elapsed, "steps_this_session": self.step - start_step}

    def _train_step(self) -> dict[str, float]:
        logs: dict[str, float] = {}
        for _ in range(self.config.d_steps):
            batch = next(self.batches)
            loss, logs = self.task.d_loss(batch)
            self._check_finite(loss, "discriminator")
            self.d_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.d_optimizer.step()
        loss, g_logs = self.task.g_loss(batch)
        self._check_finite(loss, "generator")
        self.g_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.g_optimizer.step()
        if self.ema is not None:
            self.ema.update(self.task.generator)
        return {**logs, **g_logs}

    def _check_finite(self, loss: torch.Tensor, player: str) -> None:
        if not math.isfinite(loss.item()):
            raise TrainingError(
                f"the {player} loss became {loss.item()} at step {self.step + 1}; the last good checkpoint is kept "
                "in the run directory (try a lower train.lr or another loss)"
            )

    # ------------------------------------------------------------------ outputs
    def log(self, row: dict[str, float]) -> None:
        """Append one row (with the current step and training time) to metrics.jsonl."""
        row = {"step": self.step, "time": round(self.elapsed, 3), **{k: round(v, 6) for k, v in row.items()}}
        with open(self.run_dir / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(row) + "\n")
        writer = self._tensorboard()
        if writer is not None:
            for key, value in row.items():
                if key != "step":
                    writer.add_scalar(key, value, self.step)

    def _tensorboard(self):
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._writer = False
            else:
                self._writer = SummaryWriter(str(self.run_dir / "tensorboard"))
        return self._writer or None

    def write_samples(self) -> None:
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        self.task.write_samples(path, self.sampling_generator, self.step)

    # ------------------------------------------------------------------ checkpoints
    def weights(self) -> dict[str, dict[str, torch.Tensor]]:
        weights = {name: module.state_dict() for name, module in self.task.modules().items()}
        if self.ema is not None:
            weights["generator_ema"] = self.ema.module.state_dict()
        return weights

    def state_dict(self) -> dict:
        state = {
            "step": self.step,
            "elapsed": self.elapsed,
            "g_optimizer": self.g_optimizer.state_dict(),
            "d_optimizer": self.d_optimizer.state_dict(),
            "ema_updates": self.ema.updates if self.ema else 0,
            "cpu_rng": torch.get_rng_state(),
            "batches": self.batches.state_dict(),
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def save(self) -> Path:
        return save_checkpoint(self.run_dir, self.step, self.weights(), self.state_dict(), self.config.keep_checkpoints)

    def resume(self) -> int:
        """Load the newest complete checkpoint of the run directory; return its step."""
        folder = latest_checkpoint(self.run_dir)
        if folder is None:
            from condgan.errors import CheckpointError

            raise CheckpointError(f"{self.run_dir}: no complete checkpoint to resume from; start a new run")
        for name, module in self.task.modules().items():
            load_module_weights(module, folder / f"{name}.safetensors")
        if self.ema is not None:
            load_module_weights(self.ema.module, folder / "generator_ema.safetensors")
        state = load_state(folder / "state.pt")
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        if self.ema is not None:
            self.ema.updates = int(state["ema_updates"])
        torch.set_rng_state(state["cpu_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.batches.load_state_dict(state["batches"])
        _truncate_metrics(self.run_dir / "metrics.jsonl", self.step)
        return self.step


def _adam(module: nn.Module, lr: float, config: TrainConfig) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over all parameters; much faster on CPU than the loop)."""
    return torch.optim.Adam(module.parameters(), lr=lr, betas=(config.beta1, config.beta2), fused=True)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from (they will be written again)."""
    if not path.is_file():
        return
    from condgan.checkpoint import atomic_write_text
    from condgan.plots import read_metrics

    rows = [r for r in read_metrics(path) if r.get("step", 0) <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def _progress_bar(total_steps: int | None, initial: int, time_budget: float, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    desc = f"training (budget {time_budget:.0f}s)" if time_budget and not total_steps else "training"
    return tqdm(total=total_steps, initial=initial, desc=desc, unit="step", dynamic_ncols=True)
