"""The web demo (Gradio Blocks): Generate, Translate and Explore tabs over loaded generators.

    condgan serve                                   # the shipped pretrained models
    condgan serve runs/demo pretrained:edges2fashion --port 7860

Offline by construction: Gradio's analytics and Hugging Face telemetry are switched off before
Gradio is imported, no share tunnel, the default theme's fonts are served by the app itself, and
the page asks no other host for anything (the browser tests check every request it makes).
Errors appear in the page's status line under the button that caused them, never as a dead page.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable

from condgan.errors import CondganError
from condgan.web import views

OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # no usage reports, no version check
    "HF_HUB_OFFLINE": "1",  # huggingface_hub (a gradio dependency) makes no calls
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_SHARE": "False",
}
BRUSH_SIZE = 6  # sketch-pad brush radius in canvas pixels: a line ~1.5 px wide at 32 px
CANVAS = 256  # the sketch pad is CANVAS x CANVAS, downscaled to the model's size
CSS = "#status-generate, #status-interpolate, #status-translate, #status-explore {min-height: 1.5em}"


def _import_gradio():
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
    try:
        import gradio as gr
    except ImportError:
        raise CondganError("the web demo needs gradio: pip install 'condgan[web]'") from None
    return gr


def _shown(function: Callable, outputs: int) -> Callable:
    """Wrap a view so that a CondganError becomes an empty output and the message in the status line."""

    def run(*args):
        try:
            result = function(*args)
        except CondganError as exc:
            return (*([None] * outputs), f"**Error:** {exc}")
        except Exception as exc:  # a bug, not a user error: the traceback goes to the server's log, a line to the page
            traceback.print_exc()
            return (*([None] * outputs), f"**Internal error** ({type(exc).__name__}: {exc}); see the server's log")
        return result

    return run


def build_app(models: views.LoadedModels):
    """The Gradio Blocks of the demo for these models (not launched)."""
    gr = _import_gradio()
    generators, translators = models.generators, models.translators
    first_generator = next(iter(generators.values()), None)
    first_classes = views.class_choices(first_generator) if first_generator else []

    def generate(label, class_name, n, seed, truncation):
        generator = views.pick(generators, label, "generator")
        image = views.sample_grid(generator, class_name, n, seed, truncation)
        what = f"{int(n)} images of {class_name}" if generator.num_classes else f"{int(n)} images"
        return image, f"{what}, seed {int(seed)}, truncation {truncation:g} ({label})"

    def interpolate(label, mode, class_a, class_b, seed_a, seed_b, steps, truncation):
        generator = views.pick(generators, label, "generator")
        image = views.interpolation(generator, mode, class_a, class_b, seed_a, seed_b, steps, truncation)
        if mode == "classes":
            return image, f"{class_a} -> {class_b} with the noise of seed {int(seed_a)}, {int(steps)} steps"
        return image, f"seed {int(seed_a)} -> seed {int(seed_b)}" + (f", class {class_a}" if class_a else "")

    def explore(label, seed, truncation):
        generator = views.pick(generators, label, "generator")
        picture, caption = views.latent_picture(generator, seed, truncation)
        return picture, caption

    def on_generator(label):
        classes = views.class_choices(generators[label]) if label in generators else []
        value = classes[0] if classes else None
        value_b = classes[1] if len(classes) > 1 else value
        return (gr.Dropdown(choices=classes, value=value), gr.Dropdown(choices=classes, value=value_b))

    def translate_sketch(label, editor_value):
        translator = views.pick(translators, label, "pix2pix model")
        source, output = views.translate_image(translator, views.sketch_image(editor_value), "the drawing")
        return source, output, f"translated the drawing with {label}"

    def translate_upload(label, path):
        translator = views.pick(translators, label, "pix2pix model")
        image, name = views.upload_image(path)
        source, output = views.translate_image(translator, image, name)
        return source, output, f"translated {name} with {label}"

    with gr.Blocks(title="condgan demo", analytics_enabled=False) as app:
        gr.Markdown(
            "# condgan demo\nClass-conditional generation and pix2pix translation with the loaded models: "
            + ", ".join(f"`{label}`" for label in [*generators, *translators])
            if generators or translators
            else "# condgan demo\n**No model loaded.** Start it with `condgan serve RUN` or "
            "`condgan serve pretrained:NAME`."
        )
        generator_labels = list(generators)
        with gr.Tab("Generate", id="generate"):
            if not generators:
                gr.Markdown("**No class-conditional generator loaded**: start the demo with a cgan run, "
                            "e.g. `condgan serve runs/demo` or `condgan serve pretrained:fashion-mnist`.")  # fmt: skip
            with gr.Row():
                with gr.Column(scale=1):
                    model = gr.Dropdown(generator_labels, value=next(iter(generators), None), label="model",
                                        elem_id="gen-model")  # fmt: skip
                    class_a = gr.Dropdown(first_classes, value=first_classes[0] if first_classes else None,
                                          label="class", elem_id="gen-class")  # fmt: skip
                    count = gr.Slider(1, views.MAX_IMAGES, value=16, step=1, label="number of images", elem_id="gen-n")
                    seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="gen-seed")
                    truncation = gr.Slider(0, 3, value=0, step=0.1, label="truncation (0 = off)", elem_id="gen-trunc")
                    generate_button = gr.Button("Generate", variant="primary", elem_id="generate-button")
                with gr.Column(scale=2):
                    grid = gr.Image(label="samples", type="pil", format="png", interactive=False, elem_id="gen-grid")
                    status = gr.Markdown(elem_id="status-generate")
            gr.Markdown("### Interpolate")
            with gr.Row():
                with gr.Column(scale=1):
                    mode = gr.Radio([("between two seeds (class held)", "seeds"), ("between two classes (seed held)",
                                    "classes")], value="seeds", label="morph", elem_id="interp-mode")  # fmt: skip
                    class_b = gr.Dropdown(first_classes, value=first_classes[1] if len(first_classes) > 1 else None,
                                          label="second class", elem_id="interp-class-b")  # fmt: skip
                    seed_b = gr.Number(1, precision=0, minimum=0, label="second seed", elem_id="interp-seed-b")
                    steps = gr.Slider(2, 16, value=8, step=1, label="steps", elem_id="interp-steps")
                    interpolate_button = gr.Button("Interpolate", elem_id="interpolate-button")
                with gr.Column(scale=2):
                    strip = gr.Image(label="morph", type="pil", format="png", interactive=False, elem_id="interp-strip")
                    interp_status = gr.Markdown(elem_id="status-interpolate")
        with gr.Tab("Translate", id="translate"):
            translator_labels = list(translators)
            if not translators:
                gr.Markdown("**No pix2pix model loaded**: start the demo with a pix2pix run, e.g. "
                            "`condgan serve pretrained:edges2fashion` or `condgan serve runs/edges`.",
                            elem_id="no-translator")  # fmt: skip
            translator = gr.Dropdown(translator_labels, value=next(iter(translators), None), label="pix2pix model",
                                     elem_id="tr-model")  # fmt: skip
            with gr.Row():
                with gr.Column():
                    sketch = gr.Sketchpad(label="draw (brush: left toolbar)", type="pil", image_mode="RGB",
                                          canvas_size=(CANVAS, CANVAS), fixed_canvas=True, layers=False,
                                          transforms=(), brush=gr.Brush(default_size=BRUSH_SIZE, colors=["#000000"],
                                          color_mode="fixed"), elem_id="sketch")  # fmt: skip
                    sketch_button = gr.Button("Translate drawing", variant="primary", elem_id="translate-sketch")
                    upload = gr.File(label="or upload an image (PNG/JPEG)", type="filepath", elem_id="upload")
                    upload_button = gr.Button("Translate upload", elem_id="translate-upload")
                with gr.Column():
                    seen = gr.Image(label="input, as the model sees it", type="pil", format="png", interactive=False,
                                    elem_id="tr-input")  # fmt: skip
                with gr.Column():
                    painted = gr.Image(label="output", type="pil", format="png", interactive=False, elem_id="tr-output")
                    tr_status = gr.Markdown(elem_id="status-translate")
        with gr.Tab("Explore", id="explore"):
            gr.Markdown(
                "The latent space of a class-conditional model: a fixed noise vector z per column, one class per "
                "row. For an unconditional model, its samples sorted by the class a domain classifier sees in them."
            )
            with gr.Row():
                ex_model = gr.Dropdown(generator_labels, value=next(iter(generators), None), label="model",
                                       elem_id="ex-model")  # fmt: skip
                ex_seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="ex-seed")
                ex_trunc = gr.Slider(0, 3, value=0, step=0.1, label="truncation (0 = off)", elem_id="ex-trunc")
                explore_button = gr.Button("Show", variant="primary", elem_id="explore-button")
            latent = gr.Image(label="latent space", type="pil", format="png", interactive=False, elem_id="ex-picture")
            ex_status = gr.Markdown(elem_id="status-explore")

        model.change(on_generator, model, [class_a, class_b])
        generate_button.click(_shown(generate, 1), [model, class_a, count, seed, truncation], [grid, status])
        interpolate_button.click(_shown(interpolate, 1), [model, mode, class_a, class_b, seed, seed_b, steps,
                                 truncation], [strip, interp_status])  # fmt: skip
        sketch_button.click(_shown(translate_sketch, 2), [translator, sketch], [seen, painted, tr_status])
        upload_button.click(_shown(translate_upload, 2), [translator, upload], [seen, painted, tr_status])
        explore_button.click(_shown(explore, 1), [ex_model, ex_seed, ex_trunc], [latent, ex_status])
        if generators:
            app.load(_shown(explore, 1), [ex_model, ex_seed, ex_trunc], [latent, ex_status])
    return app


def serve(runs: list[str], host: str = "127.0.0.1", port: int = 7860, device: str = "auto", block: bool = True):
    """Load the runs (default: every shipped pretrained model) and serve the demo on host:port."""
    import sys

    from condgan.pretrained import PREFIX, available

    runs = list(runs) or [f"{PREFIX}{name}" for name in available()]
    models = views.load_models(runs, device)
    app = build_app(models)
    gr = _import_gradio()
    app.queue(default_concurrency_limit=1)  # one model call at a time: CPU inference, no thread oversubscription
    try:
        app.launch(server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=True,
                   quiet=True, footer_links=[], max_file_size="20mb", mcp_server=False, pwa=False, ssr_mode=False,
                   enable_monitoring=False, theme=gr.themes.Default(), css=CSS)  # fmt: skip
    except OSError as exc:
        raise CondganError(f"cannot serve on {host}:{port} ({str(exc).split('.')[0]}); pass another --port") from None
    loaded = len(models.generators) + len(models.translators)
    print(f"condgan: serving {loaded} model(s) ({', '.join(runs) or 'none'}) at http://{host}:{port}/ "
          "- open it in a browser; Ctrl+C stops", file=sys.stderr)  # fmt: skip
    if block:
        app.block_thread()
    return app
