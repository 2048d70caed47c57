"""Batch-norm statistics that belong to the weights they sit beside ("precise BN").

The EMA generator averages the generator's weights over the last ~1/(1-decay) steps, but its
batch-norm running statistics are copied from the raw generator: they describe the activations
of other weights. In eval mode every BN layer then normalises with slightly wrong numbers, and
samples lose quality. `recalibrate_batch_norm` recomputes them for the module as it is: it runs
the module on a few batches in eval mode while a hook on each BN layer first sets that layer's
running statistics to the statistics of its current input, so every layer normalises exactly as
in training and the next layer sees what it would in training, and keeps the average over the
batches (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021).

Eval mode throughout, so no layer talks to other processes (a synchronised BN is plain BN in eval
mode) and nothing else in the module changes: dropout stays off, no RNG is drawn.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_batch_norm(module: nn.Module, batches: Iterable[tuple]) -> int:
    """Set every BN layer's running mean/var to its average over `module(*batch)` for each batch; return
    the number of layers changed (0 = no BN layer: nothing runs). The module is left in eval mode."""
    layers = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not layers:
        return 0
    sums = {layer: [torch.zeros_like(layer.running_mean), torch.zeros_like(layer.running_var)] for layer in layers}

    def set_to_batch_statistics(layer: nn.modules.batchnorm._BatchNorm, inputs: tuple) -> None:
        x = inputs[0]
        dims = [0, *range(2, x.dim())]
        mean, var = x.mean(dims), x.var(dims, unbiased=False)
        layer.running_mean.copy_(mean)
        layer.running_var.copy_(var)  # normalise this batch as training does (biased variance)
        count = x.numel() / x.shape[1]
        sums[layer][0] += mean
        sums[layer][1] += var * (count / max(count - 1, 1))  # the running statistic keeps the unbiased one

    before = {layer: (layer.running_mean.clone(), layer.running_var.clone()) for layer in layers}
    hooks = [layer.register_forward_pre_hook(set_to_batch_statistics) for layer in layers]
    module.eval()
    count = 0
    try:
        for batch in batches:
            module(*batch)
            count += 1
        if count == 0:
            raise ValueError("recalibrate_batch_norm needs at least one batch")
    except BaseException:  # leave the statistics as they were, not those of a partial pass
        for layer, (mean, var) in before.items():
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
        raise
    finally:
        for hook in hooks:
            hook.remove()
    for layer, (mean_sum, var_sum) in sums.items():
        layer.running_mean.copy_(mean_sum / count)
        layer.running_var.copy_(var_sum / count)
    return len(layers)
