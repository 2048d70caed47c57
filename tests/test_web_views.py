"""The web demo's pictures and rules as plain functions (no browser): grids, morphs, the latent picture,
drawings and uploads, framing, the page's image files, CycleGAN's two directions, the serve command."""

from __future__ import annotations

import base64
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
from condgan.errors import CondganError, DataError
from condgan.inference.generate import ClassConditionalGenerator, load_generator
from condgan.models import build_generator
from condgan.models.layers import ConditionalBatchNorm2d
from condgan.web import views
from tests.webpage import (
    AUDIT_HOOK,
    bad_uploads,
    data_url,
    free_port,
    png_declaring,
    views_drawing,
)

__all__ = ["bad_uploads"]  # a fixture, used by name


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
    from condgan.inference.translate import load_translator
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
    from condgan.demo import serve_command
    from condgan.inference import pretrained, runs

    shipped = serve_command(Path("runs/demo")).split()[1:]
    assert shipped[:2] == ["serve", "runs/demo"]
    assert "pretrained:edges2fashion" in shipped and "pretrained:digits" not in shipped  # only pix2pix models
    pretrained.pack(pix2pix_run, "edges-test", out_root=tmp_path)
    monkeypatch.setenv(runs.SEARCH_PATH_ENV, str(tmp_path))
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


