"""Plain-text and Markdown tables of a results.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evalkit.metrics.aggregate import natural_key
from evalkit.metrics.seeds import seeds_in


def ordered(values: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Group values in natural order ('2' before '10'), whatever order a JSON file kept them in."""
    return sorted(values.items(), key=lambda kv: natural_key(kv[0]))


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"
    return str(x)


def metric_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """One row per (task, score): task, score, value, 95% CI, n — failed tasks show their error."""
    rows = []
    for label, t in results.get("tasks", {}).items():
        if t.get("status") != "ok":
            rows.append([label, "FAILED", t.get("error", ""), "", ""])
            continue
        for score, m in t.get("metrics", {}).items():
            rows.append(
                [label, score, _fmt(m["value"]), f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]", str(m["n"])]
            )
        for key, value in t.get("summary", {}).items():
            if isinstance(value, int | float | str):
                rows.append([label, key, _fmt(value), "", ""])
    return rows


def group_tables(results: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per task and group key: one column per score ('value [95% CI]'), one row per
    group value."""
    out = []
    for label, t in results.get("tasks", {}).items():
        for gkey, values in (t.get("groups") or {}).items():
            scores = sorted({s for v in values.values() for s in v})
            rows = [
                [gval]
                + [
                    f"{_fmt(v[s]['value'])} [{_fmt(v[s]['ci_low'])}, {_fmt(v[s]['ci_high'])}]"
                    if s in v
                    else ""
                    for s in scores
                ]
                + [str(max((v[s]["n"] for s in v), default=0))]
                for gval, v in ordered(values)
            ]
            out.append((f"{label} by {gkey}", [gkey, *scores, "n"], rows))
    return out


def _spread(s: Mapping[str, Any]) -> str:
    return f"{_fmt(s['median'])} [{_fmt(s['min'])}, {_fmt(s['max'])}]"


def _seed_cells(v: Mapping[str, Any], scores: list[str], seeds: list[str]) -> list[str]:
    """Per score: 'median [min, max]' and the seeds' values in order ('–' for a seed without one)."""
    row = []
    for s in scores:
        if s not in v:
            row += ["", ""]
            continue
        per_seed = v[s]["per_seed"]
        row += [_spread(v[s]), " / ".join(_fmt(per_seed[k]) if k in per_seed else "–" for k in seeds)]
    return row


def seed_tables(results: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per task trained with several seeds and per group key: for each score its
    median [min, max] over seeds and each seed's value ('–' where a seed has none), one row per
    group value plus an 'all' row."""
    out = []
    for label, t in results.get("tasks", {}).items():
        over = t.get("over_seeds")
        if not over:
            continue
        seeds = seeds_in(over)
        scores = sorted(over["overall"])
        header = [h for s in scores for h in (f"{s} median [min, max]", f"{s} seed {' / '.join(seeds)}")]
        groups = over["groups"] or {"": {}}  # a task without other groups still gets its overall row
        for gkey, values in groups.items():
            rows = [
                [gval, *_seed_cells(v, scores, seeds)]
                for gval, v in [*ordered(values), ("all", over["overall"])]
            ]
            title = f"{label} by {gkey}" if gkey else label
            out.append((f"{title}, over {len(seeds)} seeds", [gkey, *header], rows))
    return out


def _ci(f: Mapping[str, Any]) -> str:
    return f"{_fmt(f['value'])} [{_fmt(f['ci_low'])}, {_fmt(f['ci_high'])}]"


GAP_FIGURES = ("id", "ood", "gap", "S")


def generalization_tables(results: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows): per task with ID / OOD items, one row per score (ID, OOD, gap, S with CIs);
    per suite and score, one row per group (means over its tasks, the per-task mean of S, and how often the
    group has the largest gap across bootstrap resamples)."""
    out = []
    task_rows = [
        [label, score, *(_ci(f[k]) for k in GAP_FIGURES), f"{f['n_id']} / {f['n_ood']}"]
        for label, t in results.get("tasks", {}).items()
        for score, f in (t.get("generalization") or {}).items()
    ]
    if task_rows:
        header = ["task", "score", "ID", "OOD", "gap = max(0, ID-OOD)", "S = OOD-gap", "n ID / OOD"]
        out.append(("Generalization: in vs out of distribution", header, task_rows))
    for label, suite in (results.get("suites") or {}).items():
        for score, fig in (suite.get("generalization") or {}).items():
            key = suite.get("group_key", "group")
            rows = [
                [
                    group + (" *" if group == fig["critical"] else ""),
                    str(len(g["tasks"])),
                    f"{_ci(g['id'])} ±{_fmt(g['id_std'])}",
                    f"{_ci(g['ood'])} ±{_fmt(g['ood_std'])}",
                    _ci(g["gap"]),
                    _ci(g["S"]),
                    _ci(g["S_task_mean"]),
                    _fmt(fig["critical_frequency"].get(group, 0.0)),
                ]
                for group, g in ((name, fig["groups"][name]) for name in fig.get("order") or fig["groups"])
            ]
            header = [
                key,
                "tasks",
                "ID (± sd over tasks)",
                "OOD",
                "gap",
                "S of means",
                "S (mean over tasks)",
                "P(critical)",
            ]
            if fig["critical"] is None:
                rows.append(
                    ["(no gap)", "", "", "", "", "", "", _fmt(fig["critical_frequency"].get("none", 0.0))]
                )
            title = f"{label} by {key}: {score} (* = critical {key}, largest gap)"
            out.append((title, header, rows))
    return out


def suite_tables(results: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The tables a suite's own summary asks reports to show: ``summary.tables``, a list of
    ``{"title", "header", "rows"}`` (cells are written as given, and escaped by the HTML report)."""
    out = []
    for label, suite in (results.get("suites") or {}).items():
        for table in (suite.get("summary") or {}).get("tables", []):
            rows = [[_fmt(c) for c in row] for row in table.get("rows", [])]
            out.append(
                (f"{label}: {table.get('title', '')}", [str(h) for h in table.get("header", [])], rows)
            )
    return out


def detail_tables(results: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table a report shows below the headline: suites' own, groups, seeds, generalization."""
    return (
        suite_tables(results) + group_tables(results) + seed_tables(results) + generalization_tables(results)
    )


HEADER = ["task", "score", "value", "95% CI", "n"]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda c: str(c).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(esc(c) for c in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def markdown_report(results: Mapping[str, Any]) -> str:
    model = results.get("model", {})
    parts = [
        f"# evalkit results: {model.get('name', '?')}",
        "",
        f"run hash `{results.get('run_hash', '')}`, evalkit {results.get('evalkit_version', '')}, "
        f"{results.get('created', '')}",
        "",
        markdown_table(HEADER, metric_rows(results)),
    ]
    for title, header, rows in detail_tables(results):
        parts += ["", f"## {title}", "", markdown_table(header, rows)]
    return "\n".join(parts) + "\n"
