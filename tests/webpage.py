"""Shared by the web demo's tests: `condgan serve` in an audited subprocess, headless Chromium, the page's parts.

The server runs in a subprocess on a free 127.0.0.1 port under an audit hook that records any connection or
name lookup to a host that is not loopback; the page is driven with Playwright and Debian's /usr/bin/chromium.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from benchmarks import web_load
from benchmarks.web_load import free_port
from PIL import Image

from condgan.web import views

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
# An audit hook for a subprocess: any connection or name lookup to a non-loopback host is written to the log
# named by CONDGAN_TEST_NET_LOG and refused (PermissionError) before a packet leaves.
AUDIT_HOOK = """
import ipaddress, os, sys
log = open(os.environ["CONDGAN_TEST_NET_LOG"], "a", buffering=1)
def local(host):
    host = host.decode() if isinstance(host, bytes) else host
    if host in (None, "", "localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified
def hook(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and not local(args[1][0]):
        log.write(f"connect {args[1]!r}\\n")
        raise PermissionError(f"outside host {args[1]!r}")
    if event == "socket.getaddrinfo" and not local(args[0]):
        log.write(f"getaddrinfo {args[0]!r}\\n")
        raise PermissionError(f"outside host {args[0]!r}")
sys.addaudithook(hook)
"""
AUDITED_SERVE = AUDIT_HOOK + "from condgan.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def data_url(image: Image.Image) -> str:
    """An image as the drawing pad sends it: a PNG data URL."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return views.DATA_URL_PREFIX + base64.b64encode(buffer.getvalue()).decode()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny valid PNG header that declares width x height (a decompression bomb's shape), one IDAT of a row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    rows = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + rows + chunk(b"IEND", b"")


def wait_until_up(url: str, process: subprocess.Popen, log: Path | None, timeout: float = 180) -> None:
    """benchmarks/web_load.py's wait, as a test failure that shows the server's log."""
    try:
        web_load.wait_until_up(url, process, timeout)
    except RuntimeError as exc:
        pytest.fail(f"{exc}:\n{log.read_text() if log else ''}")


@contextlib.contextmanager
def serving(runs: list[str], root: Path, env: dict | None = None):
    """`condgan serve RUNS` (no RUNS: every shipped model) on a free port, audited for outside traffic; yields
    {"url", "runs", "net_log", "log"} and checks at the end that no outside host was contacted."""
    port, net_log, log = free_port(), root / "outside.log", root / "server.log"
    net_log.touch()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CONDGAN_TEST_NET_LOG": str(net_log),
           "GRADIO_TEMP_DIR": str(root / "gradio"), **(env or {})}  # fmt: skip
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-c", AUDITED_SERVE, "serve", *runs, "--port", str(port)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, log)
        yield {"url": url, "runs": runs, "net_log": net_log, "log": log}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert net_log.read_text() == "", f"the server contacted outside hosts:\n{net_log.read_text()}"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str):
    """A page on `url` that records the host of every request it makes."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(90_000)
    page.hosts = set()
    page.on("request", lambda request: page.hosts.add(f"{urlparse(request.url).scheme}://"
                                                      f"{urlparse(request.url).netloc}"))  # fmt: skip
    page.goto(url)
    page.wait_for_selector("#generate-button")
    return page


def assert_stayed_home(page, url: str) -> None:
    home = urlparse(url).netloc
    outside = {h for h in page.hosts if h.split("://")[0] in ("http", "https", "ws", "wss") and
               h.split("://")[1] != home}  # fmt: skip
    assert not outside, f"the page asked other hosts: {outside}"


def choose(page, dropdown: str, option: str) -> None:
    page.click(f"#{dropdown} input")
    page.get_by_role("option", name=option, exact=True).click()


def image_after(page, element: str, previous: str | None = None) -> tuple[str, np.ndarray]:
    """Wait for a new image in the element; return its URL and its pixels (fetched from the server)."""
    page.wait_for_function(
        "([id, old]) => { const i = document.querySelector(`#${id} img`); return i && i.src && i.src !== old; }",
        arg=[element, previous or ""],
    )
    source = page.locator(f"#{element} img").first.get_attribute("src")
    return source, np.asarray(Image.open(io.BytesIO(page.request.get(source).body())))


def status(page, element: str, contains: str) -> str:
    page.wait_for_function("([id, text]) => document.querySelector(`#${id}`).innerText.includes(text)",
                           arg=[element, contains])  # fmt: skip
    return page.locator(f"#{element}").inner_text()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def draw(page, canvas_selector: str, strokes=None) -> None:
    """Strokes [(width, [(x, y), ...])] in 256 px canvas coordinates (default: an example sketch's outline,
    the T-shirt), drawn with mouse events on the canvas as shown."""
    from condgan.web.drawing import CANVAS, EXAMPLES

    box = page.locator(canvas_selector).first.bounding_box()
    scale = box["width"] / CANVAS
    for _, points in strokes or EXAMPLES["T-shirt"]:
        page.mouse.move(box["x"] + points[0][0] * scale, box["y"] + points[0][1] * scale)
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            for t in (0.5, 1.0):  # a point mid-segment too: a mouse sends many moves
                page.mouse.move(box["x"] + (x0 + t * (x1 - x0)) * scale, box["y"] + (y0 + t * (y1 - y0)) * scale)
        page.mouse.up()


def pad_pixels(page) -> np.ndarray:
    """The drawing pad's canvas as a grey (256, 256) array (read in the page)."""
    url = page.evaluate("document.querySelector('#sketch canvas').toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L"))


def settled_translation(page, translator, timeout: float = 90) -> tuple[np.ndarray, np.ndarray]:
    """(input as seen, output) shown once they are the translation of what the pad holds now (strokes sent
    while the drawing was under way may be answered first)."""
    deadline = time.monotonic() + timeout
    while True:
        drawing = views.framed(
            views.drawing_image(page.evaluate("document.querySelector('#sketch canvas').toDataURL('image/png')"))
        )
        expected = [np.asarray(image).astype(int) for image in views.translate_image(translator, drawing, "drawing")]
        shown = []
        for element in ("tr-input", "tr-output"):
            source = page.locator(f"#{element} img").first.get_attribute("src") if page.locator(
                f"#{element} img").count() else None  # fmt: skip
            shown.append(np.asarray(Image.open(io.BytesIO(page.request.get(source).body()))) if source else None)
        pairs = zip(shown, expected, strict=True)
        if all(got is not None and got.shape == want.shape and np.abs(got - want).max() <= 2 for got, want in pairs):
            return shown[0], shown[1]
        if time.monotonic() > deadline:
            pytest.fail("the page's translation never matched the drawing on the pad")
        time.sleep(0.5)


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
