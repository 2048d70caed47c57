"""The weight initialization of the reference pix2pix (`init_weights(net, 'normal', 0.02)`).

Convolutions (plain and transposed) and linear layers: weight ~ N(0, gain), bias 0;
BatchNorm: weight ~ N(1, gain), bias 0. Instance norm without affine parameters has nothing
to initialize. Draws come from torch's global generator, so `torch.manual_seed` fixes them.
"""

from __future__ import annotations

import torch
from torch import nn

INIT_GAIN = 0.02


@torch.no_grad()
def normal_init(module: nn.Module, gain: float = INIT_GAIN) -> nn.Module:
    """Re-initialize every layer of `module` in place as the reference does; return the module."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)
    return module
