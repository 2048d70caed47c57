"""Mixed precision, channels-last and torch.compile wiring, exercised on the CPU where they run."""

from __future__ import annotations

import json

import pytest
import torch

from condgan.acceleration import Precision, prepare_task, resolve_precision
from condgan.checkpoint import latest_checkpoint, load_state
from condgan.distributed import unwrap
from condgan.errors import ConfigError
from condgan.training import build_task, train
from tests.conftest import tiny_config

CPU = torch.device("cpu")
DCGAN = ("model.generator=dcgan", "model.discriminator=dcgan", "model.g_width=8", "model.d_width=8",
         "data.image_size=28", "data.channels=1")  # fmt: skip


def _quiet(message: str) -> None:
    pass


def _losses(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_precision_choices():
    assert resolve_precision("auto", CPU) is None  # fp32 on the CPU unless asked
    assert resolve_precision("bf16", CPU) is torch.bfloat16
    assert resolve_precision("fp16", CPU) is torch.float16
    with pytest.raises(ConfigError, match="valid choices: auto, fp32, bf16, fp16"):
        resolve_precision("fp8", CPU)


def test_bf16_autocast_runs_layers_in_bf16_and_fp32_does_not():
    layer, x = torch.nn.Linear(4, 3), torch.randn(2, 4)
    with Precision(CPU, torch.bfloat16).autocast():
        assert layer(x).dtype == torch.bfloat16
    with Precision(CPU, None).autocast():
        assert layer(x).dtype == torch.float32
    assert not Precision(CPU, torch.bfloat16).scalers["g"].is_enabled()  # bf16 needs no loss scaling
    assert Precision(CPU, torch.float16).scalers["g"].is_enabled()


def test_bf16_training_on_cpu_stays_close_to_fp32(tmp_path):
    fp32 = train(tiny_config("train.steps=4"), out=tmp_path / "fp32", progress=False, log=_quiet)
    bf16 = train(tiny_config("train.steps=4", "train.precision=bf16"), out=tmp_path / "b", progress=False, log=_quiet)
    for a, b in zip(_losses(fp32), _losses(bf16), strict=True):
        assert a["d_loss"] != b["d_loss"]  # autocast really ran in bf16
        assert abs(a["d_loss"] - b["d_loss"]) < 0.05 and abs(a["g_loss"] - b["g_loss"]) < 0.05


def test_fp16_with_gradient_scaler_trains_checkpoints_and_resumes(tmp_path):
    run = tmp_path / "fp16"
    train(tiny_config("train.steps=3", "train.precision=fp16"), out=run, progress=False, log=_quiet)
    state = load_state(latest_checkpoint(run) / "state.pt")
    assert set(state["grad_scalers"]) == {"d", "g"} and state["grad_scalers"]["g"]["scale"] > 0
    train(tiny_config("train.steps=5"), out=run, resume=True, progress=False, log=_quiet)
    rows = _losses(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(abs(r["d_loss"]) < 10 for r in rows)


def test_channels_last_changes_the_layout_not_the_numbers(tmp_path):
    layouts = []

    class Record:
        def on_step_end(self, trainer):
            weight = unwrap(trainer.task.generator).to_image.weight
            layouts.append(weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous())

    plain = train(tiny_config("train.steps=3", *DCGAN), out=tmp_path / "plain", progress=False, log=_quiet)
    nhwc = train(
        tiny_config("train.steps=3", "train.channels_last=true", *DCGAN), out=tmp_path / "nhwc", progress=False,
        log=_quiet, callbacks=[Record()],
    )  # fmt: skip
    assert layouts == [True, True, True]
    for a, b in zip(_losses(plain), _losses(nhwc), strict=True):
        assert abs(a["d_loss"] - b["d_loss"]) < 1e-4 and abs(a["g_loss"] - b["g_loss"]) < 1e-4


def test_compile_flag_wraps_both_models_and_checkpoints_keep_plain_names():
    """torch.compile itself is measured by benchmarks/gpu_throughput.py (on this 2-core CPU its
    first step takes minutes); here: the flag wires through and nothing downstream sees the wrapper."""
    from condgan.trainer import Trainer

    config = tiny_config("train.compile=true")
    config = config.replace(data={"image_size": 8, "channels": 1, "class_names": [str(i) for i in range(10)]},
                            model={"num_classes": 10})  # fmt: skip
    task = build_task(config, CPU)
    plain_keys = {name: set(module.state_dict()) for name, module in task.modules().items()}
    prepare_task(task, config.train, CPU)
    assert all(hasattr(module, "_orig_mod") for module in task.modules().values())
    trainer = Trainer(task, config.train, "unused", iter(()), progress=False)
    assert {name: set(tensors) for name, tensors in trainer.weights().items() if name != "generator_ema"} == plain_keys
    assert set(trainer.weights()["generator_ema"]) == plain_keys["generator"]


@pytest.mark.slow
def test_gpu_benchmark_script_runs_with_one_command_on_cpu():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_throughput.py"
    command = [sys.executable, str(script), "--device", "cpu", "--quick", "--recipes", "dcgan",
               "--variants", "fp32,amp,channels_last"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| dcgan | channels_last | 64 | float32 |" in done.stdout
    if not torch.cuda.is_available():  # the default (GPU) run says why it cannot run here
        refused = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
        assert refused.returncode != 0 and "no CUDA GPU visible" in refused.stderr
