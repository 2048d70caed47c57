"""The domain evaluator: architecture, training on sklearn's digits, reproducibility, the cache."""

from __future__ import annotations

import json

import pytest
import torch

from condgan.data.loader import to_float
from condgan.errors import MetricError
from condgan.metrics import evaluator as E

# Small and quick: the digits set (1,437 training images) upscaled to 28x28 as Fashion-MNIST is.
QUICK = dict(width=8, feature_dim=64, batch_size=64, min_steps=150)
TINY = dict(width=4, feature_dim=16, batch_size=64, min_steps=20)  # for cache tests: a second or so
train_evaluator = E.train_evaluator  # the real one, before tests swap it out


def quick_train(dataset_name: str, image_size: int = 0, channels: int = 0, seed: int = 0):
    return train_evaluator(dataset_name, image_size, channels, seed=seed, **QUICK)


def tiny_train(dataset_name: str, image_size: int = 0, channels: int = 0, seed: int = 0):
    return train_evaluator(dataset_name, image_size, channels, seed=seed, **TINY)


@pytest.fixture(scope="module")
def trained():
    return quick_train("digits", image_size=28)


def test_shapes_and_parameter_count():
    model = E.Evaluator(in_channels=3, num_classes=7, image_size=32, width=8, feature_dim=64)
    images = torch.rand(5, 3, 32, 32) * 2 - 1
    assert model(images).shape == (5, 7)
    assert model.features(images).shape == (5, 64)
    convs = 3 * 8 * 9 + 8 * 16 * 9 + 16 * 32 * 9
    batch_norms = 2 * (8 + 16 + 32) + 2 * 64
    linears = 32 * 3 * 3 * 64 + 64 * 7 + 7
    assert sum(p.numel() for p in model.parameters()) == convs + batch_norms + linears
    assert E.Evaluator(**model.kwargs).kwargs == model.kwargs


def test_wrong_image_shape_is_a_clear_error():
    model = E.Evaluator(in_channels=1, num_classes=10, image_size=28)
    with pytest.raises(MetricError, match=r"expects images \(B, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        model(torch.zeros(2, 1, 32, 32))
    with pytest.raises(MetricError, match="uint8"):
        E.predict(model, torch.zeros(2, 1, 28, 28))


@pytest.mark.slow
def test_trains_to_high_accuracy_on_digits(trained):
    model, test_accuracy = trained
    assert test_accuracy > 0.9
    assert not model.training


@pytest.mark.slow
def test_same_seed_gives_identical_weights(trained):
    model, _ = trained
    again, _ = quick_train("digits", image_size=28)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_predict_classifies_in_eval_mode_in_batches():
    torch.manual_seed(0)
    model = E.Evaluator(in_channels=1, num_classes=10, image_size=16, width=4, feature_dim=16).train()
    images = torch.randint(0, 256, (25, 1, 16, 16), dtype=torch.uint8)
    labels, features = E.predict(model, images, batch_size=10)
    assert not model.training
    assert labels.shape == (25,) and labels.dtype == torch.int64 and features.shape == (25, 16)
    with torch.no_grad():
        logits = model(to_float(images))
    assert torch.equal(labels, logits.argmax(1))
    assert torch.allclose(features, model.features(to_float(images)).detach(), atol=1e-6)


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path))
    monkeypatch.setattr(E, "train_evaluator", tiny_train)
    return tmp_path / "evaluators"


def test_cache_round_trip(cache_root, monkeypatch):
    first = E.load_evaluator("digits", image_size=12)
    stem = cache_root / f"digits-12px-1ch-v{E.EVALUATOR_VERSION}"
    meta = json.loads(stem.with_suffix(".json").read_text())
    assert stem.with_suffix(".safetensors").is_file()
    assert meta["architecture"] == first.kwargs and meta["class_names"] == [str(i) for i in range(10)]
    assert meta["test_accuracy"] == first.info["test_accuracy"] > 0.1

    monkeypatch.setattr(E, "train_evaluator", lambda *args, **kwargs: pytest.fail("retrained"))
    second = E.load_evaluator("digits", image_size=12, channels=1)  # same key: channels 0 means native 1
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    images = torch.randint(0, 256, (4, 1, 12, 12), dtype=torch.uint8)
    assert torch.equal(E.predict(first, images)[1], E.predict(second, images)[1])

    with pytest.raises(MetricError, match="no cached evaluator"):
        E.load_evaluator("digits", image_size=20, train_if_missing=False)


@pytest.mark.parametrize("suffix", [".safetensors", ".json"])
def test_corrupt_cache_file_says_delete_it(cache_root, suffix):
    E.load_evaluator("digits", image_size=12)
    path = cache_root / f"digits-12px-1ch-v{E.EVALUATOR_VERSION}{suffix}"
    path.write_bytes(path.read_bytes()[:50])  # truncated, as after a crash without atomic writes
    with pytest.raises(MetricError, match=f"delete .*{suffix}") as info:
        E.load_evaluator("digits", image_size=12)
    assert "\n" not in str(info.value)


def test_explicit_cache_dir_and_folder_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(E, "train_evaluator", tiny_train)
    E.load_evaluator("digits", image_size=12, channels=1, cache_dir=tmp_path / "here")
    assert (tmp_path / "here" / f"digits-12px-1ch-v{E.EVALUATOR_VERSION}.json").is_file()

    monkeypatch.chdir(tmp_path)
    relative = E.cache_key("folder:images", 64, 3)
    assert relative == E.cache_key(f"folder:{tmp_path / 'images'}", 64, 3)
    assert relative != E.cache_key(f"folder:{tmp_path / 'other'}", 64, 3)
    assert relative.startswith("folder-") and "/" not in relative
