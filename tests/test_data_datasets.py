"""Named datasets: real Fashion-MNIST and digits, `conform`, name errors, CIFAR-10 on disk."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from condgan.data import load_dataset
from condgan.data.datasets import FASHION_CLASSES, ImageDataset, conform
from condgan.errors import ConfigError, DataError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    """Empty data and cache folders; returns the data folder ($CONDGAN_DATA)."""
    monkeypatch.setenv("CONDGAN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "data"


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="Debian's fashion-mnist package is not installed")
def test_fashion_mnist_from_debian(env):
    train = load_dataset("fashion-mnist", "train", download=False)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert train.class_names == FASHION_CLASSES and train.num_classes == 10
    assert (train.channels, train.image_size, len(train)) == (1, 28, 60000)
    assert 60 < train.images.float().mean() < 90  # mostly black background, not noise or zeros
    test = load_dataset("fashion-mnist", "test", download=False)
    assert torch.bincount(test.labels).tolist() == [1000] * 10


@pytest.mark.parametrize("size", [28, 32])
def test_digits_resized(size: int):
    original = load_dataset("digits", "train")
    resized = load_dataset("digits", "train", image_size=size)
    assert original.images.shape == (1437, 1, 8, 8)
    assert resized.images.shape == (1437, 1, size, size) and resized.images.dtype == torch.uint8
    assert torch.equal(resized.labels, original.labels)
    # upsampling keeps each image's mean brightness (within a few levels)
    mean_before = original.images.float().mean(dim=(1, 2, 3))
    mean_after = resized.images.float().mean(dim=(1, 2, 3))
    assert (mean_before - mean_after).abs().max() < 6
    test = load_dataset("digits", "test", image_size=size)
    assert len(test) == 360 and len(set(test.labels.tolist())) == 10


def test_conform_channels():
    images = torch.randint(0, 256, (5, 1, 4, 4), dtype=torch.uint8)
    gray = ImageDataset("x", images, torch.arange(5), tuple("abcde"))
    rgb = conform(gray, channels=3)
    assert rgb.images.shape == (5, 3, 4, 4)
    assert all(torch.equal(rgb.images[:, c], images[:, 0]) for c in range(3))
    back = conform(rgb, channels=1)
    assert torch.equal(back.images, images)  # equal planes: the weighted sum is the plane itself
    colors = torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=torch.uint8).view(3, 3, 1, 1)
    luma = conform(ImageDataset("c", colors, torch.arange(3), ("r", "g", "b")), channels=1)
    assert luma.images.flatten().tolist() == [76, 150, 29]  # ITU-R 601 weights 0.299, 0.587, 0.114
    with pytest.raises(ConfigError, match="cannot convert 1-channel images to 2"):
        conform(gray, channels=2)


def test_unknown_names():
    with pytest.raises(ConfigError) as info:
        load_dataset("fashion_mnist")
    message = str(info.value)
    assert "'fashion_mnist'" in message
    for name in ("fashion-mnist", "mnist", "kmnist", "digits", "cifar10", "folder:PATH"):
        assert name in message
    with pytest.raises(ConfigError, match="valid splits: train, test"):
        load_dataset("digits", "validation")


def test_missing_idx_set_without_download(env):
    with pytest.raises(DataError) as info:
        load_dataset("kmnist", download=False)
    message = str(info.value)
    assert "dataset 'kmnist' not found" in message and str(env / "kmnist") in message
    assert "$CONDGAN_DATA/kmnist/" in message and "\n" not in message


def cifar_batch(images: np.ndarray, labels: list[int], **extra) -> bytes:
    """A batch pickled like the official files: numpy 1.x module names, bytes keys."""
    batch = {b"batch_label": b"b", b"labels": labels, b"data": images.reshape(len(images), 3072), **extra}
    return pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def write_cifar_folder(folder: Path, count: int = 2) -> np.ndarray:
    """Six batch files of `count` images each; returns all images in file order."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6 * count, 3, 32, 32), dtype=np.uint8)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for k, name in enumerate(names):
        part = images[k * count : (k + 1) * count]
        (folder / name).write_bytes(cifar_batch(part, [k] * count))
    return images


def test_cifar10_from_folder(env):
    images = write_cifar_folder(env / "cifar10" / "cifar-10-batches-py")
    train = load_dataset("cifar10", "train", download=False)
    np.testing.assert_array_equal(train.images.numpy(), images[:10])
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    test = load_dataset("cifar10", "test", download=False, image_size=16)
    assert test.images.shape == (2, 3, 16, 16) and test.labels.tolist() == [5, 5]


def test_cifar10_bad_batches(env):
    folder = env / "cifar10" / "cifar-10-batches-py"
    write_cifar_folder(folder)
    bad = folder / "data_batch_3"
    cases = [
        (cifar_batch(np.zeros((2, 3, 32, 32), np.uint8), [0, 10]), "labels range 0..10"),
        (cifar_batch(np.zeros((2, 3, 32, 32), np.uint8), [0]), "1 labels"),
        (
            pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
            "expected uint8 (N, 3072)",
        ),
        (pickle.dumps([1, 2, 3]), "holds a list"),
        (b"not a pickle at all", "not a readable CIFAR-10 batch"),
    ]
    for content, expected in cases:
        bad.write_bytes(content)
        with pytest.raises(DataError) as info:
            load_dataset("cifar10", "train", download=False)
        assert str(bad) in str(info.value) and expected in str(info.value)
        assert "\n" not in str(info.value)


class Remove:
    """Unpickling this (with a plain pickle.load) deletes a file."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (os.remove, (self.path,))


def test_cifar10_refuses_code_in_pickles(env, tmp_path: Path):
    folder = env / "cifar10" / "cifar-10-batches-py"
    write_cifar_folder(folder)
    victim = tmp_path / "victim.txt"
    victim.write_text("still here")
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Remove(victim), b"labels": []}))
    with pytest.raises(DataError, match=r"refusing to load \w+\.remove"):
        load_dataset("cifar10", "train", download=False)
    assert victim.read_text() == "still here"


def tar_with(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buffer.getvalue()


def batch_members(skip: str = "") -> list[tuple[tarfile.TarInfo, bytes]]:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    data = cifar_batch(np.full((1, 3, 32, 32), 7, np.uint8), [3])
    return [(tarfile.TarInfo(f"cifar-10-batches-py/{n}"), data) for n in names if n != skip]


def test_cifar10_archive_on_disk_unpacks_only_known_files(env, tmp_path: Path):
    evil = [(tarfile.TarInfo(name), b"gotcha") for name in ("../../escaped", "cifar-10-batches-py/../../up")]
    archive = env / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(tar_with(evil + batch_members()))
    train = load_dataset("cifar10", "train", download=False)
    assert train.images.shape == (5, 3, 32, 32) and int(train.images.float().mean()) == 7
    assert not any(p.name in ("escaped", "up") for p in tmp_path.rglob("*"))
    unpacked = tmp_path / "cache" / "cifar10" / "cifar-10-batches-py"
    assert len(list(unpacked.iterdir())) == 6


def test_cifar10_archive_with_link_or_missing_batch(env):
    archive = env / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    link = tarfile.TarInfo("cifar-10-batches-py/data_batch_2")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive.write_bytes(tar_with(batch_members(skip="data_batch_2") + [(link, b"")]))
    with pytest.raises(DataError, match="data_batch_2 is not a regular file"):
        load_dataset("cifar10", download=False)
    archive.write_bytes(tar_with(batch_members(skip="test_batch")))
    with pytest.raises(DataError, match="no test_batch under cifar-10-batches-py/"):
        load_dataset("cifar10", download=False)
    archive.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="cannot unpack"):
        load_dataset("cifar10", download=False)
    cache = Path(os.environ["CONDGAN_CACHE"]) / "cifar10"
    assert [p.name for p in cache.iterdir()] == []  # no half-unpacked folder left behind
