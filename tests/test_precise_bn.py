"""precise_bn: batch-norm statistics recomputed for the weights they sit beside."""

import copy

import pytest
import torch
from torch import nn

from condgan.precise_bn import recalibrate_batch_norm
from condgan.training import train
from tests.conftest import tiny_config


def two_bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 8), nn.BatchNorm1d(8))


def batches(count: int = 3, size: int = 64):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 6, generator=generator) * 3 + 1,) for _ in range(count)]


def test_statistics_match_torchs_cumulative_average_in_training_mode():
    """Torch's own definition: train mode with momentum=None averages the batches' statistics."""
    net, data = two_bn_net(), batches()
    reference = copy.deepcopy(net).train()
    for layer in reference.modules():
        if isinstance(layer, nn.BatchNorm1d):
            layer.reset_running_stats()
            layer.momentum = None
    with torch.no_grad():
        for (x,) in data:
            reference(x)
    assert recalibrate_batch_norm(net, data) == 2
    assert not net.training
    for ours, theirs in zip(net.modules(), reference.modules(), strict=True):
        if isinstance(ours, nn.BatchNorm1d):
            torch.testing.assert_close(ours.running_mean, theirs.running_mean)
            torch.testing.assert_close(ours.running_var, theirs.running_var)


def test_eval_output_then_equals_the_training_output_on_that_batch():
    net, (batch,) = two_bn_net(), batches(1, 4096)
    with torch.no_grad():
        trained_mode = copy.deepcopy(net).train()(*batch)
        stale = net.eval()(*batch)  # fresh statistics (0, 1): far from this batch's
    recalibrate_batch_norm(net, [batch])
    with torch.no_grad():
        torch.testing.assert_close(net(*batch), trained_mode, atol=3e-3, rtol=0)  # eval keeps the unbiased var
    assert (stale - trained_mode).abs().max() > 0.5


def test_a_module_without_batch_norm_is_left_alone_and_no_batches_is_an_error():
    plain = nn.Linear(6, 2)
    assert recalibrate_batch_norm(plain, batches()) == 0
    net = two_bn_net()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError, match="at least one batch"):
        recalibrate_batch_norm(net, [])
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_a_failing_batch_leaves_the_statistics_as_they_were():
    net = two_bn_net()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(RuntimeError):
        recalibrate_batch_norm(net, [*batches(1), (torch.randn(4, 5),)])  # wrong width: fails in layer 1
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not any(layer._forward_pre_hooks for layer in net.modules())


def test_the_saved_ema_generator_has_statistics_of_its_own_weights(tmp_path):
    """The EMA weights differ from the raw ones; the saved EMA's BN statistics are recomputed for
    them on the task's calibration inputs, not copied from the raw generator."""
    from condgan.checkpoint import load_module_weights
    from condgan.inference.runs import load_config_of
    from condgan.models import build_generator
    from condgan.tasks.cgan import CGANTask

    run = train(tiny_config("train.steps=20", "train.ema_decay=0.9"), out=tmp_path / "r", progress=False,
                log=lambda m: None)  # fmt: skip
    config = load_config_of(run)
    step = sorted((run / "checkpoints").iterdir())[-1]
    raw, ema = build_generator(config), build_generator(config)
    load_module_weights(raw, step / "generator.safetensors")
    load_module_weights(ema, step / "generator_ema.safetensors")
    bn = "net.3.running_mean"  # the mlp G's first batch norm
    assert not torch.allclose(raw.state_dict()[bn], ema.state_dict()[bn])
    again = copy.deepcopy(ema)
    task = CGANTask(config, again, nn.Identity())
    recalibrate_batch_norm(again, task.calibration_batches(torch.device("cpu")))
    for key, value in ema.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value)
