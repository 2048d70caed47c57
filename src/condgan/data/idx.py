"""Reader for the IDX format of MNIST, Fashion-MNIST and KMNIST (`.gz` or raw).

Format: 2 zero bytes, a dtype code, the number of dims, then one big-endian uint32 per dim,
then the data, row-major, big-endian.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from condgan.errors import DataError

_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array; DataError on any defect."""
    if len(raw) < 4:
        raise DataError(f"{source}: IDX file too short ({len(raw)} bytes, need at least 4); the file is truncated")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{source}: bad IDX magic number {raw[:4].hex()} (expected 0000 then dtype and ndim); "
            "not an IDX file or corrupt"
        )
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise DataError(f"{source}: unknown IDX dtype code 0x{code:02x} (expected one of 08 09 0b 0c 0d 0e)")
    if ndim == 0:
        raise DataError(f"{source}: IDX file declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: IDX header truncated ({len(raw)} bytes, header needs {header}); re-download it")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _DTYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize  # exact: numpy's int64 product can wrap around
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(
            f"{source}: IDX file {what}: dims {dims} need {expected} bytes, found {len(raw)}; re-download it"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed when its name ends in .gz or its bytes say so)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: IDX file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc}); delete the file and download it again") from None
    elif path.suffix == ".gz":
        raise DataError(f"{path}: named .gz but not gzip data; delete the file and download it again")
    return parse_idx(raw, str(path))
