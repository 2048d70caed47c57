"""Unaligned sets (`unaligned:DIR`) and `condgan data make-unpaired`, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.cli import main
from condgan.data.datasets import load_dataset
from condgan.data.make_unpaired import TRUE_PARTNERS, make_unpaired_classes, make_unpaired_pairs, random_cycle
from condgan.data.unaligned import load_unaligned
from condgan.errors import ConfigError, DataError


def _write(folder: Path, values: list[int], size: int = 8, mode: str = "L") -> None:
    """One flat image per value (its pixels all equal to the value; RGB: (v, 255 - v, 0))."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, value in enumerate(values):
        color = value if mode == "L" else (value, 255 - value, 0)
        Image.new(mode, (size, size), color).save(folder / f"{i:03d}.png")


def _set(root: Path, count_a: int = 5, count_b: int = 3, size: int = 8) -> str:
    """A side A of gray images valued 0, 10, ... and a side B of RGB images valued 100, 101, ..."""
    for split in ("train", "test"):
        _write(root / f"{split}A", [10 * i for i in range(count_a)], size)
        _write(root / f"{split}B", [100 + i for i in range(count_b)], size, "RGB")
    return f"unaligned:{root}"


def _values(batch: torch.Tensor) -> list[int]:
    """The serial values of a batch of flat images (their first channel), back in 0..255."""
    return [int(v) for v in ((batch[:, 0, 0, 0] + 1) * 127.5).round().tolist()]


# ---------------------------------------------------------------- loading and batches
def test_sides_keep_their_counts_channels_and_pixels(tmp_path):
    dataset = load_unaligned(_set(tmp_path), "train")
    assert dataset.images_a.shape == (5, 1, 8, 8) and dataset.images_b.shape == (3, 3, 8, 8)
    assert (dataset.source_channels, dataset.channels, dataset.image_size, len(dataset)) == (1, 3, 8, 5)
    assert dataset.images_a[:, 0, 0, 0].tolist() == [0, 10, 20, 30, 40]
    assert dataset.images_b[:, :, 0, 0].tolist() == [[100 + i, 155 - i, 0] for i in range(3)]


def test_rgb_files_that_are_gray_are_one_channel_and_channels_can_be_forced(tmp_path):
    _write(tmp_path / "trainA", [1, 2], mode="RGB")
    Image.new("RGB", (8, 8), (7, 7, 7)).save(tmp_path / "trainA" / "gray.png")
    _write(tmp_path / "trainB", [5, 6, 7], mode="L")
    Image.new("RGB", (8, 8), (9, 9, 9)).save(tmp_path / "trainB" / "also_gray.png")
    Image.new("L", (8, 8), 50).save(tmp_path / "trainB" / "photo.jpg")  # JPEG too
    gray_b = load_unaligned(f"unaligned:{tmp_path}", "train")
    assert (gray_b.source_channels, gray_b.channels) == (3, 1)  # A has colour; B's RGB file is gray in fact
    assert len(gray_b.images_b) == 5 and "photo.jpg" in gray_b.names_b
    forced = load_unaligned(f"unaligned:{tmp_path}", "train", source_channels=1, channels=3)
    assert (forced.source_channels, forced.channels) == (1, 3)


def test_every_image_meets_a_new_random_partner_each_epoch_reproducibly(tmp_path):
    dataset = load_unaligned(_set(tmp_path, count_a=6, count_b=4), "train")
    batches = dataset.batches(2, seed=7)
    assert batches.batches_per_epoch == 3  # max(6, 4) items per epoch
    epochs = []
    for _ in range(4):
        pairs = []
        for _ in range(3):
            real_a, real_b = next(batches)
            pairs += list(zip(_values(real_a), _values(real_b), strict=True))
        assert sorted(a for a, _ in pairs) == [0, 10, 20, 30, 40, 50]  # every A image once per epoch
        assert {b for _, b in pairs} == {100, 101, 102, 103}  # every B image, the smaller side repeated
        epochs.append(pairs)
    assert len({tuple(sorted(p)) for p in epochs}) > 1  # the partners change between epochs
    partners_b = [[b for _, b in epoch[i : i + 2]] for epoch in epochs for i in (0, 2, 4)]
    again, other = dataset.batches(2, seed=7), dataset.batches(2, seed=8)
    assert [_values(next(again)[1]) for _ in range(12)] == partners_b  # reproducible from the seed
    assert [_values(next(other)[1]) for _ in range(12)] != partners_b


def test_a_stream_resumed_mid_epoch_gives_the_same_batches(tmp_path):
    dataset = load_unaligned(_set(tmp_path, 7, 5, size=12), "train", image_size=8, jitter=True)
    assert dataset.load_size == 9  # 8 * 286 / 256, rounded
    first = dataset.batches(2, seed=3)
    for _ in range(5):  # into the second epoch (3 batches each)
        next(first)
    state = first.state_dict()
    assert state == {"epoch": 1, "position": 2}
    resumed = dataset.batches(2, seed=3)
    resumed.load_state_dict(state)
    for _ in range(7):
        for x, y in zip(next(first), next(resumed), strict=True):
            assert torch.equal(x, y)


def test_each_side_gets_its_own_random_crop_and_flip(tmp_path):
    size, load = 8, 16
    for side, mode in (("A", "L"), ("B", "L")):
        (tmp_path / f"train{side}").mkdir()
        for i in range(4):
            gradient = np.tile(np.arange(load, dtype=np.uint8)[None] * 16, (load, 1))  # columns 0, 16, ..., 240
            Image.fromarray(gradient, mode).save(tmp_path / f"train{side}" / f"{i}.png")
    dataset = load_unaligned(f"unaligned:{tmp_path}", "train", image_size=size, jitter=True, load_size=load)
    different = 0
    for real_a, real_b in (next(dataset.batches(4, seed=s)) for s in range(5)):
        assert real_a.shape == real_b.shape == (4, 1, size, size)
        different += int(not torch.equal(real_a, real_b))
        for row in torch.cat([real_a, real_b])[:, 0, 0]:  # a crop of the ramp: 8 steps, forwards or backwards
            steps = row[1:] - row[:-1]
            assert torch.allclose(steps.abs(), torch.full_like(steps, 32 / 255), atol=1e-5)
    assert different >= 4  # the two sides' crops and flips are drawn apart


def test_two_ranks_take_the_single_process_batch_between_them(tmp_path):
    dataset = load_unaligned(_set(tmp_path, 8, 3), "train")
    single = dataset.batches(4, seed=1)
    ranks = [dataset.batches(2, seed=1, rank=r, world_size=2) for r in (0, 1)]
    for _ in range(5):
        a, b = next(single)
        parts = [next(rank) for rank in ranks]
        assert sorted(_values(a)) == sorted(_values(parts[0][0]) + _values(parts[1][0]))
        assert sorted(_values(b)) == sorted(_values(parts[0][1]) + _values(parts[1][1]))


# ---------------------------------------------------------------- bad sets: one line naming the folder or file
def _one_line_error(error_type, call, *expected: str) -> str:
    with pytest.raises(error_type) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and all(part in message for part in expected), message
    return message


def test_bad_sets_are_one_line_errors_naming_the_folder_or_file(tmp_path):
    name = _set(tmp_path)
    _one_line_error(ConfigError, lambda: load_unaligned(f"aligned:{tmp_path}"), "unaligned:DIR", "make-unpaired")
    _one_line_error(DataError, lambda: load_unaligned(f"unaligned:{tmp_path}/nope"), f"{tmp_path}/nope", "no such")
    for file in (tmp_path / "trainB").iterdir():
        file.unlink()
    _one_line_error(DataError, lambda: load_unaligned(name), f"{tmp_path / 'trainB'}: no PNG/JPEG images")
    (tmp_path / "trainB").rmdir()
    _one_line_error(DataError, lambda: load_unaligned(name), f"{tmp_path / 'trainB'}: missing")
    _write(tmp_path / "trainB", [1, 2])
    (tmp_path / "trainA" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    _one_line_error(DataError, lambda: load_unaligned(name), str(tmp_path / "trainA" / "broken.png"), "replace")
    (tmp_path / "trainA" / "broken.png").unlink()
    Image.new("L", (16, 16)).save(tmp_path / "trainB" / "big.png")
    _one_line_error(DataError, lambda: load_unaligned(name), "big.png", "16x16", "data.image_size")
    assert load_unaligned(name, image_size=8).images_b.shape == (3, 1, 8, 8)  # a size given resizes instead


# ---------------------------------------------------------------- make-unpaired
def test_make_unpaired_from_two_classes_of_fashion_mnist(tmp_path):
    out = make_unpaired_classes("fashion-mnist", "sneaker", "Ankle Boot", tmp_path / "s2b", size=32, limit=12)
    assert sorted(p.name for p in out.iterdir()) == ["testA", "testB", "trainA", "trainB", "unpaired.json"]
    dataset = load_unaligned(f"unaligned:{out}", "test")
    fashion = load_dataset("fashion-mnist", "test", image_size=32)
    assert torch.equal(dataset.images_a, fashion.images[fashion.labels == 7][:12])  # sneaker
    assert torch.equal(dataset.images_b, fashion.images[fashion.labels == 9][:12])  # ankle-boot
    meta = json.loads((out / "unpaired.json").read_text())
    assert meta["classes"] == {"A": "sneaker", "B": "ankle-boot"} and meta["splits"]["trainA"] == 12
    assert not list(tmp_path.glob(".*")), "no temporary folder left"


def test_make_unpaired_refuses_bad_classes_and_leaves_nothing(tmp_path):
    out = tmp_path / "x"
    bad_class = lambda: make_unpaired_classes("digits", "3", "eleven", out)  # noqa: E731
    _one_line_error(ConfigError, bad_class, "'eleven'", "valid classes")
    _one_line_error(ConfigError, lambda: make_unpaired_classes("digits", "3", "3", out), "two different classes")
    assert not list(tmp_path.iterdir())


def _paired_set(root: Path, counts: dict[str, int]) -> Path:
    """aligned pairs whose two halves share an id: A all `id`, B all `255 - id`."""
    for split, count in counts.items():
        (root / split).mkdir(parents=True)
        for i in range(count):
            pair = np.concatenate([np.full((8, 8), i, np.uint8), np.full((8, 8), 255 - i, np.uint8)], axis=1)
            Image.fromarray(pair).save(root / split / f"{i:03d}.png")
    return root


def test_make_unpaired_from_pairs_keeps_no_pair_and_the_test_partners_aside(tmp_path):
    paired = _paired_set(tmp_path / "pairs", {"train": 9, "test": 6})
    out = make_unpaired_pairs(paired, tmp_path / "unpaired", seed=4)
    for split, count in (("train", 9), ("test", 6)):
        dataset = load_unaligned(f"unaligned:{out}", split)
        ids_a = dataset.images_a[:, 0, 0, 0].tolist()
        ids_b = [255 - v for v in dataset.images_b[:, 0, 0, 0].tolist()]
        assert sorted(ids_a) == sorted(ids_b) == list(range(count))  # every image, once, on its side
        assert all(a != b for a, b in zip(ids_a, ids_b, strict=True))  # no pair at one position
        assert ids_a != list(range(count))  # shuffled
    partners = json.loads((out / TRUE_PARTNERS).read_text())
    assert len(partners) == 6
    for file_a, file_b in partners.items():
        value_a = np.asarray(Image.open(out / file_a))[0, 0]
        assert 255 - np.asarray(Image.open(out / file_b))[0, 0] == value_a  # the true partner
    assert json.loads((out / "unpaired.json").read_text())["true_partners"] == TRUE_PARTNERS
    again = make_unpaired_pairs(paired, tmp_path / "again", seed=4)
    assert (again / TRUE_PARTNERS).read_text() == (out / TRUE_PARTNERS).read_text()  # reproducible from the seed


def test_random_cycle_never_fixes_a_point():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 101):
        cycle = random_cycle(n, rng)
        assert sorted(cycle) == list(range(n)) and all(cycle[i] != i for i in range(n))


def test_make_unpaired_from_a_failed_source_leaves_nothing(tmp_path):
    paired = _paired_set(tmp_path / "pairs", {"train": 4, "test": 3})
    (paired / "test" / "002.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="002.png"):
        make_unpaired_pairs(paired, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs"]


# ---------------------------------------------------------------- through the CLI: exit 2, one line, nothing written
@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "fashion-mnist", "--a", "sneaker"], "needs --a CLASS and --b CLASS"),
        (["--from", "fashion-mnist", "--a", "sneaker", "--b", "boat"], "no class 'boat'"),
        (["--from-pairs", "/nonexistent/pairs"], "/nonexistent/pairs: no such folder"),
        (["--from-pairs", "PAIRS", "--a", "x"], "--from-pairs takes no classes"),
        (["--from-pairs", "PAIRS", "--size", "4"], "--size 4 is too small"),
    ],
)
def test_make_unpaired_bad_input_through_the_cli(tmp_path, capsys, args, message):
    paired = _paired_set(tmp_path / "pairs", {"train": 3})
    args = [str(paired) if a == "PAIRS" else a for a in args]
    assert main(["data", "make-unpaired", *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs"]


def test_make_unpaired_from_real_pairs_through_the_cli(tmp_path, capsys):
    assert main(["data", "make-pairs", "--from", "digits", "--task", "edges", "--out", str(tmp_path / "p"),
                 "--limit", "10"]) == 0  # fmt: skip
    assert main(["data", "make-unpaired", "--from-pairs", str(tmp_path / "p"), "--out", str(tmp_path / "u")]) == 0
    assert "train with --task cyclegan --data unaligned:" in capsys.readouterr().err
    dataset = load_unaligned(f"unaligned:{tmp_path / 'u'}", "test")
    assert dataset.images_a.shape == (10, 1, 32, 32) and dataset.images_b.shape == (10, 1, 32, 32)
    assert len(json.loads((tmp_path / "u" / TRUE_PARTNERS).read_text())) == 10
