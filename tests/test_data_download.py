"""Downloads against a local HTTP server: good, corrupt, unreachable, and whole datasets."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import socket
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from condgan.data import download, load_dataset
from condgan.data.download import fetch_dataset, fetch_file
from condgan.errors import DataError


@pytest.fixture
def env(tmp_path: Path, monkeypatch):
    """Point the data and cache folders at empty temporary ones."""
    monkeypatch.setenv("CONDGAN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def closed_port_url(name: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_known_sources_are_complete():
    for name, filenames in [("fashion-mnist", 4), ("mnist", 4), ("kmnist", 4), ("cifar10", 1)]:
        files = download.SOURCES[name]
        assert len(files) == filenames
        for checksum, mirrors in files.values():
            assert len(checksum) == 64 and int(checksum, 16) >= 0
            assert mirrors and all(url.startswith(("http://", "https://")) for url in mirrors)


def test_fetch_good_file(server, tmp_path: Path):
    root, base = server
    payload = np.random.default_rng(0).bytes(300_000)
    (root / "blob.bin").write_bytes(payload)
    dest = tmp_path / "out" / "blob.bin"
    assert fetch_file([base + "blob.bin"], dest, sha256(payload)) == dest
    assert dest.read_bytes() == payload
    assert sorted(p.name for p in dest.parent.iterdir()) == ["blob.bin"]  # no temporary left


def test_wrong_checksum_is_refused_and_leaves_nothing(server, tmp_path: Path):
    root, base = server
    (root / "blob.bin").write_bytes(b"tampered bytes")
    dest = tmp_path / "out" / "blob.bin"
    with pytest.raises(DataError, match="SHA-256") as info:
        fetch_file([base + "blob.bin"], dest, sha256(b"the real bytes"))
    assert "\n" not in str(info.value)
    assert list(dest.parent.iterdir()) == []


def test_falls_back_to_the_next_mirror(server, tmp_path: Path):
    root, base = server
    (root / "b").mkdir()
    (root / "b" / "f.gz").write_bytes(b"good")
    dest = tmp_path / "f.gz"
    fetch_file([base + "a/f.gz", base + "b/f.gz"], dest, sha256(b"good"))
    assert dest.read_bytes() == b"good"


def test_missing_file_on_server(server, tmp_path: Path):
    _, base = server
    with pytest.raises(DataError, match="HTTP 404") as info:
        fetch_file([base + "absent.gz"], tmp_path / "absent.gz", sha256(b""))
    assert "offline" not in str(info.value)


def test_unreachable_mirror_fails_fast_in_one_line(tmp_path: Path):
    dest = tmp_path / "train-images-idx3-ubyte.gz"
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        fetch_file([closed_port_url(dest.name), closed_port_url(dest.name)], dest, "0" * 64)
    message = str(info.value)
    assert time.monotonic() - start < 5
    assert message.startswith("could not download train-images-idx3-ubyte.gz")
    assert "offline" in message and str(tmp_path) in message
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes())


def test_fetch_dataset_then_load_mnist(server, env: Path, monkeypatch):
    root, base = server
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(30, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(10, dtype=np.uint8)[::-1].copy(),
    }
    (root / "mnist").mkdir()
    sources = {}
    for filename, array in arrays.items():
        data = idx_gz(array)
        (root / "mnist" / filename).write_bytes(data)
        sources[filename] = (sha256(data), [closed_port_url("mnist/"), base + "mnist/"])
    monkeypatch.setitem(download.SOURCES, "mnist", sources)

    train = load_dataset("mnist", "train")
    assert train.images.shape == (30, 1, 28, 28) and train.images.dtype == torch.uint8
    np.testing.assert_array_equal(train.images[:, 0].numpy(), arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(train.labels.numpy(), arrays["train-labels-idx1-ubyte.gz"])
    assert train.labels.dtype == torch.int64 and train.class_names == tuple("0123456789")
    test = load_dataset("mnist", "test", image_size=32)
    assert test.images.shape == (10, 1, 32, 32)
    assert sorted(p.name for p in (env / "mnist").iterdir()) == sorted(arrays)

    monkeypatch.setitem(download.SOURCES, "mnist", {})  # now served from the cache only
    assert torch.equal(load_dataset("mnist", "train", download=False).images, train.images)


def test_fetch_dataset_offline(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(download.SOURCES, "kmnist", {"a.gz": ("0" * 64, [closed_port_url("")])})
    with pytest.raises(DataError, match=r"^could not download a\.gz .*offline"):
        fetch_dataset("kmnist", tmp_path, ("a.gz",))
    with pytest.raises(DataError, match="no download source for dataset 'nope'"):
        fetch_dataset("nope", tmp_path, ("a.gz",))


def cifar_batch(images: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickled the way the official files are (numpy 1.x module names, bytes keys)."""
    batch = {b"batch_label": b"batch", b"labels": labels, b"data": images.reshape(len(images), 3072)}
    raw = pickle.dumps(batch, protocol=2)
    return raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def cifar_archive(counts: dict[str, int], seed: int = 0) -> tuple[bytes, dict[str, tuple]]:
    """A cifar-10-python.tar.gz with `counts[name]` images per batch file, and its contents."""
    rng = np.random.default_rng(seed)
    contents, buffer = {}, io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, count in counts.items():
            images = rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)
            labels = rng.integers(0, 10, count).tolist()
            data = cifar_batch(images, labels)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            contents[name] = (images, labels)
    return buffer.getvalue(), contents


def test_cifar10_downloaded_and_unpacked(server, env: Path, monkeypatch):
    root, base = server
    counts = {**{f"data_batch_{i}": i for i in range(1, 6)}, "test_batch": 4, "batches.meta": 0}
    archive, contents = cifar_archive(counts)
    (root / "cifar-10-python.tar.gz").write_bytes(archive)
    monkeypatch.setitem(download.SOURCES, "cifar10", {"cifar-10-python.tar.gz": (sha256(archive), [base])})

    train = load_dataset("cifar10", "train")
    assert train.images.shape == (15, 3, 32, 32) and train.images.dtype == torch.uint8
    expected = np.concatenate([contents[f"data_batch_{i}"][0] for i in range(1, 6)])
    np.testing.assert_array_equal(train.images.numpy(), expected)
    assert train.labels.tolist() == sum((contents[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert train.class_names[0] == "airplane" and train.num_classes == 10
    test = load_dataset("cifar10", "test", channels=1)
    assert test.images.shape == (4, 1, 32, 32)
    unpacked = sorted(p.name for p in (env / "cifar10" / "cifar-10-batches-py").iterdir())
    assert unpacked == sorted(n for n in counts if n != "batches.meta")
    assert [p.name for p in (env / "cifar10").iterdir() if p.name.startswith(".")] == []


def test_cifar10_offline(env: Path, monkeypatch):
    url = closed_port_url("")
    monkeypatch.setitem(download.SOURCES, "cifar10", {"cifar-10-python.tar.gz": ("0" * 64, [url])})
    with pytest.raises(DataError, match="could not download cifar-10-python.tar.gz .*offline"):
        load_dataset("cifar10")
    with pytest.raises(DataError, match="dataset 'cifar10' not found"):
        load_dataset("cifar10", download=False)
