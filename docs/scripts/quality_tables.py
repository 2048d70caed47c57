"""#15's tables: time_to_quality.py's full evaluations over several seeds, against the real floor and the goals.

`{{ time_to_quality_goals(["time_to_quality_15_seed0", ...]) }}` in the docs; benchmarks/time_to_quality.py
--table prints the same through `quality_goals_tables`.
"""

from __future__ import annotations

from docdata import RESULTS, Files, RenderError, fmt, plain, source, table

r = Files(RESULTS)


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


def quality_goals_tables(results: list, per_class_minutes: float = 10.0) -> str:
    """time_to_quality.py results of one recipe, one per training seed (Data): at each minute point all of them
    evaluated in full, each metric's mean and range over the seeds beside the real floor and the goal the results
    record (#15), whether the mean meets it and how many seeds do; then per class at `per_class_minutes` (or the
    last common point), the classes marked that lag their own floor by the goals' measure (class FID over the
    intra-class FID goal's multiple of the class's real FID, accuracy under the accuracy goal's)."""
    runs = [item.condgan for item in results]
    goals = results[0].get("goals") or {}
    common = sorted(set.intersection(*(set(run.eval_at_minutes.keys()) for run in runs)), key=float)
    if not common:
        raise RenderError(f"{', '.join(item.where for item in results)} have no full evaluation at a common minute")
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


def time_to_quality_goals(names: list | tuple | str, per_class_minutes: float = 10.0) -> str:
    """time_to_quality.py results of one recipe, one per seed (`names`: results files): quality_goals_tables
    and the line saying how each was made; a line saying so where a file is not committed yet."""
    names = [names] if isinstance(names, str) else list(names)
    missing = [f"`benchmarks/results/{name}.json`" for name in names if not r.exists(name)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return f"*Not measured yet: this section appears when {', '.join(missing)} {verb} committed.*"
    parts = [quality_goals_tables([r[name] for name in names], per_class_minutes)]
    return "\n\n".join([*parts, *(source(name) for name in names)])
