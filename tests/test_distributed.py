"""DDP under torchrun on the CPU (gloo, 2 processes): equivalence with one process, a dead rank, resume.

What makes 2 processes x batch B equal 1 process x batch 2B here (the tolerance is 1e-4 on every
logged number and on the weights; the runs agree to ~1e-6, float summation order being the only
difference):
- data: rank r takes items r, r+2, ... of the same epoch permutation, so the two shards of batch
  i together are exactly batch i of the single process (checked directly below);
- noise: z is drawn for the global batch and each rank takes its rows (distributed.batch_noise);
- batch norm: the MLP generator has BatchNorm1d, so `train.sync_batchnorm` (statistics over the
  global batch; CPUSyncBatchNorm on gloo) — without it each rank normalises by its own half;
- gradients: DDP averages them, and the logged numbers are averaged over ranks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from condgan.checkpoint import latest_checkpoint, load_state, load_weights
from condgan.data.loader import InMemoryBatches
from condgan.distributed import CPUSyncBatchNorm, _convert_cpu, rescale_loader_state
from condgan.models.mlp import MLPGenerator
from condgan.training import train
from tests.conftest import tiny_cli_args, tiny_config

TOLERANCE = 1e-4
BASE = ["train", *tiny_cli_args(), "--no-progress"]  # the recipe of tiny_config, so the two compare


def _torchrun(args: list[str], **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "condgan", *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- fast checks of the pieces
def test_shards_of_two_ranks_make_the_single_process_batch():
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    labels = torch.arange(100)
    single = InMemoryBatches((images, labels), 10, seed=3)
    ranks = [InMemoryBatches((images, labels), 5, seed=3, rank=r, world_size=2) for r in (0, 1)]
    assert single.batches_per_epoch == ranks[0].batches_per_epoch == 10
    for _ in range(25):  # across epoch boundaries
        expected = set(next(single)[1].tolist())
        combined = set(next(ranks[0])[1].tolist()) | set(next(ranks[1])[1].tolist())
        assert combined == expected


def test_resume_with_another_world_size_keeps_the_items_seen():
    state = {"epoch": 3, "position": 7}
    assert rescale_loader_state(state, 2, 2) == state
    assert rescale_loader_state(state, 2, 1) == {"epoch": 3, "position": 14}  # 7 x 2 x B items seen = 14 x B
    assert rescale_loader_state(state, 1, 2) == {"epoch": 3, "position": 3}  # 7 batches -> 3.5: none skipped
    assert rescale_loader_state(state, 2, 4) == {"epoch": 3, "position": 3}


def test_each_rank_resumes_its_own_task_state_and_another_world_size_is_said(capsys):
    """The trainer gives rank r saved rank r's task state (CycleGAN's pools); with another world size the
    extra ranks start afresh or the extra saved states are dropped, in one warning line. This process is
    rank 0; tests/test_cyclegan_task.py resumes a real 2-rank run."""
    from types import SimpleNamespace

    from condgan.trainer import Trainer

    def resume(state: dict, world_size: int) -> tuple[list, str]:
        loaded: list = []
        trainer = SimpleNamespace(task=SimpleNamespace(load_state_dict=loaded.append), world_size=world_size,
                                  is_main=True)  # fmt: skip
        Trainer._load_task_state(trainer, state)
        return loaded, capsys.readouterr().err

    two = {"task_per_rank": [{"pool": 0}, {"pool": 1}], "world_size": 2}
    assert resume(two, 2) == ([{"pool": 0}], "")
    loaded, err = resume(two, 1)
    assert loaded == [{"pool": 0}] and err.count("\n") == 1
    assert err.startswith("condgan: warning:") and "that of saved rank 1 is dropped" in err
    loaded, err = resume({"task_per_rank": [{"pool": 0}], "world_size": 1}, 3)
    assert loaded == [{"pool": 0}] and "ranks 1-2 start with a fresh one" in err
    assert resume({"task": {"pool": 0}, "world_size": 1}, 1) == ([{"pool": 0}], "")  # a checkpoint from before
    assert resume({"task_per_rank": [{}, {}], "world_size": 2}, 1) == ([{}], "")  # no pools: nothing to lose


def test_cpu_sync_batchnorm_keeps_the_state_dict_and_is_plain_batchnorm_in_one_process():
    torch.manual_seed(0)
    plain = MLPGenerator(z_dim=8, num_classes=3, image_size=4, channels=1)
    converted = _convert_cpu(MLPGenerator(z_dim=8, num_classes=3, image_size=4, channels=1))
    converted.load_state_dict(plain.state_dict())  # same keys and shapes
    assert sum(isinstance(m, CPUSyncBatchNorm) for m in converted.modules()) == 3
    z, labels = torch.randn(16, 8), torch.arange(16) % 3
    torch.testing.assert_close(converted(z, labels), plain(z, labels))  # no process group: plain batch norm
    torch.testing.assert_close(converted.state_dict(), plain.state_dict())  # running stats updated alike


# ---------------------------------------------------------------- torchrun, 2 processes
@pytest.mark.slow
def test_two_processes_with_batch_b_match_one_process_with_batch_2b(tmp_path):
    steps = 8
    two = tmp_path / "two"
    process = _torchrun([*BASE, "--set", "train.batch_size=16", "--steps", str(steps),
                         "--set", "train.sync_batchnorm=true", "--out", str(two)])  # fmt: skip
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    one = train(tiny_config("train.batch_size=32", f"train.steps={steps}"), out=tmp_path / "one", progress=False,
                log=lambda m: None)  # fmt: skip
    half = train(tiny_config("train.batch_size=16", f"train.steps={steps}"), out=tmp_path / "half", progress=False,
                 log=lambda m: None)  # fmt: skip

    rows_two, rows_one, rows_half = _rows(two), _rows(one), _rows(half)
    assert [r["step"] for r in rows_two] == list(range(1, steps + 1))  # one writer: no duplicated rows
    keys = ("d_loss", "g_loss", "d_real", "d_fake")
    worst = max(abs(a[k] - b[k]) for a, b in zip(rows_two, rows_one, strict=True) for k in keys)
    assert worst < TOLERANCE, worst
    control = max(abs(a[k] - b[k]) for a, b in zip(rows_half, rows_one, strict=True) for k in keys)
    assert control > 100 * TOLERANCE  # the comparison can tell batch 16 from batch 32

    for name in ("generator", "generator_ema", "discriminator"):
        a = load_weights(latest_checkpoint(two) / f"{name}.safetensors")
        b = load_weights(latest_checkpoint(one) / f"{name}.safetensors")
        assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) < TOLERANCE
    assert load_state(latest_checkpoint(two) / "state.pt")["world_size"] == 2
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())  # same outputs, once


def _checkpoint_step(run: Path) -> int:
    folder = latest_checkpoint(run)
    return int(folder.name.split("_")[1]) if folder else -1


def _rank_pid(parent: int, rank: int) -> int | None:
    """The pid of torchrun's worker with RANK=`rank` (a child of the torchrun process)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry.name)
    return None


@pytest.mark.slow
def test_a_killed_rank_stops_the_others_with_a_clear_error_and_the_run_resumes_with_one_process(tmp_path):
    run = tmp_path / "run"
    process = _torchrun([*BASE, "--set", "train.batch_size=16", "--steps", "100000", "--set",
                         "train.checkpoint_every=5", "--set", "train.dist_timeout=60", "--out", str(run)])  # fmt: skip
    try:
        end = time.monotonic() + 180
        while time.monotonic() < end and _checkpoint_step(run) < 10:
            assert process.poll() is None, process.communicate()[1][-3000:]
            time.sleep(0.1)
        victim = _rank_pid(process.pid, 1)
        assert victim is not None, "rank 1 not found"
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert time.monotonic() - killed_at < 60  # the survivor did not wait for a timeout
    assert process.returncode != 0
    ours = [line for line in err.splitlines() if line.startswith("condgan: error:")]
    assert len(ours) == 1, err[-3000:]
    assert "rank 0: lost contact with the other training processes" in ours[0] and "--resume" in ours[0]
    assert "SIGKILL" in err  # torchrun's summary names the rank that died and how

    saved = load_state(latest_checkpoint(run) / "state.pt")
    step, position, epoch = saved["step"], saved["batches"]["position"], saved["batches"]["epoch"]
    messages: list[str] = []
    train(tiny_config(f"train.steps={step + 4}"), out=run, resume=True, progress=False, log=messages.append)
    assert f"resuming {run} from step {step}" in messages[0]
    resumed = load_state(latest_checkpoint(run) / "state.pt")
    assert resumed["step"] == step + 4 and resumed["world_size"] == 1
    batches_per_epoch = 1437 // 16  # digits train split, one process, batch 16
    position = position * 2  # the same items seen, now in batches of one process
    for _ in range(4):
        if position >= batches_per_epoch:
            epoch, position = epoch + 1, 0
        position += 1
    assert resumed["batches"] == {"epoch": epoch, "position": position}
    assert [r["step"] for r in _rows(run)] == list(range(1, step + 5))  # the log continues without a gap


@pytest.mark.slow
def test_pix2pix_trains_under_torchrun_with_sync_batchnorm(tmp_path):
    from condgan.data.make_pairs import make_pairs

    pairs = make_pairs("fashion-mnist", "edges", 32, tmp_path / "edges", limit=32)
    run = tmp_path / "p2p"
    process = _torchrun(["train", "--set", "task=pix2pix", "--data", f"aligned:{pairs}", "--set", "model.g_width=8",
                         "--set", "model.d_width=8", "--batch-size", "4", "--steps", "4", "--set", "train.log_every=1",
                         "--set", "train.sample_every=2", "--set", "train.sync_batchnorm=true", "--no-progress",
                         "--out", str(run)])  # fmt: skip
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    assert [r["step"] for r in _rows(run)] == [1, 2, 3, 4] and all("l1" in r for r in _rows(run))
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    assert load_state(latest_checkpoint(run) / "state.pt")["world_size"] == 2
