"""Image-folder datasets: layouts, modes, resizing, every error, and the streaming path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.data import folder as folder_module
from condgan.data import load_dataset
from condgan.data.datasets import ImageDataset
from condgan.data.folder import StreamingImageFolder, load_image_folder
from condgan.errors import ConfigError, DataError


def pixels(label: int, index: int, size: tuple[int, int], mode: str) -> np.ndarray:
    """A distinct, deterministic image for (label, index)."""
    rng = np.random.default_rng(100 * label + index)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def make_tree(root: Path, counts: dict[str, int], mode: str = "L", size=(8, 8), suffix: str = ".png") -> dict:
    """root/<class>/<i><suffix>; returns {path: pixel array} in sorted order."""
    written = {}
    for label, name in enumerate(sorted(counts)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(counts[name]):
            array = pixels(label, i, size, mode)
            path = root / name / f"{i:03d}{suffix}"
            Image.fromarray(array, mode=mode).save(path)
            written[path] = array
    return written


def test_grayscale_png_tree(tmp_path: Path):
    written = make_tree(tmp_path, {"dog": 3, "cat": 2})
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    data = load_image_folder(tmp_path)
    assert isinstance(data, ImageDataset)
    assert data.class_names == ("cat", "dog") and data.num_classes == 2
    assert data.images.shape == (5, 1, 8, 8) and data.images.dtype == torch.uint8
    assert data.labels.tolist() == [0, 0, 1, 1, 1] and data.labels.dtype == torch.int64
    for k, array in enumerate(written.values()):
        np.testing.assert_array_equal(data.images[k, 0].numpy(), array)  # PNG is lossless


def test_rgb_and_mixed_modes(tmp_path: Path):
    written = make_tree(tmp_path, {"a": 2}, mode="RGB")
    make_tree(tmp_path, {"b": 2}, mode="L")
    (tmp_path / "b" / "000.png").rename(tmp_path / "a" / "zz.png")  # a grayscale image among RGB ones
    data = load_image_folder(tmp_path)
    assert data.channels == 3 and data.images.shape == (4, 3, 8, 8)
    np.testing.assert_array_equal(data.images[0].permute(1, 2, 0).numpy(), next(iter(written.values())))
    gray = data.images[2]  # a/zz.png, expanded to three equal planes
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    assert load_image_folder(tmp_path, channels=1).images.shape == (4, 1, 8, 8)
    with pytest.raises(ConfigError, match="channels=2"):
        load_image_folder(tmp_path, channels=2)


def test_jpeg_palette_and_alpha_are_read(tmp_path: Path):
    make_tree(tmp_path, {"jpg": 2}, mode="RGB", suffix=".JPG")
    (tmp_path / "png").mkdir()
    Image.new("RGBA", (8, 8), (200, 10, 10, 0)).save(tmp_path / "png" / "alpha.png")
    Image.new("RGB", (8, 8), (10, 200, 10)).convert("P").save(tmp_path / "png" / "palette.png")
    data = load_image_folder(tmp_path)
    assert data.images.shape == (4, 3, 8, 8)
    assert data.images[2, :, 0, 0].tolist() == [200, 10, 10]  # alpha dropped, colour kept
    assert data.images[3, :, 0, 0].tolist()[1] > 150


def test_resize_and_size_errors(tmp_path: Path):
    make_tree(tmp_path, {"a": 2}, size=(8, 8))
    Image.fromarray(np.full((12, 20), 99, np.uint8)).save(tmp_path / "a" / "odd.png")  # 20 wide, 12 high
    data = load_image_folder(tmp_path, image_size=16)
    assert data.images.shape == (3, 1, 16, 16) and data.image_size == 16
    assert int(data.images[2].float().mean()) == 99  # centre crop of a flat image stays flat
    with pytest.raises(DataError) as info:
        load_image_folder(tmp_path)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "a" / "odd.png")) and "20x12" in message
    assert "8x8" in message and "image size" in message
    (tmp_path / "a" / "000.png").unlink()
    (tmp_path / "a" / "001.png").unlink()
    with pytest.raises(DataError, match="not square; pass an image size"):
        load_image_folder(tmp_path)


def test_split_subfolders(tmp_path: Path):
    make_tree(tmp_path / "train", {"x": 3, "y": 2})
    make_tree(tmp_path / "test", {"y": 1})
    train = load_image_folder(tmp_path, "train")
    test = load_image_folder(tmp_path, "test")
    assert train.class_names == test.class_names == ("x", "y")
    assert train.labels.tolist() == [0, 0, 0, 1, 1] and test.labels.tolist() == [1]
    make_tree(tmp_path / "test", {"z": 1})
    with pytest.raises(DataError, match=r"class folders \['z'\] are not in"):
        load_image_folder(tmp_path, "test")


def test_without_split_folders_both_splits_see_everything(tmp_path: Path):
    make_tree(tmp_path, {"a": 2, "b": 2})
    train = load_dataset(f"folder:{tmp_path}", "train", image_size=4, channels=3)
    test = load_dataset(f"folder:{tmp_path}", "test", image_size=4, channels=3)
    assert train.name == f"folder:{tmp_path}" and train.images.shape == (4, 3, 4, 4)
    assert torch.equal(train.images, test.images) and torch.equal(train.labels, test.labels)


def one_line_error(path: Path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_image_folder(path, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_layout_errors(tmp_path: Path):
    assert "no such folder" in one_line_error(tmp_path / "missing")
    (tmp_path / "loose.png").write_bytes(b"")
    assert "no class subfolders" in one_line_error(tmp_path)
    make_tree(tmp_path, {"a": 1})
    (tmp_path / "empty").mkdir()
    message = one_line_error(tmp_path)
    assert message.startswith(str(tmp_path / "empty")) and "no PNG/JPEG images" in message
    split = tmp_path / "split"
    make_tree(split / "train", {"a": 1})
    assert "has train/ but no test/" in one_line_error(split, split="test")


def test_unreadable_and_unsupported_images(tmp_path: Path):
    make_tree(tmp_path, {"a": 2})
    bad = tmp_path / "a" / "broken.png"
    bad.write_bytes(b"this is not a png")
    message = one_line_error(tmp_path)
    assert message.startswith(str(bad)) and "not a readable image" in message
    Image.fromarray(np.zeros((8, 8), np.uint8)).convert("I;16").save(bad)
    message = one_line_error(tmp_path)
    assert message.startswith(str(bad)) and "mode 'I;16' is not supported" in message
    Image.fromarray(pixels(0, 0, (32, 32), "L")).save(bad)
    bad.write_bytes(bad.read_bytes()[:300])  # header fine, pixel data cut short
    message = one_line_error(tmp_path, image_size=8)
    assert message.startswith(str(bad)) and "cannot decode image" in message


@pytest.fixture
def big_tree(tmp_path: Path) -> Path:
    make_tree(tmp_path, {"a": 7, "b": 6, "c": 5}, mode="RGB", size=(12, 12))
    return tmp_path


def take(stream, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [next(stream) for _ in range(n)]


def test_streaming_matches_in_memory(big_tree: Path):
    in_memory = load_image_folder(big_tree, image_size=8)
    streamed = load_image_folder(big_tree, image_size=8, memory_limit=100)
    assert isinstance(streamed, StreamingImageFolder)
    assert (streamed.name, streamed.class_names, streamed.channels, streamed.image_size) == (
        in_memory.name, in_memory.class_names, 3, 8,
    )  # fmt: skip
    assert len(streamed) == 18 and streamed.num_classes == 3
    expected = take(in_memory.batches(4, seed=3), 10)  # 4 batches per epoch: crosses two epochs
    got = take(streamed.batches(4, seed=3), 10)
    for (images, labels), (want_images, want_labels) in zip(got, expected, strict=True):
        assert images.shape == (4, 3, 8, 8) and images.dtype == torch.float32
        assert labels.dtype == torch.int64 and torch.equal(labels, want_labels)
        assert images.min() >= -1 and images.max() <= 1
        torch.testing.assert_close(images, want_images, atol=0, rtol=0)


def test_streaming_order_seed_resume_and_ranks(big_tree: Path):
    data = load_image_folder(big_tree, memory_limit=0)
    first = [labels for _, labels in take(data.batches(3, seed=0), 6)]
    again = [labels for _, labels in take(data.batches(3, seed=0), 6)]
    other = [labels for _, labels in take(data.batches(3, seed=1), 6)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))

    stream = data.batches(3, seed=5)
    take(stream, 4)
    state = stream.state_dict()
    assert state == {"epoch": 0, "position": 4}
    after = take(stream, 5)  # runs into the next epoch
    resumed = data.batches(3, seed=5)
    resumed.load_state_dict(state)
    for (images, labels), (want_images, want_labels) in zip(take(resumed, 5), after, strict=True):
        assert torch.equal(labels, want_labels) and torch.equal(images, want_images)

    halves = [data.batches(9, seed=0, rank=r, world_size=2) for r in (0, 1)]
    seen = [set(next(h)[0].flatten(1).sum(1).tolist()) for h in halves]
    assert len(seen[0]) == len(seen[1]) == 9 and not seen[0] & seen[1]


def test_streaming_through_load_dataset_and_bad_file(big_tree: Path, monkeypatch):
    monkeypatch.setattr(folder_module, "MEMORY_LIMIT", 100)  # 18 images of 1x4x4 = 288 bytes
    data = load_dataset(f"folder:{big_tree}", image_size=4, channels=1)
    assert isinstance(data, StreamingImageFolder)
    images, labels = next(data.batches(6, seed=0))
    assert images.shape == (6, 1, 4, 4) and labels.shape == (6,)
    bad = big_tree / "a" / "000.png"
    Image.fromarray(pixels(0, 0, (12, 12), "RGB")).save(bad)
    bad.write_bytes(bad.read_bytes()[:200])  # readable header, broken pixels: found while streaming
    data = load_dataset(f"folder:{big_tree}")
    with pytest.raises(DataError) as info:
        take(data.batches(18, seed=0), 1)
    assert str(info.value).startswith(str(bad)) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="fewer than one batch of 19"):
        data.batches(19)
