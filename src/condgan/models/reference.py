"""Load checkpoints of the reference pix2pix (junyanz/pytorch-CycleGAN-and-pix2pix) into our networks.

`reference_generator` / `reference_discriminator` build our module for the reference's
`define_G` / `define_D` options; `read_reference_checkpoint` reads a `latest_net_G.pth`;
`load_reference_state_dict` puts its tensors into our module.

Key mapping, and why it is explicit: the reference nests its U-Net recursively
(`model.model.1.model.3.model.3...`) and numbers every layer of its Sequentials, activations
and padding included, so its key names shift with depth, padding type and dropout. Copying
those names would force that structure on our modules. Instead our modules keep readable names
(`down_blocks.3.norm.running_mean`) and this file lists which reference layer each of ours is;
parameter and buffer names (weight, bias, running_mean, ...) are the same on both sides.

    UNetGenerator        level 0:    down_blocks.0.conv -> model.model.0, up_blocks.0.conv -> model.model.3
      level i >= 1 lives in P = "model.model.1." + "model.3." * (i - 1) + "model.":
                         0 < i < n-1: down conv, down norm, up conv, up norm -> P1, P2, P5, P6
                         i = n-1:     down conv, up conv, up norm            -> P1, P3, P4
    ResnetGenerator      stem.conv/norm -> model.1/2, downsample.i -> model.(4+3i)/(5+3i),
                         blocks.b -> model.(10+b).conv_block.k (k shifts with padding layers
                         and dropout), upsample.i -> model.(10+N+3i)/(11+N+3i), head -> model.(17+N)
    PatchDiscriminator   layers.0.conv -> model.0, layers.k.conv/norm -> model.(3k-1)/(3k),
                         head -> model.(3n+2)
    PixelDiscriminator   layers.0.conv -> net.0, layers.1.conv/norm -> net.2/3, head -> net.5

Loading checks every key and shape, both ways, before it copies anything.

CycleGAN: the reference's `cycle_gan` model saves G_A (A -> B) as `latest_net_G_A.pth` and G_B
(B -> A) as `latest_net_G_B.pth`, both built by the same `define_G` as pix2pix's G (so the same key
layout), with its own defaults (CYCLEGAN_OPTIONS: resnet_9blocks, instance norm, no dropout);
G_B has G_A's ngf and maps G_A's output channels back to its input channels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from condgan.errors import CheckpointError
from condgan.models.patchgan import PatchDiscriminator, PixelDiscriminator
from condgan.models.resnet import ResnetGenerator
from condgan.models.unet import UNetGenerator

UNET_DEPTHS = {"unet_32": 5, "unet_64": 6, "unet_128": 7, "unet_256": 8}
RESNET_BLOCKS = {"resnet_6blocks": 6, "resnet_9blocks": 9}
GENERATORS = (*UNET_DEPTHS, *RESNET_BLOCKS)
DISCRIMINATORS = ("basic", "n_layers", "pixel")
INSTANCE_NORM_LEGACY = ("running_mean", "running_var", "num_batches_tracked")
REFERENCE_WIDTHS = {"ngf": 64, "input_nc": 3, "output_nc": 3}  # the reference's --ngf, --input_nc, --output_nc
# the generator options the reference's cycle_gan model trains with unless told otherwise (its
# options/base_options.py defaults, and --no_dropout set in models/cycle_gan_model.py)
CYCLEGAN_OPTIONS = {"netG": "resnet_9blocks", "norm": "instance", "dropout": False}


def reference_generator(
    netG: str, input_nc: int, output_nc: int, ngf: int = 64, norm: str = "batch", use_dropout: bool = False
) -> nn.Module:
    """Our generator for the reference's `define_G(input_nc, output_nc, ngf, netG, norm, use_dropout)`."""
    if netG in UNET_DEPTHS:
        return UNetGenerator(
            in_channels=input_nc, out_channels=output_nc, num_downs=UNET_DEPTHS[netG],
            width=ngf, norm=norm, dropout=use_dropout,
        )  # fmt: skip
    if netG in RESNET_BLOCKS:
        return ResnetGenerator(
            in_channels=input_nc, out_channels=output_nc, width=ngf, norm=norm, dropout=use_dropout,
            num_blocks=RESNET_BLOCKS[netG], padding="reflect",
        )  # fmt: skip
    raise ValueError(f"unknown netG {netG!r}; valid choices: {', '.join(GENERATORS)}")


def reference_discriminator(
    netD: str, input_nc: int, ndf: int = 64, n_layers_D: int = 3, norm: str = "batch"
) -> nn.Module:
    """Our discriminator for the reference's `define_D(input_nc, ndf, netD, n_layers_D, norm)`."""
    if netD == "basic":
        return PatchDiscriminator(in_channels=input_nc, width=ndf, n_layers=3, norm=norm)
    if netD == "n_layers":
        return PatchDiscriminator(in_channels=input_nc, width=ndf, n_layers=n_layers_D, norm=norm)
    if netD == "pixel":
        return PixelDiscriminator(in_channels=input_nc, width=ndf, norm=norm)
    raise ValueError(f"unknown netD {netD!r}; valid choices: {', '.join(DISCRIMINATORS)}")


def found_widths(state: Mapping[str, torch.Tensor], netG: str) -> dict[str, int]:
    """ngf, input_nc and output_nc as a generator checkpoint's first and last layers have them: only those
    it has (a checkpoint of another network may have neither layer)."""
    if netG in UNET_DEPTHS:
        first, last, out_axis = state.get("model.model.0.weight"), state.get("model.model.3.weight"), 1
    elif netG in RESNET_BLOCKS:
        first, last, out_axis = state.get("model.1.weight"), state.get(f"model.{17 + RESNET_BLOCKS[netG]}.weight"), 0
    else:
        raise ValueError(f"unknown netG {netG!r}; valid choices: {', '.join(GENERATORS)}")
    found = {}
    if first is not None and first.ndim == 4:
        found["ngf"], found["input_nc"] = int(first.shape[0]), int(first.shape[1])
    if last is not None and last.ndim == 4:  # a ConvTranspose2d (U-Net) keeps its output channels on axis 1
        found["output_nc"] = int(last.shape[out_axis])
    return found


def checkpoint_widths(state: Mapping[str, torch.Tensor], netG: str) -> dict[str, int]:
    """ngf, input_nc and output_nc as the checkpoint's first and last layers have them (the reference's
    defaults for any it does not have; the loader then names the mismatch)."""
    return {**REFERENCE_WIDTHS, **found_widths(state, netG)}


# --- which reference layer each of our layers is: {our module path: reference module path} ---


def _unet_layers(model: UNetGenerator) -> dict[str, str]:
    innermost = model.num_downs - 1
    names = {"down_blocks.0.conv": "model.model.0", "up_blocks.0.conv": "model.model.3"}
    for level in range(1, model.num_downs):
        prefix = "model.model.1." + "model.3." * (level - 1) + "model."
        names[f"down_blocks.{level}.conv"] = prefix + "1"
        if level == innermost:
            names[f"up_blocks.{level}.conv"] = prefix + "3"
            names[f"up_blocks.{level}.norm"] = prefix + "4"
        else:
            names[f"down_blocks.{level}.norm"] = prefix + "2"
            names[f"up_blocks.{level}.conv"] = prefix + "5"
            names[f"up_blocks.{level}.norm"] = prefix + "6"
    return names


def _resnet_layers(model: ResnetGenerator) -> dict[str, str]:
    n = model.num_blocks
    names = {"stem.conv": "model.1", "stem.norm": "model.2", "head.conv": f"model.{17 + n}"}
    for i in range(2):  # [conv, norm, ReLU] x 2 at 4 and 7, and again after the N blocks
        down, up = 4 + 3 * i, 10 + n + 3 * i
        names[f"downsample.{i}.conv"], names[f"downsample.{i}.norm"] = f"model.{down}", f"model.{down + 1}"
        names[f"upsample.{i}.conv"], names[f"upsample.{i}.norm"] = f"model.{up}", f"model.{up + 1}"
    pad = 0 if model.padding == "zero" else 1  # the reference's separate padding layer before each conv
    conv1 = pad  # [pad] conv1 norm1 relu [dropout] [pad] conv2 norm2
    conv2 = conv1 + 3 + int(model.dropout) + pad
    for b in range(n):
        block = f"model.{10 + b}.conv_block."
        names[f"blocks.{b}.conv1"], names[f"blocks.{b}.norm1"] = block + str(conv1), block + str(conv1 + 1)
        names[f"blocks.{b}.conv2"], names[f"blocks.{b}.norm2"] = block + str(conv2), block + str(conv2 + 1)
    return names


def _patch_layers(model: PatchDiscriminator) -> dict[str, str]:
    names = {"layers.0.conv": "model.0", "head": f"model.{3 * model.n_layers + 2}"}
    for k in range(1, model.n_layers + 1):
        names[f"layers.{k}.conv"], names[f"layers.{k}.norm"] = f"model.{3 * k - 1}", f"model.{3 * k}"
    return names


def _pixel_layers(model: PixelDiscriminator) -> dict[str, str]:
    return {"layers.0.conv": "net.0", "layers.1.conv": "net.2", "layers.1.norm": "net.3", "head": "net.5"}


class _Architecture(NamedTuple):
    layer_names: Callable[[Any], dict[str, str]]  # model -> {our layer path: reference layer path}
    width_options: str  # reference options that set layer shapes
    layout_options: str  # reference options that add, remove or move layers


_ARCHITECTURES: dict[type, _Architecture] = {
    UNetGenerator: _Architecture(_unet_layers, "--ngf/--input_nc/--output_nc", "--netG"),
    ResnetGenerator: _Architecture(_resnet_layers, "--ngf/--input_nc/--output_nc", "--netG/--use_dropout"),
    PatchDiscriminator: _Architecture(_patch_layers, "--ndf/--input_nc/--n_layers_D", "--netD/--n_layers_D"),
    PixelDiscriminator: _Architecture(_pixel_layers, "--ndf/--input_nc", "--netD"),
}


def _architecture(model: nn.Module) -> _Architecture:
    if type(model) not in _ARCHITECTURES:
        valid = ", ".join(cls.__name__ for cls in _ARCHITECTURES)
        raise TypeError(f"no reference key mapping for {type(model).__name__}; mapped models: {valid}")
    return _ARCHITECTURES[type(model)]


def reference_key_map(model: nn.Module) -> dict[str, str]:
    """{our state_dict key: the reference's key} for every parameter and buffer of `model`."""
    layers = _architecture(model).layer_names(model)
    key_map = {}
    for key in model.state_dict():
        layer, name = key.rsplit(".", 1)
        key_map[key] = f"{layers[layer]}.{name}"
    return key_map


def read_reference_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a reference `.pth` (a plain state_dict) safely (weights_only); CheckpointError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unpickling failure means "not a weights file we can read safely"
        raise CheckpointError(
            f"{path} is not a state_dict that torch.load(weights_only=True) can read: {_load_failure(error)}"
        ) from error
    return _check_state_dict(state, str(path))


def _load_failure(error: Exception) -> str:
    """The useful first sentence of a torch.load error (its weights-only messages run to paragraphs)."""
    text = str(error).split("WeightsUnpickler error:", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(error).__name__]
    return lines[0].split(". ")[0][:160]


def _check_state_dict(state: object, source: str) -> dict[str, torch.Tensor]:
    """The state dict with a DataParallel `module.` prefix removed; CheckpointError if it is not one."""
    if not isinstance(state, Mapping):
        kind = type(state).__name__
        raise CheckpointError(f"{source} is not a state_dict (a mapping of names to tensors): got {kind}")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            kind = type(value).__name__
            raise CheckpointError(f"{source} is not a state_dict: entry {key!r} holds {kind}, not a tensor")
    return {key.removeprefix("module."): value for key, value in state.items()}


def _checkpoint_norm(state: dict[str, torch.Tensor]) -> str:
    """The --norm a reference checkpoint was most likely saved with, judged from its keys.

    Batch norm leaves running statistics; instance norm leaves none but gives every conv a bias;
    "none" leaves at most the two biases of the layers that always have one.
    """
    if any(key.endswith(".running_mean") for key in state):
        return "batch"
    return "instance" if sum(key.endswith(".bias") for key in state) > 2 else "none"


_GENERATOR_KINDS = {UNetGenerator: "U-Net (unet_*)", ResnetGenerator: "ResNet (resnet_*)"}


def _checkpoint_generator(state: dict[str, torch.Tensor]) -> str:
    """The kind of reference generator a checkpoint holds, judged from its keys ("" for neither): the U-Net
    nests its blocks (`model.model.1...`), the ResNet names its residual blocks' `conv_block`."""
    if any(key.startswith("model.model.") for key in state):
        return _GENERATOR_KINDS[UNetGenerator]
    if any(".conv_block." in key for key in state):
        return _GENERATOR_KINDS[ResnetGenerator]
    return ""


def _shape(tensor: torch.Tensor | None) -> str:
    return "none" if tensor is None else str(tuple(tensor.shape))


def _first_mismatch(
    model: nn.Module, state: dict[str, torch.Tensor], key_map: dict[str, str]
) -> tuple[str, str] | None:
    """(what differs: key and both shapes, "shape" | "layout") for the first mismatch, or None if all fit."""
    ours = model.state_dict()
    for our_key, ref_key in key_map.items():  # keys the model expects, in its order
        expected, found = _shape(ours[our_key]), state.get(ref_key)
        if found is None:
            return f"has no key {ref_key!r} (checkpoint none, model {expected})", "layout"
        if found.shape != ours[our_key].shape:
            found_shape = _shape(found)
            return f"has another shape for {ref_key!r} (checkpoint {found_shape}, model {expected})", "shape"
    expected_keys = set(key_map.values())
    for ref_key, value in state.items():  # keys the checkpoint has on top
        if ref_key not in expected_keys:
            return f"has unexpected key {ref_key!r} (checkpoint {_shape(value)}, model none)", "layout"
    return None


def load_reference_state_dict(model: nn.Module, state_dict: object, source: str) -> None:
    """Copy a reference state_dict into our `model` (generator or discriminator), in place.

    Keys and shapes must match exactly (BatchNorm running statistics included), after removing a
    DataParallel `module.` prefix. Like the reference's own loader, InstanceNorm running statistics
    that PyTorch < 0.4 saved are dropped (InstanceNorm without tracking never reads them).
    Any mismatch raises CheckpointError naming the first mismatched key, both shapes and the
    options that probably differ; `source` names the checkpoint in that message.
    """
    state = _check_state_dict(state_dict, source)
    architecture = _architecture(model)
    key_map = reference_key_map(model)
    layers = architecture.layer_names(model)
    instance_norms = {ref for ours, ref in layers.items() if isinstance(model.get_submodule(ours), nn.InstanceNorm2d)}
    for key in list(state):  # only buffers: a batch norm's (with weight) is a real mismatch
        layer, _, name = key.rpartition(".")
        if layer in instance_norms and name in INSTANCE_NORM_LEGACY and f"{layer}.weight" not in state:
            del state[key]

    mismatch = _first_mismatch(model, state, key_map)
    if mismatch is not None:
        what, kind = mismatch
        checkpoint_norm, held = _checkpoint_norm(state), _checkpoint_generator(state)
        expected = _GENERATOR_KINDS.get(type(model), "")
        if expected and held != expected:
            held = f"a {held} generator" if held else "no generator of the reference (a discriminator?)"
            options = f"--netG: the checkpoint holds {held}, the model is a {expected} generator"
        elif checkpoint_norm != model.norm:
            options = f"--norm: the checkpoint looks like {checkpoint_norm!r}, the model has {model.norm!r}"
        else:
            options = architecture.width_options if kind == "shape" else architecture.layout_options
        raise CheckpointError(
            f"{source} {what} for {type(model).__name__}; the options probably differ from the "
            f"checkpoint's (check {options})"
        )
    model.load_state_dict({our_key: state[ref_key] for our_key, ref_key in key_map.items()}, strict=True)
