"""`condgan data fetch NAME`: the reference's standard datasets, downloaded, checked and unpacked.

One machinery for the two scripts of the reference (junyanz/pytorch-CycleGAN-and-pix2pix), each an
`ArchiveFamily`: the pix2pix sets here (`datasets/download_pix2pix_dataset.sh`:
http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/NAME.tar.gz, each holding
NAME/{train,val[,test]}/*.jpg in the aligned format, A | B side by side) and the CycleGAN sets in
data/cyclegan_sets.py (zip archives of NAME/{trainA,trainB,testA,testB}). The authors publish no
checksums, so instead of a SHA-256 an archive is checked before anything is unpacked: it must open
as what it claims to be, hold only plain files and folders under NAME/ (no absolute paths, no `..`,
no links), and have images in the folders training reads (NAME/train/ for pix2pix). It is unpacked
into a temporary folder and renamed into place, so a failed fetch leaves nothing behind.

Cityscapes: the reference stopped distributing it because of the Cityscapes license; it is
fetched only with `accept_license=True` (`--accept-license`), after agreeing to the terms at
https://www.cityscapes-dataset.com.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class ArchiveFamily:
    """The archives of one reference download script: where they are, what they hold, how to unpack one."""

    kind: str  # "pix2pix" | "cyclegan": the cache subfolder and the word in messages
    base_url: str
    url_env: str  # environment variable for another base URL (a mirror, or a local server in tests)
    suffix: str  # ".tar.gz" | ".zip"
    sets: dict[str, str]  # name -> what it holds, one line
    required: tuple[str, ...]  # folders under NAME/ that must hold images (those training reads)
    extract: Callable[[Path, str, Path], None]  # (archive, name, folder): check it, unpack NAME/ into folder
    data_prefix: str  # how a run names the unpacked set: "aligned" | "unaligned"
    task: str  # the task that trains on it
    required_for: dict[str, tuple[str, ...]] = field(default_factory=dict)  # sets with other required folders
    licensed: dict[str, str] = field(default_factory=dict)  # name -> where its license is agreed to

    def root(self) -> Path:
        """Where fetched sets go: `$CONDGAN_CACHE/KIND` (default ~/.cache/condgan/KIND)."""
        return cache_dir() / self.kind

    def required_folders(self, name: str) -> tuple[str, ...]:
        return self.required_for.get(name, self.required)

    def train_hint(self, dest: Path) -> str:
        return f"--task {self.task} --data {self.data_prefix}:{dest}"


def check_members(entries: Iterable[tuple[str, str]], name: str, required: tuple[str, ...], source: str,
                  kind: str) -> None:  # fmt: skip
    """Check an archive's (member path, "file" | "dir" | "other") entries before anything is unpacked: all under
    NAME/, plain files and folders only, images in each of NAME/<required>/; DataError naming the first fault."""
    images = dict.fromkeys(required, 0)
    for member, entry in entries:
        path = PurePosixPath(member)
        if "\\" in member or path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] != name:
            raise DataError(f"{source}: member {member!r} is outside {name}/; not a {kind} {name} archive")
        if entry not in ("file", "dir"):
            raise DataError(f"{source}: member {member!r} is a link or device; not a {kind} {name} archive")
        in_required = len(path.parts) == 3 and path.parts[1] in images
        if entry == "file" and in_required and path.suffix.lower() in IMAGE_SUFFIXES:
            images[path.parts[1]] += 1
    for folder, count in images.items():
        if not count:
            raise DataError(f"{source}: no images in {name}/{folder}/; not a {kind} {name} archive")


def _tar_entry(member: tarfile.TarInfo) -> tuple[str, str]:
    return member.name, "file" if member.isfile() else "dir" if member.isdir() else "other"


def extract_tar_gz(archive_path: Path, name: str, into: Path) -> None:
    """Check a pix2pix NAME.tar.gz and unpack it into `into` (into/NAME/...); DataError if it is not one."""
    try:
        with tarfile.open(archive_path, mode="r:gz") as archive:
            members = archive.getmembers()
            check_members(map(_tar_entry, members), name, PIX2PIX.required_folders(name), archive_path.name, "pix2pix")
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(into, members=members, **extra)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{archive_path.name} is not a valid tar.gz ({' '.join(str(exc).split())}); the download may be "
            "damaged or an error page, try again"
        ) from None


PIX2PIX = ArchiveFamily(kind="pix2pix", base_url=BASE_URL, url_env=URL_ENV, suffix=".tar.gz", sets=SETS,
                        required=("train",), extract=extract_tar_gz, data_prefix="aligned", task="pix2pix",
                        licensed=LICENSED)  # fmt: skip


def pix2pix_root() -> Path:
    """Where fetched pix2pix sets go: `$CONDGAN_CACHE/pix2pix` (default ~/.cache/condgan/pix2pix)."""
    return PIX2PIX.root()


def unpack(archive_path: Path, name: str, root: Path, family: ArchiveFamily = PIX2PIX) -> Path:
    """Check and unpack `archive_path` into root/name (atomically); return root/name."""
    tmp = root / f".{name}.{os.getpid()}.unpack"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        family.extract(archive_path, name, tmp)
        dest = root / name
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp / name, dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_set(
    family: ArchiveFamily,
    name: str,
    root: str | Path | None = None,
    *,
    base_url: str | None = None,
    accept_license: bool = False,
    force: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Download and unpack one set of `family` into root/NAME (kept if already there); return it.

    An archive already in root (downloaded by hand) is used and kept; a downloaded one is removed."""
    if name not in family.sets:
        raise ConfigError(f"unknown {family.kind} dataset {name!r}; valid choices: {', '.join(family.sets)}")
    if name in family.licensed and not accept_license:
        raise DataError(
            f"{name} is under its own license and the reference's authors no longer distribute it; agree to the "
            f"terms at {family.licensed[name]} and pass --accept-license, or prepare it from the official files"
        )
    root = Path(root) if root is not None else family.root()
    dest = root / name
    if all((dest / folder).is_dir() for folder in family.required_folders(name)) and not force:
        log(f"condgan: {name} is already in {dest}")
        return dest
    base = base_url or os.environ.get(family.url_env) or family.base_url
    url = base.rstrip("/") + f"/{name}{family.suffix}"
    root.mkdir(parents=True, exist_ok=True)
    archive = root / f"{name}{family.suffix}"
    if archive.is_file():  # downloaded by hand (the offline message suggests it): use it, keep it
        log(f"condgan: unpacking {archive}")
        return unpack(archive, name, root, family)
    log(f"condgan: downloading {url}")
    try:
        fetch_file([url], archive, sha256=None)  # no published checksum: unpack() checks the archive instead
        return unpack(archive, name, root, family)
    finally:
        archive.unlink(missing_ok=True)


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
    return fetch_set(PIX2PIX, name, root, base_url=base_url, accept_license=accept_license, force=force, log=log)
