"""The drawing pad: a canvas that draws on first touch, with brush widths, undo, clear and example sketches.

It is a Gradio `gr.HTML` component whose value is the drawing as a PNG data URL ("" when the pad is
empty); its behaviour is drawing.js and its look drawing.css (package files beside this one). The
example sketches are stroke lists, so that a loaded example can be undone stroke by stroke and drawn
on like anything else.
"""

from __future__ import annotations

from importlib.resources import files

CANVAS = 256  # the pad's canvas is CANVAS x CANVAS pixels (shown up to 384 px wide)
WIDTHS = (4, 8, 14)  # brush widths in canvas pixels: thin, medium (the default), thick
DEBOUNCE_MS = 350  # while the pen moves, the drawing is sent after it pauses this long (and when it lifts)


def _closed(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [*points, points[0]]


# Outline sketches of Fashion-MNIST items as a person draws them: (brush width, points) per stroke, on the
# 256 px canvas, filling it the way the items fill their 28 px frames (shoes point left, as in the data).
EXAMPLES: dict[str, list[tuple[int, list[tuple[int, int]]]]] = {
    "T-shirt": [
        (8, _closed([(100, 28), (56, 40), (14, 92), (44, 126), (72, 104), (72, 232), (184, 232), (184, 104),
                     (212, 126), (242, 92), (200, 40), (156, 28)])),  # fmt: skip
        (8, [(100, 28), (112, 46), (128, 50), (144, 46), (156, 28)]),
    ],
    "trouser": [
        (8, _closed([(78, 20), (178, 20), (194, 236), (146, 236), (128, 84), (110, 236), (62, 236)])),
        (8, [(78, 40), (178, 40)]),
    ],
    "dress": [
        (8, _closed([(98, 18), (116, 34), (140, 34), (158, 18), (170, 86), (156, 120), (206, 238), (50, 238),
                     (100, 120), (86, 86)])),  # fmt: skip
        (8, [(100, 120), (156, 120)]),
    ],
    "sneaker": [
        (8, _closed([(12, 168), (22, 138), (70, 124), (112, 98), (138, 102), (156, 118), (190, 104), (222, 96),
                     (240, 122), (244, 186), (14, 190)])),  # fmt: skip
        (8, [(16, 166), (242, 164)]),
        (8, [(112, 98), (126, 132)]),
    ],
    "bag": [
        (8, _closed([(30, 96), (226, 96), (236, 236), (20, 236)])),
        (8, [(82, 96), (88, 50), (128, 32), (168, 50), (174, 96)]),
    ],
    "ankle boot": [
        (8, _closed([(128, 18), (212, 18), (220, 128), (232, 206), (230, 236), (18, 236), (20, 204), (60, 184),
                     (112, 160), (126, 130)])),  # fmt: skip
        (8, [(20, 214), (230, 214)]),
    ],
}

TEMPLATE = """
<div class="cg-pad">
  <div class="cg-frame">
    <canvas class="cg-canvas" width="${canvas}" height="${canvas}" tabindex="0"
            aria-label="drawing pad: draw with the mouse, a pen or a finger"></canvas>
    <div class="cg-hint">draw an outline here<br>(a T-shirt, trousers, a shoe, a bag...)</div>
  </div>
  <div class="cg-tools">
    <span class="cg-caption">brush</span>
    ${widths.map((w, i) => `<button type="button" class="cg-width${i === 1 ? ' cg-on' : ''}" data-width="${w}">`
      + ['thin', 'medium', 'thick'][i] + '</button>').join('')}
    <button type="button" class="cg-undo" title="Ctrl+Z">Undo</button>
    <button type="button" class="cg-clear">Clear</button>
  </div>
  <div class="cg-examples">
    <span class="cg-caption">start from</span>
    ${examples.map((e, i) => `<button type="button" class="cg-example" data-index="${i}">${e.name}</button>`).join('')}
  </div>
</div>
"""


def example_props() -> list[dict]:
    """The example sketches as the pad's JavaScript reads them."""
    return [
        {"name": name, "strokes": [{"width": width, "points": [list(p) for p in points]} for width, points in strokes]}
        for name, strokes in EXAMPLES.items()
    ]


def render_example(name: str, size: int = CANVAS):
    """An example sketch drawn as the pad draws it (black round-capped strokes on white), as a PIL image."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    scale = size / CANVAS
    for width, points in EXAMPLES[name]:
        scaled = [(x * scale, y * scale) for x, y in points]
        draw.line(scaled, fill="black", width=max(1, round(width * scale)), joint="curve")
        for x, y in (scaled[0], scaled[-1]):  # round caps
            r = width * scale / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill="black")
    return image


def drawing_pad(gr, elem_id: str = "sketch"):
    """The pad as a Gradio component (call inside a Blocks context)."""
    package = files("condgan.web")
    return gr.HTML(
        "",
        html_template=TEMPLATE,
        css_template=(package / "drawing.css").read_text(),
        js_on_load=(package / "drawing.js").read_text(),
        elem_id=elem_id,
        canvas=CANVAS,
        widths=list(WIDTHS),
        examples=example_props(),
        debounce_ms=DEBOUNCE_MS,
    )
