"""`condgan data fetch NAME` for CycleGAN: the reference's unpaired datasets, downloaded, checked and unpacked.

The archives are those of the reference's `datasets/download_cyclegan_dataset.sh`
(junyanz/pytorch-CycleGAN-and-pix2pix): http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/NAME.zip,
each holding NAME/{trainA,trainB,testA,testB}/*.jpg, the layout `--data unaligned:DIR` reads
(data/unaligned.py). They are fetched by the pix2pix sets' machinery (data/pix2pix_sets.py:
`fetch_set`): checked before anything is unpacked, unpacked into a temporary folder and renamed into
place, `$CONDGAN_CYCLEGAN_URL` for another base URL. The zip check: it opens as a zip; every member
is under NAME/, a plain file or folder (a symlink or device, as its Unix mode in `external_attr` says,
is refused), with no absolute path, `..` or backslash; NAME/trainA/ and NAME/trainB/ hold images.
macOS's `__MACOSX/` resource-fork entries are left out. A damaged or truncated archive is one
DataError line and leaves nothing behind.

Three names are also pix2pix sets (facades, maps, cityscapes; the same photos, paired there).
`condgan data fetch NAME` takes the pix2pix archive for those, `--unpaired` the CycleGAN zip
(`family_of`); the two go to different folders (~/.cache/condgan/pix2pix/NAME and .../cyclegan/NAME).
ae_photos holds photos for testing a translator one way (the reference tests its style models on
them), not a training set: it is checked for images in ae_photos/testA/ only.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from condgan.data.pix2pix_sets import LICENSED, PIX2PIX, ArchiveFamily, check_members, fetch_set
from condgan.errors import ConfigError, DataError

BASE_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/"
URL_ENV = "CONDGAN_CYCLEGAN_URL"  # another base URL (a mirror, or a local server in tests)
SETS = {
    "apple2orange": "apples | oranges, 256 px (ImageNet)",
    "summer2winter_yosemite": "Yosemite in summer | in winter, 256 px (Flickr)",
    "horse2zebra": "horses | zebras, 256 px (ImageNet)",
    "monet2photo": "Monet paintings | landscape photos, 256 px (WikiArt, Flickr)",
    "cezanne2photo": "Cezanne paintings | landscape photos, 256 px (WikiArt, Flickr)",
    "ukiyoe2photo": "ukiyo-e prints | landscape photos, 256 px (WikiArt, Flickr)",
    "vangogh2photo": "Van Gogh paintings | landscape photos, 256 px (WikiArt, Flickr)",
    "maps": "aerial photos | map tiles, 600 px (Google Maps; unpaired)",
    "cityscapes": "semantic labels | street photos, 256 px (Cityscapes; its own license)",
    "facades": "label maps | building facades, 256 px (CMP Facades; unpaired)",
    "iphone2dslr_flower": "iPhone | DSLR flower photos, 256 px (Flickr)",
    "ae_photos": "photos to test a translator on (testA only; not a training set)",
}
SKIPPED_PREFIX = "__MACOSX/"  # resource forks a Mac's zip tool adds: never part of the set
KIND = "cyclegan"


def _zip_entry(info: zipfile.ZipInfo) -> tuple[str, str]:
    """(name, "file" | "dir" | "other"): the type from the Unix mode in the high 16 bits of external_attr
    (0 when the zip was made elsewhere: a plain file or, with a trailing /, a folder)."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return info.filename, "other"  # a symlink, device, FIFO or socket
    return info.filename, "dir" if info.is_dir() or kind == stat.S_IFDIR else "file"


def extract_zip(archive_path: Path, name: str, into: Path) -> None:
    """Check a CycleGAN NAME.zip and unpack it into `into` (into/NAME/...); DataError if it is not one."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = [info for info in archive.infolist() if not info.filename.startswith(SKIPPED_PREFIX)]
            check_members(map(_zip_entry, members), name, CYCLEGAN.required_folders(name), archive_path.name, KIND)
            archive.extractall(into, members=members)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # NotImplementedError: zipfile's answer to a compression method it cannot read (not a stub here)
        raise DataError(
            f"{archive_path.name} is not a valid zip ({' '.join(str(exc).split())}); the download may be damaged "
            "or an error page, try again"
        ) from None


CYCLEGAN = ArchiveFamily(kind=KIND, base_url=BASE_URL, url_env=URL_ENV, suffix=".zip", sets=SETS,
                         required=("trainA", "trainB"), extract=extract_zip, data_prefix="unaligned",
                         task="cyclegan", required_for={"ae_photos": ("testA",)},
                         licensed=LICENSED)  # fmt: skip


def family_of(name: str, unpaired: bool = False) -> ArchiveFamily:
    """Which archive `condgan data fetch NAME` means: the pix2pix one for a pix2pix name (facades, maps and
    cityscapes are both), the CycleGAN zip for a CycleGAN-only name or with `unpaired`."""
    if unpaired:
        if name not in CYCLEGAN.sets:
            raise ConfigError(f"--unpaired: there is no CycleGAN dataset {name!r}; valid choices: "
                              f"{', '.join(CYCLEGAN.sets)}")  # fmt: skip
        return CYCLEGAN
    if name in PIX2PIX.sets:
        return PIX2PIX
    if name in CYCLEGAN.sets:
        return CYCLEGAN
    raise ConfigError(f"unknown dataset {name!r}; valid choices: pix2pix (paired) {', '.join(PIX2PIX.sets)}; "
                      f"CycleGAN (unpaired) {', '.join(CYCLEGAN.sets)}")  # fmt: skip


def cyclegan_root() -> Path:
    """Where fetched CycleGAN sets go: `$CONDGAN_CACHE/cyclegan` (default ~/.cache/condgan/cyclegan)."""
    return CYCLEGAN.root()


def fetch_cyclegan_set(
    name: str,
    root: str | Path | None = None,
    *,
    base_url: str | None = None,
    accept_license: bool = False,
    force: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> Path:
    """Download and unpack one CycleGAN set into root/NAME (kept if already there); return it.

    Train on it with `--task cyclegan --data unaligned:<returned path>`.
    """
    return fetch_set(CYCLEGAN, name, root, base_url=base_url, accept_license=accept_license, force=force, log=log)
