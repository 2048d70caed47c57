"""#15's tables: time_to_quality.py's full evaluations over several seeds, against the real floor and the goals.

`{{ time_to_quality_goals(["time_to_quality_15_seed0", ...]) }}` in the docs; benchmarks/time_to_quality.py
--table prints the same through `quality_goals_tables`.
"""

from __future__ import annotations

from docdata import RESULTS, Files, RenderError, best_marked, fmt, plain, source, table

r = Files(RESULTS)


LOWER_IS_BETTER = {"fid", "intra_fid", "kid"}

QUALITY_METRICS = {  # time_to_quality.py's full evaluations: key -> (label, format)
    "fid": ("FID", ".3f"),
    "intra_fid": ("intra-class FID", ".3f"),
    "kid": ("KID", ".4f"),
    "precision": ("precision", ".3f"),
    "recall": ("recall", ".3f"),
    "density": ("density", ".3f"),
    "coverage": ("coverage", ".3f"),
    "conditional_accuracy": ("conditional accuracy", ".3f"),
}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _spread(values: list, spec: str) -> str:
    low, high = fmt(min(values), spec), fmt(max(values), spec)
    return low if low == high else f"{low}–{high}"


def _quality_goal(goal, floor: float, spec: str) -> tuple[str, float, bool]:
    """(the goal in words, its limit, whether lower is better) of one entry of a time_to_quality result's goals:
    {"at_most_floor_times": k}, {"at_least_floor_times": k}, {"at_most": x} or {"at_least": x}."""
    for key, lower in (("at_most_floor_times", True), ("at_least_floor_times", False)):
        if key in goal:
            times = goal[key]
            sign, name = "≤" if lower else "≥", "real" if times == 1 else f"{fmt(times, 'g')}× real"
            return f"{sign} {name} ({fmt(times * floor, spec)})", times * floor, lower
    for key, lower in (("at_most", True), ("at_least", False)):
        if key in goal:
            return f"{'≤' if lower else '≥'} {fmt(goal[key], spec)}", goal[key], lower
    raise RenderError(f"unknown goal {plain(goal)!r}; valid: at_most, at_least, at_most_floor_times, "
                      "at_least_floor_times")  # fmt: skip


def _meets(value: float, limit: float, lower: bool) -> bool:
    return value <= limit if lower else value >= limit


def quality_goals_tables(results: list, per_class_minutes: float = 10.0, only: tuple = ()) -> str:
    """time_to_quality.py results of one recipe, one per training seed (Data): at each minute point all of them
    evaluated in full, each metric's mean and range over the seeds beside the real floor and the goal the results
    record (#15), whether the mean meets it and how many seeds do; then per class at `per_class_minutes` (or the
    last common point), the classes marked that lag their own floor by the goals' measure (class FID over the
    intra-class FID goal's multiple of the class's real FID, accuracy under the accuracy goal's). `only`: the minute
    points to show (default all common ones)."""
    runs = [item.condgan for item in results]
    goals = results[0].get("goals") or {}
    common = sorted(set.intersection(*(set(run.eval_at_minutes.keys()) for run in runs)), key=float)
    if not common:
        raise RenderError(f"{', '.join(item.where for item in results)} have no full evaluation at a common minute")
    if only:
        wanted = {f"{float(m):g}" for m in only}
        if wanted - set(common):
            where = ", ".join(item.where for item in results)
            raise RenderError(f"no full evaluation at {', '.join(sorted(wanted - set(common)))} minutes in {where}; "
                              f"they have {', '.join(common)}")  # fmt: skip
        common = [at for at in common if at in wanted]
    seeds = ", ".join(fmt(item.get("seed", "?")) for item in results)
    keys = [key for key in QUALITY_METRICS if all(key in run.floor.metrics for run in runs)]
    floor = {key: _mean([run.floor.metrics[key] for run in runs]) for key in keys}
    parts = []
    for at in common:
        evaluations = [run.eval_at_minutes[at] for run in runs]
        rows = []
        for key in keys:
            label, spec = QUALITY_METRICS[key]
            values = [e.metrics[key] for e in evaluations]
            goal_cell = met_cell = "-"
            if key in goals:
                goal_cell, limit, lower = _quality_goal(goals[key], floor[key], spec)
                by_seed = sum(_meets(v, _quality_goal(goals[key], run.floor.metrics[key], spec)[1], lower)
                              for v, run in zip(values, runs, strict=True))  # fmt: skip
                met = _meets(_mean(values), limit, lower)
                met_cell = "**yes**" if met else "no"
                if len(values) > 1:
                    met_cell += f" ({by_seed}/{len(values)} seeds)"
            rows.append([label, fmt(_mean(values), spec), _spread(values, spec), fmt(floor[key], spec), goal_cell,
                         met_cell])  # fmt: skip
        steps = _spread([e.step for e in evaluations], ",d")
        parts.append(f"**{at} minutes** of training ({len(runs)} seed{'s' if len(runs) != 1 else ''}: {seeds}; "
                     f"steps {steps}):")  # fmt: skip
        parts.append(table(["metric", "mean", "min–max", "real floor", "goal", "met: mean (seeds)"], rows,
                           right=(1, 2, 3)))  # fmt: skip
    at = f"{per_class_minutes:g}" if f"{per_class_minutes:g}" in common else common[-1]
    evaluations = [run.eval_at_minutes[at] for run in runs]
    if len(evaluations[0].per_class):
        fid_times = goals["intra_fid"].get("at_most_floor_times") if "intra_fid" in goals else None
        accuracy_times = (goals["conditional_accuracy"].get("at_least_floor_times")
                          if "conditional_accuracy" in goals else None)  # fmt: skip
        rows = []
        for i, row in enumerate(runs[0].floor.per_class):
            accuracy = _mean([e.per_class[i].accuracy for e in evaluations])
            fid = _mean([e.per_class[i].fid for e in evaluations])
            real_accuracy = _mean([run.floor.per_class[i].floor_accuracy for run in runs])
            real_fid = _mean([run.floor.per_class[i].floor_fid for run in runs])
            lags = []
            if accuracy_times is not None and accuracy < accuracy_times * real_accuracy:
                lags.append("accuracy")
            if fid_times is not None and fid > fid_times * real_fid:
                lags.append(f"FID over {fmt(fid_times, 'g')}× real")
            name = f"**{row['class']}**" if lags else row["class"]
            rows.append([name, fmt(accuracy, ".3f"), fmt(real_accuracy, ".3f"), fmt(fid, ".3f"), fmt(real_fid, ".3f"),
                         fmt(fid / real_fid, ".1f"), ", ".join(lags) or "-"])  # fmt: skip
        parts.append(f"Per class at **{at} minutes** (mean over the seeds; in bold the classes that lag):")
        parts.append(table(["class", "accuracy", "real accuracy", "FID", "real FID", "FID / real", "lags in"], rows,
                           right=(1, 2, 3, 4, 5)))  # fmt: skip
    return "\n\n".join(parts)


def time_to_quality_curve(name: str) -> str:
    """One time_to_quality.py result across its full evaluations: a column per minute point (its step in the
    header), a row per metric, the best point in bold, beside the real floor and the goal (#15's at 10 minutes)."""
    if missing := _not_measured([name]):
        return missing
    item = r[name]
    run, goals = item.condgan, item.get("goals") or {}
    points = sorted(run.eval_at_minutes.keys(), key=float)
    if not points:
        raise RenderError(f"{item.where} has no full evaluation")
    header = ["metric", *(f"{at} min (step {fmt(run.eval_at_minutes[at].step, ',d')})" for at in points),
              "real floor", "goal at 10 min"]  # fmt: skip
    rows = []
    for key, (label, spec) in QUALITY_METRICS.items():
        if key not in run.floor.metrics:
            continue
        values = [run.eval_at_minutes[at].metrics[key] for at in points]
        goal = _quality_goal(goals[key], run.floor.metrics[key], spec)[0] if key in goals else "-"
        rows.append([label, *best_marked(values, spec, key in LOWER_IS_BETTER), fmt(run.floor.metrics[key], spec),
                     goal])  # fmt: skip
    return "\n\n".join([table(header, rows, right=tuple(range(1, len(points) + 2))), source(name)])


def steps_ratio(names: list | tuple, baseline: list | tuple, minutes: float = 10.0) -> float:
    """How many times the steps of the `baseline` runs the `names` runs made by `minutes` (summed over seeds)."""
    at = f"{minutes:g}"
    return sum(r[n].condgan.eval_at_minutes[at].step for n in names) / sum(
        r[n].condgan.eval_at_minutes[at].step for n in baseline)


def _not_measured(names: list) -> str:
    """A line saying which of the results files `names` are not committed yet ('' when all are)."""
    missing = [f"`benchmarks/results/{name}.json`" for name in names if not r.exists(name)]
    if not missing:
        return ""
    verb = "is" if len(missing) == 1 else "are"
    return f"*Not measured yet: this section appears when {', '.join(missing)} {verb} committed.*"


def time_to_quality_goals(names: list | tuple | str, per_class_minutes: float = 10.0, only: tuple = ()) -> str:
    """time_to_quality.py results of one recipe, one per seed (`names`: results files): quality_goals_tables
    and the line saying how each was made; a line saying so where a file is not committed yet."""
    names = [names] if isinstance(names, str) else list(names)
    if missing := _not_measured(names):
        return missing
    parts = [quality_goals_tables([r[name] for name in names], per_class_minutes, only)]
    return "\n\n".join([*parts, *(source(name) for name in names)])


def time_to_quality_recipes(groups: list | tuple, minutes: float = 10.0) -> str:
    """Recipes side by side at one minute point: `groups` is ((label, [results names, one per seed]), ...), each
    metric's mean over the seeds (best in bold) and range, beside the real floor; with two recipes trained on the
    same seeds, in how many seeds the second beats the first (a paired comparison: one seed's data order and
    initial weights are the same for both)."""
    at = f"{minutes:g}"
    if missing := _not_measured([name for _, names in groups for name in names]):
        return missing
    runs = {label: [r[name] for name in names] for label, names in groups}
    for items in runs.values():
        for item in items:
            if at not in item.condgan.eval_at_minutes:
                raise RenderError(f"{item.where} has no full evaluation at {at} minutes")
    labels = list(runs)
    evaluations = {label: [item.condgan.eval_at_minutes[at] for item in items] for label, items in runs.items()}
    every = [item for items in runs.values() for item in items]
    keys = [key for key in QUALITY_METRICS if all(key in item.condgan.floor.metrics for item in every)]
    seeds = {label: [item.get("seed") for item in items] for label, items in runs.items()}
    paired = len(labels) == 2 and seeds[labels[0]] == seeds[labels[1]] and None not in seeds[labels[0]]
    header = ["metric", *(f"{label}: mean" for label in labels), *(f"{label}: range" for label in labels),
              "real floor"]  # fmt: skip
    if paired:
        header.append(f"{labels[1]} better in")
    rows = []
    for key in [*keys, "steps"]:
        label, spec = QUALITY_METRICS.get(key, ("steps", ",d"))
        values = {name: [e.step if key == "steps" else e.metrics[key] for e in evaluations[name]] for name in labels}
        means = [_mean(values[name]) for name in labels]
        if key == "steps":
            cells = [fmt(round(m), spec) for m in means]
        else:
            cells = best_marked(means, spec, key in LOWER_IS_BETTER)
        row = [label, *cells, *(_spread(values[name], spec) for name in labels)]
        row.append("-" if key == "steps" else fmt(_mean([item.condgan.floor.metrics[key] for item in every]), spec))
        if paired:
            if key == "steps":
                row.append("-")
            else:
                first, second = values[labels[0]], values[labels[1]]
                wins = sum((b < a) if key in LOWER_IS_BETTER else (b > a) for a, b in zip(first, second, strict=True))
                row.append(f"{wins}/{len(first)} seeds")
        rows.append(row)
    seed_text = ", ".join(fmt(s) for s in seeds[labels[0]])
    count = len(evaluations[labels[0]])
    intro = (f"**{at} minutes** of training, {count} seed{'s' if count != 1 else ''} each ({seed_text}), "
             f"{fmt(every[0].settings.fid_samples)} samples per evaluation:")  # fmt: skip
    lines = [intro, table(header, rows, right=tuple(range(1, len(header) - (1 if paired else 0))))]
    return "\n\n".join(lines)


SUMMARY_METRICS = ("fid", "intra_fid", "recall", "coverage", "precision", "conditional_accuracy")


def levers_summary(rows: list | tuple, minutes: float = 10.0) -> str:
    """What each lever bought, one row per lever measured beside a baseline on the same seeds: `rows` is
    ((lever, how it was measured, [baseline results, one per seed], [the lever's results]), ...). FID and
    intra-class FID as a ratio to the baseline's (below 1 is better), the others as a difference of the means,
    the steps as a ratio; each cell says in how many seeds the lever was ahead."""
    at = f"{minutes:g}"
    if missing := _not_measured([name for *_, baseline, names in rows for name in (*baseline, *names)]):
        return missing
    header = ["lever", "measured", *(QUALITY_METRICS[key][0] for key in SUMMARY_METRICS), "steps"]
    lines = []
    for lever, how, baseline, names in rows:
        if len(baseline) != len(names):
            raise RenderError(f"levers_summary: {lever!r} has {len(names)} results against {len(baseline)} baseline "
                              "results; give one of each per seed")  # fmt: skip
        before = [r[name].condgan.eval_at_minutes[at] for name in baseline]
        after = [r[name].condgan.eval_at_minutes[at] for name in names]
        cells = []
        for key in SUMMARY_METRICS:
            old, new = [e.metrics[key] for e in before], [e.metrics[key] for e in after]
            lower = key in LOWER_IS_BETTER
            wins = sum((b < a) if lower else (b > a) for a, b in zip(old, new, strict=True))
            change = (f"{fmt(_mean(new) / _mean(old), '.2f')}×" if lower
                      else f"{'+' if _mean(new) >= _mean(old) else '−'}{fmt(abs(_mean(new) - _mean(old)), '.3f')}")
            cells.append(f"{change} ({wins}/{len(new)})")
        steps = _mean([e.step for e in after]) / _mean([e.step for e in before])
        lines.append([lever, how, *cells, f"{fmt(steps, '.2f')}×"])
    note = (f"At **{at} minutes**, each lever against its baseline on the same seeds: FID and intra-class FID as the "
            "ratio of the means (below 1 is better), the others as the difference of the means; in brackets, in how "
            "many seeds the lever was ahead.")  # fmt: skip
    return "\n\n".join([note, table(header, lines, right=tuple(range(2, len(header))))])


def mean_at(names: list | tuple, key: str, minutes: float = 10.0) -> float:
    """The mean of one metric (`fid`, `recall`, ...) over time_to_quality.py results, one per seed, at a minute
    point of their full evaluations (steps: `steps_ratio`)."""
    return _mean([r[name].condgan.eval_at_minutes[f"{minutes:g}"].metrics[key] for name in names])
