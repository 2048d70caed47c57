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

# `make test` runs two pytest-xdist workers: each takes its share of the cores, so they don't oversubscribe them
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // WORKERS)))

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
    "train.beta1=0.5",
    "train.beta2=0.999",
    "loss.mode_seeking=0",
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


# ----------------------------------------------------------------------------- runs the web demo's tests serve
QUIET = {"progress": False, "log": lambda message: None}


@pytest.fixture(scope="session")
def pix2pix_run(tmp_path_factory):
    """A tiny pix2pix run on real digit edges (32 px, gray -> gray), trained until its output follows its input."""
    from condgan.data.make_pairs import make_pairs
    from condgan.training import train

    root = tmp_path_factory.mktemp("web_pix2pix")
    edges = make_pairs("digits", "edges", 32, root / "edges", limit=64)
    config = load_config(overrides=["task=pix2pix", f"data.name=aligned:{edges}", "model.g_width=8",
                                    "model.d_width=8", "train.batch_size=16", "train.steps=120",
                                    "train.sample_every=0", "train.log_every=10"])  # fmt: skip
    return train(config, out=root / "p2p", **QUIET)


@pytest.fixture(scope="session")
def cyclegan_run(tmp_path_factory):
    """A tiny CycleGAN run on real unpaired data (Fashion-MNIST sneakers as A, ankle boots as B, 32 px): a few
    steps, enough for checkpointed G_AB and G_BA; the tests judge which one answers, not how well it draws."""
    from condgan.data.make_unpaired import make_unpaired_classes
    from condgan.training import train

    root = tmp_path_factory.mktemp("web_cyclegan")
    sides = make_unpaired_classes("fashion-mnist", "sneaker", "ankle-boot", root / "s2b", size=32, limit=32)
    config = load_config(overrides=["task=cyclegan", f"data.name=unaligned:{sides}", "model.g_width=8",
                                    "model.d_width=8", "model.resnet_blocks=1", "model.n_layers=2",
                                    "train.batch_size=4", "train.steps=4", "train.sample_every=0",
                                    "train.log_every=2", "loss.pool_size=3"])  # fmt: skip
    return train(config, out=root / "cycle", **QUIET)


@pytest.fixture(scope="session")
def unconditional_run(tmp_path_factory):
    from condgan.training import train

    return train(tiny_config("model.num_classes=0", "train.steps=200", "train.log_every=100"),
                 out=tmp_path_factory.mktemp("web_uncond") / "uncond", **QUIET)  # fmt: skip


@pytest.fixture(scope="session")
def evaluator_cache(tmp_path_factory):
    """A CONDGAN_CACHE folder holding a freshly trained digits domain evaluator (about 20 s)."""
    from condgan.metrics.evaluator import load_evaluator

    cache = tmp_path_factory.mktemp("web_cache")
    load_evaluator("digits", cache_dir=cache / "evaluators")
    return cache
