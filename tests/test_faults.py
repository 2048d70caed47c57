"""Faults: non-finite losses and weights, a full disk during a checkpoint, SIGKILL at random moments."""

from __future__ import annotations

import errno
import multiprocessing
import os
import random
import resource
import signal
import time
from pathlib import Path

import pytest
import torch

from condgan.checkpoint import latest_checkpoint, load_state
from condgan.distributed import unwrap
from condgan.errors import CheckpointError, TrainingError
from condgan.inference.generate import load_generator
from condgan.training import train
from tests.conftest import tiny_config


def _quiet(message: str) -> None:
    pass


class _OnStep:
    """A callback that runs `action(trainer)` once, after generator step `step`."""

    def __init__(self, step: int, action):
        self.step, self.action = step, action

    def on_step_end(self, trainer) -> None:
        if trainer.step == self.step:
            self.action(trainer)


def _poison_generator(trainer) -> None:
    with torch.no_grad():
        next(unwrap(trainer.task.generator).parameters()).fill_(float("nan"))


def _checkpoint_files(run: Path) -> dict[str, bytes]:
    folder = latest_checkpoint(run)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _temporaries(run: Path) -> list[Path]:
    """Hidden (temporary) files and folders anywhere in the run directory."""
    return list(run.rglob(".*"))


# ---------------------------------------------------------------- NaN / inf
def test_nonfinite_loss_stops_with_one_message_and_keeps_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    config = tiny_config("train.steps=20", "train.checkpoint_every=2")
    with pytest.raises(TrainingError) as info:
        train(config, out=run, progress=False, log=_quiet, callbacks=[_OnStep(4, _poison_generator)])
    message = str(info.value)
    assert "\n" not in message
    assert "discriminator loss became nan at step 5" in message and "(step 4)" in message
    assert latest_checkpoint(run).name == "step_00000004"
    generator = load_generator(run, device="cpu", use_ema=False)
    assert all(torch.isfinite(p).all() for p in generator.module.parameters())
    assert len(generator.generate(labels=[1, 2], seed=0)) == 2
    train(tiny_config("train.steps=6"), out=run, resume=True, progress=False, log=_quiet)  # continues from it
    assert latest_checkpoint(run).name == "step_00000006"


def test_nonfinite_weights_are_never_checkpointed(tmp_path):
    def poison_ema(trainer):
        with torch.no_grad():
            next(trainer.ema.module.parameters()).fill_(float("inf"))

    run = tmp_path / "run"
    config = tiny_config("train.steps=20", "train.checkpoint_every=2")
    with pytest.raises(TrainingError, match=r"generator_ema weight .* not finite at step 4.*\(step 2\) is kept"):
        train(config, out=run, progress=False, log=_quiet, callbacks=[_OnStep(3, poison_ema)])
    assert latest_checkpoint(run).name == "step_00000002"
    assert not _temporaries(run)


class _NaNBatchOnce:
    """Delegates to a batch stream, but hands out one batch of NaN images."""

    def __init__(self, inner):
        self.inner, self.done = inner, False
        self.batches_per_epoch = inner.batches_per_epoch

    def __iter__(self):
        return self

    def __next__(self):
        images, labels = next(self.inner)
        if not self.done:
            self.done = True
            images = torch.full_like(images, float("nan"))
        return images, labels

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def _corrupt_next_batch(trainer) -> None:
    trainer.batches = _NaNBatchOnce(trainer.batches)


def test_skip_nonfinite_skips_bad_steps_and_says_so(tmp_path, capsys):
    import json

    run = tmp_path / "run"
    config = tiny_config("train.steps=8", "train.skip_nonfinite=2")
    train(config, out=run, progress=False, log=_quiet, callbacks=[_OnStep(3, _corrupt_next_batch)])
    err = capsys.readouterr().err
    assert "step 4: the discriminator loss is nan" in err and "1 of 2 allowed" in err
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert "d_loss" not in rows[3] and "g_loss" in rows[3]  # the D update of step 4 was skipped, G's was not
    assert all(isinstance(v, (int, float)) and v == v for r in rows for v in r.values())  # no NaN logged
    state = load_state(latest_checkpoint(run) / "state.pt")
    assert state["step"] == 8 and state["skipped_steps"] == 1

    with pytest.raises(TrainingError, match="discriminator loss became nan at step 4"):
        train(
            tiny_config("train.steps=8"), out=tmp_path / "strict", progress=False, log=_quiet,
            callbacks=[_OnStep(3, _corrupt_next_batch)],
        )  # fmt: skip


# ---------------------------------------------------------------- a full disk
def _trained_to_step_two(run: Path) -> dict[str, bytes]:
    train(tiny_config("train.steps=2", "train.checkpoint_every=2"), out=run, progress=False, log=_quiet)
    assert latest_checkpoint(run).name == "step_00000002"
    return _checkpoint_files(run)


def _assert_failed_cleanly(run: Path, before: dict[str, bytes], error: CheckpointError, reason: str) -> None:
    message = str(error)
    assert "\n" not in message and reason in message and "step_00000002 is intact" in message
    assert latest_checkpoint(run).name == "step_00000002"
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_00000002"
    assert _checkpoint_files(run) == before  # the previous checkpoint, byte for byte
    assert not _temporaries(run)  # no half-written folder left behind
    assert len(load_generator(run, device="cpu").generate(labels=[0], seed=0)) == 1


def test_disk_full_during_checkpoint_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    before = _trained_to_step_two(run)
    checkpoints = str((run / "checkpoints").resolve())
    room = {"bytes": 3_000_000}  # a disk with ~3 MB free: the next checkpoint (~15 MB) does not fit
    real_write = os.write

    def write_until_full(fd: int, data) -> int:
        if not os.readlink(f"/proc/self/fd/{fd}").startswith(checkpoints):
            return real_write(fd, data)
        if room["bytes"] <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = real_write(fd, bytes(data[: room["bytes"]]))
        room["bytes"] -= written
        return written

    monkeypatch.setattr(os, "write", write_until_full)
    with pytest.raises(CheckpointError) as info:
        train(tiny_config("train.steps=4"), out=run, resume=True, progress=False, log=_quiet)
    monkeypatch.undo()
    _assert_failed_cleanly(run, before, info.value, "No space left on device")
    train(tiny_config("train.steps=4"), out=run, resume=True, progress=False, log=_quiet)  # space freed: resumes
    assert latest_checkpoint(run).name == "step_00000004"


def test_file_size_limit_is_a_real_write_failure_handled_the_same(tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes past 1 MB (EFBIG): a real I/O failure, no mock."""
    run = tmp_path / "run"
    before = _trained_to_step_two(run)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, hard))
    try:
        with pytest.raises(CheckpointError) as info:
            train(tiny_config("train.steps=4"), out=run, resume=True, progress=False, log=_quiet)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    _assert_failed_cleanly(run, before, info.value, "File too large")


# ---------------------------------------------------------------- SIGKILL at random moments
TRAIN_ARGS = [
    "train", "--data", "digits", "--model", "mlp", "--conditioning", "concat", "--no-progress",
    "--set", "model.z_dim=16", "--batch-size", "32", "--set", "train.log_every=1",
    "--set", "train.sample_every=3", "--set", "train.checkpoint_every=1", "--set", "train.keep_checkpoints=2",
]  # fmt: skip


def _child_train(argv: list[str]) -> None:
    """A training process, forked from a server that has condgan imported (starts in ~0.1 s)."""
    import sys

    from condgan.cli import main

    sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    sys.exit(main(argv))


def _wait_for_new_checkpoint(run: Path, before: Path | None, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and latest_checkpoint(run) in (None, before):
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_a_loadable_run_that_resumes(tmp_path):
    run = tmp_path / "run"
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["condgan.cli", "condgan.training", "sklearn.datasets"])
    rng = random.Random(0)
    steps_seen, kills, mid_write, deadline = [], 0, 0, time.monotonic() + 240
    while kills < 15 and time.monotonic() < deadline:
        resumable = latest_checkpoint(run) is not None and (run / "config.json").is_file()
        where = ["--resume", str(run)] if resumable else ["--out", str(run), "--force"]
        argv = [*TRAIN_ARGS, "--steps", "100000", *where]
        before = latest_checkpoint(run)
        process = context.Process(target=_child_train, args=(argv,))
        process.start()
        if kills % 4 == 3:  # during start-up: loading, building, (re)writing the run directory
            time.sleep(rng.uniform(0.0, 1.0))
        else:  # once it is training: during a step, a sample picture or a checkpoint write
            _wait_for_new_checkpoint(run, before, timeout=30)
            time.sleep(rng.uniform(0.0, 1.0))
        os.kill(process.pid, signal.SIGKILL)
        process.join(30)
        assert process.exitcode == -signal.SIGKILL, "the training process ended before it was killed"
        kills += 1
        mid_write += any((run / "checkpoints").glob(".step_*.tmp")) if (run / "checkpoints").is_dir() else 0
        folder = latest_checkpoint(run)
        if folder is None:
            continue
        state = load_state(folder / "state.pt")  # the last complete checkpoint is whole and loads
        generator = load_generator(run, device="cpu")
        assert generator.generate(labels=[3], seed=0).shape == (1, 8, 8)
        steps_seen.append(int(state["step"]))
    assert kills >= 10, f"only {kills} kills in the time allowed"
    assert steps_seen and steps_seen == sorted(steps_seen) and steps_seen[-1] > 0, steps_seen
    assert len(set(steps_seen)) >= 3, f"too few kills landed during training: {steps_seen}"
    print(f"{kills} kills, {mid_write} in the middle of a checkpoint write; checkpoint steps {steps_seen}")

    last = int(load_state(latest_checkpoint(run) / "state.pt")["step"])
    messages: list[str] = []
    train(tiny_config(f"train.steps={last + 3}"), out=run, resume=True, progress=False, log=messages.append)
    assert f"resuming {run} from step {last}" in messages[0]
    assert latest_checkpoint(run).name == f"step_{last + 3:08d}"
    assert not _temporaries(run)
