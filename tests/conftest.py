"""Shared fixtures: small real data, a tiny trained run, quiet thread settings."""

from __future__ import annotations

import functools
import http.server
import os
import threading

from condgan.threads import use_condgan_threads  # noqa: E402

use_condgan_threads()  # before torch is imported: condgan's OpenMP wait policy

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

from condgan.config import load_config  # noqa: E402

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared")


TINY_OVERRIDES = (  # a fast MLP cGAN on scikit-learn's 8x8 digits (real data, embedded, seconds to train)
    "data.name=digits",
    "model.generator=mlp",
    "model.discriminator=mlp",
    "model.conditioning=concat",
    "model.z_dim=16",
    "train.batch_size=32",
    "train.lr=2e-4",
    "train.log_every=1",
    "train.sample_every=0",
    "train.checkpoint_every=0",
)


def tiny_config(*overrides: str):
    """TINY_OVERRIDES, then `overrides`, as a Config."""
    return load_config(overrides=[*TINY_OVERRIDES, *overrides])


def tiny_cli_args(*overrides: str) -> list[str]:
    """The same recipe as `condgan train` arguments: --set KEY=VALUE for each override."""
    return [arg for override in (*TINY_OVERRIDES, *overrides) for arg in ("--set", override)]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A digits run trained for 800 steps: shared by the sampling, CLI and generate tests."""
    from condgan.training import train

    out = tmp_path_factory.mktemp("runs") / "digits"
    train(tiny_config("train.steps=800", "train.log_every=100"), out=out, progress=False, log=lambda m: None)
    return out


@pytest.fixture
def condgan_cache(tmp_path_factory, monkeypatch):
    """A session-wide temporary cache: the digits evaluator is trained the first time it is needed."""
    root = tmp_path_factory.getbasetemp() / "condgan-eval-cache"
    root.mkdir(exist_ok=True)
    monkeypatch.setenv("CONDGAN_CACHE", str(root))
    return root


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    """(folder served, its base URL): a local HTTP server on 127.0.0.1 at a free port, for the download code."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=root))
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
