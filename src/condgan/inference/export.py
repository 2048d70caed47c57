"""Export a trained generator to ONNX, for onnxruntime and every runtime that reads ONNX.

    condgan export runs/fm --format onnx -o gen.onnx
    export_onnx("runs/fm", "gen.onnx")

What is exported: the run's generator with its EMA weights (when the run keeps an EMA), in eval
mode (batch norm uses its running statistics, dropout is off), in float32.

- class-conditional generators: inputs `z` float32 (B, z_dim), standard normal, and `labels`
  int64 (B,) in [0, num_classes) (no `labels` input when unconditional); output `images`
  float32 (B, C, H, W) in [-1, 1]. B is dynamic.
- image-to-image generators (pix2pix U-Net / ResNet): input `source` float32 (B, C, H, W) in
  [-1, 1]; output `images` (B, C_out, H, W) in [-1, 1]. B, H and W are dynamic; H and W must be
  multiples of the network's `size_multiple` (recorded in the metadata).

The ONNX metadata (`metadata_props`) records the task, input and output ranges, class names,
z_dim, image size, channels, the checkpoint step and whether the weights are the EMA ones.

Exporter: torch's TorchScript-based exporter (`dynamo=False`). It needs only the `onnx`
package, runs in a fraction of a second, and traces dynamic batch *and* image size for the
U-Net; the torch.export-based exporter (torch's default since 2.9) needs `onnxscript` as well,
took ~8 s per generator here and failed on the U-Net's dynamic height and width. After writing,
the file is run in onnxruntime (when installed) and compared with PyTorch on fresh inputs.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from condgan.checkpoint import atomic_write_bytes
from condgan.errors import CondganError

FORMATS = ("onnx",)
DEFAULT_OPSET = 17
TOLERANCE = 1e-4  # max |onnxruntime - PyTorch| accepted by the check after export


class ExportError(CondganError):
    """A model that cannot be exported, or an export that does not match PyTorch."""


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package; install it with pip install 'condgan[export]'") from None
    return onnx


def is_image_to_image(module: nn.Module) -> bool:
    """pix2pix generators (U-Net, ResNet) take an image; class-conditional ones take (z, labels)."""
    return hasattr(module, "size_multiple") and hasattr(module, "in_channels")


class _Unconditional(nn.Module):
    """G(z) for an unconditional generator whose forward is (z, labels=None)."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z, None)


def _with_affine_batchnorm(module: nn.Module) -> nn.Module:
    """Give affine-free batch norms (conditional BN's inner norm) weight 1 and bias 0: the same
    function, which the TorchScript exporter can write with a dynamic batch (it cannot otherwise)."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and not layer.affine:
            ref = layer.running_mean if layer.running_mean is not None else torch.zeros(layer.num_features)
            layer.affine = True
            layer.weight = nn.Parameter(torch.ones_like(ref))
            layer.bias = nn.Parameter(torch.zeros_like(ref))
    return module


def example_inputs(module: nn.Module, *, batch: int = 2, image_size: int = 0, seed: int = 0) -> dict:
    """Named example inputs for `module` (also used to check the exported file)."""
    generator = torch.Generator().manual_seed(seed)
    if is_image_to_image(module):
        size = max(image_size, module.size_multiple)
        size = -(-size // module.size_multiple) * module.size_multiple
        return {"source": torch.rand(batch, module.in_channels, size, size, generator=generator) * 2 - 1}
    inputs = {"z": torch.randn(batch, module.z_dim, generator=generator)}
    if module.num_classes:
        inputs["labels"] = torch.randint(0, module.num_classes, (batch,), generator=generator)
    return inputs


def export_module_onnx(
    module: nn.Module,
    out_path: str | Path,
    *,
    metadata: dict[str, object] | None = None,
    image_size: int = 0,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
) -> dict:
    """Export a generator module (class-conditional or image-to-image) to `out_path`, atomically.

    Returns a report: path, inputs, dynamic axes and the max |onnxruntime - PyTorch| (None when
    onnxruntime is not installed or `verify` is False).
    """
    onnx = _require_onnx()
    image_to_image = is_image_to_image(module)
    model = _with_affine_batchnorm(copy.deepcopy(module).float().cpu().eval())
    inputs = example_inputs(model, image_size=image_size)
    if not image_to_image and not model.num_classes:
        model = _Unconditional(model).eval()
    names = list(inputs)
    dynamic = {name: {0: "batch"} for name in names}
    if image_to_image:
        dynamic = {"source": {0: "batch", 2: "height", 3: "width"}}
    dynamic["images"] = {0: "batch", 2: "height", 3: "width"} if image_to_image else {0: "batch"}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes
            torch.onnx.export(
                model, tuple(inputs.values()), buffer, input_names=names, output_names=["images"],
                dynamic_axes=dynamic, opset_version=opset, dynamo=False,
            )  # fmt: skip
    except Exception as exc:  # the exporter raises many types for an unsupported op or opset
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ExportError(f"cannot export {type(module).__name__} to ONNX opset {opset} ({first})") from None
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "condgan"
    proto.doc_string = "condgan generator; see metadata_props for inputs, ranges and class names"
    for key, value in {"kind": "image-to-image" if image_to_image else "class-conditional", **(metadata or {})}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    difference = check_onnx(data, model, image_to_image, image_size) if verify else None
    out_path = Path(out_path)
    atomic_write_bytes(out_path, data)
    return {"path": out_path, "inputs": names, "dynamic_axes": dynamic, "max_abs_diff": difference}


def check_onnx(
    data: bytes, model: nn.Module, image_to_image: bool, image_size: int = 0, tolerance: float = TOLERANCE
) -> float | None:
    """Run the ONNX bytes in onnxruntime on inputs of another batch size (and, for image-to-image,
    another image size) than the export's, compare with PyTorch; ExportError past `tolerance`.
    None when onnxruntime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    base = model.generator if isinstance(model, _Unconditional) else model
    cases = [(3, image_size)]
    if image_to_image:
        size = max(image_size, base.size_multiple)
        cases.append((1, -(-size // base.size_multiple) * base.size_multiple + base.size_multiple))
    worst = 0.0
    with torch.no_grad():
        for seed, (batch, size) in enumerate(cases, start=1):
            inputs = example_inputs(base, batch=batch, image_size=size, seed=seed)
            expected = model(*inputs.values()).numpy()
            got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
            if got.shape != expected.shape:
                raise ExportError(f"the ONNX model made shape {got.shape}, PyTorch {expected.shape}; report this model")
            worst = max(worst, float(abs(got - expected).max()))
    if worst > tolerance:
        raise ExportError(f"the ONNX model differs from PyTorch by {worst:.2e} (> {tolerance:g}); report this model")
    return worst


def run_metadata(config, step: int | None, ema: bool, image_to_image: bool) -> dict[str, object]:
    """What a user of the ONNX file needs to know, from the run's config."""
    from condgan import __version__

    d, m = config.data, config.model
    meta: dict[str, object] = {
        "task": config.task,
        "output_range": "[-1, 1] float32 (B, C, H, W); uint8 = round((x + 1) * 127.5)",
        "image_size": d.image_size,
        "channels": d.channels,
        "weights": "ema" if ema else "generator",
        "step": step if step is not None else -1,
        "generator": m.generator,
        "condgan_version": __version__,
    }
    if image_to_image:
        meta["input_range"] = "[-1, 1] float32 (B, C, H, W): source image scaled as x / 127.5 - 1"
        meta["source_channels"] = getattr(d, "source_channels", 0) or d.channels
    else:
        meta["input_range"] = "z: float32 (B, z_dim) standard normal; labels: int64 (B,) in [0, num_classes)"
        meta["z_dim"] = m.z_dim
        meta["num_classes"] = m.num_classes
        meta["class_names"] = list(d.class_names)
    return meta


def export_onnx(
    run: str | Path, out_path: str | Path, opset: int = DEFAULT_OPSET, use_ema: bool = True, verify: bool = True,
    direction: str = "",
) -> dict:  # fmt: skip
    """Export the generator of run directory `run` to the ONNX file `out_path` (see module doc); for a
    cyclegan run the generator of `direction` (AtoB, the default, or BtoA; `export_run` writes both)."""
    from condgan.checkpoint import load_module_weights
    from condgan.inference.runs import checkpoint_step, generator_weights_path, load_config_of, resolve_run_dir
    from condgan.models import build_generator

    run_dir = resolve_run_dir(run)
    config = load_config_of(run_dir)
    if config.task == "cyclegan":
        from condgan.models.cyclegan import GENERATOR_NAMES, build_cycle_generator, direction_config

        direction = direction or "AtoB"
        module = build_cycle_generator(config, direction)
        weights = generator_weights_path(run_dir, use_ema, GENERATOR_NAMES[direction])
        config = direction_config(config, direction)  # its input channels as source_channels, for the metadata
    else:
        module = build_generator(config)
        weights = generator_weights_path(run_dir, use_ema)
    load_module_weights(module, weights)
    step = checkpoint_step(run_dir)  # a pretrained:NAME model: the step of the run it was packed from
    image_to_image = is_image_to_image(module)
    meta = run_metadata(config, step, weights.stem.endswith("_ema"), image_to_image)
    if image_to_image:
        meta["size_multiple"] = module.size_multiple
    if config.task == "cyclegan":
        meta["direction"] = direction
    report = export_module_onnx(
        module, out_path, metadata=meta, image_size=config.data.image_size, opset=opset, verify=verify
    )
    return {**report, "metadata": meta}


def direction_path(out_path: str | Path, direction: str) -> Path:
    """gen.onnx -> gen.AtoB.onnx: where `export_run` writes one direction of a cyclegan run."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.{direction}{out_path.suffix}")


def export_run(
    run: str | Path, out_path: str | Path, opset: int = DEFAULT_OPSET, use_ema: bool = True, verify: bool = True,
    direction: str = "",
) -> list[dict]:  # fmt: skip
    """`condgan export`: one file for a cgan or pix2pix run; for a cyclegan run without a `direction`, both
    directions' generators, OUT.AtoB.onnx and OUT.BtoA.onnx (each written atomically once it is checked)."""
    from condgan.inference.runs import load_config_of, resolve_run_dir

    if load_config_of(resolve_run_dir(run)).task != "cyclegan" or direction:
        return [export_onnx(run, out_path, opset, use_ema, verify, direction=direction)]
    from condgan.models.cyclegan import DIRECTIONS

    return [
        export_onnx(run, direction_path(out_path, way), opset, use_ema, verify, direction=way) for way in DIRECTIONS
    ]


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX file, as a dict of strings."""
    onnx = _require_onnx()
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
