"""The benchmark scripts run with one command each: their --quick smoke runs, on real Fashion-MNIST.

A --quick run measures nothing worth keeping: it writes its JSON to the temp dir, never to
benchmarks/results/. The 40-minute ones (time_to_quality, pix2pix_edges) are run by hand; the docs'
results pages render their JSON. time_to_quality's smoke run trains an MLP on 8 px digits, whose
evaluator trains in seconds.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from condgan.threads import CONDGAN_WAIT

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
QUICK_RESULTS = Path(tempfile.gettempdir()) / "condgan-bench-quick"


def run_quick(name: str, *args: str, stem: str = "") -> tuple[str, dict]:
    result = QUICK_RESULTS / f"{stem or name}.json"
    result.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick", "--threads", "2", *args],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(result.read_text())


def run_refused(name: str, *args: str) -> subprocess.CompletedProcess:
    """A --quick run of benchmarks/NAME.py with bad arguments: it must stop before measuring anything."""
    return subprocess.run([sys.executable, str(BENCHMARKS / f"{name}.py"), "--quick", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


@pytest.mark.slow
def test_train_throughput_measures_condgan_beside_the_reference():
    stdout, result = run_quick("train_throughput")
    loops = {row["loop"]: row for row in result["results"]}
    reference, with_our_threads = "reference mlp (tutorial loop)", "reference mlp, condgan's thread setting"
    assert set(loops) == {"condgan mlp", "condgan dcgan", reference, with_our_threads}
    assert loops[reference]["ratio_to_reference"] == 1.0
    # each loop ran in its own process: the reference with no wait policy, the others with condgan's
    assert loops[reference]["openmp_wait_variables"] == {}
    for name in (with_our_threads, "condgan mlp", "condgan dcgan"):
        assert loops[name]["openmp_wait_variables"] == CONDGAN_WAIT
    peak = result["matmul"]["flops_per_second"]
    for row in loops.values():  # the share of the peak is the arithmetic it says (a busy machine can push it past 1)
        assert row["images_per_s"] > 0 and row["matmul_peak_dtype"] == "float32"
        assert row["flops_per_s"] == pytest.approx(row["flops_per_step"] * row["steps_per_s"])
        assert row["fraction_of_matmul_peak"] == pytest.approx(row["flops_per_s"] / peak)
    # the tutorial loop computes D's weight gradients in G's step too: more FLOPs for the same model
    assert loops["reference mlp (tutorial loop)"]["flops_per_step"] > loops["condgan mlp"]["flops_per_step"]
    assert "x reference" in stdout and result["target"]["met"] in (True, False)


@pytest.mark.slow
def test_train_throughput_times_the_default_recipe_in_bf16_and_contiguous_memory():
    """--models dcgan --variants bf16,contiguous: the default recipe beside its variants, no reference,
    so no target verdict; the bf16 loop is held to the bf16 matmul peak. A bad variant or model name
    stops the script before it measures anything."""
    stdout, result = run_quick("train_throughput", "--models", "dcgan", "--variants", "bf16,contiguous", "--name",
                               "train_throughput_dcgan_smoke", stem="train_throughput_dcgan_smoke")  # fmt: skip
    loops = {row["loop"]: row for row in result["results"]}
    bf16, contiguous = "condgan dcgan, train.precision=bf16", "condgan dcgan, train.channels_last=false"
    assert set(loops) == {"condgan dcgan", bf16, contiguous}
    assert loops[bf16]["flops_per_step"] == loops[contiguous]["flops_per_step"]  # the same model in other settings
    assert loops[bf16]["flops_per_step"] == loops["condgan dcgan"]["flops_per_step"]
    peaks = {result[key]["dtype"]: result[key]["flops_per_second"] for key in ("matmul", "matmul_bf16")}
    assert [loops[name]["matmul_peak_dtype"] for name in ("condgan dcgan", bf16)] == ["float32", "bfloat16"]
    for row in loops.values():
        assert row["ratio_to_reference"] is None and row["images_per_s"] > 0
        assert row["fraction_of_matmul_peak"] == pytest.approx(row["flops_per_s"] / peaks[row["matmul_peak_dtype"]])
    assert result["target"]["met"] is None and "not measured" in stdout
    refusals = ((["--variants", "bf17"], "unknown variant(s) bf17"), (["--models", "gan"], "unknown model(s) gan"))
    for bad, said in refusals:
        refused = run_refused("train_throughput", *bad)
        assert refused.returncode == 2 and said in refused.stderr


@pytest.mark.slow
def test_sample_throughput_reports_the_bound_the_cpu_sets():
    stdout, result = run_quick("sample_throughput")
    rows = [row for row in result["results"] if "batch" in row]
    assert {row["generator"] for row in rows} >= {"mlp", "dcgan"}
    peak = result["matmul"]["flops_per_second"]
    for row in rows:
        assert row["flops_per_image"] > 0 and row["module_images_per_s"] > 0
        assert row["images_per_s_at_matmul_peak"] == pytest.approx(peak / row["flops_per_image"])
        assert row["api_images_per_s"] > 0 and row["api_bf16_images_per_s"] > 0
        bf16_peak = result["matmul_bf16"]["flops_per_second"]
        assert row["images_per_s_at_bf16_matmul_peak"] == pytest.approx(bf16_peak / row["flops_per_image"])
    dcgan = next(row for row in rows if row["generator"] == "dcgan")
    assert 20e6 < dcgan["flops_per_image"] < 40e6  # ~27 MFLOP per 28x28 image at width 32
    assert set(result["target"]["met"]["dcgan"]) == {"fp32", "bf16"}
    assert result["target"]["batch"] == max(row["batch"] for row in rows) == 64  # --quick stops at batch 64
    assert "images/s at fp32 matmul peak" in stdout


@pytest.mark.slow
def test_sample_throughput_scores_bf16_beside_fp32_on_a_trained_run(trained_run, condgan_cache):
    _, result = run_quick("sample_throughput", "--run", str(trained_run), "--quality", "500",
                          stem=f"sample_throughput_{trained_run.name}")  # fmt: skip
    quality = result["precision_quality"]
    assert quality["samples"] == 500
    exact, half = quality["fp32"], quality["bf16"]
    assert 0 < exact["fid"] and 0 < half["fid"]
    assert abs(half["fid"] - exact["fid"]) < 0.2 * exact["fid"]  # the same noise: nearly the same images
    assert abs(half["conditional_accuracy"] - exact["conditional_accuracy"]) <= 0.02
    assert 0 < quality["uint8_difference"]["mean"] < 1


@pytest.mark.slow
def test_profile_step_splits_the_step_into_its_parts():
    stdout, result = run_quick("profile_step")
    profiles = {profile["model"]: profile for profile in result["profiles"]}
    assert set(profiles) == {"mlp", "dcgan"}
    for profile in profiles.values():
        parts = profile["parts_ms"]
        assert {"data", "d_loss", "d_update", "g_loss", "g_update", "ema", "other"} == set(parts)
        assert all(parts[part] > 0 for part in ("d_loss", "d_update", "g_loss", "g_update"))
    mlp_ops = {op["op"] for op in profiles["mlp"]["top_ops"]}
    dcgan_ops = {op["op"] for op in profiles["dcgan"]["top_ops"]}
    assert mlp_ops & {"aten::mm", "aten::addmm"}  # an MLP's time is in its matrix products
    assert any("convolution" in op for op in dcgan_ops)
    assert "part of the step" in stdout
    for profile in profiles.values():  # the floor: the step's own dense and optimizer kernels, replayed
        floor = profile["floor"]
        assert floor["dense_kernels"] > 0 and floor["dense_replay_ms"] > 0 and floor["optimizer_replay_ms"] > 0
        assert floor["other_ops_ms"] >= 0 and floor["step_ms_unprofiled"] > 0
        assert floor["kernels"] > floor["dense_kernels"] and floor["all_kernels_replay_ms"] > 0
        assert floor["autograd_and_python_ms"] == pytest.approx(
            max(0.0, floor["step_ms_unprofiled"] - floor["all_kernels_replay_ms"])
        )
    assert profiles["mlp"]["floor"]["dense_kernels"] == 33  # 13 forward + 20 backward products (D once over real+fake)
    assert "replayed" in stdout


@pytest.mark.slow
def test_thread_policy_times_every_setting_quiet_and_busy():
    stdout, result = run_quick("thread_policy")
    cells = {(row["load"], row["model"]) for row in result["results"]}
    assert cells == {(load, model) for load in ("quiet", "busy") for model in ("mlp", "dcgan")}
    settings = set(result["settings"])
    assert {"PASSIVE", "ACTIVE", "unset (libgomp default)", result["condgan_setting"]} <= settings
    assert result["settings"][result["condgan_setting"]] == CONDGAN_WAIT  # the benchmark measures what condgan sets
    for row in result["results"]:
        assert set(row["ms_per_step"]) == settings and min(row["ms_per_step"].values()) > 0
    assert result["condgan_setting"] in stdout


@pytest.mark.slow
def test_recipe_search_scores_a_given_variant_under_its_own_name():
    """--variant replaces the built-in search and --name the results file (recipe_search_widths.json
    was made so); the three generators of a variant are scored by the Fashion-MNIST evaluator."""
    stdout, result = run_quick("recipe_search", "--variant", "narrow=model.g_width=8,model.d_width=8",
                               "--name", "recipe_search_smoke", stem="recipe_search_smoke")  # fmt: skip
    [row] = result["results"]
    assert row["variant"] == "narrow" and row["overrides"] == ["model.g_width=8", "model.d_width=8"]
    assert row["steps"] > 0 and "narrow" in stdout
    for scored in ("ema", "ema_raw_statistics", "raw"):
        assert row[scored]["fid"] > 0 and 0.0 <= row[scored]["accuracy"] <= 1.0


def test_web_load_draws_each_soaks_memory(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    from PIL import Image
    from web_load import plot_memory

    out = plot_memory(["web_soak_malloc_arena_max2"], tmp_path / "soak.png")
    picture = Image.open(out)
    assert picture.size[0] > 600 and len(set(picture.convert("L").getdata())) > 16  # a drawn chart, not blank
    with pytest.raises(FileNotFoundError):
        plot_memory(["no_such_soak"], tmp_path / "none.png")


@pytest.mark.slow
def test_sketch_translate_scores_the_shipped_translators_on_drawings():
    stdout, result = run_quick("sketch_translate")
    assert result["drawings"]["count"] == 20 and result["evaluator"]["items_drawn_class_share"] > 0.5
    for label, model in result["models"].items():
        low, high = model["class_share_ci95"]
        assert 0 <= low <= model["class_share"] <= high <= 1, label
        assert model["fid"] > 0 and set(model["per_class"]) == set(result["models"][label]["predicted_counts"])
    assert "sketch2fashion" in stdout


def test_the_wilson_interval_matches_its_formula_at_known_points():
    sys.path.insert(0, str(BENCHMARKS))
    from sketch_translate import wilson_interval

    assert wilson_interval(798, 1000) == [0.772, 0.8217]  # the shipped model's 0.798 of 1,000 drawings
    low, high = wilson_interval(0, 20)
    assert low == 0 and 0.15 < high < 0.17  # no hits: the interval still reaches ~16%


@pytest.mark.slow
def test_translation_256_times_condgan_and_says_why_the_reference_did_not_run():
    stdout, result = run_quick("translation_256", "--tasks", "pix2pix")
    assert result["reference"] == "not run" and "--reference" in result["reference_not_run"]
    assert result["comparisons"] == {} and "reference not run" in stdout
    (row,) = result["results"]
    assert (row["task"], row["loop"], row["iterations"]) == ("pix2pix", "condgan", 3)
    assert row["seconds_per_iteration"] > 0 and row["openmp_wait_variables"] == CONDGAN_WAIT
    assert 0 < row["peak_rss_mb"] <= row["peak_rss_mb_whole_run"]
    assert 80e9 < row["flops_per_iteration"] < 95e9  # U-Net 256 + 70x70 PatchGAN, batch 1: ~87 GFLOP
    assert row["fraction_of_matmul_peak"] == pytest.approx(row["flops_per_s"] / result["matmul"]["flops_per_second"])
    config = row["config"]  # the reference's settings, in condgan's words
    assert (config["generator"], config["norm"], config["loss"], config["batch_size"]) == ("unet", "batch", "bce", 1)
    assert (config["image_size"], config["channels"], config["l1_weight"]) == (256, 3, 100.0)
    assert result["cpu_vector_units"] and len(result["load_average"]) == 3
    assert result["cpu_model"] and isinstance(result["cpu_bf16"], bool) and isinstance(result["cpu_amx"], bool)
    assert result["cpu_steal_share"] is None or 0.0 <= result["cpu_steal_share"] <= 1.0


@pytest.mark.slow
def test_cyclegan_unpaired_scores_both_tasks_against_their_targets():
    stdout, result = run_quick("cyclegan_unpaired")
    edges, shoes = result["tasks"]["edges2fashion"], result["tasks"]["sneaker2boot"]
    runs = [edges["runs"]["cyclegan"], edges["runs"]["pix2pix"], shoes["runs"]["cyclegan"]]
    assert [run["steps"] for run in runs] == [3, 3, 3]
    outcome = edges["result"]
    assert outcome["fid_ratio"] == pytest.approx(outcome["fid_cyclegan"] / outcome["fid_pix2pix"])
    assert 0 <= outcome["class_agreement_cyclegan"] <= 1 and 0 <= outcome["class_agreement_pix2pix"] <= 1
    assert set(shoes["result"]["class_share"]) == set(shoes["result"]["cycle_l1"]) == {"AtoB", "BtoA"}
    assert not shoes["result"]["met"]  # three steps do not translate sneakers into boots
    assert (QUICK_RESULTS / edges["picture"]).is_file() and (QUICK_RESULTS / shoes["picture"]).is_file()
    assert "edges2fashion" in stdout and "sneaker2boot" in stdout


DIGITS_RECIPE = ("--set", "data.name=digits", "--set", "data.image_size=8", "--set", "model.generator=mlp",
                 "--set", "model.discriminator=mlp", "--set", "model.conditioning=concat",
                 "--set", "model.z_dim=16")  # fmt: skip
FULL_METRICS = {"fid", "intra_fid", "kid", "precision", "recall", "density", "coverage", "conditional_accuracy"}


def as_perfect(result: dict, seed: int) -> dict:
    """A copy of a time_to_quality result whose every evaluation scored exactly its real floor."""
    copy = json.loads(json.dumps(result))
    copy["seed"] = seed
    floor = copy["condgan"]["floor"]
    for evaluation in copy["condgan"]["eval_at_minutes"].values():
        evaluation["metrics"] = dict(floor["metrics"])
        for row, real in zip(evaluation["per_class"], floor["per_class"], strict=True):
            row["accuracy"], row["fid"] = real["floor_accuracy"], real["floor_fid"]
    return copy


@pytest.mark.slow
def test_time_to_quality_pictures_name_what_differs_and_colour_by_recipe():
    """On committed results: float32 and bfloat16 runs (the float32 ones predate the resolved precision in the
    JSON, their `auto` was fp32), two seeds each: labels say seed and precision, a hue per recipe."""
    import colorsys

    sys.path.insert(0, str(BENCHMARKS))
    from time_to_quality import line_colors, recipe_labels

    names = [f"time_to_quality_15_amx_side{kind}_seed{seed}" for kind in ("", "_bf16") for seed in (0, 1)]
    results = [json.loads((BENCHMARKS / "results" / f"{name}.json").read_text()) for name in names]
    assert recipe_labels(results) == ["seed 0, precision=fp32", "seed 1, precision=fp32", "seed 0, precision=bf16",
                                      "seed 1, precision=bf16"]  # fmt: skip
    hues = [colorsys.rgb_to_hsv(*color[:3])[0] for color in line_colors(results)]
    assert abs(hues[0] - hues[1]) < 0.05 and abs(hues[2] - hues[3]) < 0.05 and abs(hues[0] - hues[2]) > 0.2
    assert len(set(line_colors(results[:2]))) == 2  # one recipe: the plain colour cycle, a colour per seed
    assert recipe_labels(results[:1]) == ["condgan default recipe (dcgan)"]
    # a key the older result's code did not have yet (mode seeking came later): "no KEY", not "KEY=None"
    later = [json.loads((BENCHMARKS / "results" / f"time_to_quality_15_amx_{n}_seed0.json").read_text())
             for n in ("betas_bf16", "ms")]  # fmt: skip
    assert recipe_labels(later) == ["seed 0, no mode_seeking", "seed 0, mode_seeking=0.1"]


def test_time_to_quality_evaluates_in_full_at_its_minutes_and_tables_the_seeds(condgan_cache, tmp_path, monkeypatch):
    """--quick on 8 px digits (an MLP; the evaluator trains in seconds) with --seed, --name, --fid-minutes and
    --no-reference: `condgan eval`'s metrics at each FID point beside a floor measured once; then --table and
    --plot over two results, and the docs' time_to_quality_goals rendering the same table."""
    stdout, result = run_quick("time_to_quality", "--no-reference", "--fid-minutes", "0.1", "--seed", "3",
                               "--name", "ttq_smoke", *DIGITS_RECIPE, stem="ttq_smoke")  # fmt: skip
    assert result["seed"] == 3 and result["condgan"]["recipe"]["train"]["seed"] == 3
    assert result["condgan"]["precision"] == "fp32"  # train.precision=auto as it resolved: the MLP stays fp32
    assert "reference" not in result and "fid_ratio_condgan_to_reference" not in result
    reached = result["condgan"]["minutes_to_accuracy"]["0.90"] is not None  # the digits MLP sometimes gets there
    # a 15-second run that has not reached 0.90 claims nothing (None), not a miss (False)
    assert result["targets"] == {"accuracy_0.90_within_10_minutes": True if reached else None}
    part, floor = result["condgan"], result["condgan"]["floor"]
    assert set(part["eval_at_minutes"]) == set(part["fid_at_minutes"]) == {"0.1", "0.25"}  # asked for, and the end
    assert set(floor["metrics"]) >= FULL_METRICS and len(floor["per_class"]) == 10
    for at, evaluation in part["eval_at_minutes"].items():
        metrics, per_class = evaluation["metrics"], evaluation["per_class"]
        assert set(metrics) >= FULL_METRICS and metrics["fid"] == part["fid_at_minutes"][at]
        assert [row["class"] for row in per_class] == [row["class"] for row in floor["per_class"]]
        assert metrics["intra_fid"] == pytest.approx(sum(row["fid"] for row in per_class) / 10)
        assert sum(row["samples"] for row in per_class) == 1000 and evaluation["eval_seconds"] > 0
    assert (QUICK_RESULTS / "ttq_smoke.png").is_file()
    assert "| intra-class FID |" in stdout and "Per class at **0.25 minutes**" in stdout

    # two seeds: this run with its FID made 10x its floor's and class 0's 10x its own, and a perfect one
    first = json.loads(json.dumps(result))
    for evaluation in first["condgan"]["eval_at_minutes"].values():
        evaluation["metrics"]["fid"] = 10 * floor["metrics"]["fid"]
    seeds = [first, as_perfect(result, seed=4)]
    seeds[0]["condgan"]["eval_at_minutes"]["0.25"] = as_perfect(result, seed=3)["condgan"]["eval_at_minutes"]["0.25"]
    seeds[0]["condgan"]["eval_at_minutes"]["0.25"]["metrics"]["fid"] = 10 * floor["metrics"]["fid"]
    seeds[0]["condgan"]["eval_at_minutes"]["0.25"]["per_class"][0]["fid"] = 10 * floor["per_class"][0]["floor_fid"]
    paths = [tmp_path / "ttq_a.json", tmp_path / "ttq_b.json"]
    for path, seed in zip(paths, seeds, strict=True):
        path.write_text(json.dumps(seed))
    done = subprocess.run([sys.executable, str(BENCHMARKS / "time_to_quality.py"), "--table", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    table = done.stdout
    assert "**0.25 minutes** of training (2 seeds: 3, 4;" in table
    fid_floor = floor["metrics"]["fid"]
    mean = (10 * fid_floor + fid_floor) / 2
    fid_row = f"| FID | {mean:.3f} | {fid_floor:.3f}–{10 * fid_floor:.3f} | {fid_floor:.3f} |"
    assert f"{fid_row} ≤ 3× real ({3 * fid_floor:.3f}) | no (1/2 seeds) |" in table
    lines = table[table.index("Per class") :].splitlines()
    class_0, class_1 = (next(line for line in lines if line.startswith(f"| {c}")) for c in ("**0**", "1 "))
    assert class_0.endswith("| FID over 2× real |") and class_1.endswith("| - |")  # only class 0 lags
    assert "| conditional accuracy |" in table and "**yes** (2/2 seeds)" in table  # at the floor: met

    done = subprocess.run([sys.executable, str(BENCHMARKS / "time_to_quality.py"), "--plot", *map(str, paths),
                           "--name", "ttq_seeds"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and (tmp_path / "ttq_seeds.png").is_file(), done.stderr[-2000:]

    sys.path.insert(0, str(BENCHMARKS.parent / "docs" / "scripts"))
    import docdata
    import quality_tables

    monkeypatch.setattr(docdata, "RESULTS", tmp_path)
    monkeypatch.setattr(quality_tables, "r", docdata.Files(tmp_path))
    assert "Not measured yet" in quality_tables.time_to_quality_goals(["ttq_a", "ttq_none"])
    rendered = quality_tables.time_to_quality_goals(["ttq_a", "ttq_b"])
    assert rendered.startswith(table.strip()) and rendered.count("--no-reference") == 2  # then each run's command

    # two recipes side by side on the same seed: the lever's run scored its floor, the default's 10x the floor FID
    (tmp_path / "ttq_c.json").write_text(json.dumps(as_perfect(result, seed=3)))
    sided = quality_tables.time_to_quality_recipes((("default", ["ttq_a"]), ("lever", ["ttq_c"])), minutes=0.25)
    fid_line = next(line for line in sided.splitlines() if line.startswith("| FID |"))
    assert fid_line.startswith(f"| FID | {10 * fid_floor:.3f} | **{fid_floor:.3f}** |") and "| lever better in" in sided
    assert fid_line.endswith("| 1/1 seeds |") and "**0.25 minutes** of training, 1 seed each (3)" in sided
    assert "Not measured yet" in quality_tables.time_to_quality_recipes((("default", ["ttq_a", "ttq_none"]),))

    # what a lever bought: FID as the ratio of the means, the others as differences, with the seeds it led in
    assert quality_tables.mean_at(["ttq_a", "ttq_c"], "fid", minutes=0.25) == pytest.approx(11 * fid_floor / 2)
    summary = quality_tables.levers_summary((("lever", "how", ["ttq_a"], ["ttq_c"]),), minutes=0.25)
    row = next(line for line in summary.splitlines() if line.startswith("| lever | how |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "0.10× (1/1)" and cells[-1] == "1.00×"  # FID a tenth of the default's; the same steps
    assert cells[7] == "+0.000 (0/1)"  # conditional accuracy: both at the floor, so a tie, not a lead
    assert "Not measured yet" in quality_tables.levers_summary((("lever", "how", ["ttq_a"], ["ttq_none"]),))
    with pytest.raises(docdata.RenderError, match="one of each per seed"):
        quality_tables.levers_summary((("lever", "how", ["ttq_a", "ttq_b"], ["ttq_c"]),), minutes=0.25)

    # one run across its minute points: a column each, headed by its step, beside the floor and the goal
    curve = quality_tables.time_to_quality_curve("ttq_a")
    steps = [first["condgan"]["eval_at_minutes"][at]["step"] for at in ("0.1", "0.25")]
    assert curve.startswith(f"| metric | 0.1 min (step {steps[0]:,d}) | 0.25 min (step {steps[1]:,d}) | real floor |")
    fid = f"{10 * fid_floor:.3f}"
    assert f"| FID | {fid} | {fid} | {fid_floor:.3f} | ≤ 3× real ({3 * fid_floor:.3f}) |" in curve
    assert "--no-reference" in curve and "Not measured yet" in quality_tables.time_to_quality_curve("ttq_none")


@pytest.mark.parametrize("name, args, status, message", [
    ("train_throughput", ["--variants", "fp8"], 2, "unknown variant(s) fp8; valid: compile, bf16"),
    ("translation_256", ["--tasks", "pix2pixhd"], 2, "unknown task(s) pix2pixhd; valid: pix2pix, cyclegan"),
    ("cyclegan_unpaired", ["--tasks", "horses"], 1, "unknown tasks ['horses']"),
    ("time_to_quality", ["--fid-minutes", "1"], 2, "--fid-minutes 1 is past the end of training"),
    ("time_to_quality", ["--fid-minutes", "5,x"], 2, "'5,x' is not a comma list of minutes"),
])  # fmt: skip
def test_a_benchmark_refuses_an_unknown_choice(name, args, status, message):
    done = run_refused(name, *args)
    assert done.returncode == status and message in done.stderr
