"""The web demo (`condgan serve`) as a person and a program use it: the real page in headless Chromium, the API.

The browser tests start `condgan serve` in a subprocess on a free 127.0.0.1 port (with an audit hook that
records any connection or name lookup to a host that is not loopback), drive the page with Playwright and
Debian's /usr/bin/chromium, check every request the page makes stays on the server, and save a screenshot of
each tab in test-artifacts/. The pictures as plain functions are tested in test_web_views.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from condgan.inference.generate import load_generator
from condgan.web import views
from tests.webpage import (
    ARTIFACTS,
    assert_stayed_home,
    bad_uploads,
    browser,
    choose,
    data_url,
    draw,
    free_port,
    image_after,
    open_page,
    pad_pixels,
    screenshot,
    serving,
    settled_translation,
    status,
)

__all__ = ["bad_uploads", "browser"]  # fixtures, used by name



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
