"""`condgan translate`: files and folders; drawings of any size, shape and polarity fitted to the model (the
default) and the native-size path (sizes that fit the stride, sizes that are resized with a warning or refused,
channels); output sizes, aligned inputs, paper-style inference, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.cli import main
from condgan.config import load_config
from condgan.data.loader import to_float, to_uint8
from condgan.data.make_pairs import make_pairs
from condgan.errors import CondganError, DataError
from condgan.inference.generate import load_generator
from condgan.inference.translate import Translator, fitted_size, load_translator
from condgan.training import train
from tests.conftest import tiny_config

QUIET = {"progress": False, "log": lambda message: None}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two tiny pix2pix runs on real digit edges (32 px): gray -> gray, and RGB -> RGB."""
    root = tmp_path_factory.mktemp("translate")
    edges = make_pairs("digits", "edges", 32, root / "edges", limit=64)
    common = ["task=pix2pix", f"data.name=aligned:{edges}", "model.g_width=8", "model.d_width=8",
              "train.batch_size=8", "train.steps=4", "train.sample_every=0", "train.log_every=2"]  # fmt: skip
    gray = train(load_config(overrides=common), out=root / "gray", **QUIET)
    rgb = train(
        load_config(overrides=[*common, "data.source_channels=3", "data.channels=3"]), out=root / "rgb", **QUIET
    )
    return {"gray": gray, "rgb": rgb, "edges": edges}


def image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def edge_image(runs: dict, index: int = 0) -> np.ndarray:
    """The input half of a real test pair: (32, 32) uint8."""
    return np.array(Image.open(sorted((runs["edges"] / "test").glob("*.png"))[index]))[:, :32]


def test_load_generator_gives_a_translator(runs: dict) -> None:
    translator = load_generator(runs["gray"])
    assert isinstance(translator, Translator) and translator.size_multiple == 32
    assert (translator.source_channels, translator.channels, translator.num_classes) == (1, 1, 0)


def test_file_translation_equals_the_tensor_path(runs: dict, tmp_path: Path) -> None:
    translator = load_translator(runs["gray"])
    source = edge_image(runs)
    out = translator.translate_file(image(tmp_path / "in.png", source), tmp_path / "out.png")
    written = np.asarray(Image.open(out))
    expected = to_uint8(translator.translate_tensor(to_float(torch.from_numpy(source.copy())[None, None])))[
        0, 0
    ].numpy()
    assert written.shape == (32, 32) and np.array_equal(written, expected)


def test_sizes_fit_resize_with_a_warning_or_refuse(runs: dict, tmp_path: Path) -> None:
    translator = load_translator(runs["gray"])
    warnings: list[str] = []
    wide = np.concatenate([edge_image(runs, 0), edge_image(runs, 1)], axis=1)  # 64x32: multiples of 32
    native = {"native_size": True, "warn": warnings.append}
    out = translator.translate_file(image(tmp_path / "wide.png", wide), tmp_path / "wide_out.png", **native)
    assert Image.open(out).size == (64, 32) and warnings == []
    odd = np.asarray(Image.fromarray(edge_image(runs)).resize((36, 36)))
    out = translator.translate_file(image(tmp_path / "odd.png", odd), tmp_path / "odd_out.png", **native)
    assert Image.open(out).size == (36, 36)
    assert len(warnings) == 1 and "36x36 is not a multiple of 32; resized to 32x32" in warnings[0]
    assert fitted_size(36, 100, 32) == (32, 96)
    for name, shape in (("tiny.png", (8, 8)), ("strip.png", (10, 100))):
        with pytest.raises(DataError, match="does not fit this model .* too far from a size that does"):
            translator.translate_file(image(tmp_path / name, np.zeros(shape, np.uint8)), tmp_path / "never.png",
                                      native_size=True)  # fmt: skip
    assert not (tmp_path / "never.png").exists()


def test_native_size_converts_channels_only_without_loss(runs: dict, tmp_path: Path) -> None:
    gray_model, rgb_model = load_translator(runs["gray"]), load_translator(runs["rgb"])
    color = np.zeros((32, 32, 3), np.uint8)
    color[..., 0] = edge_image(runs)
    with pytest.raises(DataError, match="a color image, but this model translates grayscale input"):
        gray_model.translate_file(image(tmp_path / "color.png", color), tmp_path / "x.png", native_size=True)
    red_pen = np.where(edge_image(runs)[..., None] < 128, [200, 0, 0], [255, 255, 255]).astype(np.uint8)
    fitted = gray_model.fit_input(Image.fromarray(red_pen), "red.png")  # the fitted input: its grey levels
    assert np.array_equal(fitted, np.asarray(Image.fromarray(red_pen).convert("L"))[None])
    gray_as_rgb = np.repeat(edge_image(runs)[..., None], 3, axis=2)  # R = G = B: gray in fact
    gray_model.translate_file(image(tmp_path / "g3.png", gray_as_rgb), tmp_path / "g3_out.png")
    gray_model.translate_file(image(tmp_path / "g1.png", edge_image(runs)), tmp_path / "g1_out.png")
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "g3_out.png")), np.asarray(Image.open(tmp_path / "g1_out.png"))
    )
    out = rgb_model.translate_file(tmp_path / "g1.png", tmp_path / "rgb_out.png")  # gray input copied to RGB
    assert Image.open(out).mode == "RGB"


def test_aligned_inputs_use_their_input_half(runs: dict, tmp_path: Path) -> None:
    translator = load_translator(runs["gray"])
    pair = sorted((runs["edges"] / "test").glob("*.png"))[0]
    translator.translate_file(pair, tmp_path / "from_pair.png", aligned=True)
    translator.translate_file(image(tmp_path / "half.png", edge_image(runs)), tmp_path / "from_half.png")
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "from_pair.png")), np.asarray(Image.open(tmp_path / "from_half.png"))
    )
    with pytest.raises(DataError, match="is not an aligned pair"):
        translator.translate_file(tmp_path / "half.png", tmp_path / "x.png", aligned=True)


def test_folder_translation_and_its_errors(runs: dict, tmp_path: Path) -> None:
    translator = load_translator(runs["gray"])
    for i in range(3):
        image(tmp_path / "in" / f"digit{i}.png", edge_image(runs, i))
    written = translator.translate_folder(tmp_path / "in", tmp_path / "out")
    assert [p.name for p in written] == ["digit0.png", "digit1.png", "digit2.png"]
    with pytest.raises(DataError, match="another folder than the inputs"):
        translator.translate_folder(tmp_path / "in", tmp_path / "in")
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(DataError, match=r"broken\.png: cannot decode image"):
        translator.translate_folder(tmp_path / "in", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()  # every file is read before anything is written
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no PNG/JPEG images to translate"):
        translator.translate_folder(tmp_path / "empty", tmp_path / "out3")


def test_paper_inference_is_seeded_and_leaves_the_run_alone(runs: dict) -> None:
    translator = load_translator(runs["gray"], inference="paper")
    source = to_float(torch.from_numpy(np.stack([edge_image(runs, i) for i in range(3)]))[:, None])
    before = {k: v.clone() for k, v in translator.module.state_dict().items()}
    a, b = translator.translate_tensor(source, seed=1), translator.translate_tensor(source, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, load_translator(runs["gray"]).translate_tensor(source))
    assert all(torch.equal(before[k], v) for k, v in translator.module.state_dict().items())  # BN stats untouched
    with pytest.raises(CondganError, match="unknown inference mode"):
        load_translator(runs["gray"], inference="train")


def test_cli_translate_file_folder_and_errors(runs: dict, tmp_path: Path, capsys) -> None:
    image(tmp_path / "in" / "a.png", edge_image(runs))
    image(tmp_path / "in" / "b.png", np.asarray(Image.fromarray(edge_image(runs, 1)).resize((40, 40))))
    assert main(["translate", str(runs["gray"]), str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "a.png")]) == 0
    assert main(["translate", str(runs["gray"]), str(tmp_path / "in"), "-o", str(tmp_path / "out")]) == 0
    assert main(["translate", str(runs["gray"]), str(tmp_path / "in"), "-o", str(tmp_path / "native"),
                 "--native-size"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "condgan: warning:" in err and "b.png: 40x40 is not a multiple of 32" in err
    assert err.count("warning") == 1  # fitted to 32 px (the first folder), a 40 px input needs no warning
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert Image.open(tmp_path / "out" / "b.png").size == Image.open(tmp_path / "native" / "b.png").size == (40, 40)
    assert main(["translate", str(runs["gray"]), str(tmp_path / "in"), "-o", str(tmp_path / "big"),
                 "--output-size", "96"]) == 0  # fmt: skip
    assert Image.open(tmp_path / "big" / "b.png").size == (96, 96)
    capsys.readouterr()
    assert main(["translate", str(runs["gray"]), str(tmp_path / "in"), "-o", str(tmp_path / "bad"),
                 "--output-size", "-3"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "output size -3 is not valid" in err and "1 to 4096" in err
    assert not (tmp_path / "bad").exists()
    assert main(["translate", str(runs["gray"]), str(tmp_path / "missing.png"), "-o", str(tmp_path / "m.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.png: no such image file" in err and "Traceback" not in err
    assert main(["sample", str(runs["gray"]), "-o", str(tmp_path / "s.png")]) == 2  # no classes, no noise
    assert "is a pix2pix run; it translates images: condgan translate" in capsys.readouterr().err
    assert main(["sample", str(runs["gray"]), "-o", str(tmp_path / "s.png"), "--precision", "bf16"]) == 2
    assert "precision 'bf16' is for class-conditional runs" in capsys.readouterr().err


def test_translate_refuses_a_cgan_run(tmp_path: Path, capsys) -> None:
    run = train(tiny_config("train.steps=2"), out=tmp_path / "cgan", **QUIET)
    with pytest.raises(CondganError, match="is a cgan run; translate needs a pix2pix run"):
        load_translator(run)


# --- drawings fitted to the model (the default) -------------------------------------------------------------

OUTLINE = [(70, 40), (186, 40), (226, 96), (196, 110), (188, 214), (68, 214), (60, 110), (30, 96), (70, 40)]


def drawing(size: tuple[int, int] = (256, 256), width: int = 6, offset: tuple[int, int] = (0, 0),
            ink: str = "black", paper: str = "white", mode: str = "RGB") -> Image.Image:  # fmt: skip
    """A T-shirt outline drawn as a person would on a canvas: `width`-px strokes, at 256 px by default."""
    from PIL import ImageDraw

    canvas = Image.new(mode, size, paper)
    points = [(x + offset[0], y + offset[1]) for x, y in OUTLINE]
    ImageDraw.Draw(canvas).line(points, fill=ink, width=width, joint="curve")
    return canvas


def test_fit_input_keeps_a_256px_stroke_visible_at_the_training_size(runs: dict) -> None:
    from PIL import ImageDraw

    translator = load_translator(runs["gray"])
    assert translator.source_background == "white"  # measured from the black-on-white training edges
    fitted = translator.fit_input(drawing(), "tshirt.png")
    assert fitted.shape == (1, 32, 32) and fitted.dtype == np.uint8 and fitted.flags.writeable
    reference = Image.new("L", (32, 32), 255)  # the same outline drawn 1 px wide straight at 32 px
    ImageDraw.Draw(reference).line([(x / 8, y / 8) for x, y in OUTLINE], fill=0, width=1)
    on_line = np.asarray(reference) < 128
    assert (fitted[0][on_line] < 170).mean() > 0.9  # a grey line all along (nearest-neighbour keeps ~3/4)
    assert fitted[0].min() < 100 and (fitted[0][~binary_dilation(on_line)] > 250).all()  # and nothing elsewhere
    naive = np.asarray(drawing().convert("L").resize((32, 32), Image.Resampling.NEAREST))
    assert (naive[on_line] < 170).mean() < 0.9  # the check above would catch a resize that drops strokes


def binary_dilation(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=1)


def test_fit_input_any_polarity_transparency_and_shape_gives_the_same_input(runs: dict) -> None:
    translator = load_translator(runs["gray"])
    square = translator.fit_input(drawing(), "square")
    inverted = translator.fit_input(drawing(ink="white", paper="black"), "white on black")
    transparent = translator.fit_input(drawing(ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA"), "rgba")
    gray_la = translator.fit_input(drawing(ink=(0, 255), paper=(255, 0), mode="LA"), "la")  # alpha 0 off the line
    wide = translator.fit_input(drawing((256, 192), offset=(0, -32)), "256x192")  # padded back with white
    wide_dark = translator.fit_input(drawing((256, 192), offset=(0, -32), ink="white", paper="black"), "dark")
    tall_blue = translator.fit_input(drawing((192, 256), offset=(-32, 0), ink=(0, 0, 120), paper=(210, 230, 255)),
                                     "pen on tinted paper")  # fmt: skip
    for other in (inverted, transparent, gray_la, wide, wide_dark):
        assert np.abs(other.astype(int) - square).max() <= 1
    assert tall_blue.shape == (1, 32, 32) and tall_blue[0, :, :4].min() == tall_blue[0, 0, 0] > 200  # padded
    assert np.corrcoef(tall_blue[0, :, 4:28].ravel(), square[0, :, 4:28].ravel())[0, 1] > 0.95  # same drawing
    old = Translator(translator.module, translator.config.replace(data={"source_background": ""}), torch.device("cpu"))
    assert np.abs(old.fit_input(drawing(ink="white", paper="black"), "x").astype(int) - (255 - square)).max() <= 1
    with pytest.raises(DataError, match="empty image"):
        translator.fit_input(Image.new("L", (0, 0)), "nothing.png")


def test_fitted_translation_sizes_and_polarity(runs: dict, tmp_path: Path) -> None:
    translator = load_translator(runs["gray"])
    drawing().save(tmp_path / "black.png")
    drawing(ink="white", paper="black").save(tmp_path / "white.png")
    drawing((300, 200), offset=(22, -28)).save(tmp_path / "wide.png")
    out = translator.translate_file(tmp_path / "black.png", tmp_path / "black_out.png")
    assert Image.open(out).size == (256, 256)  # the input's own size
    small = translator.translate_file(tmp_path / "black.png", tmp_path / "small.png", output_size=32)
    (expected,) = translator.translate_images([translator.fit_input(drawing(), "x")], ["x"])
    assert np.array_equal(np.asarray(Image.open(small))[None], expected)  # at 32 px: the model's own output
    from_white = translator.translate_file(tmp_path / "white.png", tmp_path / "white_out.png", output_size=32)
    assert np.abs(np.asarray(Image.open(from_white)).astype(int) - expected[0]).mean() < 1  # inverted first
    wide = translator.translate_file(tmp_path / "wide.png", tmp_path / "wide_out.png")
    assert Image.open(wide).size == (300, 200)  # the padding is cropped away again
    wide = translator.translate_file(tmp_path / "wide.png", tmp_path / "wide_100.png", output_size=100)
    assert Image.open(wide).size == (100, 67)
    native = translator.translate_file(tmp_path / "black.png", tmp_path / "native.png", native_size=True)
    assert Image.open(native).size == (256, 256) and not np.array_equal(np.asarray(Image.open(native)),
                                                                         np.asarray(Image.open(out)))  # fmt: skip
    for bad in (-1, 4097, 2.5, True):
        with pytest.raises(CondganError, match=f"output size {bad!r} is not valid"):
            translator.translate_file(tmp_path / "black.png", tmp_path / "never.png", output_size=bad)
        with pytest.raises(CondganError, match="is not valid; give the output's longer side"):
            translator.translate_folder(tmp_path, tmp_path / "never", output_size=bad)
    assert not (tmp_path / "never.png").exists() and not (tmp_path / "never").exists()


def test_a_run_saved_without_source_background_still_loads(runs: dict, tmp_path: Path) -> None:
    import json
    import shutil

    old = tmp_path / "old"
    shutil.copytree(runs["gray"], old)
    config = json.loads((old / "config.json").read_text())
    assert config["data"].pop("source_background") == "white"
    (old / "config.json").write_text(json.dumps(config))
    translator = load_translator(old)
    assert translator.source_background == ""  # unknown: an input's polarity is left alone
    assert np.array_equal(translator.fit_input(drawing(), "x"), load_translator(runs["gray"]).fit_input(drawing(), "x"))
