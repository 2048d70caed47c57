"""Shared by tests/test_docs.py and tests/test_notebook.py: a condgan cache that already holds a
Fashion-MNIST domain evaluator, so that the docs' `condgan eval` examples do not spend minutes
training the full one. The user's cached evaluator is copied when there is one; otherwise a
one-epoch evaluator is trained (tens of seconds; accuracy ~0.90 instead of ~0.92: enough for a
test of the commands, never for a number in the docs)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def seeded_cache(root: Path) -> Path:
    """`root` as a CONDGAN_CACHE holding the fashion-mnist evaluator (28 px, 1 channel); returns root."""
    from condgan.metrics.evaluator import EVALUATOR_VERSION, cache_key, default_cache_root

    folder = root / "evaluators"
    stem = folder / cache_key("fashion-mnist", 28, 1)
    if stem.with_suffix(".json").is_file():
        return root
    folder.mkdir(parents=True, exist_ok=True)
    users = default_cache_root() / stem.name
    if users.with_suffix(".json").is_file() and users.with_suffix(".safetensors").is_file():
        shutil.copy(users.with_suffix(".safetensors"), stem.with_suffix(".safetensors"))
        shutil.copy(users.with_suffix(".json"), stem.with_suffix(".json"))
        return root
    from safetensors.torch import save_file

    from condgan.data import load_dataset
    from condgan.metrics.evaluator import train_evaluator

    started = time.perf_counter()
    model, test_accuracy = train_evaluator("fashion-mnist", 28, 1, epochs=1)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(stem.with_suffix(".safetensors")))
    meta = {
        "evaluator_version": EVALUATOR_VERSION,
        "dataset": "fashion-mnist",
        "image_size": 28,
        "channels": 1,
        "architecture": model.kwargs,
        "class_names": list(load_dataset("fashion-mnist", "test", 28, 1).class_names),
        "test_accuracy": test_accuracy,
        "train_seconds": round(time.perf_counter() - started, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "note": "one-epoch evaluator for the docs tests (tests/docs_support.py)",
    }
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    return root
