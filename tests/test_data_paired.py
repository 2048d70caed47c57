"""Paired data for pix2pix: make-pairs on real images, the two folder formats, joint jitter, every bad input,
and `data fetch` against a local HTTP server."""

from __future__ import annotations

import io
import json
import socket
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.data.make_pairs import edge_sigma, make_pairs
from condgan.data.pair_files import available_splits
from condgan.data.paired import augment_strokes, joint_jitter, load_paired, paper_load_size, target_domain
from condgan.data.pix2pix_sets import fetch_pix2pix_set
from condgan.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def fm_edges(tmp_path_factory) -> Path:
    """Edges of 120 Fashion-MNIST train and test images at 32 px, in the aligned format."""
    return make_pairs("fashion-mnist", "edges", 32, tmp_path_factory.mktemp("pairs") / "fm-edges", limit=120)


def halves(path: Path) -> tuple[np.ndarray, np.ndarray]:
    array = np.asarray(Image.open(path))
    height = array.shape[0]
    return array[:, :height], array[:, height:]


def save(array: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


# --- make-pairs ---------------------------------------------------------------------------------


def test_make_pairs_edges_are_canny_of_the_target(fm_edges: Path) -> None:
    from skimage.feature import canny

    assert sorted(p.name for p in fm_edges.iterdir()) == ["pairs.json", "test", "train"]
    meta = json.loads((fm_edges / "pairs.json").read_text())
    assert meta["task"] == "edges" and meta["domains"] == {"A": None, "B": "fashion-mnist"}
    assert meta["splits"] == {"train": 120, "test": 120}
    files = sorted((fm_edges / "train").glob("*.png"))
    assert len(files) == 120 and Image.open(files[0]).size == (64, 32)
    for file in files[:10]:
        edges, image = halves(file)
        expected = np.where(canny(image / 255.0, sigma=edge_sigma(32)), 0, 255)  # recomputed from the saved target
        assert np.array_equal(edges, expected)
    assert 0.02 < np.mean([(halves(f)[0] == 0).mean() for f in files]) < 0.4  # edges, not blank or all black


def detail(image: np.ndarray) -> float:
    """Mean absolute difference of horizontal neighbours: what down-sampling removes."""
    return float(np.abs(np.diff(image.astype(float), axis=1)).mean())


@pytest.mark.parametrize(("source", "task"), [("digits", "inpaint"), ("fashion-mnist", "superres")])
def test_make_pairs_other_tasks(tmp_path: Path, source: str, task: str) -> None:
    out = make_pairs(source, task, 32, tmp_path / task, limit=30, seed=3)
    details = []
    for file in sorted((out / "test").glob("*.png")):
        source_half, target = halves(file)
        if task == "inpaint":
            assert (source_half == 128).sum() >= 16 * 16  # the 16x16 square (plus any pixel that was 128 already)
            rows, cols = np.nonzero(source_half != target)
            assert (rows.max() - rows.min() < 16) and (cols.max() - cols.min() < 16)
        else:  # 4x smaller then back: Pillow's box-down, bicubic-up copy is an independent judge
            box = Image.fromarray(target).resize((8, 8), Image.Resampling.BOX)
            reference = np.asarray(box.resize((32, 32), Image.Resampling.BICUBIC), dtype=float)
            assert np.abs(source_half - reference).mean() < 0.5 * np.abs(source_half.astype(float) - target).mean()
            details.append((detail(source_half), detail(target)))
    if details:
        low, high = np.mean(details, axis=0)
        assert low < 0.6 * high  # the fine detail is gone


def test_make_pairs_colorize(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="colorize needs an RGB"):
        make_pairs("digits", "colorize", 32, tmp_path / "gray", limit=5)
    rng = np.random.default_rng(0)
    for label in ("red", "blue"):  # tinted real digits: an RGB folder set
        from sklearn.datasets import load_digits

        for i, digit in enumerate(load_digits().images[:12]):
            gray = np.kron(digit * 15, np.ones((4, 4))).astype(np.uint8)  # (32, 32)
            tint = np.array([1.0, 0.3, 0.2] if label == "red" else [0.2, 0.4, 1.0]) * rng.uniform(0.7, 1.0)
            save((gray[..., None] * tint).astype(np.uint8), tmp_path / "rgb" / label / f"{i}.png")
    out = make_pairs(f"folder:{tmp_path / 'rgb'}", "colorize", 32, tmp_path / "color")
    dataset = load_paired(f"aligned:{out}", "train")
    assert dataset.source_channels == 1 and dataset.channels == 3  # the gray side is found gray in the RGB file
    assert target_domain(dataset) == ""  # a folder set has no domain evaluator


def test_make_pairs_refuses_existing_folder_and_bad_task(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        make_pairs("digits", "edges", 32, tmp_path / "taken", limit=5)
    with pytest.raises(ConfigError, match="valid choices: edges, inpaint, superres, colorize, sketch"):
        make_pairs("digits", "doodle", 32, tmp_path / "new")
    assert not (tmp_path / "new").exists()


# --- loading both formats -----------------------------------------------------------------------


def test_aligned_and_pairs_formats_load_the_same_pairs(fm_edges: Path, tmp_path: Path) -> None:
    aligned = load_paired(f"aligned:{fm_edges}", "test")
    for file in sorted((fm_edges / "test").glob("*.png"))[:20]:
        source, target = halves(file)
        save(source, tmp_path / "p" / "test" / "source" / file.name)
        save(target, tmp_path / "p" / "test" / "target" / file.name)
    pairs = load_paired(f"pairs:{tmp_path / 'p'}", "test")
    assert pairs.sources.shape == (20, 1, 32, 32) and pairs.image_size == 32 and not pairs.jitter
    assert torch.equal(pairs.sources, aligned.sources[:20]) and torch.equal(pairs.targets, aligned.targets[:20])
    flipped = load_paired(f"aligned:{fm_edges}", "test", direction="BtoA")
    assert torch.equal(flipped.sources, aligned.targets) and target_domain(flipped) == ""
    assert target_domain(aligned) == "fashion-mnist"
    assert available_splits(f"aligned:{fm_edges}") == ["train", "test"]
    assert available_splits(f"pairs:{tmp_path / 'p'}") == ["test"]


def test_resize_on_load_and_channel_conversion(fm_edges: Path) -> None:
    train = load_paired(f"aligned:{fm_edges}", "train", 64, jitter=True, channels=3)
    assert train.load_size == paper_load_size(64) == 72 and train.sources.shape[1:] == (1, 72, 72)
    assert train.targets.shape[1:] == (3, 72, 72)
    assert torch.equal(train.targets[:, 0], train.targets[:, 2])  # gray copied to RGB


def test_jitter_is_the_same_for_both_images_and_reproducible(fm_edges: Path) -> None:
    dataset = load_paired(f"aligned:{fm_edges}", "train", jitter=True)  # stored at 36, cropped to 32
    stream = dataset.batches(16, seed=5)
    source, target = next(stream)
    assert source.shape == (16, 1, 32, 32) and target.shape == (16, 1, 32, 32)
    # same crop and flip: the identity pair (x, x) stays identical, and every crop is a real window
    same, same_again = joint_jitter(dataset.float_pairs(0, 16)[1], dataset.float_pairs(0, 16)[1], 28,
                                    torch.Generator().manual_seed(0))  # fmt: skip
    assert torch.equal(same, same_again)
    full = dataset.targets[:4].float()  # (4, 1, 36, 36)
    crop_a, crop_b = joint_jitter(full, full.flip(-1), 32, torch.Generator().manual_seed(1))
    for a, b, image in zip(crop_a, crop_b, full, strict=True):
        windows = [image[:, y : y + 32, x : x + 32] for y in range(5) for x in range(5)]
        windows += [w.flip(-1) for w in windows]
        assert any(torch.equal(a, w) for w in windows) and any(torch.equal(b.flip(-1), w) for w in windows)
    state = stream.state_dict()
    ahead = next(stream)
    resumed = dataset.batches(16, seed=5)
    resumed.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(ahead, next(resumed), strict=True))
    assert not torch.equal(next(dataset.batches(16, seed=6))[0], source)


# --- stroke augmentation (drawn inputs) --------------------------------------------------------------


@pytest.fixture(scope="module")
def fm_sketches(tmp_path_factory) -> Path:
    """Drawing-like sketches of 64 Fashion-MNIST train and test images at 32 px, in the aligned format."""
    return make_pairs("fashion-mnist", "sketch", 32, tmp_path_factory.mktemp("pairs") / "fm-sketch", limit=64)


def ink_of(source: torch.Tensor) -> torch.Tensor:
    """Black-on-white inputs in [-1, 1] (B, 1, S, S) -> ink per image (B,), 1 per fully black pixel."""
    return ((1 - source) / 2).sum(dim=(1, 2, 3))


def test_stroke_augment_thickens_thins_cuts_and_shifts_only_the_strokes(fm_sketches: Path) -> None:
    dataset = load_paired(f"aligned:{fm_sketches}", "train")
    source = dataset.float_pairs()[0]  # (64, 1, 32, 32) black strokes on white
    assert dataset.source_background == "white"
    augmented = augment_strokes(source, 1.0, torch.Generator().manual_seed(0))
    assert augmented.shape == source.shape and augmented.min() >= -1 and augmented.max() <= 1
    ratio = ink_of(augmented) / ink_of(source)
    assert (ratio > 1.15).sum() >= 10 and (ratio < 0.9).sum() >= 10  # some thicker, some thinner
    ink_before, ink_after = source < 0, augmented < 0  # (64, 1, 32, 32): pixels more black than white
    near = torch.nn.functional.max_pool2d(ink_before.float(), 5, stride=1, padding=2) > 0
    assert not (ink_after & ~near).any()  # new ink only within two pixels of a stroke (one thicker, one shifted)
    assert (ink_before & ~ink_after).flatten(1).any(1).float().mean() > 0.5  # cuts and shifts remove ink
    untouched = augment_strokes(source, 0.0, generator := torch.Generator().manual_seed(0))
    assert torch.equal(untouched, source)
    after_none = torch.rand(1, generator=generator)
    augment_strokes(source, 1.0, generator := torch.Generator().manual_seed(0))
    assert torch.equal(after_none, torch.rand(1, generator=generator))  # the same draws whatever is applied
    half = augment_strokes(source, 0.5, torch.Generator().manual_seed(0))
    changed = (half != source).flatten(1).any(1).float().mean()
    assert 0.25 < changed < 0.75  # about half the pairs
    white_on_black = augment_strokes(-source, 1.0, torch.Generator().manual_seed(0), background="black")
    assert torch.allclose(white_on_black, -augmented)  # ink is the side away from the background


def test_stroke_augment_in_batches_keeps_targets_and_resumes_exactly(fm_sketches: Path) -> None:
    plain = load_paired(f"aligned:{fm_sketches}", "train", jitter=True)
    augmented = load_paired(f"aligned:{fm_sketches}", "train", jitter=True, stroke_augment=1.0)
    assert load_paired(f"aligned:{fm_sketches}", "test", stroke_augment=1.0).stroke_augment == 0  # training only
    plain_source, plain_target = next(plain.batches(16, seed=2))
    source, target = next(augmented.batches(16, seed=2))
    assert torch.equal(target, plain_target) and not torch.equal(source, plain_source)
    stream = augmented.batches(16, seed=2)
    next(stream)
    state = stream.state_dict()
    ahead = next(stream)
    resumed = augmented.batches(16, seed=2)
    resumed.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(ahead, next(resumed), strict=True))
    with pytest.raises(ConfigError, match="stroke_augment=1.5 is not a probability"):
        load_paired(f"aligned:{fm_sketches}", "train", stroke_augment=1.5)


# --- bad input ------------------------------------------------------------------------------------


@pytest.fixture
def good_aligned(fm_edges: Path, tmp_path: Path) -> Path:
    root = tmp_path / "aligned"
    for file in sorted((fm_edges / "test").glob("*.png"))[:4]:
        save(np.asarray(Image.open(file)), root / "train" / file.name)
    return root


def test_non_pair_image_is_named(good_aligned: Path) -> None:
    save(np.zeros((32, 32), np.uint8), good_aligned / "train" / "square.png")
    with pytest.raises(DataError, match=r"square\.png: 32x32 is not an aligned pair \(width must be twice"):
        load_paired(f"aligned:{good_aligned}", "train")


def test_corrupt_and_truncated_images_are_named(good_aligned: Path) -> None:
    (good_aligned / "train" / "garbage.png").write_bytes(b"not an image at all")
    with pytest.raises(DataError, match=r"garbage\.png: not a readable image"):
        load_paired(f"aligned:{good_aligned}", "train")
    (good_aligned / "train" / "garbage.png").unlink()
    whole = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 64), dtype=np.uint8)).save(whole, format="PNG")
    (good_aligned / "train" / "cut.png").write_bytes(whole.getvalue()[:200])  # header fine, data cut off
    with pytest.raises(DataError, match=r"cut\.png: cannot decode image"):
        load_paired(f"aligned:{good_aligned}", "train")


def test_empty_and_missing_splits(good_aligned: Path) -> None:
    (good_aligned / "test").mkdir()
    with pytest.raises(DataError, match=r"test: empty split, no PNG/JPEG images"):
        load_paired(f"aligned:{good_aligned}", "test")
    with pytest.raises(DataError, match=r"has no val/ folder \(found: train, test\)"):
        load_paired(f"aligned:{good_aligned}", "val")
    with pytest.raises(DataError, match="no such folder"):
        load_paired(f"aligned:{good_aligned / 'nowhere'}", "train")
    with pytest.raises(ConfigError, match="aligned:DIR or pairs:DIR"):
        load_paired("fashion-mnist", "train")


def test_mixed_sizes_need_an_image_size(good_aligned: Path) -> None:
    save(np.zeros((16, 32), np.uint8), good_aligned / "train" / "small.png")
    message = r"small\.png: images are 16x16 but the first \(.*\) is 32x32; set data.image_size"
    with pytest.raises(DataError, match=message):
        load_paired(f"aligned:{good_aligned}", "train")
    assert load_paired(f"aligned:{good_aligned}", "train", 32).sources.shape == (5, 1, 32, 32)


def test_pairs_format_errors(tmp_path: Path) -> None:
    image = np.zeros((32, 32), np.uint8)
    save(image, tmp_path / "p" / "source" / "a.png")
    save(image, tmp_path / "p" / "target" / "a.png")
    save(image, tmp_path / "p" / "source" / "lonely.png")
    with pytest.raises(DataError, match=r"lonely\.png has no partner in .*target/"):
        load_paired(f"pairs:{tmp_path / 'p'}", "train")
    (tmp_path / "p" / "source" / "lonely.png").unlink()
    save(np.zeros((64, 64), np.uint8), tmp_path / "p" / "source" / "b.png")
    save(image, tmp_path / "p" / "target" / "b.jpg")  # matched by name, extension aside
    with pytest.raises(DataError, match=r"pair 'b': source .* is 64x64 but target .* is 32x32"):
        load_paired(f"pairs:{tmp_path / 'p'}", "train")
    save(image, tmp_path / "p" / "source" / "b.jpg")
    with pytest.raises(DataError, match="have the same name"):
        load_paired(f"pairs:{tmp_path / 'p'}", "train")
    with pytest.raises(DataError, match="no test/source/ and test/target/"):
        load_paired(f"pairs:{tmp_path / 'p'}", "test")


# --- fetch against a local server -------------------------------------------------------------------


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def facades_like(fm_edges: Path, name: str = "facades") -> dict[str, bytes]:
    """A small archive laid out as the pix2pix sets are: NAME/{train,val}/N.jpg, A|B side by side."""
    files = {}
    for split, count in (("train", 6), ("val", 3)):
        for i, file in enumerate(sorted((fm_edges / "test").glob("*.png"))[:count]):
            buffer = io.BytesIO()
            Image.open(file).convert("RGB").save(buffer, format="JPEG", quality=95)
            files[f"{name}/{split}/{i + 1}.jpg"] = buffer.getvalue()
    return files


def test_fetch_downloads_checks_and_unpacks(server, tmp_path: Path, fm_edges: Path) -> None:
    www, base = server
    (www / "facades.tar.gz").write_bytes(tar_gz(facades_like(fm_edges)))
    dest = fetch_pix2pix_set("facades", tmp_path / "sets", base_url=base)
    assert dest == tmp_path / "sets" / "facades" and sorted(p.name for p in (tmp_path / "sets").iterdir()) == [
        "facades"
    ]
    dataset = load_paired(f"aligned:{dest}", "val")
    assert dataset.sources.shape == (3, 1, 32, 32)  # JPEG of gray pixels: judged gray (R = G = B)
    (www / "facades.tar.gz").unlink()  # already there: no download
    assert fetch_pix2pix_set("facades", tmp_path / "sets", base_url=base) == dest


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"elsewhere/train/1.jpg": b"x"}, "outside maps/"),
        ({"maps/../evil.jpg": b"x"}, "outside maps/"),
        ({"maps/val/1.jpg": b"x"}, r"no images in maps/train/"),
    ],
)
def test_fetch_refuses_bad_archives_and_leaves_nothing(server, tmp_path: Path, files: dict, message: str) -> None:
    www, base = server
    (www / "maps.tar.gz").write_bytes(tar_gz(files))
    with pytest.raises(DataError, match=message):
        fetch_pix2pix_set("maps", tmp_path / "sets", base_url=base)
    assert list((tmp_path / "sets").iterdir()) == []


def test_fetch_not_a_tar_gz_offline_and_license(server, tmp_path: Path, monkeypatch) -> None:
    www, base = server
    (www / "night2day.tar.gz").write_bytes(b"<html>not found</html>")
    monkeypatch.setenv("CONDGAN_PIX2PIX_URL", base)  # the environment variable points at the server too
    with pytest.raises(DataError, match="night2day.tar.gz is not a valid tar.gz"):
        fetch_pix2pix_set("night2day", tmp_path / "sets")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    with pytest.raises(DataError) as error:
        fetch_pix2pix_set("edges2shoes", tmp_path / "sets", base_url=closed)
    assert "\n" not in str(error.value) and "could not download edges2shoes.tar.gz" in str(error.value)
    with pytest.raises(DataError, match="--accept-license"):
        fetch_pix2pix_set("cityscapes", tmp_path / "sets", base_url=base)
    with pytest.raises(ConfigError, match="valid choices: facades, maps"):
        fetch_pix2pix_set("shoes", tmp_path / "sets")
    assert list((tmp_path / "sets").iterdir()) == []


def test_fetch_uses_an_archive_placed_by_hand(tmp_path: Path, fm_edges: Path) -> None:
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "edges2handbags.tar.gz").write_bytes(tar_gz(facades_like(fm_edges, "edges2handbags")))
    dest = fetch_pix2pix_set("edges2handbags", tmp_path / "sets", base_url="http://127.0.0.1:9/")  # never asked
    assert len(list((dest / "train").iterdir())) == 6 and (tmp_path / "sets" / "edges2handbags.tar.gz").is_file()
