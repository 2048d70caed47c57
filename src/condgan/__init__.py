"""condgan: conditional GANs — class-conditional generation and pix2pix.

Public API (imported lazily, so `import condgan` loads nothing heavy):
    load_generator(run_dir)  -> a generator with .generate(labels=..., seed=...)
    train(config, out=...)   -> trains into a run directory
    Config, load_config      -> the config tree
    export_onnx(run_dir, path) -> the run's generator as an ONNX file
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "load_generator": ("condgan.inference.generate", "load_generator"),
    "train": ("condgan.training", "train"),
    "Config": ("condgan.config", "Config"),
    "load_config": ("condgan.config", "load_config"),
    "load_dataset": ("condgan.data", "load_dataset"),
    "CondganError": ("condgan.errors", "CondganError"),
    "export_onnx": ("condgan.inference.export", "export_onnx"),
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        module, attribute = _EXPORTS[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'condgan' has no attribute {name!r}")


__all__ = [*_EXPORTS, "__version__"]
