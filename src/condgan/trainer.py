"""The training loop. Nothing in this file knows what an image, a label or a pair is.

A task supplies named modules (`modules()`) and named players (`players()`, tasks/players.py): each
player is one Adam optimizer over some of the modules and a loss(batch) -> (loss, logs); a loss of
None means no update (pix2pix's generator-only baseline). One training step runs the players in
order (cgan and pix2pix: `d_steps` discriminator updates, then the generator; cyclegan: both
generators, then both discriminators). The trainer keeps an EMA of every generator-role module,
logs to metrics.jsonl (and TensorBoard when it is installed), writes sample pictures through the
task, and checkpoints atomically (the task's own state too, e.g. CycleGAN's image pools) so that a
resumed run continues exactly as an uninterrupted one would have.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from condgan import distributed
from condgan.acceleration import Precision, resolve_precision, to_channels_last
from condgan.checkpoint import (
    latest_checkpoint,
    load_module_weights,
    load_state,
    remove_stale_temporaries,
    save_checkpoint,
)
from condgan.config import TrainConfig
from condgan.errors import TrainingError
from condgan.precise_bn import recalibrate_batch_norm
from condgan.progress import training_progress


class EMA:
    """Exponential moving average of a module's weights (buffers are copied), updated every `every` steps.

    Averaging every k-th step with decay**k keeps the same time constant (about 1/(1-decay) steps)
    at a k-th of the cost; with decay 0.999 the average spans a thousand steps, so skipping three in
    four changes it by nothing a sample shows, and saves ~5% of an mlp training step on a CPU.
    """

    def __init__(self, module: nn.Module, decay: float, every: int = 1):
        self.decay, self.every = decay, every
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.updates = 0
        self.stale_batch_norm = True  # its BN statistics are the raw generator's (see sampling_generator)
        self._params = list(self.module.parameters())
        self._buffers = list(self.module.buffers())

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.updates += 1
        if self.updates % self.every:
            return
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates)) ** self.every  # warm-up for short runs
        torch._foreach_lerp_(self._params, [p.detach() for p in module.parameters()], 1.0 - decay)
        for ema_buffer, buffer in zip(self._buffers, module.buffers(), strict=True):
            ema_buffer.copy_(buffer)
        self.stale_batch_norm = True


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
        """`callbacks`: objects with `on_step_end(trainer)`, called after every training step
        (for example a periodic evaluation that logs through `trainer.log`)."""
        self.task = task
        self.callbacks = list(callbacks)
        self.config = config
        self.run_dir = Path(run_dir)
        self.batches = batches
        self.progress = progress
        modules, players = task.modules(), task.players()
        self.base_lrs = {name: _role_lr(player.role, config) for name, player in players.items()}  # before decay
        self.optimizers = {
            name: _adam([modules[module] for module in player.modules], self.base_lrs[name], config)
            for name, player in players.items()
        }
        self._lr_player = next((n for n, p in players.items() if p.role == "generator"), next(iter(players)))
        self.generator_names = [m for player in players.values() if player.role == "generator" for m in player.modules]
        self.emas = {
            name: EMA(distributed.unwrap(modules[name]), config.ema_decay, config.ema_every)
            for name in self.generator_names
            if config.ema_decay > 0
        }
        self.is_main, self.world_size = distributed.is_main(), distributed.world_size()  # only rank 0 writes
        self.device = next(distributed.unwrap(next(iter(modules.values()))).parameters()).device
        dtype = resolve_precision(config.precision, self.device, getattr(task, "bf16_on_amx", False))
        self.precision = Precision(self.device, dtype, tuple(players))
        self.skipped_steps = 0  # steps skipped for a non-finite loss (train.skip_nonfinite)
        self._saved_step: int | None = None
        self.step = 0
        self.elapsed = 0.0  # training seconds, summed over resumed sessions
        self._writer = None

    @property
    def ema(self) -> EMA | None:
        """The EMA of the module named "generator" (cgan, pix2pix), else of the first generator; None if none kept."""
        return self.emas.get("generator", next(iter(self.emas.values()), None))

    def sampling_modules(self) -> dict[str, nn.Module]:
        """The generator-role modules to sample from, by name: the EMA ones when kept, with batch-norm
        statistics of their own.

        An EMA's running statistics are copied from the raw generator, whose weights differ; they
        are recomputed for the EMA weights (precise_bn) on the task's calibration inputs whenever
        the EMA has changed since: before each sample grid, checkpoint and quick eval. For the
        default dcgan recipe this lowered FID after 4 minutes of training from 1.20 to 0.97."""
        modules = self.task.modules()
        sampling = {}
        for name in self.generator_names:
            ema = self.emas.get(name)
            if ema is None:
                sampling[name] = distributed.unwrap(modules[name])
                continue
            if ema.stale_batch_norm and hasattr(self.task, "calibration_batches"):
                recalibrate_batch_norm(ema.module, self.task.calibration_batches(self.device))
            ema.stale_batch_norm = False
            sampling[name] = ema.module
        return sampling

    @property
    def sampling_generator(self) -> nn.Module:
        """The module named "generator" to sample from (sampling_modules)."""
        return self.sampling_modules()["generator"]

    # ------------------------------------------------------------------ the loop
    def fit(self, total_steps: int | None, time_budget: float = 0.0) -> dict:
        """Train until `total_steps` generator steps or `time_budget` seconds (whichever first)."""
        c = self.config
        start_step, start_time = self.step, time.perf_counter() - self.elapsed
        bar = training_progress(total_steps, start_step, time_budget, self.progress)  # a bar, or lines in a log
        totals: dict[str, float] = {}
        count = 0
        for module in self.task.modules().values():
            module.train()
        try:
            while (total_steps is None or self.step < total_steps) and not (
                time_budget and self.elapsed >= time_budget
            ):
                if c.lr_decay != "none":
                    progress = max(self.step / total_steps if total_steps else 0.0,
                                   self.elapsed / time_budget if time_budget else 0.0)  # fmt: skip
                    self._scale_lr(lr_factor(progress, c.lr_decay, c.lr_decay_start))
                logs = self._train_step()
                if c.lr_decay != "none":  # the first generator player's rate
                    logs["lr"] = self.optimizers[self._lr_player].param_groups[0]["lr"]
                self.step += 1
                self.elapsed = time.perf_counter() - start_time
                if time_budget:  # every rank stops (and decays its lr) on rank 0's clock
                    self.elapsed = distributed.agree(self.elapsed, self.device)
                for key, value in logs.items():
                    totals[key] = totals.get(key, 0.0) + value
                count += 1
                if bar is not None:
                    bar.update(1)
                if self.step % c.log_every == 0:
                    row = distributed.average({k: v / count for k, v in totals.items()}, self.device)
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
            self.log(distributed.average({k: v / count for k, v in totals.items()}, self.device))
        self.save()
        self.write_samples()
        if self._writer:
            self._writer.close()
        return {"steps": self.step, "seconds": self.elapsed, "steps_this_session": self.step - start_step}

    def _train_step(self) -> dict[str, float]:
        """One step: every player in turn (the task's order), a discriminator train.d_steps times, a
        generator once; a player's logs are those of its last update. The players are looked up each step,
        so a wrapped loss (benchmarks/profile_step) counts."""
        logs: dict[str, float] = {}
        batch = None
        modules = self.task.modules()
        for index, (name, player) in enumerate(self.task.players().items()):
            player_logs: dict[str, float] = {}
            for _ in range(self.config.d_steps if player.role == "discriminator" else 1):
                if index == 0 or batch is None:  # the first player draws a fresh batch for each update
                    batch = next(self.batches)
                    batch = to_channels_last(batch) if self.config.channels_last else batch
                with self.precision.autocast():
                    loss, player_logs = player.loss(batch)
                if loss is None:  # nothing for this player to learn (pix2pix's L1-only baseline): no update
                    continue
                if self._check_finite(loss, player.role, player_logs):
                    optimizer = self.optimizers[name]
                    optimizer.zero_grad(set_to_none=True)
                    self.precision.backward_and_step(name, loss, optimizer)
                    # gradients dropped once used: they would otherwise sit through the other players' passes and
                    # the next step's forward (pix2pix at 256 px: the U-Net's 218 MB during D's update)
                    optimizer.zero_grad(set_to_none=True)
                    for module in player.modules:
                        if module in self.emas:
                            self.emas[module].update(distributed.unwrap(modules[module]))
                else:  # skipped on every rank: log nothing of it (the ranks' log keys stay equal)
                    player_logs = {}
            logs.update(player_logs)
        return logs

    def _scale_lr(self, factor: float) -> None:
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.base_lrs[name] * factor

    def _check_finite(self, loss: torch.Tensor, player: str, logs: dict[str, float]) -> bool:
        """True for a finite loss (on every rank). A non-finite one is skipped (no update) while
        train.skip_nonfinite allows, else training stops with TrainingError; the checkpoints on
        disk are from before it, so the last good one is kept."""
        value = loss.item()
        if distributed.all_true(math.isfinite(value), self.device):
            return True
        step, names = self.step + 1, ", ".join(f"{k}={v:.4g}" for k, v in logs.items()) or "no logs"
        allowed = self.config.skip_nonfinite
        if self.skipped_steps < allowed:
            self.skipped_steps += 1
            if self.is_main:
                message = f"the {player} loss is {value} ({names}); skipped this update"
                print(f"condgan: step {step}: {message} ({self.skipped_steps} of {allowed} allowed by "
                      "train.skip_nonfinite)", file=sys.stderr)  # fmt: skip
            return False
        saved = f"step {self._saved_step}" if self._saved_step is not None else "none yet"
        raise TrainingError(
            f"the {player} loss became {value} at step {step} ({names}); training stopped, the last good "
            f"checkpoint ({saved}) is kept in {self.run_dir}; lower train.lr, try another loss.kind, or let "
            f"train.skip_nonfinite skip a few bad steps ({self.skipped_steps} skipped so far)"
        )

    # ------------------------------------------------------------------ outputs
    def log(self, row: dict[str, float]) -> None:
        """Append one row (with the current step and training time) to metrics.jsonl (rank 0 only)."""
        if not self.is_main:
            return
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
        if not self.is_main:
            return
        path = self.run_dir / "samples" / f"step_{self.step:07d}.png"
        self.task.write_samples(path, step=self.step, **self.sampling_modules())

    # ------------------------------------------------------------------ checkpoints
    def weights(self) -> dict[str, dict[str, torch.Tensor]]:
        weights = {name: distributed.unwrap(module).state_dict() for name, module in self.task.modules().items()}
        if self.emas:
            sampling = self.sampling_modules()
            weights.update({f"{name}_ema": sampling[name].state_dict() for name in self.emas})
        return weights

    def state_dict(self, task_per_rank: list[dict] | None = None) -> dict:
        """The training state of this step; `task_per_rank`: every rank's task state (save() gathers it)."""
        state = {
            "step": self.step,
            "elapsed": self.elapsed,
            **{f"{name}_optimizer": optimizer.state_dict() for name, optimizer in self.optimizers.items()},
            "ema_updates": self.ema.updates if self.ema else 0,  # every EMA is updated at the same steps
            "cpu_rng": torch.get_rng_state(),
            "batches": self.batches.state_dict(),
            "world_size": self.world_size,  # the loader position is per rank (see distributed.py)
            "skipped_steps": self.skipped_steps,
            "grad_scalers": self.precision.state_dict(),
        }
        if hasattr(self.task, "state_dict"):  # what the task keeps between steps (CycleGAN: its image pools)
            state["task_per_rank"] = task_per_rank if task_per_rank is not None else [self.task.state_dict()]
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def save(self) -> Path | None:
        """Checkpoint the current step (once per step; every rank calls it: each rank's task state is
        gathered to rank 0, which writes). Non-finite weights are not saved: TrainingError, and the
        previous checkpoint stays the latest."""
        if self._saved_step == self.step:
            return None
        task_per_rank = None
        if hasattr(self.task, "state_dict"):  # CycleGAN's image pools differ per rank: all of them are saved
            task_per_rank = distributed.gather_to_main(self.task.state_dict())
        if not self.is_main:
            self._saved_step = self.step
            return None
        weights = self.weights()
        for model, tensors in weights.items():
            for key, tensor in tensors.items():
                if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                    raise TrainingError(
                        f"{model} weight {key!r} is not finite at step {self.step}; not saved, the last good "
                        f"checkpoint (step {self._saved_step}) is kept; lower train.lr or try another loss.kind"
                    )
        path = save_checkpoint(self.run_dir, self.step, weights, self.state_dict(task_per_rank),
                               self.config.keep_checkpoints)  # fmt: skip
        self._saved_step = self.step
        return path

    def resume(self) -> int:
        """Load the newest complete checkpoint of the run directory; return its step."""
        folder = latest_checkpoint(self.run_dir)
        if folder is None:
            from condgan.errors import CheckpointError

            raise CheckpointError(f"{self.run_dir}: no complete checkpoint to resume from; start a new run")
        for name, module in self.task.modules().items():
            load_module_weights(distributed.unwrap(module), folder / f"{name}.safetensors")
        for name, ema in self.emas.items():
            load_module_weights(ema.module, folder / f"{name}_ema.safetensors")
        state = load_state(folder / "state.pt")
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[f"{name}_optimizer"])
        for ema in self.emas.values():
            ema.updates = int(state["ema_updates"])
        if hasattr(self.task, "load_state_dict"):
            self._load_task_state(state)
        torch.set_rng_state(state["cpu_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        saved_world = int(state.get("world_size", 1))
        self.batches.load_state_dict(distributed.rescale_loader_state(state["batches"], saved_world, self.world_size))
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.precision.load_state_dict(state.get("grad_scalers", {}))
        self._saved_step = self.step
        if self.is_main:
            _truncate_metrics(self.run_dir / "metrics.jsonl", self.step)
            for folder in (self.run_dir, self.run_dir / "samples"):  # what a killed run half-wrote
                remove_stale_temporaries(folder)
        return self.step

    def _load_task_state(self, state: dict) -> None:
        """Rank r's task state from the checkpoint: saved rank r's. Resumed with another world size, the
        ranks beyond the saved ones start with a fresh state and the saved states beyond this run's ranks
        are dropped, said in one warning line (that run does not continue exactly)."""
        per_rank = state.get("task_per_rank")
        if per_rank is None:  # a checkpoint from before task states were saved per rank: rank 0's alone
            per_rank = [state["task"]] if "task" in state else []
        saved, world = len(per_rank), self.world_size
        if saved != world and any(per_rank) and self.is_main:  # an empty state (no pools) loses nothing
            fate = (f"{_ranks(saved, world - 1)} start with a fresh one" if world > saved
                    else f"that of saved {_ranks(world, saved - 1)} is dropped")  # fmt: skip
            print(f"condgan: warning: the checkpoint holds the task state (CycleGAN: the image pools) of {saved} "
                  f"rank(s) and this run has {world}: rank r continues saved rank r's, {fate}; the run does not "
                  "continue exactly", file=sys.stderr)  # fmt: skip
        if distributed.rank() < saved:
            self.task.load_state_dict(per_rank[distributed.rank()])


def _ranks(first: int, last: int) -> str:
    return f"rank {first}" if first == last else f"ranks {first}-{last}"


LR_DECAYS = ("none", "linear")  # train.lr_decay (config.py checks the name)


def lr_factor(progress: float, decay: str, start: float = 0.5) -> float:
    """Learning-rate multiplier at `progress` (fraction of the budget done, 0..1): 1 until `start`,
    then for "linear" straight down to 0 at the end (pix2pix: constant for the first half, then
    linearly to zero). Deterministic in the step, so a resumed run gets the same rates."""
    if decay == "none" or progress <= start:
        return 1.0
    return max(0.0, (1.0 - progress) / (1.0 - start))


def _role_lr(role: str, config: TrainConfig) -> float:
    """A player's learning rate before decay: train.lr for generators, train.d_lr (0 = lr) for discriminators."""
    return config.d_lr or config.lr if role == "discriminator" else config.lr


def _adam(modules: list[nn.Module], lr: float, config: TrainConfig) -> torch.optim.Adam:
    """One Adam over the modules' parameters (in order), with the fused kernel (one pass over all of
    them; much faster on CPU than the loop)."""
    parameters = [p for module in modules for p in module.parameters()]
    return torch.optim.Adam(parameters, lr=lr, betas=(config.beta1, config.beta2), fused=True)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from (they will be written again)."""
    if not path.is_file():
        return
    from condgan.checkpoint import atomic_write_text
    from condgan.plots import read_metrics

    rows = [r for r in read_metrics(path) if r.get("step", 0) <= step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
