"""Inference-time folding: one class's generator as a plain network of z alone.

In eval mode a batch norm is a fixed per-channel affine map, x * scale + shift, and a conditional
batch norm is such a map for each class. For images of one class both fold into the weights of the
layer before them, conv(x, W) * scale + shift = conv(x, W * scale) + shift, and a one-hot label
concatenated to z folds into the first layer's bias. What is left is the matrix products and
convolutions with their activations: no normalisation pass and no per-sample scale and shift over
the activations, which with the ReLU took two thirds of the dcgan generator's bf16 sampling time.

`generate.ClassConditionalGenerator` samples each class with its folded network. The folded
networks give the module's own eval-mode images up to float rounding (tests/test_folding.py).
On the CPU each layer's ReLU runs inside its oneDNN matrix product or convolution (`WithReLU`).
"""

from __future__ import annotations

import torch
from torch import nn


def norm_affine(norm: nn.Module, label: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), each (C,): what the eval-mode `norm` does to channel c of class `label`'s images.

    `norm` is an nn.BatchNorm1d/2d or a layers.ConditionalBatchNorm2d (then `label` picks the class)."""
    inner = getattr(norm, "norm", norm)  # ConditionalBatchNorm2d keeps its normalisation in .norm
    if inner.running_mean is None:
        raise ValueError("a batch norm without running statistics normalises by the batch; it cannot be folded")
    scale = torch.rsqrt(inner.running_var + inner.eps)
    shift = -inner.running_mean * scale
    if inner.affine:
        scale, shift = scale * inner.weight, shift * inner.weight + inner.bias
    if inner is not norm:  # the class's own scale and shift, applied after the normalisation
        if label is None:
            raise ValueError("a conditional batch norm needs a class to fold")
        class_scale, class_shift = norm.scale.weight[label], norm.shift.weight[label]
        scale, shift = scale * class_scale, shift * class_scale + class_shift
    return scale, shift


def folded_linear(
    linear: nn.Linear,
    scale: torch.Tensor | None = None,
    shift: torch.Tensor | None = None,
    *,
    z_dim: int = 0,
    label: int | None = None,
) -> nn.Linear:
    """A new nn.Linear computing `linear(x) * scale + shift` (no scale: `linear(x)`).

    With `z_dim`, `linear` reads [z, onehot(label)] and the new layer reads z alone: the label's
    column joins the bias (no label: an unconditional layer, only z's columns are kept)."""
    weight, bias = linear.weight, linear.bias if linear.bias is not None else torch.zeros(linear.out_features)
    if z_dim:
        weight, bias = linear.weight[:, :z_dim], bias + (linear.weight[:, z_dim + label] if label is not None else 0)
    if scale is not None:
        weight, bias = weight * scale[:, None], bias * scale + shift
    out = nn.utils.skip_init(nn.Linear, weight.shape[1], weight.shape[0])
    out.weight.data.copy_(weight)
    out.bias.data.copy_(bias)
    return out


def folded_conv(conv: nn.Conv2d | nn.ConvTranspose2d, scale: torch.Tensor, shift: torch.Tensor) -> nn.Module:
    """A copy of `conv` (with a bias) computing `conv(x) * scale + shift` per output channel."""
    transposed = isinstance(conv, nn.ConvTranspose2d)
    # output channels are dim 1 of a transposed convolution's weight (C_in, C_out, kh, kw), else dim 0
    weight = conv.weight * (scale[None, :, None, None] if transposed else scale[:, None, None, None])
    bias = shift if conv.bias is None else conv.bias * scale + shift
    kind = nn.ConvTranspose2d if transposed else nn.Conv2d
    extra = {"output_padding": conv.output_padding} if transposed else {}
    out = nn.utils.skip_init(
        kind, conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, **extra
    )
    out.weight.data.copy_(weight)
    out.bias.data.copy_(bias)
    return out


def _fused_kernels() -> dict[type, object] | None:
    """oneDNN's layer + ReLU kernels, the ones torch.compile's CPU backend fuses into (None if absent, or if
    this CPU has no bfloat16 support in oneDNN: on an AVX2-only CPU they fail to build a bf16 primitive,
    while the plain layers still run bf16 through ATen's own kernels)."""
    try:
        ops = torch.ops.mkldnn
        if not ops._is_mkldnn_bf16_supported():
            return None
        return {
            nn.Linear: ops._linear_pointwise,
            nn.Conv2d: ops._convolution_pointwise,
            nn.ConvTranspose2d: ops._convolution_transpose_pointwise,
        }
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return None


FUSED_KERNELS = _fused_kernels()


class WithReLU(nn.Module):
    """relu(layer(x)) for an nn.Linear, nn.Conv2d or nn.ConvTranspose2d, inference only.

    On the CPU, without autograd, in bfloat16, the ReLU runs as a post-op of oneDNN's kernel while
    the output is still in cache, instead of in a second pass over memory (ad-hoc timing: 0.3-0.4 ms
    of 1.5 per transposed convolution of a dcgan class batch). Elsewhere relu_(layer(x)): in float32
    the fused kernel made the dcgan's first transposed convolution 3x slower (ad-hoc: 28.9 ms
    against 9.8)."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def fused(self, x: torch.Tensor) -> bool:
        """Whether forward(x) takes oneDNN's fused kernel."""
        return (
            FUSED_KERNELS is not None
            and x.device.type == "cpu"
            and x.dtype == torch.bfloat16 == self.layer.weight.dtype
            and not torch.is_grad_enabled()
            and torch.backends.mkldnn.is_available()
            and torch.backends.mkldnn.enabled
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fused(x):
            return torch.relu_(self.layer(x))
        layer, kernel = self.layer, FUSED_KERNELS[type(self.layer)]
        if isinstance(layer, nn.Linear):
            return kernel(x, layer.weight, layer.bias, "relu", [], "")
        geometry = [layer.padding, layer.stride, layer.dilation]
        if isinstance(layer, nn.ConvTranspose2d):
            geometry = [layer.padding, layer.output_padding, layer.stride, layer.dilation]
        return kernel(x, layer.weight, layer.bias, *geometry, layer.groups, "relu", [], "")


class ChannelsLastUnflatten(nn.Module):
    """(B, H*W*C) whose features run pixel by pixel -> (B, C, H, W) in channels-last memory, no copy."""

    def __init__(self, channels: int, height: int, width: int):
        super().__init__()
        self.shape = (height, width, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1, *self.shape).permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
