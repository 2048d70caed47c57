"""The web demo (Gradio Blocks): Generate, Translate and Explore tabs over loaded generators.

    condgan serve                                   # the shipped pretrained models
    condgan serve runs/demo pretrained:edges2fashion --port 7860
    condgan serve runs/cycle                        # a cyclegan run: "runs/cycle (A→B)" and "runs/cycle (B→A)"

Offline by construction: Gradio's analytics and Hugging Face telemetry are switched off before
Gradio is imported, no share tunnel, the default theme's fonts are served by the app itself, and
the page asks no other host for anything (the browser tests check every request it makes).
Errors appear in the page's status line under the button that caused them, never as a dead page.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from condgan.errors import CondganError
from condgan.web import views
from condgan.web.drawing import drawing_pad

OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # no usage reports, no version check
    "HF_HUB_OFFLINE": "1",  # huggingface_hub (a gradio dependency) makes no calls
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_SHARE": "False",
}
CSS = "#status-generate, #status-interpolate, #status-translate, #status-explore {min-height: 1.5em}"


def _import_gradio():
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
    try:
        import gradio as gr
    except ImportError:
        raise CondganError("the web demo needs gradio: pip install 'condgan[web]'") from None
    return gr


def _shown(function: Callable, outputs: int, files: ImageFiles) -> Callable:
    """Wrap a view: its PIL images become files in `files`; a CondganError becomes empty outputs and the
    message in the status line (the last output)."""

    def run(*args):
        try:
            result = function(*args)
        except CondganError as exc:
            return (*([None] * outputs), f"**Error:** {exc}")
        except Exception as exc:  # a bug, not a user error: the traceback goes to the server's log, a line to the page
            traceback.print_exc()
            return (*([None] * outputs), f"**Internal error** ({type(exc).__name__}: {exc}); see the server's log")
        # a list first: tuple(<generator>) resizes a half-built tuple, which fails (SystemError) if another
        # thread's gc.get_objects() holds it at that moment, as memory profilers do (seen in the soak)
        return tuple([files.put(item) if hasattr(item, "save") else item for item in result])

    return run


class ImageFiles:
    """The PNG files the page shows, each written once under a name made from its bytes.

    Gradio's own cache writes a returned PIL image to a path named by its content with a plain
    overwrite, so two identical requests at once rewrite a file while it is being sent (a response
    shorter than its Content-Length). Here a file is written under a temporary name and renamed into
    place, so a name only ever holds its complete bytes; files not shown for `max_age` seconds are removed.
    """

    def __init__(self, root: Path, max_age: float = 3600.0, sweep_every: float = 60.0):
        self.root, self.max_age, self.sweep_every = Path(root), max_age, sweep_every
        self.root.mkdir(parents=True, exist_ok=True)
        self._last_sweep = time.monotonic()

    def put(self, image) -> str:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
        path = self.root / f"{hashlib.sha256(data).hexdigest()[:40]}.png"
        if path.exists():
            os.utime(path)  # shown again: not old
        else:
            handle, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.root)
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        if time.monotonic() - self._last_sweep > self.sweep_every:
            self.sweep()
        return str(path)

    def sweep(self) -> int:
        """Remove files older than max_age; returns how many."""
        self._last_sweep = time.monotonic()
        cutoff, removed = time.time() - self.max_age, 0
        for path in self.root.glob("*.png"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # another request removed or replaced it
                pass
        return removed


def build_app(models: views.LoadedModels, files: ImageFiles | None = None):
    """The Gradio Blocks of the demo for these models (not launched).

    Its API (gradio_client, or the page's "Use via API" link): /generate, /interpolate, /translate (an
    image file), /translate_drawing (a PNG data URL, as the drawing pad sends it) and /explore. The translate
    endpoints take a model by its menu label: the run for pix2pix, `RUN (A→B)` or `RUN (B→A)` for cyclegan."""
    gr = _import_gradio()
    from gradio.utils import get_upload_folder

    files = files or ImageFiles(Path(get_upload_folder()) / "condgan")
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

    def translate_drawing(label, drawing):
        translator = views.pick(translators, label, "translation model")
        seen, output = views.translate_image(translator, views.framed(views.drawing_image(drawing)), "the drawing")
        return seen, output, f"translated the drawing with {label}"

    def translate_upload(label, path):
        translator = views.pick(translators, label, "translation model")
        image, name = views.upload_image(path)
        seen, output = views.translate_image(translator, image, name)
        return seen, output, f"translated {name} with {label}"

    def on_translator(label, drawing):
        if not drawing:  # nothing drawn yet: nothing to redo with the other model
            return None, None, ""
        return translate_drawing(label, drawing)

    with gr.Blocks(title="condgan demo", analytics_enabled=False) as app:
        gr.Markdown(
            "# condgan demo\nClass-conditional generation and image-to-image translation with the loaded models: "
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
                    # the menus list the chosen model's classes; an API call may name any model's class, so the
                    # values are not held to the first model's list here: the views check them against the model
                    class_a = gr.Dropdown(first_classes, value=first_classes[0] if first_classes else None,
                                          label="class", elem_id="gen-class", allow_custom_value=True)  # fmt: skip
                    count = gr.Slider(1, views.MAX_IMAGES, value=16, step=1, label="number of images", elem_id="gen-n")
                    seed = gr.Number(0, precision=0, minimum=0, label="seed", elem_id="gen-seed")
                    truncation = gr.Slider(0, 3, value=0, step=0.1, label="truncation (0 = off)", elem_id="gen-trunc")
                    generate_button = gr.Button("Generate", variant="primary", elem_id="generate-button")
                with gr.Column(scale=2):
                    grid = gr.Image(label="samples", type="filepath", interactive=False, elem_id="gen-grid")
                    status = gr.Markdown(elem_id="status-generate")
            gr.Markdown("### Interpolate")
            with gr.Row():
                with gr.Column(scale=1):
                    mode = gr.Radio([("between two seeds (class held)", "seeds"), ("between two classes (seed held)",
                                    "classes")], value="seeds", label="morph", elem_id="interp-mode")  # fmt: skip
                    class_b = gr.Dropdown(first_classes, value=first_classes[1] if len(first_classes) > 1 else None,
                                          label="second class", elem_id="interp-class-b",
                                          allow_custom_value=True)  # fmt: skip
                    seed_b = gr.Number(1, precision=0, minimum=0, label="second seed", elem_id="interp-seed-b")
                    steps = gr.Slider(2, 16, value=8, step=1, label="steps", elem_id="interp-steps")
                    interpolate_button = gr.Button("Interpolate", elem_id="interpolate-button")
                with gr.Column(scale=2):
                    strip = gr.Image(label="morph", type="filepath", interactive=False, elem_id="interp-strip")
                    interp_status = gr.Markdown(elem_id="status-interpolate")
        with gr.Tab("Translate", id="translate"):
            translator_labels = list(translators)
            if not translators:
                gr.Markdown("**No translation model loaded**: start the demo with a pix2pix run or a cyclegan run "
                            "(both directions), e.g. `condgan serve pretrained:sketch2fashion` or "
                            "`condgan serve runs/edges`.",
                            elem_id="no-translator")  # fmt: skip
            translator = gr.Dropdown(translator_labels, value=next(iter(translators), None), elem_id="tr-model",
                                     label="translation model (a cyclegan run: one entry per direction)")  # fmt: skip
            with gr.Row():
                with gr.Column(scale=3):
                    pad = drawing_pad(gr, elem_id="sketch")
                with gr.Column(scale=3):
                    painted = gr.Image(label="output", type="filepath", interactive=False, height=400,
                                       elem_id="tr-output")  # fmt: skip
                    tr_status = gr.Markdown(elem_id="status-translate")
                with gr.Column(scale=2):
                    seen = gr.Image(label="the input as the model sees it", type="filepath", interactive=False,
                                    height=220, elem_id="tr-input")  # fmt: skip
                    upload = gr.File(label="or translate an image file (PNG/JPEG)", type="filepath",
                                     elem_id="upload")  # fmt: skip
                    upload_button = gr.Button("Translate the file", elem_id="translate-upload")
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
            latent = gr.Image(label="latent space", type="filepath", interactive=False, elem_id="ex-picture")
            ex_status = gr.Markdown(elem_id="status-explore")

        # one model call at a time across all events (CPU inference: no thread oversubscription)
        calls = {"concurrency_id": "model", "concurrency_limit": 1}
        private = {"api_visibility": "private", "queue": False}
        model.change(on_generator, model, [class_a, class_b], **private)
        generate_button.click(_shown(generate, 1, files), [model, class_a, count, seed, truncation], [grid, status],
                              api_name="generate", **calls)  # fmt: skip
        interpolate_button.click(_shown(interpolate, 1, files), [model, mode, class_a, class_b, seed, seed_b, steps,
                                 truncation], [strip, interp_status], api_name="interpolate", **calls)  # fmt: skip
        pad.change(_shown(translate_drawing, 2, files), [translator, pad], [seen, painted, tr_status],
                   api_name="translate_drawing", trigger_mode="always_last", show_progress="minimal",
                   **calls)  # fmt: skip
        translator.change(_shown(on_translator, 2, files), [translator, pad], [seen, painted, tr_status],
                          api_visibility="private", **calls)  # fmt: skip
        upload_button.click(_shown(translate_upload, 2, files), [translator, upload], [seen, painted, tr_status],
                            api_name="translate", **calls)  # fmt: skip
        explore_button.click(_shown(explore, 1, files), [ex_model, ex_seed, ex_trunc], [latent, ex_status],
                             api_name="explore", **calls)  # fmt: skip
        if generators:
            app.load(_shown(explore, 1, files), [ex_model, ex_seed, ex_trunc], [latent, ex_status],
                     api_visibility="private", **calls)  # fmt: skip
    return app


def serve(runs: list[str], host: str = "127.0.0.1", port: int = 7860, device: str = "auto", block: bool = True):
    """Load the runs (default: every shipped pretrained model) and serve the demo on host:port."""
    import sys

    from condgan.inference.runs import PREFIX, available
    from condgan.runtime import steady_heap

    steady_heap()  # a server runs for days: image-sized buffers go back to the system when freed
    runs = list(runs) or [f"{PREFIX}{name}" for name in available()]
    models = views.load_models(runs, device)
    app = build_app(models)
    gr = _import_gradio()
    app.queue(default_concurrency_limit=1)
    try:
        app.launch(server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=True,
                   quiet=True, footer_links=[], max_file_size=views.MAX_UPLOAD_BYTES, mcp_server=False, pwa=False,
                   ssr_mode=False, enable_monitoring=False, theme=gr.themes.Default(), css=CSS)  # fmt: skip
    except OSError as exc:
        raise CondganError(f"cannot serve on {host}:{port} ({str(exc).split('.')[0]}); pass another --port") from None
    labels = [*models.generators, *models.translators]  # a cyclegan run: one label per direction
    print(f"condgan: serving {len(labels)} model(s) ({', '.join(labels) or 'none'}) at http://{host}:{port}/ "
          "- open it in a browser; Ctrl+C stops", file=sys.stderr)  # fmt: skip
    if block:
        app.block_thread()
    return app
