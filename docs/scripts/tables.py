"""Markdown tables rendered from benchmarks/results/*.json and the shipped models' JSON.

Each function returns a table (and nothing typed by hand): the docs call them as
`{{ recipe_table("recipe_search") }}`. The best value of a column is in bold where the column has
a direction (lower FID, higher SSIM, ...).
"""

from __future__ import annotations

import statistics

from docdata import RESULTS, Files, Pretrained, RenderError, best_marked, figure, fmt, source, table
from quality_tables import (
    levers_summary,
    mean_at,
    steps_ratio,
    time_to_quality_curve,
    time_to_quality_goals,
    time_to_quality_recipes,
)

r = Files(RESULTS)
p = Pretrained()

# time_to_quality.py runs of the default recipe as it now stands (mode seeking 0.1), seeds 0, 1 and 2: the README's
# number for `condgan train`
DEFAULT_RECIPE_SEEDS = [f"time_to_quality_15_amx_ms_seed{seed}" for seed in (0, 1, 2)]


# ----------------------------------------------------------------------------- class-conditional recipes


def recipe_table(name: str | tuple, extra: tuple = (), short: bool = False, diversity: bool = False) -> str:
    """recipe_search.py results: steps, FID and accuracy of the EMA generator (and, unless `short`,
    the EMA with the raw generator's batch-norm statistics and the raw generator; with `diversity`,
    recall, coverage and precision). `name`: one results file or several, their rows in order.
    `extra`: (json name, variant, label) rows from other files, listed first."""
    rows = [(label, r[file].results.find(variant=variant)) for file, variant, label in extra]
    rows += [(item.variant, item) for file in ((name,) if isinstance(name, str) else name) for item in r[file].results]
    header = ["recipe", "steps", "FID", "conditional accuracy"]
    columns = [
        [fmt(item.steps) for _, item in rows],
        best_marked([item.ema.fid for _, item in rows], ".2f", True),
        best_marked([item.ema.accuracy for _, item in rows], ".3f", False),
    ]
    if diversity:
        for key in ("recall", "coverage", "precision"):
            header.append(key)
            columns.append(best_marked([item.ema[key] for _, item in rows], ".3f", False))
    if not short:
        header += ["FID, EMA with the raw G's BN statistics", "FID, raw G"]
        columns += [
            [fmt(item.ema_raw_statistics.fid, ".2f") for _, item in rows],
            [fmt(item.raw.fid, ".2f") for _, item in rows],
        ]
    body = [[label, *(column[i] for column in columns)] for i, (label, _) in enumerate(rows)]
    return table(header, body, right=tuple(range(1, len(header))))


# ----------------------------------------------------------------------------- pix2pix

PIX2PIX_COLUMNS = {  # key: (header, format, lower is better)
    "steps": ("steps", ",d", None),
    "l1": ("L1", ".4f", True),
    "psnr": ("PSNR (dB)", ".2f", False),
    "ssim": ("SSIM", ".3f", False),
    "fid": ("FID", ".2f", True),
    "class_agreement": ("class agreement", ".3f", False),
}


def pix(file: str, variant: str, key: str = "ssim"):
    """One number of a pix2pix_edges.py result: a metric (l1, psnr, ssim, fid, class_agreement) or steps."""
    item = r[file].variants[variant]
    return item.steps if key == "steps" else item.metrics[key]


def pix2pix_table(rows: list, columns: tuple = ("steps", "l1", "psnr", "ssim", "fid")) -> str:
    """Rows (label, json name, variant) of pix2pix_edges.py results; columns from PIX2PIX_COLUMNS."""
    items = [(label, r[file].variants[variant]) for label, file, variant in rows]
    header, cells = ["variant"], []
    for key in columns:
        title, spec, lower = PIX2PIX_COLUMNS[key]
        values = [item.steps if key == "steps" else (item.metrics[key] if key in item.metrics else None)
                  for _, item in items]  # fmt: skip
        if key == "fid":
            floors = {round(item.fid_floor, 2) for _, item in items}
            title += f" (real floor {', '.join(f'{f:.2f}' for f in sorted(floors))})"
        header.append(title)
        cells.append([fmt(v, spec) for v in values] if lower is None else best_marked(values, spec, lower))
    body = [[label, *(column[i] for column in cells)] for i, (label, _) in enumerate(items)]
    return table(header, body, right=tuple(range(1, len(header))))


# ----------------------------------------------------------------------------- speed


def throughput_table() -> str:
    """train_throughput.py: images/s, steps/s, ratio to the reference loop, FLOPs and share of the matmul peak."""
    data = r.train_throughput
    body = []
    for item in data.results:
        body.append([
            item.loop, fmt(item.images_per_s, ",.0f"), fmt(item.steps_per_s, ".1f"),
            fmt(item.ratio_to_reference, ".2f"), fmt(item.flops_per_step / 1e9, ".2f"),
            fmt(item.flops_per_s / 1e9, ".1f"), fmt(item.fraction_of_matmul_peak, ".1%"),
        ])  # fmt: skip
    header = ["loop (batch 64)", "images/s", "steps/s", "x reference", "GFLOP/step", "GFLOP/s", "of matmul peak"]
    return table(header, body, right=(1, 2, 3, 4, 5, 6))


def round_ratios(name: str, loop: str) -> list[float]:
    """train_throughput.py: a loop's images/s over the first loop's, round by round (side by side in time)."""
    data = r[name]
    first = data.results[0].images_per_s_each_round
    return [a / b for a, b in zip(data.results.find(loop=loop).images_per_s_each_round, first, strict=True)]


def median_round_ratio(name: str, loop: str) -> float:
    """The median of round_ratios: how much faster `loop` ran than the first loop, side by side."""
    return statistics.median(round_ratios(name, loop))


def throughput_variants_table(name: str) -> str:
    """train_throughput.py --variants: each loop beside the first (the recipe as it is), as the median
    and range of the ratios of the same round (the rounds ran in turn, so a ratio is side by side)."""
    data = r[name]
    body = []
    for item in data.results:
        ratios = sorted(round_ratios(name, item.loop))
        spread = f"{fmt(statistics.median(ratios), '.2f')}× ({fmt(ratios[0], '.2f')}–{fmt(ratios[-1], '.2f')})"
        share = f"{fmt(item.fraction_of_matmul_peak, '.1%')} ({item.matmul_peak_dtype})"
        body.append([item.loop, fmt(item.images_per_s, ",.0f"), spread, fmt(item.flops_per_s / 1e9, ".1f"), share])
    rounds = len(data.results[0].images_per_s_each_round)
    header = ["loop (batch 64)", "images/s (median)", f"× the first loop, same round ({rounds} rounds)", "GFLOP/s",
              "of its matmul peak"]  # fmt: skip
    return table(header, body, right=(1, 2, 3, 4))


PARTS = {"data": "data", "d_loss": "D loss", "d_update": "D update", "g_loss": "G loss", "g_update": "G update",
         "ema": "EMA", "other": "rest of the step"}  # fmt: skip


def profile_parts_table() -> str:
    """profile_step.py: milliseconds per part of the step, under the profiler."""
    profiles = list(r.profile_step.profiles)
    body = [[label, *(fmt(prof.parts_ms[key], ".1f") for prof in profiles)] for key, label in PARTS.items()]
    body.append(["**whole step (profiled)**", *(f"**{fmt(prof.step_ms, '.1f')}**" for prof in profiles)])
    return table(["ms per step, profiled", *(prof.model for prof in profiles)], body, right=(1, 2))


def top_ops_table(model: str, count: int = 6) -> str:
    prof = r.profile_step.profiles.find(model=model)
    body = [[f"`{op.op}`", fmt(op.calls_per_step, ".0f"), fmt(op.self_cpu_ms_per_step, ".2f"),
             fmt(op.share_of_self_time, ".0%")] for op in list(prof.top_ops)[:count]]  # fmt: skip
    return table([f"top operators, {model}", "calls per step", "ms per step", "share"], body, right=(1, 2, 3))


def profile_floor_table() -> str:
    """profile_step.py: the step without the profiler beside its kernels replayed."""
    profiles = list(r.profile_step.profiles)
    floors = [prof.floor for prof in profiles]
    calls = lambda key: " / ".join(fmt(f[key]) for f in floors)  # noqa: E731
    body = [
        ["whole step", *(fmt(f.step_ms_unprofiled, ".1f") for f in floors)],
        [f"its matrix products / convolutions, replayed ({calls('dense_kernels')} calls)",
         *(fmt(f.dense_replay_ms, ".1f") for f in floors)],
        ["its fused Adam kernels, replayed", *(fmt(f.optimizer_replay_ms, ".1f") for f in floors)],
        ["everything else: small element-wise operators, autograd, Python",
         *(fmt(f.other_ops_ms, ".1f") for f in floors)],
        [f"all its kernels, replayed ({calls('kernels')} calls)",
         *(fmt(f.all_kernels_replay_ms, ".1f") for f in floors)],
    ]  # fmt: skip
    return table(["ms per step (batch 64)", *(prof.model for prof in profiles)], body, right=(1, 2))


def thread_policy_table() -> str:
    """thread_policy.py: ms per training step under each OpenMP wait setting, quiet and beside a busy process."""
    data = r.thread_policy
    settings = data.settings.keys()
    ours = data.condgan_setting
    header = ["machine", "model", *(f"**{s}**" if s == ours else s for s in settings)]
    body = []
    for item in data.results:
        row = [item.load, item.model]
        for s in settings:
            cell = fmt(item.ms_per_step[s], ".1f")
            row.append(f"**{cell}**" if s == ours else cell)
        body.append(row)
    return table(header, body, right=tuple(range(2, len(header))))


def sample_throughput_table(name: str = "sample_throughput") -> str:
    """sample_throughput.py: images/s of the module, of generate() in fp32 and bf16, and the matmul-peak bound."""
    body = []
    for item in r[name].results:
        body.append([
            item.generator, fmt(item.batch), fmt(item.module_images_per_s, ",.0f"), fmt(item.api_images_per_s, ",.0f"),
            fmt(item.api_bf16_images_per_s, ",.0f"), fmt(item.flops_per_image / 1e6, ".1f"),
            f"{fmt(item.images_per_s_at_matmul_peak, ',.0f')} / {fmt(item.images_per_s_at_bf16_matmul_peak, ',.0f')}",
        ])  # fmt: skip
    header = ["generator (28x28)", "batch", "module images/s", "api fp32 images/s", "api bf16 images/s",
              "MFLOP/image", "images/s at fp32 / bf16 matmul peak"]  # fmt: skip
    return table(header, body, right=(1, 2, 3, 4, 5, 6))


def translation_256_table(name: str = "translation_256") -> str:
    """translation_256.py: pix2pix and CycleGAN at 256 px, batch 1, condgan's loop beside the reference's."""
    data = r[name]
    body = []
    for item in data.results:
        if "ratio_to_reference" in item:
            speed = fmt(item.ratio_to_reference, ".2f")
        else:  # written before the ratio was recorded per row
            speed = fmt(data.comparisons[item.task].speedup, ".2f") if item.loop == "condgan" else "1.00"
        whole = fmt(item.peak_rss_mb_whole_run, ",.0f") if "peak_rss_mb_whole_run" in item else "-"
        body.append([
            item.task, item.loop, fmt(item.iterations), fmt(item.seconds_per_iteration, ".3f"), speed,
            fmt(item.peak_rss_mb, ",.0f"), whole, fmt(item.flops_per_iteration / 1e9, ",.0f"),
            fmt(item.fraction_of_matmul_peak, ".0%"),
        ])  # fmt: skip
    header = ["task (256 px, batch 1)", "loop", "iterations", "s/iteration", "x reference speed",
              "peak MB, training", "peak MB, whole run", "GFLOP/iteration", "of matmul peak"]  # fmt: skip
    return table(header, body, right=(2, 3, 4, 5, 6, 7, 8))


def _minutes(value) -> str:
    return "not reached" if value is None else fmt(value, ".1f")


def time_to_quality_table() -> str:
    """time_to_quality.py: minutes to accuracy 0.80 / 0.90 and FID at fixed minutes, condgan beside the reference."""
    data = r.time_to_quality
    minutes = sorted({int(m) for part in (data.condgan, data.reference) for m in part.fid_at_minutes.keys()})
    header = ["loop", "minutes to accuracy 0.80", "minutes to 0.90", *(f"FID @ {m} min" for m in minutes)]
    body = []
    for label, part in (("condgan default recipe", data.condgan), ("reference loop (tutorial mlp)", data.reference)):
        fids = part.fid_at_minutes
        body.append([label, _minutes(part.minutes_to_accuracy["0.80"]), _minutes(part.minutes_to_accuracy["0.90"]),
                     *(fmt(fids[str(m)], ".3f") if str(m) in fids else "-" for m in minutes)])  # fmt: skip
    return table(header, body, right=tuple(range(1, len(header))))


def steps_at(part: str, minutes: float) -> int:
    """time_to_quality.json: the training step of the check closest to `minutes`."""
    checks = list(r.time_to_quality[part].checks)
    return min(checks, key=lambda c: abs(c.minutes - minutes)).step


# ----------------------------------------------------------------------------- shipped models


def _directions(evaluation) -> list[tuple[str, str]]:
    """A cyclegan eval.json's directions: (key, "source → target"), the sides named by their class if known."""
    keys = list(evaluation.directions.keys())
    named = {d.target: d.get("target_class") or f"side {d.target}" for d in evaluation.directions}  # side -> name
    return [(key, f"{named[d.source]} → {named[d.target]}")
            for key, d in zip(keys, evaluation.directions, strict=True)]  # fmt: skip


def _quality(evaluation, task: str) -> str:
    m, floor = evaluation.metrics, evaluation.floor
    if task == "cyclegan":
        parts = []
        for key, name in _directions(evaluation):
            found = []
            if f"class_share_{key}" in m:
                found.append(f"{fmt(m[f'class_share_{key}'], '.1%')} in the target class "
                             f"(real {fmt(floor[f'class_share_{key}'], '.1%')})")  # fmt: skip
            if f"fid_{key}" in m:
                found.append(f"FID {fmt(m[f'fid_{key}'], '.2f')} (real {fmt(floor[f'fid_{key}'], '.2f')})")
            found.append(f"cycle L1 {fmt(m[f'cycle_l1_{key}'], '.3f')}")
            parts.append(f"{name}: {', '.join(found)}")
        return "; ".join(parts)
    if task == "pix2pix":
        parts = [f"L1 {fmt(m.l1, '.3f')}", f"PSNR {fmt(m.psnr, '.1f')} dB", f"SSIM {fmt(m.ssim, '.3f')}"]
        if "fid" in m:
            parts.append(f"FID {fmt(m.fid, '.2f')} (real {fmt(floor.fid, '.2f')})")
        return ", ".join(parts)
    return (f"conditional accuracy {fmt(m.conditional_accuracy, '.3f')} "
            f"(real {fmt(floor.conditional_accuracy, '.3f')}), FID {fmt(m.fid, '.2f')} (real {fmt(floor.fid, '.2f')}), "
            f"recall {fmt(m.recall, '.2f')} "
            f"(real {fmt(floor.recall, '.2f')})")  # fmt: skip


def pretrained_table() -> str:
    """Every shipped `pretrained:NAME`: what it is, its size and its measured quality (its eval.json)."""
    body = []
    for name in p.names():
        files = p[name]
        meta, evaluation = files.meta, files.eval
        body.append([f"`pretrained:{name}`", meta.task, evaluation.generator, f"{meta.dataset}".split("/")[-1],
                     fmt(evaluation.step), f"{fmt(meta.bytes / 1e6, '.2f')} MB ({meta.dtype})",
                     _quality(evaluation, meta.task)])  # fmt: skip
    return table(["name", "task", "generator", "trained on", "steps", "size", "quality (its eval.json)"], body,
                 right=(4,))  # fmt: skip


def models_table() -> str:
    """The README's table: each shipped model with one measured number, and the default recipe's speed."""
    body = []
    for name in p.names():
        files = p[name]
        meta, evaluation = files.meta, files.eval
        if meta.task == "pix2pix":
            source_kind, _, target = name.partition("2")
            target = evaluation.get("target_domain") or target
            what = f"pix2pix {evaluation.generator}: {source_kind} → {target}, {fmt(evaluation.image_size)} px"
            number = f"SSIM {fmt(evaluation.metrics.ssim, '.2f')} against the real garment (1 = identical)"
            measured = source_kind == "sketch" and r.exists("sketch_translate")
            drawn = r.sketch_translate.models.get(name) if measured else None
            if drawn is not None:  # a model for drawings: measured on drawings (docs/results/sketch.md)
                number = (f"{fmt(drawn.class_share, '.1%')} of drawn 256 px sketches come out as the item drawn "
                          f"({fmt(drawn.group_share, '.1%')} as its kind: top, shoe, trouser, dress, bag)")  # fmt: skip
        elif meta.task == "cyclegan":
            directions = _directions(evaluation)
            sides = directions[0][1].replace("→", "↔")
            what = f"CycleGAN {evaluation.generator}: {sides}, {fmt(evaluation.image_size)} px"
            m = evaluation.metrics
            shares = [f"{name}: {fmt(m[f'class_share_{key}'], '.1%')} classed as {name.split(' → ')[1]}"
                      for key, name in directions if f"class_share_{key}" in m]  # fmt: skip
            number = "; ".join(shares) or _quality(evaluation, meta.task)
        else:
            data = meta.dataset
            what = f"class-conditional {evaluation.generator}, {data}"
            number = (f"{fmt(evaluation.metrics.conditional_accuracy, '.1%')} of samples are the class asked for "
                      f"(real images: {fmt(evaluation.floor.conditional_accuracy, '.1%')})")  # fmt: skip
        body.append([f"`pretrained:{name}`", what, number])
    seeds = DEFAULT_RECIPE_SEEDS  # the default recipe as it stands, 10 minutes on 2 threads (docs/results/recipe.md)
    floor = r[seeds[0]].condgan.floor.metrics
    body.append(["`condgan train` (default recipe)", "class-conditional dcgan, Fashion-MNIST, 2 CPU cores",
                 f"after 10 minutes of training, {fmt(mean_at(seeds, 'conditional_accuracy'), '.1%')} of samples "
                 f"are the class asked for, at FID {fmt(mean_at(seeds, 'fid'), '.2f')} (real images: "
                 f"{fmt(floor.fid, '.2f')}); mean of {len(seeds)} seeds"])  # fmt: skip
    return table(["model", "what", "measured"], body)


SHARES = {"class_share": ("drawn class", ".1%", False), "group_share": ("drawn group", ".1%", False),
          "fid": ("FID", ".2f", True), "translate_seconds": ("seconds to translate", ".1f", True)}  # fmt: skip


def sketch_results(name: str = "sketch_translate", command: str = "python benchmarks/sketch_translate.py") -> str:
    """sketch_translate.py: each model's share of drawings that come out as the class (and group) they were
    drawn from, FID, and per class; the sheet of drawings and outputs. A line saying so when not measured."""
    if not r.exists(name):
        return f"*Not measured yet: this section appears when `benchmarks/results/{name}.json` is committed.*"
    data = r[name]
    models = list(data.models.keys())
    keys = [k for k in SHARES if all(k in data.models[m] for m in models)]
    columns = [best_marked([data.models[m][k] for m in models], SHARES[k][1], SHARES[k][2]) for k in keys]
    rows = [[f"`{m}`", *(column[i] for column in columns)] for i, m in enumerate(models)]
    header = ["model", *(SHARES[k][0] for k in keys)]
    if all("class_share_ci95" in data.models[m] for m in models):  # where the share of another set might fall
        header.insert(2, "95% interval")
        for row, m in zip(rows, models, strict=True):
            low, high = data.models[m].class_share_ci95
            row.insert(2, f"{low:.1%}–{high:.1%}")
    parts = [table(header, rows, right=tuple(range(1, len(header))))]
    if all("per_class" in data.models[m] for m in models):
        classes = list(data.models[models[0]].per_class.keys())
        rows = [[c, *best_marked([data.models[m].per_class[c] for m in models], ".0%", False)] for c in classes]
        parts.append(table(["drawn from", *(f"`{m}`" for m in models)], rows, right=tuple(range(1, len(models) + 1))))
    parts.append(source(name, command))
    if "goal" in data:
        met = "met" if data.get("goal_met") else "not met"
        parts.append(f"Goal: {data.goal} ({met}).")
    sheet = (data.get("sheet") or "").rsplit("/", 1)[-1]
    if sheet and (RESULTS / sheet).is_file():
        parts.append(figure(sheet, "rows: classes; columns: the drawing, then each model's output"))
    return "\n\n".join(parts)


def web_load_results(name: str = "web_soak") -> str:
    """web_load.py: requests, failures and p50/p95 latency per endpoint; for a soak, the server's memory."""
    data = r[name]
    rows = [[f"`/{endpoint}`", fmt(row.requests), fmt(row.failed), fmt(row.p50_s, ".2f"), fmt(row.p95_s, ".2f")]
            for endpoint, row in zip(data.endpoints.keys(), data.endpoints, strict=True)]  # fmt: skip
    parts = [table(["endpoint", "requests", "failed", "p50 (s)", "p95 (s)"], rows, right=(1, 2, 3, 4))]
    problems = len(data.server_log_problems)
    parts.append(f"{fmt(data.clients)} clients, {fmt(data.requests)} requests, {fmt(data.failed)} failed, "
                 f"{problems} error line{'s' if problems != 1 else ''} in the server's log.")  # fmt: skip
    if "memory" in data:
        memory = data.memory
        after, end, most = (fmt(memory[k], ".0f") for k in ("rss_after_warmup_mb", "rss_end_mb", "rss_max_mb"))
        parts.append(f"Server memory (resident, sampled every few seconds): {after} MB after the "
                     f"{fmt(memory.warmup_s, '.0f')} s warm-up, {end} MB at the end (at most {most} MB); "
                     f"least-squares slope after the warm-up {fmt(memory.slope_after_warmup_mb_per_min, '.1f')} MB "
                     "per minute.")  # fmt: skip
    parts.append(source(name))
    return "\n\n".join(parts)


def cyclegan_results(name: str) -> str:
    """cyclegan_unpaired.py: for edges2fashion, CycleGAN (unpaired) beside pix2pix (the true pairs) edges ->
    clothes; for sneaker2boot, each direction; the targets and whether they were met; the picture."""
    data = r[name]
    parts = []
    for task in data.tasks.keys():
        found = data.tasks[task]
        cycle = found.runs.cyclegan
        if task == "edges2fashion":
            paired = found.runs.pix2pix
            m = cycle.metrics
            rows = [
                ["CycleGAN, unpaired", fmt(cycle.steps), fmt(m.fid_AtoB, ".2f"), fmt(m.partner_agreement_AtoB, ".3f"),
                 fmt(m.partner_ssim_AtoB, ".3f"), fmt(m.cycle_l1_AtoB, ".3f")],
                ["pix2pix, true pairs", fmt(paired.steps), fmt(paired.metrics.fid, ".2f"),
                 fmt(paired.metrics.class_agreement, ".3f"), fmt(paired.metrics.ssim, ".3f"), "-"],
                ["real garments (floor)", "-", fmt(paired.floor.fid, ".3f"), "-", "-", "-"],
            ]  # fmt: skip
            header = ["edges → clothes", "steps", "FID", "class agreement", "SSIM to the true garment", "cycle L1"]
            t = data.targets[task]
            goal = (f"Targets: CycleGAN's FID at most {fmt(t.fid_ratio_at_most, 'g')}× pix2pix's (measured "
                    f"{fmt(found.result.fid_ratio, '.2f')}×), class agreement at least "
                    f"{fmt(t.class_agreement_at_least, '.2f')}")  # fmt: skip
        else:
            m, f = cycle.metrics, cycle.floor
            rows = [[label, fmt(cycle.steps), fmt(m[f"class_share_{d}"], ".1%"), fmt(f[f"class_share_{d}"], ".1%"),
                     fmt(m[f"fid_{d}"], ".2f"), fmt(f[f"fid_{d}"], ".3f"), fmt(m[f"cycle_l1_{d}"], ".3f"),
                     fmt(m[f"identity_l1_{d}"], ".3f")]
                    for d, label in (("AtoB", "sneaker → ankle boot"), ("BtoA", "ankle boot → sneaker"))]  # fmt: skip
            header = ["direction", "steps", "in the target class", "real images", "FID", "real floor", "cycle L1",
                      "identity L1"]  # fmt: skip
            t = data.targets[task]
            goal = (f"Targets, each direction: at least {fmt(t.class_share_at_least, '.0%')} in the target class, "
                    f"cycle L1 at most {fmt(t.cycle_l1_at_most, 'g')}")  # fmt: skip
        parts.append(table(header, rows, right=tuple(range(1, len(header)))))
        parts.append(f"{goal} ({'met' if found.result.met else 'not met'}).")
        picture = str(found.get("picture") or "")
        if picture and (RESULTS / picture).is_file():
            parts.append(figure(picture, f"{task}: test images and their translations"))
    parts.append(source(name))
    return "\n\n".join(parts)


def cyclegan_compare(rows: list) -> str:
    """Runs of one cyclegan_unpaired.py task side by side (sneaker2boot or edges2fashion, from the first row's
    file): rows of (label, results file stem)."""
    task = next(iter(r[rows[0][1]].tasks.keys()))
    body = []
    for label, name in rows:
        data = r[name]
        found = data.tasks[task]
        run = found.runs.cyclegan
        m = run.metrics
        if task == "edges2fashion":
            result = found.result
            cells = [fmt(found.runs.pix2pix.steps), fmt(result.fid_cyclegan, ".2f"), fmt(result.fid_pix2pix, ".2f"),
                     fmt(result.fid_ratio, ".1f") + "×", fmt(result.class_agreement_cyclegan, ".3f"),
                     fmt(result.class_agreement_pix2pix, ".3f")]  # fmt: skip
        else:
            cells = [fmt(m.class_share_AtoB, ".1%"), fmt(m.class_share_BtoA, ".1%"), fmt(m.cycle_l1_AtoB, ".3f"),
                     fmt(m.cycle_l1_BtoA, ".3f")]  # fmt: skip
        body.append([label, fmt(data.threads), fmt(run.steps), *cells, f"[JSON](data/{name}.json)"])
    if task == "edges2fashion":
        header = ["15 minutes of", "threads", "CycleGAN steps", "pix2pix steps", "CycleGAN FID", "pix2pix FID",
                  "FID ratio", "CycleGAN class agreement", "pix2pix class agreement", "result"]  # fmt: skip
    else:
        header = ["15 minutes of", "threads", "steps", "sneaker → boot in class", "boot → sneaker in class",
                  "cycle L1 A", "cycle L1 B", "result"]  # fmt: skip
    return table(header, body, right=tuple(range(1, len(header) - 1)))


def results_table(name: str) -> str:
    """Any benchmark JSON, in the shape it has: pix2pix-style variants, a list of results, or its numbers."""
    data = r[name]
    if "variants" in data and all("metrics" in v for v in data.variants):
        keys = [k for k in PIX2PIX_COLUMNS if k == "steps" or any(k in v.metrics for v in data.variants)]
        return pix2pix_table([(variant, name, variant) for variant in data.variants.keys()], tuple(keys))
    if "results" in data and all(isinstance(item.value, dict) for item in data.results):
        items = list(data.results)
        keys = [k for k, v in items[0].value.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
        body = [[fmt(item[k]) if k in item else "-" for k in keys] for item in items]
        return table(keys, body)
    scalars = [(k, v) for k, v in data.value.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    if not scalars:
        raise RenderError(f"{name}.json has no variants, results or numbers to show")
    return table(["key", "value"], [[k, fmt(v)] for k, v in scalars])


TABLES = {f.__name__: f for f in (recipe_table, pix, pix2pix_table, throughput_table, throughput_variants_table,
                                  median_round_ratio, profile_parts_table, top_ops_table, profile_floor_table,
                                  thread_policy_table, sample_throughput_table, time_to_quality_table,
                                  time_to_quality_goals, time_to_quality_recipes, time_to_quality_curve, steps_ratio,
                                  steps_at, levers_summary, mean_at, pretrained_table,
                                  models_table, sketch_results, web_load_results, results_table, translation_256_table,
                                  cyclegan_results, cyclegan_compare)}  # fmt: skip
