"""Mixed precision, channels-last and torch.compile wiring, exercised on the CPU where they run."""

from __future__ import annotations

import json

import pytest
import torch

from condgan import acceleration
from condgan.acceleration import Precision, cpu_has_amx, prepare_task, resolve_precision
from condgan.checkpoint import latest_checkpoint, load_state
from condgan.distributed import unwrap
from condgan.errors import ConfigError
from condgan.training import build_task, train
from tests.conftest import tiny_config

CPU = torch.device("cpu")
DCGAN_NETS = ("model.generator=dcgan", "model.discriminator=dcgan", "model.g_width=8", "model.d_width=8",
              "data.image_size=28", "data.channels=1")  # fmt: skip
DCGAN = (*DCGAN_NETS, "train.precision=fp32")  # fp32 wherever the CPU is: auto would pick bf16 on AMX


def _quiet(message: str) -> None:
    pass


def _losses(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _curves(run) -> list[tuple[float, float]]:
    return [(row["d_loss"], row["g_loss"]) for row in _losses(run)]


def test_precision_choices():
    assert resolve_precision("auto", CPU) is None  # fp32 on the CPU unless asked
    assert resolve_precision("bf16", CPU) is torch.bfloat16
    assert resolve_precision("fp16", CPU) is torch.float16
    with pytest.raises(ConfigError, match="valid choices: auto, fp32, bf16, fp16"):
        resolve_precision("fp8", CPU)


def test_auto_picks_bf16_on_the_cpu_only_for_a_task_that_gains_and_only_with_amx(monkeypatch):
    for has_amx in (False, True):
        monkeypatch.setattr(acceleration, "cpu_has_amx", lambda has_amx=has_amx: has_amx)
        assert resolve_precision("auto", CPU, bf16_on_amx=True) is (torch.bfloat16 if has_amx else None)
        assert resolve_precision("auto", CPU, bf16_on_amx=False) is None
        assert resolve_precision("fp32", CPU, bf16_on_amx=True) is None  # asked for: always honoured


def test_cpu_has_amx_agrees_with_the_kernel_flags():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), None)
    except OSError:
        flags = None
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags on this machine")
    assert cpu_has_amx() == ("amx_tile" in flags and "amx_bf16" in flags)


def test_which_tasks_take_bf16_on_amx():
    from condgan.tasks import CycleGANTask, Pix2PixTask

    def task(*overrides):
        config = tiny_config(*overrides).replace(model={"num_classes": 10})
        return build_task(config.replace(data={"class_names": [str(i) for i in range(10)]}), CPU)

    assert task(*DCGAN).bf16_on_amx  # the default recipe's networks: measured to gain
    assert not task().bf16_on_amx  # the seed's MLP: bf16 gains nothing there
    assert not Pix2PixTask.bf16_on_amx and not CycleGANTask.bf16_on_amx  # not measured there: fp32


def test_auto_trains_the_convolutional_cgan_in_bf16_on_an_amx_cpu(tmp_path, monkeypatch):
    """With AMX (real on this CPU, or stood in for where it is missing, as the rule reads the flag
    only): the run says so on its log, and its losses are the bf16 run's, not fp32's."""
    monkeypatch.setattr(acceleration, "cpu_has_amx", lambda: True)
    messages = []
    auto = train(tiny_config("train.steps=3", *DCGAN_NETS), out=tmp_path / "auto", progress=False,
                 log=messages.append)  # fmt: skip
    bf16 = train(tiny_config("train.steps=3", *DCGAN_NETS, "train.precision=bf16"), out=tmp_path / "bf16",
                 progress=False, log=_quiet)  # fmt: skip
    assert any("train.precision=auto: bf16 autocast" in m for m in messages)
    assert _curves(auto) == _curves(bf16)
    monkeypatch.setattr(acceleration, "cpu_has_amx", lambda: False)
    messages.clear()
    plain = train(tiny_config("train.steps=3", *DCGAN_NETS), out=tmp_path / "plain", progress=False,
                  log=messages.append)  # fmt: skip
    assert not any("bf16" in m for m in messages)
    assert _curves(plain) == _curves(train(tiny_config("train.steps=3", *DCGAN), out=tmp_path / "fp32",
                                           progress=False, log=_quiet))  # fmt: skip


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
