"""The sketch demo as a newcomer meets it: `condgan serve` with no argument (every shipped model), a garment
drawn with the mouse on the Translate tab, and the gradio_client example of docs/tutorials/sketch-demo.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.data.datasets import load_dataset
from condgan.errors import CondganError
from condgan.inference.runs import PREFIX, names
from condgan.web.drawing import EXAMPLES
from tests.webpage import assert_stayed_home, browser, draw, open_page, screenshot, serving, settled_translation

__all__ = ["browser"]  # a fixture, used by name
ROOT = Path(__file__).resolve().parents[1]
DOCS_PAGE = ROOT / "docs" / "tutorials" / "sketch-demo.md"
DEFAULT_TRANSLATOR = f"{PREFIX}sketch2fashion"
# The drawn item -> the classes that count as it: a T-shirt outline may fairly come out as a shirt.
DRAWN = {"T-shirt": {"t-shirt", "shirt"}, "trouser": {"trouser"}, "dress": {"dress"}, "sneaker": {"sneaker"},
         "bag": {"bag"}}  # fmt: skip


def fashion_mnist_here() -> bool:
    try:
        load_dataset("fashion-mnist", "test")
    except CondganError:
        return False
    return True


pytestmark = pytest.mark.skipif(not fashion_mnist_here(), reason="Fashion-MNIST is not installed (.ci/run does)")


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory):
    with serving([], tmp_path_factory.mktemp("shipped_server")) as served:
        yield served


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A Fashion-MNIST classifier: the one the docs tests share (tests/docs_support.py: the user's cached
    domain evaluator, or one trained here for one epoch, test accuracy about 0.9)."""
    from condgan.metrics.evaluator import load_evaluator
    from tests.docs_support import seeded_cache

    cache = seeded_cache(tmp_path_factory.getbasetemp() / "condgan-docs-cache")
    model = load_evaluator("fashion-mnist", 28, 1, cache_dir=cache / "evaluators", train_if_missing=False)
    assert model.info["test_accuracy"] > 0.8
    return model


def classify(classifier, picture: np.ndarray) -> str:
    """The class the classifier sees in a page's output picture (shrunk to 28 px, as the data is)."""
    from condgan.metrics.evaluator import predict

    grey = Image.fromarray(picture).convert("L").resize((28, 28), Image.BOX)
    labels, _ = predict(classifier, torch.from_numpy(np.asarray(grey).copy())[None, None])
    return load_dataset("fashion-mnist", "test").class_names[int(labels[0])]


@pytest.mark.slow
def test_a_drawn_garment_comes_out_as_its_class(browser, shipped_server, classifier) -> None:
    from condgan.inference.generate import load_generator

    assert DEFAULT_TRANSLATOR in [PREFIX + n for n in names(task="pix2pix")], "the sketch model is not shipped"
    page = open_page(browser, shipped_server["url"])
    page.get_by_role("tab", name="Translate").click()
    page.wait_for_selector("#sketch canvas")
    assert page.locator("#tr-model input").input_value() == DEFAULT_TRANSLATOR  # the pad's default model
    translator = load_generator(DEFAULT_TRANSLATOR)
    seen_classes = {}
    for name in DRAWN:
        page.click("#sketch .cg-clear")
        draw(page, "#sketch canvas", EXAMPLES[name])  # mouse events, on first touch: no tool to pick
        _, output = settled_translation(page, translator)
        seen_classes[name] = classify(classifier, output)
        if name == "T-shirt":
            screenshot(page, "web_sketch_tshirt.png")
    page.click("#sketch .cg-clear")  # a small trouser in a corner, as a person may draw it: framed before the model
    small = [(width, [(150 + x / 3, 20 + y / 3) for x, y in points]) for width, points in EXAMPLES["trouser"]]
    draw(page, "#sketch canvas", small)
    _, output = settled_translation(page, translator)
    seen_classes["small trouser in a corner"] = classify(classifier, output)
    wrong = {name: seen for name, seen in seen_classes.items() if seen not in DRAWN.get(name, {"trouser"})}
    assert not wrong, f"drawn -> seen as: {seen_classes}"
    assert_stayed_home(page, shipped_server["url"])
    page.close()


@pytest.mark.slow
def test_the_docs_gradio_client_example_runs(shipped_server, tmp_path: Path) -> None:
    """The page's `<!-- gradio-client -->` block, run as written against the server (only its URL changed)."""
    text = DOCS_PAGE.read_text()
    code = re.search(r"<!-- gradio-client -->\n```python\n(.*?)```", text, re.S).group(1)
    code = code.replace("http://127.0.0.1:7860/", shipped_server["url"])
    from condgan.web.drawing import render_example

    for name in ("T-shirt", "trouser"):
        render_example(name).save(tmp_path / f"{name}.png")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == f"translated the drawing with {DEFAULT_TRANSLATOR}"


@pytest.mark.slow
def test_the_shipped_cyclegan_translates_both_ways_in_the_demo(shipped_server, classifier, tmp_path: Path) -> None:
    """pretrained:sneaker2boot is in the Translate tab's menu once per direction; test sneakers uploaded to
    /translate with "(A→B)" come back as ankle boots, boots with "(B→A)" as sneakers (both about 96% of the
    test split: docs/results/cyclegan.md)."""
    from gradio_client import Client, handle_file

    assert "sneaker2boot" in names(task="cyclegan"), "the CycleGAN model is not shipped"
    test = load_dataset("fashion-mnist", "test")
    client = Client(shipped_server["url"], verbose=False, download_files=str(tmp_path / "client"))
    seen: dict[str, list[str]] = {}
    for label, source, target, at_least in (
        ("(A→B)", "sneaker", "ankle-boot", 7),
        ("(B→A)", "ankle-boot", "sneaker", 6),
    ):
        index = test.class_names.index(source)
        images = test.images[test.labels == index][:8]  # uint8 (8, 1, 28, 28), light on black like the training sides
        seen[label] = []
        for i, image in enumerate(images):
            path = tmp_path / f"{source}-{i}.png"
            Image.fromarray(image[0].numpy()).save(path)
            _, output, message = client.predict(f"{PREFIX}sneaker2boot {label}", handle_file(str(path)),
                                                api_name="/translate")  # fmt: skip
            assert f"{PREFIX}sneaker2boot {label}" in message
            seen[label].append(classify(classifier, np.asarray(Image.open(output))))
        assert seen[label].count(target) >= at_least, f"{source} {label} seen as {seen[label]}"
