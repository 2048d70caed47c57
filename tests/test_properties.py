"""Property-based tests (hypothesis): random and corrupted bytes thrown at every reader of user files.

The property: each reader returns a result or raises the project's own error class with a one-line
message. Never another exception, never a hang (an alarm turns one into a failure), never a write.
Inputs are random bytes and real files (IDX arrays, PNGs, image pairs, safetensors checkpoints,
torch state files, YAML configs) corrupted by truncation, byte flips, insertions and header damage.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

# hypothesis caches (constants, unicode tables) go to the temp dir, not into the checkout
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "condgan-hypothesis"))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from condgan.checkpoint import latest_checkpoint, load_module_weights, load_state, save_checkpoint
from condgan.config import Config, load_config
from condgan.data.folder import load_image_folder
from condgan.data.idx import parse_idx, read_idx
from condgan.errors import CheckpointError, CondganError, ConfigError, DataError

# CONDGAN_PROPERTY_EXAMPLES=2000 explores more (and different, random) examples than CI's fixed 60.
EXPLORE = int(os.environ.get("CONDGAN_PROPERTY_EXAMPLES", "0"))
PROPERTY = settings(
    max_examples=EXPLORE or 60,
    deadline=None,  # a loaded CI machine must not fail on timing; hangs are caught by the alarm instead
    derandomize=not EXPLORE,  # in CI the same examples on every run: a failure reproduces
    database=None,  # no .hypothesis/ folder in the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
HANG_SECONDS = 20


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` in the code can swallow it."""


@contextlib.contextmanager
def no_hang(seconds: float = HANG_SECONDS):
    def alarm(signum, frame):
        raise Hang(f"no answer after {seconds}s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def result_or_own_error(function, *errors: type[CondganError]):
    """Call `function`; a project error must be of `errors` and one line. Anything else fails the test."""
    with no_hang():
        try:
            return function()
        except errors as exc:
            message = str(exc)
            assert message and "\n" not in message, repr(message)
            return exc


# ---------------------------------------------------------------- corruption
@st.composite
def corrupted(draw, data: bytes) -> bytes:
    """`data` damaged the ways files get damaged: cut short, bytes changed, bytes inserted, junk appended."""
    kind = draw(st.sampled_from(["truncate", "flip", "header", "insert", "append", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=512))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=64))
    if kind == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    buffer = bytearray(data)
    limit = min(len(buffer), 96) if kind == "header" else len(buffer)  # headers hold sizes and offsets
    for _ in range(draw(st.integers(1, 8))):
        if limit:
            buffer[draw(st.integers(0, limit - 1))] = draw(st.integers(0, 255))
    return bytes(buffer)


def _scratch(tmp_path_factory) -> Path:
    """A fresh folder per example (hypothesis runs many examples inside one test call)."""
    return Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- IDX
def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


VALID_IDX = [
    _idx_bytes(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), 0x08),
    _idx_bytes(np.arange(5, dtype=">i4"), 0x0C),
    _idx_bytes(np.linspace(0, 1, 6, dtype=">f8").reshape(3, 2), 0x0E),
]


@st.composite
def idx_headers(draw) -> bytes:
    """A well-formed header with any dims (sizes up to 2^32 - 1) and a short payload."""
    code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]))
    dims = draw(st.lists(st.one_of(st.integers(0, 4), st.integers(0, 2**32 - 1)), min_size=1, max_size=5))
    header = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + draw(st.binary(max_size=64))


@PROPERTY
@given(st.data())
def test_idx_parser_gives_an_array_or_a_data_error(data):
    raw = data.draw(st.one_of(st.binary(max_size=256), idx_headers(), st.sampled_from(VALID_IDX).flatmap(corrupted)))
    result = result_or_own_error(lambda: parse_idx(raw), DataError)
    if isinstance(result, np.ndarray):  # accepted: then the header and the byte count agree
        assert 4 + 4 * result.ndim + result.nbytes == len(raw)


@PROPERTY
@given(data=st.data())
def test_idx_files_plain_gzip_or_damaged_gzip(tmp_path_factory, data):
    folder = _scratch(tmp_path_factory)
    raw = data.draw(st.sampled_from(VALID_IDX).flatmap(corrupted))
    packed = data.draw(st.sampled_from(["raw", "gzip", "gzip-damaged"]))
    if packed != "raw":
        raw = gzip.compress(raw)
        if packed == "gzip-damaged":
            raw = data.draw(corrupted(raw))
    path = folder / ("x-idx3-ubyte.gz" if packed != "raw" else "x-idx3-ubyte")
    path.write_bytes(raw)
    result_or_own_error(lambda: read_idx(path), DataError)
    assert path.read_bytes() == raw


# ---------------------------------------------------------------- image folders and pairs
def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


RNG = np.random.default_rng(0)
GRAY_PNG = _png(RNG.integers(0, 256, (8, 8), dtype=np.uint8))
RGB_PNG = _png(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
ALIGNED_PNG = _png(RNG.integers(0, 256, (8, 16, 3), dtype=np.uint8))  # A | B side by side


@PROPERTY
@given(data=st.data())
def test_image_folder_with_a_damaged_file_loads_or_says_which_file(tmp_path_factory, data):
    root = _scratch(tmp_path_factory) / "set"
    paths = [root / cls / f"{i}.png" for cls in ("cat", "dog") for i in range(2)]
    for i, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(GRAY_PNG if i % 2 else RGB_PNG)
    victim = data.draw(st.sampled_from(paths))
    victim.write_bytes(data.draw(corrupted(victim.read_bytes())))
    before = _files(root)
    image_size = data.draw(st.sampled_from([0, 8, 5]))
    result = result_or_own_error(lambda: load_image_folder(root, image_size=image_size, workers=1), DataError)
    if isinstance(result, DataError):
        assert str(root) in str(result)
    assert _files(root) == before  # reading never writes


@PROPERTY
@given(data=st.data())
def test_pair_loaders_with_a_damaged_file(tmp_path_factory, data):
    from condgan.data.paired import load_paired

    root = _scratch(tmp_path_factory)
    kind = data.draw(st.sampled_from(["aligned", "pairs"]))
    if kind == "aligned":
        paths = [root / "train" / f"{i}.png" for i in range(3)]
        contents = [ALIGNED_PNG] * 3
    else:
        paths = [root / "train" / side / f"{i}.png" for side in ("source", "target") for i in range(3)]
        contents = [RGB_PNG, GRAY_PNG, RGB_PNG] * 2
    for path, content in zip(paths, contents, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    victim = data.draw(st.sampled_from(paths))
    victim.write_bytes(data.draw(corrupted(victim.read_bytes())))
    before = _files(root)
    result_or_own_error(lambda: load_paired(f"{kind}:{root}", "train", workers=1), DataError, ConfigError)
    assert _files(root) == before


# ---------------------------------------------------------------- checkpoints
def _tiny_module() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> dict[str, bytes]:
    """The files of a real checkpoint: a module's safetensors and a trainer-like state.pt."""
    module = _tiny_module()
    optimizer = torch.optim.Adam(module.parameters())
    module(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    state = {"step": 7, "optimizer": optimizer.state_dict(), "cpu_rng": torch.get_rng_state()}
    run = tmp_path_factory.mktemp("ckpt")
    folder = save_checkpoint(run, 7, {"generator": module.state_dict()}, state)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@PROPERTY
@given(data=st.data())
def test_damaged_weights_file_loads_or_is_a_checkpoint_error(tmp_path_factory, checkpoint_bytes, data):
    path = _scratch(tmp_path_factory) / "generator.safetensors"
    path.write_bytes(data.draw(corrupted(checkpoint_bytes["generator.safetensors"])))
    module = _tiny_module()
    result = result_or_own_error(lambda: load_module_weights(module, path), CheckpointError)
    if not isinstance(result, CheckpointError):  # accepted: every tensor has the model's shape
        assert all(torch.is_tensor(v) for v in module.state_dict().values())


@PROPERTY
@given(data=st.data())
def test_damaged_state_file_loads_or_is_a_checkpoint_error(tmp_path_factory, checkpoint_bytes, data):
    path = _scratch(tmp_path_factory) / "state.pt"
    path.write_bytes(data.draw(corrupted(checkpoint_bytes["state.pt"])))
    result_or_own_error(lambda: load_state(path), CheckpointError)


@PROPERTY
@given(data=st.data())
def test_damaged_latest_pointer_falls_back_to_a_real_checkpoint(tmp_path_factory, checkpoint_bytes, data):
    run = _scratch(tmp_path_factory)
    root = run / "checkpoints"
    for step in data.draw(st.lists(st.sampled_from([3, 10, 12]), unique=True)):
        (root / f"step_{step:08d}").mkdir(parents=True)
    root.mkdir(exist_ok=True)
    pointer = data.draw(st.one_of(st.binary(max_size=80), corrupted(b"step_00000010\n"), st.just(b"../../etc\n")))
    (root / "latest").write_bytes(pointer)
    found = result_or_own_error(lambda: latest_checkpoint(run), CheckpointError)
    assert found is None or (found.is_dir() and found.parent == root and found.name.startswith("step_"))


# ---------------------------------------------------------------- config
VALID_YAML = yaml.safe_dump(
    {
        "task": "cgan",
        "data": {"name": "digits"},
        "model": {"z_dim": 16, "generator": "mlp"},
        "train": {"lr": 1e-4, "batch_size": 32, "ema_decay": 0.999},
    }  # fmt: skip
).encode()

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12), st.binary(max_size=8)
)
KEYS = st.one_of(
    st.sampled_from(["task", "data", "model", "loss", "train", "lr", "z_dim", "name", "steps", "class_names"]),
    st.text(max_size=8),
    st.integers(),
)
TREES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4))


@PROPERTY
@given(data=st.data())
def test_config_file_gives_a_config_or_a_config_error(tmp_path_factory, data):
    path = _scratch(tmp_path_factory) / "config.yaml"
    content = data.draw(
        st.one_of(
            st.binary(max_size=256),
            corrupted(VALID_YAML),
            TREES.map(lambda tree: yaml.safe_dump(tree).encode()),
            st.dictionaries(st.sampled_from(["data", "model", "loss", "train"]), TREES, max_size=3).map(
                lambda tree: yaml.safe_dump(tree).encode()
            ),
        )
    )
    path.write_bytes(content)
    result = result_or_own_error(lambda: load_config(path), ConfigError)
    assert isinstance(result, (Config, ConfigError))
    assert path.read_bytes() == content


OVERRIDES = st.one_of(st.text(max_size=40), st.from_regex(r"(train|model|data)\.[a-z_]{1,12}=.{0,12}"))


@PROPERTY
@given(st.lists(OVERRIDES, max_size=4))
def test_set_overrides_give_a_config_or_a_config_error(overrides):
    result = result_or_own_error(lambda: load_config(overrides=overrides), ConfigError)
    assert isinstance(result, (Config, ConfigError))


def test_idx_dims_whose_product_overflows_int64_are_a_data_error():
    """Found while writing these tests: dims 2^31 x 2^31 x 4 multiply to 2^64, which numpy's int64
    product wraps to 0, so an empty payload looked right and reshape failed with a raw ValueError."""
    raw = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (2**31, 2**31, 4))
    with pytest.raises(DataError, match="truncated"):
        parse_idx(raw)
