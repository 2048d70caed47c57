"""`condgan data fetch NAME`: the standard pix2pix datasets, downloaded and unpacked.

The archives are those of the reference's `datasets/download_pix2pix_dataset.sh`
(junyanz/pytorch-CycleGAN-and-pix2pix): http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/NAME.tar.gz,
each holding NAME/{train,val[,test]}/*.jpg in the aligned format (A | B side by side). The
authors publish no checksums, so instead of a SHA-256 the archive is checked before anything is
unpacked: it must open as a tar.gz, hold only plain files and folders under NAME/ (no absolute
paths, no `..`, no links), and have images in NAME/train/. It is unpacked into a temporary
folder and renamed into place, so a failed fetch leaves nothing behind.

Cityscapes: the reference stopped distributing it because of the Cityscapes license; it is
fetched only with `accept_license=True` (`--accept-license`), after agreeing to the terms at
https://www.cityscapes-dataset.com.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from condgan.data.datasets import cache_dir
from condgan.data.download import fetch_file
from condgan.data.folder import IMAGE_SUFFIXES
from condgan.errors import ConfigError, DataError

BASE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/"
URL_ENV = "CONDGAN_PIX2PIX_URL"  # another base URL (a mirror, or a local server in tests)
SETS = {
    "facades": "400 label maps | building facades, 256 px (CMP Facades)",
    "maps": "1096 aerial photos | map tiles, 600 px (Google Maps)",
    "edges2shoes": "50k edge maps | shoes, 256 px (UT Zappos50K)",
    "edges2handbags": "137k edge maps | handbags, 256 px (iGAN)",
    "night2day": "20k night | day webcam views, 256 px (Transient Attributes)",
    "cityscapes": "2975 semantic labels | street photos, 256 px (Cityscapes; its own license)",
}
LICENSED = {"cityscapes": "https://www.cityscapes-dataset.com"}


def pix2pix_root() -> Path:
    """Where fetched sets go: `$CONDGAN_CACHE/pix2pix` (default ~/.cache/condgan/pix2pix)."""
    return cache_dir() / "pix2pix"


def check_archive(archive: tarfile.TarFile, name: str, source: str) -> list[tarfile.TarInfo]:
    """The members to unpack, after checking the layout NAME/{train,...}/images; DataError otherwise."""
    members = archive.getmembers()
    train_images = 0
    for member in members:
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != name:
            raise DataError(f"{source}: member {member.name!r} is outside {name}/; not a pix2pix {name} archive")
        if not (member.isfile() or member.isdir()):
            raise DataError(f"{source}: member {member.name!r} is a link or device; not a pix2pix {name} archive")
        in_train = len(path.parts) == 3 and path.parts[1] == "train"
        if member.isfile() and in_train and path.suffix.lower() in IMAGE_SUFFIXES:
            train_images += 1
    if not train_images:
        raise DataError(f"{source}: no images in {name}/train/; not a pix2pix {name} archive")
    return members


def unpack(archive_path: Path, name: str, root: Path) -> Path:
    """Check and unpack `archive_path` into root/name (atomically); return root/name."""
    tmp = root / f".{name}.{os.getpid()}.unpack"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(archive_path, mode="r:gz") as archive:
            members = check_archive(archive, name, archive_path.name)
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(tmp, members=members, **extra)
        dest = root / name
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp / name, dest)
        return dest
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{archive_path.name} is not a valid tar.gz ({' '.join(str(exc).split())}); the download may be "
            "damaged or an error page, try again"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_pix2pix_set(
    name: str,
    root: str | Path | None = None,
    *,
    base_url: str | None = None,
    accept_license: bool = False,
    force: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Download and unpack one standard pix2pix set into root/NAME (kept if already there); return it.

    Train on it with `--task pix2pix --data aligned:<returned path>`.
    """
    if name not in SETS:
        raise ConfigError(f"unknown pix2pix dataset {name!r}; valid choices: {', '.join(SETS)}")
    if name in LICENSED and not accept_license:
        raise DataError(
            f"{name} is under its own license and the pix2pix authors no longer distribute it; agree to the terms "
            f"at {LICENSED[name]} and pass --accept-license, or prepare it from the official files"
        )
    root = Path(root) if root is not None else pix2pix_root()
    dest = root / name
    if (dest / "train").is_dir() and not force:
        log(f"condgan: {name} is already in {dest}")
        return dest
    base = base_url or os.environ.get(URL_ENV) or BASE_URL
    url = base.rstrip("/") + f"/{name}.tar.gz"
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"{name}.tar.gz"
    if archive.is_file():  # downloaded by hand (the offline message suggests it): use it, keep it
        log(f"condgan: unpacking {archive}")
        return unpack(archive, name, root)
    log(f"condgan: downloading {url}")
    try:
        fetch_file([url], archive, sha256=None)  # no published checksum: unpack() checks the archive instead
        return unpack(archive, name, root)
    finally:
        archive.unlink(missing_ok=True)
