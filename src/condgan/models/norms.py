"""Normalization choices of the pix2pix networks ("batch" | "instance" | "none").

They follow the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix) so that its
checkpoints load unchanged:

- "batch":    BatchNorm2d(affine=True, track_running_stats=True); its state is weight, bias,
              running_mean, running_var, num_batches_tracked.
- "instance": InstanceNorm2d(affine=False, track_running_stats=False); no state at all.
- "none":     Identity.

The reference gives a convolution followed by a norm layer a bias only when the norm is
"instance" (batch norm's shift makes a bias redundant; "none" gets no bias either, a quirk of
the reference that we keep so its checkpoints fit). `conv_bias(norm)` states that rule once.
"""

from __future__ import annotations

from torch import nn

NORMS = ("batch", "instance", "none")


def check_norm(kind: str) -> None:
    """Raise ValueError naming the valid choices when `kind` is not one of NORMS."""
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; valid choices: {', '.join(NORMS)}")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalization layer over `channels` feature maps, as the reference builds it."""
    check_norm(kind)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias(kind: str) -> bool:
    """Whether a convolution followed by a `kind` norm layer has a bias (only for "instance")."""
    check_norm(kind)
    return kind == "instance"


def check_image_input(module, source, in_channels: int, multiple: int, detail: str = "") -> None:
    """ValueError unless `source` is (B, in_channels, H, W) with H and W multiples of `multiple`."""
    name, shape = type(module).__name__, tuple(source.shape)
    if source.ndim != 4 or shape[1] != in_channels:
        raise ValueError(f"{name} expects images of shape (B, {in_channels}, H, W), got {shape}")
    height, width = shape[-2:]
    if height % multiple or width % multiple:
        raise ValueError(
            f"{name}{detail} needs height and width divisible by {multiple}, got {height}x{width}; "
            f"resize or crop to a multiple of {multiple}"
        )
