"""Downloads of the named datasets from their official mirrors, checked by SHA-256.

A file is streamed to a temporary name beside its destination, its SHA-256 compared with the
known value, and only then renamed into place: a failed or corrupt download leaves nothing.
Offline (no route to any mirror) gives one DataError line that says so.

Checksums: TensorFlow Datasets' `url_checksums/{fashion_mnist,mnist,kmnist}.txt` and
torchvision's prototype `datasets/_builtin/{mnist,cifar}.py` agree on every value below; the
CIFAR-10 one is also in Keras' `datasets/cifar10.py`. The MNIST mirrors serve the same bytes
as Yann LeCun's original files (torchvision checks both against one MD5).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from condgan.errors import DataError

MIRRORS: dict[str, list[str]] = {
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "kmnist": ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
}
_SHA256 = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "kmnist": {
        "train-images-idx3-ubyte.gz": "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
        "train-labels-idx1-ubyte.gz": "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
        "t10k-images-idx3-ubyte.gz": "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
        "t10k-labels-idx1-ubyte.gz": "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
    },
    "cifar10": {
        "cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    },
}

# name -> {filename: (sha256, [mirror base URLs])}
SOURCES: dict[str, dict[str, tuple[str, list[str]]]] = {
    name: {filename: (sha256, MIRRORS[name]) for filename, sha256 in files.items()} for name, files in _SHA256.items()
}

CHUNK = 1 << 20
TIMEOUT = 20.0  # seconds without an answer (connect or read) before a mirror counts as unreachable
USER_AGENT = "condgan/0.1 (Python urllib)"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def fetch_file(urls: list[str], dest: Path, sha256: str | None) -> Path:
    """Download the first URL that answers into `dest`, atomically, refusing a wrong checksum.

    `sha256=None` (no published checksum) skips the check: the caller must verify the file."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    unreachable = 0  # mirrors that never answered (no network, DNS failure, refused, timed out)
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            digest = hashlib.sha256()
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                for block in iter(lambda: response.read(CHUNK), b""):
                    digest.update(block)
                    out.write(block)
            if sha256 is not None and digest.hexdigest() != sha256:
                failures.append(f"{url}: SHA-256 {digest.hexdigest()[:12]}... != expected {sha256[:12]}...")
                continue
            os.replace(tmp, dest)
            return dest
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(exc, urllib.error.URLError) or isinstance(reason, (TimeoutError, ConnectionError)):
                unreachable += 1
            failures.append(f"{url}: {_one_line(reason)}")
        finally:
            Path(tmp).unlink(missing_ok=True)
    hint = "you seem to be offline (or every mirror is down); " if unreachable == len(urls) else ""
    raise DataError(
        f"could not download {dest.name} ({'; '.join(failures)}); {hint}"
        f"check the network, or download it yourself and put it in {dest.parent}"
    )


def fetch_dataset(name: str, folder: Path, filenames: tuple[str, ...]) -> Path:
    """Download the given files of a named dataset into `folder` (files already there are kept)."""
    if name not in SOURCES:
        raise DataError(f"no download source for dataset {name!r}; place its files in {folder}")
    for filename in filenames:
        if (Path(folder) / filename).is_file():
            continue
        if filename not in SOURCES[name]:
            raise DataError(f"no download source for {filename} of dataset {name!r}; place it in {folder}")
        sha256, bases = SOURCES[name][filename]
        fetch_file([base.rstrip("/") + "/" + filename for base in bases], Path(folder) / filename, sha256)
    return Path(folder)
