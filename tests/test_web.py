"""The web demo (`condgan serve`): its pictures as plain functions, then the real page in headless Chromium.

The browser tests start `condgan serve` in a subprocess on a free 127.0.0.1 port (with an audit hook that
records any connection or name lookup to a host that is not loopback), drive the page with Playwright and
Debian's /usr/bin/chromium, check every request the page makes stays on the server, and save a screenshot of
each tab in test-artifacts/.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.config import load_config
from condgan.data.make_pairs import make_pairs
from condgan.data.make_unpaired import make_unpaired_classes
from condgan.errors import CondganError, DataError
from condgan.generate import ClassConditionalGenerator, load_generator
from condgan.models import build_generator
from condgan.models.layers import ConditionalBatchNorm2d
from condgan.training import train
from condgan.web import views
from tests.conftest import tiny_config
from tests.webpage import (
    ARTIFACTS,
    AUDIT_HOOK,
    assert_stayed_home,
    browser,
    choose,
    data_url,
    draw,
    free_port,
    image_after,
    open_page,
    pad_pixels,
    png_declaring,
    screenshot,
    serving,
    settled_translation,
    status,  # fmt: skip
)

__all__ = ["browser"]  # a fixture, used by name

QUIET = {"progress": False, "log": lambda message: None}


# ----------------------------------------------------------------------------- runs the demo serves


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory) -> Path:
    """A tiny pix2pix run on real digit edges (32 px, gray -> gray), trained until its output follows its input."""
    root = tmp_path_factory.mktemp("web_pix2pix")
    edges = make_pairs("digits", "edges", 32, root / "edges", limit=64)
    config = load_config(overrides=["task=pix2pix", f"data.name=aligned:{edges}", "model.g_width=8",
                                    "model.d_width=8", "train.batch_size=16", "train.steps=120",
                                    "train.sample_every=0", "train.log_every=10"])  # fmt: skip
    return train(config, out=root / "p2p", **QUIET)


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory) -> Path:
    """A tiny CycleGAN run on real unpaired data (Fashion-MNIST sneakers as A, ankle boots as B, 32 px): a few
    steps, enough for checkpointed G_AB and G_BA; the tests judge which one answers, not how well it draws."""
    root = tmp_path_factory.mktemp("web_cyclegan")
    sides = make_unpaired_classes("fashion-mnist", "sneaker", "ankle-boot", root / "s2b", size=32, limit=32)
    config = load_config(overrides=["task=cyclegan", f"data.name=unaligned:{sides}", "model.g_width=8",
                                    "model.d_width=8", "model.resnet_blocks=1", "model.n_layers=2",
                                    "train.batch_size=4", "train.steps=4", "train.sample_every=0",
                                    "train.log_every=2", "loss.pool_size=3"])  # fmt: skip
    return train(config, out=root / "cycle", **QUIET)


@pytest.fixture(scope="module")
def unconditional_run(tmp_path_factory) -> Path:
    return train(tiny_config("model.num_classes=0", "train.steps=200", "train.log_every=100"),
                 out=tmp_path_factory.mktemp("web_uncond") / "uncond", **QUIET)  # fmt: skip


@pytest.fixture(scope="module")
def evaluator_cache(tmp_path_factory) -> Path:
    """A CONDGAN_CACHE folder holding a freshly trained digits domain evaluator (about 20 s)."""
    from condgan.metrics.evaluator import load_evaluator

    cache = tmp_path_factory.mktemp("web_cache")
    load_evaluator("digits", cache_dir=cache / "evaluators")
    return cache


# ----------------------------------------------------------------------------- the pictures, without a browser


def test_sample_grid_is_the_generators_images(trained_run: Path) -> None:
    generator = load_generator(trained_run)
    grid = np.asarray(views.sample_grid(generator, "3", 16, 0, 0.0))
    scale = views.DISPLAY // 8
    assert grid.shape == ((4 * (8 + 2) + 2) * scale,) * 2  # a 4x4 tile of 8 px images, 2 px gaps, shown 8x
    first = generator.generate_tensor(generator.noise(16, 0)[:1], torch.tensor([3]))  # noise row 0 of seed 0
    first = first.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)[0, 0].numpy()  # (8, 8)
    assert np.array_equal(grid[2 * scale : 10 * scale : scale, 2 * scale : 10 * scale : scale], first)
    other = np.asarray(views.sample_grid(generator, "8", 16, 0, 0.0))
    assert np.abs(grid.astype(int) - other).mean() > 5  # two classes, same noise: different images


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_class_morph_ends_are_the_two_classes(model: str, request) -> None:
    """Class weights (1, 0) and (0, 1) give exactly the images of the hard labels: the trained digits MLP
    (one-hot concatenated) and a DCGAN with conditional batch norm (per-class scale and shift made to differ)."""
    if model == "mlp":
        generator = load_generator(request.getfixturevalue("trained_run"))
        config = generator.config
    else:
        config = load_config(overrides=["data.name=digits", "model.generator=dcgan", "model.num_classes=10",
                                        "data.image_size=28", "data.channels=1",
                                        "data.class_names=[0,1,2,3,4,5,6,7,8,9]"])  # fmt: skip
        torch.manual_seed(0)
        module = build_generator(config)
        for layer in module.modules():  # untrained conditional BN is the same for every class
            if isinstance(layer, ConditionalBatchNorm2d):
                torch.nn.init.normal_(layer.scale.weight, 1.0, 0.5)
                torch.nn.init.normal_(layer.shift.weight, 0.0, 0.5)
        generator = ClassConditionalGenerator(module, config, torch.device("cpu"))
    strip = np.asarray(views.interpolation(generator, "classes", "2", "7", 4, 0, 5))
    size = config.data.image_size
    scale = views.DISPLAY // size if size < views.DISPLAY else 1
    cell = (size + 2) * scale
    z = generator.noise(1, 4)
    for column, label in ((0, 2), (4, 7)):
        hard = generator.generate_tensor(z, torch.tensor([label]))
        expected = hard.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)[0, 0].numpy()
        x = column * cell + 2 * scale
        shown = strip[2 * scale : 2 * scale + size * scale : scale, x : x + size * scale : scale]
        assert np.abs(shown.astype(int) - expected).max() <= 1
    ends = generator.generate_tensor(z.repeat(2, 1), torch.tensor([2, 7]))
    assert (ends[0] - ends[1]).abs().max() > 0.05  # the two classes differ, so the check above can fail


def test_latent_picture_of_a_conditional_model(trained_run: Path) -> None:
    picture, caption = views.latent_picture(load_generator(trained_run), seed=2)
    assert picture.height > 10 * 8 * 8 and "Each column keeps one noise vector" in caption


@pytest.mark.slow
def test_unconditional_models_are_sorted_by_predicted_class(unconditional_run, evaluator_cache, monkeypatch):
    generator = load_generator(unconditional_run)
    monkeypatch.setenv("CONDGAN_CACHE", str(evaluator_cache / "nowhere"))
    with pytest.raises(CondganError, match="no domain evaluator cached for digits; run `condgan eval`"):
        views.latent_picture(generator, seed=0)
    monkeypatch.setenv("CONDGAN_CACHE", str(evaluator_cache))
    picture, caption = views.latent_picture(generator, seed=0)
    assert picture.height > 10 * 8 * 8 and "sorted by the class the domain evaluator sees" in caption
    with pytest.raises(CondganError, match="unconditional: it has no classes to morph"):
        views.interpolation(generator, "classes", None, None, 0, 1, 4)
    assert views.sample_grid(generator, None, 9, 0, 0.0).size == views.sample_grid(generator, "x", 9, 1, 0.5).size


def test_bad_inputs_are_one_line_errors(trained_run: Path, tmp_path: Path) -> None:
    generator = load_generator(trained_run)
    for call, message in (
        (lambda: views.pick({}, None, "generator"), "no generator loaded; start the demo with a class-conditional"),
        (lambda: views.pick({}, None, "pix2pix model"), "no pix2pix model loaded; start the demo with a pix2pix"),
        (lambda: views.sample_grid(generator, "cat", 4, 0, 0.0), "unknown class 'cat'; valid classes: 0, 1"),
        (lambda: views.sample_grid(generator, "3", 0, 0, 0.0), "number of images must be 1..64"),
        (lambda: views.sample_grid(generator, "3", 4, -1, 0.0), "seed must be a whole number >= 0"),
        (lambda: views.sample_grid(generator, "3", 4, 0, -1.0), "truncation must be 0"),
        (lambda: views.interpolation(generator, "both", "3", "4", 0, 1, 4), "unknown interpolation mode"),
        (lambda: views.drawing_image(""), "the drawing pad is empty"),
        (lambda: views.drawing_image(data_url(Image.new("RGB", (64, 64), "white"))), "the drawing pad is empty"),
        (lambda: views.drawing_image(data_url(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))), "the drawing pad is empty"),
        (lambda: views.drawing_image("data:image/jpeg;base64,AAAA"), "a drawing must be a PNG data URL"),
        (lambda: views.drawing_image(views.DATA_URL_PREFIX + "%%%"), "not valid base64"),
        (lambda: views.drawing_image(views.DATA_URL_PREFIX + "A" * (views.MAX_DRAWING_CHARS + 4)),
         "at most 4,194,304 are taken"),
        (lambda: views.upload_image(None), "no file uploaded"),
    ):
        with pytest.raises(CondganError, match=message):
            call()
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(DataError, match="^notes.png is not an image that can be read; upload a PNG or JPEG"):
        views.upload_image(tmp_path / "notes.png")


@pytest.fixture
def bad_uploads(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, the message the page must show): the four kinds of bad upload."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(60_000, 60_000))
    large = tmp_path / "large.png"
    large.write_bytes(png_declaring(5_000, 5_000))
    whole = io.BytesIO()
    views_drawing().save(whole, format="PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    notes = tmp_path / "notes.png"
    notes.write_text("this is not an image")
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as out:
        out.write(whole.getvalue())
        out.truncate(views.MAX_UPLOAD_BYTES + 1)  # a PNG followed by zeros (sparse on disk)
    return {
        "bomb": (bomb, "bomb.png declares over 89,478,485 pixels (a decompression bomb?); images up to 4096x4096"),
        "large": (large, "large.png is 5000x5000 pixels; images up to 4096x4096 are taken"),
        "truncated": (truncated, "truncated.png is truncated or damaged; upload a PNG or JPEG"),
        "not an image": (notes, "notes.png is not an image that can be read; upload a PNG or JPEG"),
        "over the limit": (huge, "huge.png is 20.0 MB; uploads up to 20 MB are taken"),
    }


def views_drawing(name: str = "T-shirt") -> Image.Image:
    from condgan.web.drawing import render_example

    return render_example(name)


def test_bad_uploads_are_one_line_errors(bad_uploads) -> None:
    for path, message in bad_uploads.values():
        with pytest.raises(DataError, match="^" + re.escape(message)):
            views.upload_image(path)
    with pytest.raises(DataError, match="the drawing is 5000x5000 pixels"):
        views.drawing_image(views.DATA_URL_PREFIX + base64.b64encode(png_declaring(5_000, 5_000)).decode())
    good = bad_uploads["bomb"][0].with_name("ok.png")
    views_drawing().save(good)
    image, name = views.upload_image(good)
    assert name == "ok.png" and image.size == (256, 256)


def test_image_files_never_serve_a_partial_file(tmp_path: Path) -> None:
    """Identical outputs requested at once: every read of the returned path sees the whole PNG (Gradio's own
    cache rewrote the file in place, and a concurrent read got fewer bytes than its Content-Length)."""
    from concurrent.futures import ThreadPoolExecutor

    from condgan.web.app import ImageFiles

    files = ImageFiles(tmp_path / "cache", max_age=3600)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8))
    expected = len(Path(files.put(image)).read_bytes())

    def put_and_read(_) -> int:
        return len(Path(files.put(image)).read_bytes())

    with ThreadPoolExecutor(16) as pool:
        sizes = list(pool.map(put_and_read, range(200)))
    assert sizes == [expected] * 200
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")] == []  # no temp file left
    old = Path(files.put(Image.new("L", (8, 8))))
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert files.sweep() == 1 and not old.exists() and Path(files.put(image)).exists()


def test_a_small_off_centre_drawing_is_framed_like_a_large_one() -> None:
    from condgan.web.drawing import render_example

    full = render_example("trouser")  # fills the pad, as the training items fill their frame
    small = Image.new("RGB", (256, 256), "white")
    small.paste(full.resize((80, 80), Image.LANCZOS), (150, 20))  # a third of the size, in a corner
    framed_full, framed_small = views.framed(full), views.framed(small)
    as_model_sees = [np.asarray(image.convert("L").resize((32, 32), Image.BOX)).astype(int)
                     for image in (framed_full, framed_small)]  # fmt: skip
    assert np.abs(as_model_sees[0] - as_model_sees[1]).mean() < 12  # the same trouser at 32 px
    unframed = np.asarray(small.convert("L").resize((32, 32), Image.BOX)).astype(int)
    assert np.abs(unframed - as_model_sees[0]).mean() > 25  # and far from what the model would see unframed
    blank = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    assert views.framed(blank).size == (64, 64)  # no ink: nothing to frame


@pytest.mark.slow
def test_translation_of_a_drawing(pix2pix_run: Path) -> None:
    translator = load_generator(pix2pix_run)
    drawing = Image.new("RGBA", (256, 256), (0, 0, 0, 0))  # transparent, as a canvas layer: counts as white
    drawing.paste((0, 0, 0, 255), (60, 60, 196, 76))
    seen, output = views.translate_image(translator, drawing, "the drawing")
    source = translator.fit_input(drawing, "the drawing")  # (1, 32, 32): what `condgan translate` sends
    assert seen.size == (256, 256) and np.array_equal(np.asarray(seen)[::8, ::8], source[0])
    assert source[0].max() == 255 and source[0].min() < 64  # the stroke reached the model
    (expected,) = translator.translate_images([source], ["x"])
    shown = Image.fromarray(expected[0]).resize((384, 384), Image.LANCZOS)
    assert output.size == (384, 384) and np.array_equal(np.asarray(output), np.asarray(shown))
    assert np.asarray(output).std() > 20
    wide = Image.new("L", (512, 128), 255)  # not square: padded with its background, not refused
    wide.paste(0, (100, 60, 400, 68))
    seen_wide, _ = views.translate_image(translator, wide, "wide.png")
    assert seen_wide.size == (256, 256)


def test_a_cyclegan_run_is_a_translator_per_direction(cyclegan_run: Path) -> None:
    """`condgan serve RUN` of a cyclegan run: two menu entries, RUN (A→B) and RUN (B→A), each translating a
    drawing with its own generator (as `condgan translate --direction` does), the two outputs different."""
    from condgan.translate import load_translator
    from condgan.web.drawing import render_example

    models = views.load_models([str(cyclegan_run)], device="cpu")
    ab, ba = f"{cyclegan_run} (A→B)", f"{cyclegan_run} (B→A)"
    assert list(models.translators) == [ab, ba] and not models.generators
    assert [models.translators[label].direction for label in (ab, ba)] == ["AtoB", "BtoA"]
    drawing = render_example("sneaker")
    outputs = {}
    for label, direction in ((ab, "AtoB"), (ba, "BtoA")):
        seen, output = views.translate_image(views.pick(models.translators, label, "translation model"), drawing, "d")
        reference = load_translator(cyclegan_run, "cpu", direction=direction)
        (expected,) = reference.translate_images([reference.fit_input(drawing, "d")], ["d"])  # (1, 32, 32)
        shown = Image.fromarray(expected[0]).resize((384, 384), Image.LANCZOS)
        assert seen.size == (256, 256) and np.array_equal(np.asarray(output), np.asarray(shown))
        outputs[direction] = np.asarray(output).astype(int)
    assert np.abs(outputs["AtoB"] - outputs["BtoA"]).mean() > 10  # G_AB and G_BA: two different translations
    with pytest.raises(CondganError, match=r"choose a translation model from the list \(loaded: .* \(A→B\), .*B→A"):
        views.pick(models.translators, str(cyclegan_run), "translation model")  # the bare run names no direction


@pytest.mark.slow
def test_both_directions_of_a_cyclegan_run_through_the_api(cyclegan_run: Path, tmp_path: Path) -> None:
    """The served page's menu holds both directions, and /translate_drawing and /translate (gradio_client)
    answer with each direction's own translation."""
    from gradio_client import Client, handle_file

    from condgan.web.app import ImageFiles, build_app
    from condgan.web.drawing import render_example

    models = views.load_models([str(cyclegan_run)], device="cpu")
    app = build_app(models, ImageFiles(tmp_path / "files"))
    menu = next(c["props"] for c in app.config["components"] if c.get("props", {}).get("elem_id") == "tr-model")
    assert [choice[0] for choice in menu["choices"]] == list(models.translators)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, footer_links=[])
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path / "client"))
        drawing = render_example("ankle boot")
        drawing.save(tmp_path / "boot.png")
        outputs = []
        for label, translator in models.translators.items():
            expected = [np.asarray(views.translate_image(translator, image, "d")[1]).astype(int)
                        for image in (views.framed(drawing), drawing)]  # a pad drawing is framed, a file is not
            for args, api_name, want in (((label, data_url(drawing)), "/translate_drawing", expected[0]),
                                         ((label, handle_file(str(tmp_path / "boot.png"))), "/translate",
                                          expected[1])):  # fmt: skip
                _, output, message = client.predict(*args, api_name=api_name)
                assert label in message and np.abs(np.asarray(Image.open(output)).astype(int) - want).max() <= 2
            outputs.append(expected[1])
        assert np.abs(outputs[0] - outputs[1]).mean() > 10
    finally:
        app.close()


@pytest.mark.slow
def test_demo_ends_with_the_serve_command(pix2pix_run: Path, tmp_path: Path, monkeypatch) -> None:
    from condgan import pretrained
    from condgan.demo import serve_command

    shipped = serve_command(Path("runs/demo")).split()[1:]
    assert shipped[:2] == ["serve", "runs/demo"]
    assert "pretrained:edges2fashion" in shipped and "pretrained:digits" not in shipped  # only pix2pix models
    pretrained.pack(pix2pix_run, "edges-test", out_root=tmp_path)
    monkeypatch.setenv(pretrained.SEARCH_PATH_ENV, str(tmp_path))
    command = serve_command(Path("runs/demo"))
    assert sorted(command.split()[1:]) == sorted([*shipped, "pretrained:edges-test"])
    assert command.split()[0] in ("condgan", str(Path(sys.executable).parent / "condgan")) or command.startswith(".")


def test_serve_refuses_a_missing_run_in_one_line(capsys) -> None:
    from condgan.cli import main

    assert main(["serve", "no/such/run", "--port", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "run directory no/such/run does not exist" in error


def test_the_network_audit_catches_and_blocks_outside_hosts(tmp_path: Path) -> None:
    """The offline check of the browser tests can fail: a connection to a documentation address (TEST-NET-1)
    and a name lookup are logged and refused before anything is sent."""
    code = AUDIT_HOOK + (
        "import socket\n"
        "for call in (lambda: socket.socket().connect(('192.0.2.1', 9)), "
        "lambda: socket.getaddrinfo('example.org', 80), lambda: socket.create_connection(('127.0.0.1', 9))):\n"
        "    try:\n        call()\n    except PermissionError:\n        print('refused')\n"
        "    except OSError:\n        print('local')\n"
    )
    env = {**os.environ, "CONDGAN_TEST_NET_LOG": str(tmp_path / "net.log")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["refused", "refused", "local"]
    assert (tmp_path / "net.log").read_text().splitlines() == ["connect ('192.0.2.1', 9)", "getaddrinfo 'example.org'"]


# ----------------------------------------------------------------------------- the page in a real browser


@pytest.fixture(scope="module")
def server(trained_run, pix2pix_run, unconditional_run, evaluator_cache, tmp_path_factory):
    """`condgan serve` of a digits cGAN, a pix2pix run and an unconditional run, audited for outside traffic."""
    runs = [str(trained_run), str(pix2pix_run), str(unconditional_run)]
    with serving(runs, tmp_path_factory.mktemp("web_server"), {"CONDGAN_CACHE": str(evaluator_cache)}) as served:
        yield served


@pytest.mark.slow
def test_generate_tab(browser, server) -> None:
    page = open_page(browser, server["url"])
    generator = load_generator(server["runs"][0])
    choose(page, "gen-class", "3")
    page.click("#generate-button")
    source, threes = image_after(page, "gen-grid")
    assert "16 images of 3, seed 0" in status(page, "status-generate", "images of 3")
    expected = np.asarray(views.sample_grid(generator, "3", 16, 0, 0.0))
    assert threes.shape == expected.shape and np.abs(threes.astype(int) - expected).max() <= 1
    choose(page, "gen-class", "8")
    page.click("#generate-button")
    _, eights = image_after(page, "gen-grid", source)
    assert eights.shape == threes.shape and np.abs(eights.astype(int) - threes).mean() > 5
    page.get_by_text("between two classes (seed held)").click()
    page.click("#interpolate-button")
    _, strip = image_after(page, "interp-strip")
    assert "8 -> 1 with the noise of seed 0" in status(page, "status-interpolate", "->")
    expected = np.asarray(views.interpolation(generator, "classes", "8", "1", 0, 1, 8))
    assert strip.shape == expected.shape and np.abs(strip.astype(int) - expected).max() <= 1
    screenshot(page, "web_generate.png")
    assert_stayed_home(page, server["url"])
    page.close()


@pytest.mark.slow
def test_translate_tab(browser, server, bad_uploads) -> None:
    """Draw on first touch (no tool to pick), the output follows the drawing, undo and clear, an example
    sketch, and every kind of bad upload answered in the page while the server keeps serving."""
    page = open_page(browser, server["url"])
    translator = load_generator(server["runs"][1])
    page.get_by_role("tab", name="Translate").click()
    page.wait_for_selector("#sketch canvas")
    draw(page, "#sketch canvas", strokes=[(8, [(40, 60), (216, 60)])])  # first touch: one stroke, no toolbar
    output_url, _ = image_after(page, "tr-output")
    status(page, "status-translate", "translated the drawing")
    one_stroke = pad_pixels(page)
    assert (one_stroke < 128).mean() > 0.01, "the first stroke did not draw"
    draw(page, "#sketch canvas")  # the T-shirt outline: the output follows without a click
    seen, painted = settled_translation(page, translator)
    drawn = pad_pixels(page)
    assert seen.shape[:2] == (256, 256) and painted.shape[:2] == (384, 384)
    assert 0.02 < (seen[::8, ::8] < 128).mean() < 0.6, "the strokes did not reach the model"
    screenshot(page, "web_translate.png")

    page.click("#sketch .cg-undo")  # the T-shirt's neckline goes, the rest stays
    output_url, _ = image_after(page, "tr-output", output_url)
    undone = pad_pixels(page)
    assert 0 < (undone < 128).sum() < (drawn < 128).sum() and ((undone < 128) <= (drawn < 128)).all()
    page.click("#sketch .cg-clear")
    assert "Error: the drawing pad is empty" in status(page, "status-translate", "empty")
    assert (pad_pixels(page) < 128).sum() == 0
    page.get_by_role("button", name="trouser", exact=True).click()
    image_after(page, "tr-output", output_url)
    status(page, "status-translate", "translated the drawing")
    from condgan.web.drawing import render_example

    assert np.abs(pad_pixels(page).astype(int) - np.asarray(render_example("trouser").convert("L"))).mean() < 8

    for path, message in bad_uploads.values():
        if page.locator("#upload button[aria-label=Clear]").count():
            page.click("#upload button[aria-label=Clear]")
        page.set_input_files("#upload input[type=file]", str(path))
        if path.stat().st_size > views.MAX_UPLOAD_BYTES:  # refused by the server's limit before our code sees it
            page.wait_for_function("document.body.innerText.includes('exceed the maximum allowed size')")
            continue
        page.wait_for_selector("#upload button[aria-label=Clear]")
        page.click("#translate-upload")
        assert "Error: " + message in status(page, "status-translate", message)
    screenshot(page, "web_translate_error.png")
    page.get_by_role("tab", name="Generate").click()
    page.click("#generate-button")  # still serving
    image_after(page, "gen-grid")
    assert_stayed_home(page, server["url"])
    page.close()


def test_api_names_say_what_each_endpoint_does(server) -> None:
    from gradio_client import Client

    api = Client(server["url"], verbose=False).view_api(return_format="dict", print_info=False)
    assert set(api["named_endpoints"]) == {"/generate", "/interpolate", "/translate", "/translate_drawing",
                                           "/explore"}  # fmt: skip
    assert not api["unnamed_endpoints"]
    client = Client(server["url"], verbose=False)  # a class the menu does not list reaches the model's own check
    _, message = client.predict(server["runs"][0], "cat", 4, 0, 0, api_name="/generate")
    assert message.startswith("**Error:** unknown class 'cat'; valid classes: 0, 1")


@pytest.mark.slow
def test_many_users_at_once(server, tmp_path: Path) -> None:
    """16 gradio_client users send identical and different requests to every endpoint at once: every response
    is whole and equals what the views make in this process, and the server logs no error."""
    from benchmarks.web_load import Request, log_problems, run_load, summary
    from gradio_client import handle_file

    from condgan.web.drawing import render_example

    generator, translator = load_generator(server["runs"][0]), load_generator(server["runs"][1])
    digits, p2p, unconditional = server["runs"]

    def same_as(*expected: Image.Image, tolerance: int = 1) -> callable:
        arrays = [np.asarray(image).astype(int) for image in expected]

        def check(result: tuple) -> None:
            for path, array in zip(result[:-1], arrays, strict=True):
                got = np.asarray(Image.open(path))
                assert got.shape == array.shape and np.abs(got - array).max() <= tolerance, "not the expected image"

        return check

    tshirt, trouser = render_example("T-shirt"), render_example("trouser")
    trouser.save(tmp_path / "trouser.png")
    requests = [
        Request("generate", (digits, "3", 16, 0, 0), same_as(views.sample_grid(generator, "3", 16, 0, 0))),
        Request("generate", (digits, "3", 16, 0, 0), same_as(views.sample_grid(generator, "3", 16, 0, 0))),
        Request("generate", (digits, "7", 9, 5, 0.5), same_as(views.sample_grid(generator, "7", 9, 5, 0.5))),
        Request("generate", (unconditional, None, 4, 1, 0)),
        Request("interpolate", (digits, "seeds", "3", "4", 0, 1, 8, 0),
                same_as(views.interpolation(generator, "seeds", "3", "4", 0, 1, 8))),
        Request("interpolate", (digits, "classes", "2", "7", 4, 0, 5, 0),
                same_as(views.interpolation(generator, "classes", "2", "7", 4, 0, 5))),
        Request("explore", (digits, 0, 0), same_as(views.latent_picture(generator, 0)[0])),
        Request("translate_drawing", (p2p, data_url(tshirt)),
                same_as(*views.translate_image(translator, views.framed(tshirt), "d"), tolerance=2)),
        Request("translate_drawing", (p2p, data_url(tshirt)),
                same_as(*views.translate_image(translator, views.framed(tshirt), "d"), tolerance=2)),
        Request("translate", (p2p, handle_file(str(tmp_path / "trouser.png"))),
                same_as(*views.translate_image(translator, trouser, "d"), tolerance=2)),
    ]  # fmt: skip
    log_before = len(server["log"].read_text().splitlines())
    load = run_load(server["url"], requests, clients=16)
    result = summary(load)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "web_load.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(f"{name}: {row}" for name, row in result["endpoints"].items()))  # p50/p95 in the test's output
    assert result["requests"] == 16 * len(requests) and result["failed"] == 0, result["errors"]
    assert set(result["endpoints"]) == {"generate", "interpolate", "explore", "translate_drawing", "translate"}
    new_lines = "\n".join(server["log"].read_text().splitlines()[log_before:])
    assert log_problems(new_lines) == [], new_lines[-3000:]


@pytest.mark.slow
def test_explore_tab(browser, server) -> None:
    page = open_page(browser, server["url"])
    page.get_by_role("tab", name="Explore").click()
    source, conditional = image_after(page, "ex-picture")  # drawn when the page loads
    assert conditional.shape[0] > 10 * 64 and "Each column keeps one noise vector" in page.content()
    screenshot(page, "web_explore.png")
    choose(page, "ex-model", server["runs"][2])
    page.click("#explore-button")
    _, unconditional = image_after(page, "ex-picture", source)
    assert "sorted by the class the domain evaluator sees" in status(page, "status-explore", "sorted by")
    screenshot(page, "web_explore_unconditional.png")
    assert_stayed_home(page, server["url"])
    page.close()


@pytest.mark.slow
def test_page_without_models_says_so(browser) -> None:
    """No model loaded: every tab says what to start the demo with, and its buttons answer in the page."""
    from condgan.web.app import build_app

    app = build_app(views.LoadedModels())
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, footer_links=[])
    try:
        url = f"http://127.0.0.1:{port}/"
        page = open_page(browser, url)
        assert "No model loaded" in page.inner_text("body")
        page.click("#generate-button")
        assert "Error: no generator loaded" in status(page, "status-generate", "no generator loaded")
        page.get_by_role("tab", name="Translate").click()
        assert page.locator("#no-translator").is_visible()
        page.get_by_role("button", name="trouser", exact=True).click()  # an example sketch: the pad sends it
        assert "Error: no translation model loaded" in status(page, "status-translate", "no translation model loaded")
        screenshot(page, "web_no_models.png")
        assert_stayed_home(page, url)
        page.close()
    finally:
        app.close()
