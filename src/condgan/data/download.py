"""Downloads of the named datasets from their official mirrors, checked by SHA-256.

A file is streamed to a temporary name beside its destination, its SHA-256 compared with the
known value, and only then renamed into place: a failed or corrupt download leaves nothing.
Offline (no route to any mirror) gives one DataError line that says so.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from condgan.errors import DataError

# name -> {filename: (sha256, [mirror base URLs])}; filled in by SOURCES below.
SOURCES: dict[str, dict[str, tuple[str, list[str]]]] = {}

CHUNK = 1 << 20
TIMEOUT = 30.0


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_file(urls: list[str], dest: Path, sha256: str) -> Path:
    """Download the first URL that answers into `dest`, atomically, refusing a wrong checksum."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                for block in iter(lambda: response.read(CHUNK), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != sha256:
                failures.append(f"{url}: SHA-256 {digest.hexdigest()[:12]}... != expected {sha256[:12]}...")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            failures.append(f"{url}: {getattr(exc, 'reason', exc)}")
        finally:
            Path(tmp).unlink(missing_ok=True)
    raise DataError(f"could not download {dest.name} ({'; '.join(failures)}); check the network or place it in {dest.parent}")


def fetch_dataset(name: str, folder: Path, filenames: tuple[str, ...]) -> Path:
    """Download the given files of a named dataset into `folder`."""
    if name not in SOURCES:
        raise DataError(f"no download source for dataset {name!r}; place its files in {folder}")
    for filename in filenames:
        if (Path(folder) / filename).is_file():
            continue
        sha256, bases = SOURCES[name][filename]
        fetch_file([base.rstrip("/") + "/" + filename for base in bases], Path(folder) / filename, sha256)
    return Path(folder)
