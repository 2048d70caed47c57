"""IDX reader: good files of every dtype (raw and gzip), and every kind of corrupt file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from condgan.data.idx import parse_idx, read_idx
from condgan.errors import DataError

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray, code: int | None = None) -> bytes:
    """The IDX encoding of `array`: 0 0 dtype ndim, big-endian uint32 dims, big-endian data."""
    code = CODES[array.dtype.type] if code is None else code
    header = bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


GOOD = [
    np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    np.array([-128, -1, 0, 127], dtype=np.int8),
    np.array([[-30000, 2], [3, 30000]], dtype=np.int16),
    np.array([[1, -2, 70000], [2**31 - 1, -(2**31), 0]], dtype=np.int32),
    np.array([0.5, -1.25, 3e7], dtype=np.float32),
    np.array([[np.pi, -np.e]], dtype=np.float64),
]


@pytest.mark.parametrize("array", GOOD, ids=lambda a: f"{a.dtype}-{a.ndim}d")
@pytest.mark.parametrize("compressed", [False, True])
def test_read_good_files(tmp_path: Path, array: np.ndarray, compressed: bool):
    raw = idx_bytes(array)
    path = tmp_path / ("data.idx.gz" if compressed else "data.idx")
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    for result in (read_idx(path), parse_idx(raw)):
        assert result.shape == array.shape
        assert result.dtype == array.dtype and result.dtype.isnative
        np.testing.assert_array_equal(result, array)


def test_gzip_detected_by_bytes_not_name(tmp_path: Path):
    array = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"  # no .gz suffix, gzip content
    path.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(path), array)


GOOD_RAW = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
CORRUPT = {
    "too-short": (b"\x00\x00", "too short"),
    "bad-magic": (b"\x01\x02" + GOOD_RAW[2:], "magic"),
    "unknown-dtype": (b"\x00\x00\x07" + GOOD_RAW[3:], "dtype code 0x07"),
    "zero-dims": (b"\x00\x00\x08\x00", "0 dimensions"),
    "truncated-header": (GOOD_RAW[:9], "header truncated"),
    "truncated-data": (GOOD_RAW[:-1], "truncated"),
    "trailing-bytes": (GOOD_RAW + b"\x00", "trailing bytes"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
@pytest.mark.parametrize("compressed", [False, True])
def test_corrupt_files_name_the_file(tmp_path: Path, case: str, compressed: bool):
    raw, expected = CORRUPT[case]
    path = tmp_path / (f"{case}.gz" if compressed else case)
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and expected in message
    assert "\n" not in message


def test_parse_idx_names_its_source():
    with pytest.raises(DataError, match="^train-images: bad IDX magic"):
        parse_idx(b"\xff" * 20, source="train-images")


def test_bad_gzip(tmp_path: Path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(GOOD_RAW)[:-12])  # gzip magic, stream cut short
    with pytest.raises(DataError, match="corrupt gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_gz_name_without_gzip_bytes(tmp_path: Path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(GOOD_RAW)
    with pytest.raises(DataError, match="not gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(DataError, match="not found"):
        read_idx(tmp_path / "nope.gz")
