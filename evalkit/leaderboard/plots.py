"""Plots for a leaderboard's task and suite pages: each entry's score by group value (length curves,
complexity levels, ID vs OOD, categories), one PNG per task (or suite column), group key and score."""

from __future__ import annotations

from pathlib import Path

from evalkit.leaderboard.collect import Row
from evalkit.metrics.seeds import SEED_GROUP
from evalkit.reporting.tables import ordered


def plot_task(label: str, key: str, score: str, rows: list[Row], path: Path) -> Path | None:
    """Entries' ``score`` by the values of group ``key`` (95% CIs): lines over numeric values (lengths),
    points with whiskers over categories. None when the key has fewer than two values or is the seed."""
    if key == SEED_GROUP:
        return None
    series = {}
    for row in rows:
        groups = ((row.tasks.get(label) or {}).get("groups") or {}).get(key) or {}
        points = {v: m[score] for v, m in groups.items() if score in m}
        if points:
            series[row.entry] = points
    return plot_series(f"{label}: {score} by {key} (95% CIs)", key, score, series, path, sort=True)


def plot_series(
    title: str, key: str, score: str, series: dict[str, dict[str, dict]], path: Path, sort: bool = False
) -> Path | None:
    """Each entry's points {group value: {value, ci_low, ci_high}} by group value: a line with a CI band
    over numeric values, points with whiskers over categories (in the order given, or natural order with
    ``sort``). None when there are fewer than two values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {entry: points for entry, points in series.items() if points}
    seen = {v: None for s in series.values() for v in s}
    values = [v for v, _ in ordered(seen)] if sort else list(seen)
    if len(values) < 2:
        return None
    numeric = all(_is_number(v) for v in values)
    position = {v: (float(v) if numeric else i) for i, v in enumerate(values)}
    matplotlib.rcParams["text.parse_math"] = False  # labels and group values are text, never math ($...$)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for n, (entry, points) in enumerate(series.items()):
        xs = [v for v in values if v in points]
        offset = 0 if numeric else 0.08 * (n - (len(series) - 1) / 2)
        x = [position[v] + offset for v in xs]
        y = [points[v]["value"] for v in xs]
        low = [points[v]["value"] - points[v]["ci_low"] for v in xs]
        high = [points[v]["ci_high"] - points[v]["value"] for v in xs]
        if numeric:
            (line,) = ax.plot(x, y, marker="o", label=entry)
            ax.fill_between(x, [p["ci_low"] for p in map(points.get, xs)], [p["ci_high"] for p in map(points.get, xs)],
                            color=line.get_color(), alpha=0.15)  # fmt: skip
        else:
            ax.errorbar(x, y, yerr=[low, high], fmt="o", capsize=3, label=entry)
    if not numeric:
        ax.set_xticks(range(len(values)), values, rotation=45 if max(map(len, values)) > 6 else 0, ha="right")
        ax.set_xlim(-0.5, len(values) - 0.5)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(key)
    ax.set_ylabel(score)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
