"""`condgan data fetch` of the reference's CycleGAN sets against a local HTTP server: a good zip unpacks into a
set that `--data unaligned:DIR` loads and trains on; every bad archive or answer is one line and leaves nothing."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from condgan.cli import build_parser, main, subcommands
from condgan.config import load_config
from condgan.data.cyclegan_sets import CYCLEGAN, family_of, fetch_cyclegan_set
from condgan.data.make_unpaired import make_unpaired_classes
from condgan.data.pix2pix_sets import PIX2PIX
from condgan.data.unaligned import load_unaligned
from condgan.errors import ConfigError, DataError
from tests.test_data_paired import tar_gz


@pytest.fixture(scope="module")
def digit_sides(tmp_path_factory) -> Path:
    """Real images laid out as the reference's zips are: digits 0 (side A) and 1 (side B) at 32 px, PNG."""
    return make_unpaired_classes("digits", "0", "1", tmp_path_factory.mktemp("sides") / "d", size=32, limit=6)


def set_files(sides: Path, name: str) -> dict[str, bytes]:
    """NAME/{trainA,trainB,testA,testB}/*: side A tinted orange as RGB JPEG (as the reference's photos), side B
    the gray PNGs as they are."""
    files = {}
    for folder in ("trainA", "trainB", "testA", "testB"):
        for file in sorted((sides / folder).glob("*.png")):
            if folder.endswith("A"):
                gray = np.asarray(Image.open(file).convert("L"))
                tinted = np.stack([gray, gray // 2, np.zeros_like(gray)], axis=-1)  # (H, W, 3)
                buffer = io.BytesIO()
                Image.fromarray(tinted).save(buffer, format="JPEG", quality=95)
                files[f"{name}/{folder}/{file.stem}.jpg"] = buffer.getvalue()
            else:
                files[f"{name}/{folder}/{file.name}"] = file.read_bytes()
    return files


def zip_bytes(files: dict[str, bytes], links: dict[str, str] | None = None, folders: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder in folders:
            archive.writestr(folder.rstrip("/") + "/", b"")
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():  # a symlink as zip tools store one: its mode in external_attr
            info = zipfile.ZipInfo(name)
            info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def test_fetch_unpacks_a_set_the_unaligned_loader_trains_on(server, tmp_path: Path, digit_sides: Path) -> None:
    www, base = server
    files = set_files(digit_sides, "horse2zebra")
    files["__MACOSX/horse2zebra/trainA/._00000.jpg"] = b"resource fork"  # a Mac's zip tool adds these
    (www / "horse2zebra.zip").write_bytes(zip_bytes(files, folders=("horse2zebra", "horse2zebra/trainA")))
    logs: list[str] = []
    dest = fetch_cyclegan_set("horse2zebra", tmp_path / "sets", base_url=base, log=logs.append)
    assert dest == tmp_path / "sets" / "horse2zebra"
    assert sorted(p.name for p in (tmp_path / "sets").iterdir()) == ["horse2zebra"]  # no zip, no temporary, no Mac
    assert sorted(p.name for p in dest.iterdir()) == ["testA", "testB", "trainA", "trainB"]
    assert any(base + "horse2zebra.zip" in line for line in logs)

    train = load_unaligned(f"unaligned:{dest}", "train")
    assert train.images_a.shape == (6, 3, 32, 32) and train.images_b.shape == (6, 1, 32, 32)
    expected_b = np.stack([np.asarray(Image.open(f)) for f in sorted((digit_sides / "trainB").glob("*.png"))])
    np.testing.assert_array_equal(train.images_b[:, 0].numpy(), expected_b)  # the bytes came through unchanged
    assert load_unaligned(f"unaligned:{dest}", "test").images_a.shape[0] == 6

    from condgan.training import train as train_run

    config = load_config(overrides=["task=cyclegan", f"data.name=unaligned:{dest}", "model.g_width=8",
                                    "model.d_width=8", "model.resnet_blocks=1", "model.n_layers=2",
                                    "train.batch_size=2", "train.steps=2", "train.sample_every=0",
                                    "train.log_every=1", "loss.pool_size=2", "data.channels=3"])  # fmt: skip
    run = train_run(config, out=tmp_path / "run", progress=False, log=lambda message: None)
    checkpoint = next((run / "checkpoints").glob("step_*"))
    assert (checkpoint / "generator_ab.safetensors").is_file() and (checkpoint / "generator_ba.safetensors").is_file()

    (www / "horse2zebra.zip").unlink()  # already there: nothing is asked of the server
    assert fetch_cyclegan_set("horse2zebra", tmp_path / "sets", base_url=base, log=logs.append) == dest
    assert logs[-1] == f"condgan: horse2zebra is already in {dest}"


def test_cli_a_name_in_both_lists_is_pix2pix_unless_unpaired(server, tmp_path: Path, digit_sides: Path, capsys,
                                                             monkeypatch) -> None:  # fmt: skip
    www, base = server
    monkeypatch.setenv("CONDGAN_PIX2PIX_URL", base)
    monkeypatch.setenv("CONDGAN_CYCLEGAN_URL", base)
    pair = np.concatenate([np.zeros((32, 32), np.uint8), np.full((32, 32), 255, np.uint8)], axis=1)  # A | B
    buffer = io.BytesIO()
    Image.fromarray(pair).save(buffer, format="PNG")
    (www / "facades.tar.gz").write_bytes(tar_gz({"facades/train/1.png": buffer.getvalue()}))
    (www / "facades.zip").write_bytes(zip_bytes(set_files(digit_sides, "facades")))

    assert main(["data", "fetch", "facades", "--root", str(tmp_path / "paired")]) == 0
    err = capsys.readouterr().err
    assert "--unpaired fetches CycleGAN's facades zip" in err and "--task pix2pix --data aligned:" in err
    assert (tmp_path / "paired" / "facades" / "train" / "1.png").is_file()

    assert main(["data", "fetch", "facades", "--unpaired", "--root", str(tmp_path / "unpaired")]) == 0
    dest = tmp_path / "unpaired" / "facades"
    assert f"train with --task cyclegan --data unaligned:{dest}" in capsys.readouterr().err
    assert load_unaligned(f"unaligned:{dest}").images_a.shape == (6, 3, 32, 32)

    (www / "horse2zebra.zip").write_bytes(zip_bytes(set_files(digit_sides, "horse2zebra")))
    assert main(["data", "fetch", "horse2zebra", "--root", str(tmp_path / "unpaired")]) == 0  # CycleGAN only
    assert (tmp_path / "unpaired" / "horse2zebra" / "trainB").is_dir()


def test_which_archive_a_name_means() -> None:
    assert family_of("facades") is PIX2PIX and family_of("facades", unpaired=True) is CYCLEGAN
    assert family_of("edges2shoes") is PIX2PIX and family_of("monet2photo") is CYCLEGAN
    assert family_of("monet2photo", unpaired=True) is CYCLEGAN
    with pytest.raises(ConfigError, match=r"--unpaired: there is no CycleGAN dataset 'edges2shoes'; valid choices: "):
        family_of("edges2shoes", unpaired=True)
    with pytest.raises(ConfigError, match=r"unknown dataset 'horse2zebras'; .*pix2pix \(paired\) facades.*"
                                          r"CycleGAN \(unpaired\) apple2orange"):  # fmt: skip
        family_of("horse2zebras")
    reference = {"apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo", "cezanne2photo",
                 "ukiyoe2photo", "vangogh2photo", "maps", "cityscapes", "facades", "iphone2dslr_flower",
                 "ae_photos"}  # fmt: skip
    assert set(CYCLEGAN.sets) == reference  # download_cyclegan_dataset.sh's list
    name_help = next(a.help for a in subcommands(build_parser())["data fetch"]._actions if a.dest == "name")
    assert all(name in name_help for name in (*PIX2PIX.sets, *CYCLEGAN.sets))


def good_zip(sides: Path, name: str = "horse2zebra") -> bytes:
    return zip_bytes(set_files(sides, name))


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (lambda sides: good_zip(sides)[: len(good_zip(sides)) // 2], r"horse2zebra\.zip is not a valid zip"),
        (lambda sides: b"<html>502 Bad Gateway</html>", r"horse2zebra\.zip is not a valid zip"),
        (lambda sides: zip_bytes({**set_files(sides, "horse2zebra"), "horse2zebra/../evil.jpg": b"x"}),
         r"member 'horse2zebra/\.\./evil\.jpg' is outside horse2zebra/"),
        (lambda sides: zip_bytes({**set_files(sides, "horse2zebra"), "/etc/evil.jpg": b"x"}),
         "is outside horse2zebra/"),
        (lambda sides: zip_bytes({**set_files(sides, "horse2zebra"), "elsewhere/trainA/1.jpg": b"x"}),
         "is outside horse2zebra/"),
        (lambda sides: zip_bytes(set_files(sides, "horse2zebra"), links={"horse2zebra/trainA/link.jpg": "/etc/passwd"}),
         r"member 'horse2zebra/trainA/link\.jpg' is a link or device"),
        (lambda sides: zip_bytes({k: v for k, v in set_files(sides, "horse2zebra").items() if "/trainA/" not in k},
                                 folders=("horse2zebra/trainA",)), r"no images in horse2zebra/trainA/"),
        (lambda sides: zip_bytes({k: v for k, v in set_files(sides, "horse2zebra").items() if "/trainB/" not in k}),
         r"no images in horse2zebra/trainB/"),
    ],
    ids=["truncated", "error-page", "dotdot", "absolute", "other-folder", "symlink", "no-trainA", "no-trainB"],
)  # fmt: skip
def test_bad_archives_are_one_line_and_leave_nothing(server, tmp_path: Path, digit_sides: Path, archive,
                                                     message: str) -> None:  # fmt: skip
    www, base = server
    (www / "horse2zebra.zip").write_bytes(archive(digit_sides))
    with pytest.raises(DataError, match=message) as error:
        fetch_cyclegan_set("horse2zebra", tmp_path / "sets", base_url=base)
    assert "\n" not in str(error.value)
    assert list((tmp_path / "sets").iterdir()) == []


def test_a_damaged_member_fails_while_unpacking_and_leaves_nothing(server, tmp_path: Path, digit_sides: Path) -> None:
    """The layout is fine, the bytes of one member are not (its CRC fails when it is read): the half-unpacked
    temporary folder goes too."""
    www, base = server
    files = set_files(digit_sides, "horse2zebra")
    last = sorted(files)[-1]
    data = bytearray(zip_bytes(files))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo(last)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)  # the member's data
    data[start + info.compress_size // 2] ^= 0xFF
    (www / "horse2zebra.zip").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"horse2zebra\.zip is not a valid zip \((Bad CRC-32|Error -3)"):
        fetch_cyclegan_set("horse2zebra", tmp_path / "sets", base_url=base)
    assert list((tmp_path / "sets").iterdir()) == []


def test_unknown_name_404_license_and_cli_errors(server, tmp_path: Path, monkeypatch, capsys) -> None:
    www, base = server
    with pytest.raises(ConfigError, match=r"unknown cyclegan dataset 'zebra2horse'; valid choices: apple2orange"):
        fetch_cyclegan_set("zebra2horse", tmp_path / "sets", base_url=base)
    with pytest.raises(DataError, match=r"could not download apple2orange\.zip \(.*HTTP 404") as error:
        fetch_cyclegan_set("apple2orange", tmp_path / "sets", base_url=base)
    assert "\n" not in str(error.value) and "offline" not in str(error.value)
    with pytest.raises(DataError, match="--accept-license"):
        fetch_cyclegan_set("cityscapes", tmp_path / "sets", base_url=base)
    assert list((tmp_path / "sets").iterdir()) == []

    monkeypatch.setenv("CONDGAN_CYCLEGAN_URL", base)  # the environment variable points at the server too
    for args, expected in [
        (["zebra2horse"], "condgan: error: unknown dataset 'zebra2horse'; valid choices: pix2pix (paired) facades"),
        (["night2day", "--unpaired"], "condgan: error: --unpaired: there is no CycleGAN dataset 'night2day'"),
        (["vangogh2photo"], "condgan: error: could not download vangogh2photo.zip"),
    ]:
        assert main(["data", "fetch", *args, "--root", str(tmp_path / "cli")]) == 2
        lines = capsys.readouterr().err.splitlines()  # progress lines ("downloading URL"), then one error line
        assert lines[-1].startswith(expected) and sum("error" in line for line in lines) == 1, lines
    assert not (tmp_path / "cli").exists() or list((tmp_path / "cli").iterdir()) == []


def test_a_test_only_set_and_an_archive_placed_by_hand(tmp_path: Path, digit_sides: Path) -> None:
    """ae_photos holds photos to test a translator on (testA); a zip put in the folder by hand is used, not fetched."""
    root = tmp_path / "sets"
    root.mkdir()
    files = {k.replace("horse2zebra/", "ae_photos/"): v for k, v in set_files(digit_sides, "horse2zebra").items()
             if "/testA/" in k}  # fmt: skip
    (root / "ae_photos.zip").write_bytes(zip_bytes(files))
    dest = fetch_cyclegan_set("ae_photos", root, base_url="http://127.0.0.1:9/")  # never asked
    assert [p.name for p in dest.iterdir()] == ["testA"] and len(list((dest / "testA").iterdir())) == 6
    assert (root / "ae_photos.zip").is_file()  # the user's file is kept
