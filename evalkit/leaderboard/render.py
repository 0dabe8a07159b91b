"""A leaderboard as a static site (index + a page per task and per suite, no network), Markdown and JSON.

Every string that comes from a config or a results file is escaped (``html.escape`` with quotes) and
the page's only script sorts rows by numbers stored in ``data-`` attributes, reading and moving DOM
nodes, never parsing HTML, so a model, task or plugin name is always shown as text.
"""

from __future__ import annotations

import html
import json
import math
import re
import zlib
from pathlib import Path
from typing import Any

from evalkit.leaderboard.collect import Row, suite_groups
from evalkit.leaderboard.config import Column, Leaderboard
from evalkit.leaderboard.plots import plot_series, plot_task
from evalkit.metrics.seeds import SEED_GROUP
from evalkit.results import write_text_atomic

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;
margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}
th.sortable{cursor:pointer}th.sortable:after{content:" \\2195";color:#999}td.num{text-align:right}
.ci{color:#666;font-size:.85em}.sig{color:#060}.tie{color:#999}pre{background:#f7f7f7;padding:1em;overflow:auto}"""

# Sorts the rows of table#board by the data-sort value of the clicked column (numbers; text for entry): the
# first click sorts descending (ascending for a data-lower column: the best first), the next click reverses.
_SORT_SCRIPT = """
document.querySelectorAll('table#board th.sortable').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
    var order = th.getAttribute('data-order');
    var down = order ? order !== 'desc' : !th.hasAttribute('data-lower');
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-order'); });
    th.setAttribute('data-order', down ? 'desc' : 'asc');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute('data-sort'), y = b.cells[col].getAttribute('data-sort');
      var nx = parseFloat(x), ny = parseFloat(y), c;
      if (!isNaN(nx) && !isNaN(ny)) { c = nx - ny; } else { c = x < y ? -1 : x > y ? 1 : 0; }
      return down ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def esc(value: Any) -> str:
    """Text for HTML content and attribute values (quotes included)."""
    return html.escape(str(value), quote=True)


def fmt(x: float) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.3g}"


def slug(text: str) -> str:
    """A file name for a task label: safe characters only, plus a hash suffix when anything was replaced."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:60]
    return clean if clean == text else f"{clean}-{zlib.crc32(text.encode('utf-8')):08x}"


def md_text(text: str) -> str:
    """Text for a Markdown table cell: what could start an HTML tag or entity is escaped, and so are
    Markdown's own marks (links, emphasis, code) and the table's pipes."""
    text = re.sub(r"&(?=#?\w+;)", "&amp;", str(text).replace("\n", " "))
    text = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", text)


def fmt_p(test: dict[str, Any]) -> str:
    """A p-value, or "<floor" when it is below the bootstrap's resolution (1 / resamples)."""
    p = test.get("p_value")
    if p is None or not math.isfinite(p):
        return "–"
    return f"<{test['p_floor']:.0e}" if p < test.get("p_floor", 0.0) else f"{p:.2g}"


def heading(column: Column) -> str:
    """A column's header text: its title, with ↓ when lower values are better."""
    return column.title if column.higher_is_better else f"{column.title} ↓"


def _direction(board: Leaderboard) -> str:
    ranked = "the mean of the columns" if board.rank_by == "mean" else f"column “{board.rank_by}”"
    return f"{ranked}, {'higher' if board.higher_is_better else 'lower'} first"


def _mark(row: Row) -> str:
    """The mark between a row and the next: '>' when the paired test separates them (p < 0.05), '≈' if not."""
    if row.vs_next is None:
        return ""
    return ">" if row.vs_next["significant"] else "≈"


def table_rows(board: Leaderboard, rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and plain-text rows (value [low, high]) shared by the Markdown and console views."""
    header = ["rank", "entry", *[heading(c) for c in board.columns]]
    if board.rank_by == "mean":
        header.append("mean" if board.higher_is_better else "mean ↓")
    header.append("vs next")
    out = []
    for row in rows:
        cells = [f"{fmt(c.value)} [{fmt(c.ci_low)}, {fmt(c.ci_high)}]" for c in row.cells.values()]
        mean = [fmt(row.rank_value)] if board.rank_by == "mean" else []
        test = "" if row.vs_next is None else f"{_mark(row)} (p={fmt_p(row.vs_next)})"
        out.append([str(row.rank), row.entry, *cells, *mean, test])
    return header, out


def markdown(board: Leaderboard, rows: list[Row]) -> str:
    """The headline table for papers and READMEs, with a note on how it was made."""
    header, body = table_rows(board, rows)

    def cell(x: str) -> str:
        return md_text(x)

    lines = [f"# {cell(board.title)}", "", "| " + " | ".join(map(cell, header)) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in body]
    lines += [
        "",
        f"Ranked by {cell(_direction(board))}. Values: the mean item score (probe seeds averaged per item) with its 95% "
        "bootstrap CI over test items; ↓: lower is better. `vs next`: paired bootstrap of the ranking figure against the "
        f"row below (`>`: better at p < 0.05, `≈`: not separated), {board.bootstrap_resamples} resamples, seed {board.seed}.",
    ]
    return "\n".join(lines) + "\n"


def as_json(board: Leaderboard, rows: list[Row]) -> dict[str, Any]:
    """The whole leaderboard as data: config summary, rows with cells, tests and provenance."""
    return {
        "title": board.title,
        "source": board.source,
        "rank_by": board.rank_by,
        "higher_is_better": board.higher_is_better,
        "judge": rows[0].provenance.get("judge") if rows else None,  # what rated the results (all alike)
        "columns": [
            {
                "title": c.title,
                "score": c.score,
                "tasks": list(c.tasks),
                "suite": c.suite,
                "group": c.group,
                "higher_is_better": c.higher_is_better,
                "suite_groups": list(rows[0].suite_cells.get(c.title, {}))
                if rows
                else [],  # the suite's order
            }
            for c in board.columns
        ],
        "rows": [
            {
                "rank": r.rank,
                "entry": r.entry,
                "description": r.description,
                "rank_value": r.rank_value,
                "cells": {t: vars(c) for t, c in r.cells.items()},
                "suite_cells": {
                    t: {g: vars(c) for g, c in cells.items()} for t, cells in r.suite_cells.items()
                },
                "vs_next": r.vs_next,
                "provenance": r.provenance,
            }
            for r in rows
        ],
    }


def _page(title: str, body: list[str]) -> str:
    return (
        "\n".join(
            [
                "<!doctype html><html><head><meta charset='utf-8'>",
                f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
                *body,
                "</body></html>",
            ]
        )
        + "\n"
    )


def index_html(
    board: Leaderboard, rows: list[Row], task_pages: dict[str, str], suite_pages: dict[str, str] | None = None
) -> str:
    """The index: the sortable headline table, the neighbour tests, links to the task and suite pages, and
    each row's provenance."""
    head = ["<th class='sortable'>rank</th>", "<th class='sortable'>entry</th>"]
    head += [
        f"<th class='sortable'{'' if c.higher_is_better else ' data-lower'}>{esc(heading(c))}</th>"
        for c in board.columns
    ]
    if board.rank_by == "mean":
        lower = "" if board.higher_is_better else " data-lower"
        head.append(f"<th class='sortable'{lower}>{'mean' if lower == '' else 'mean ↓'}</th>")
    head.append("<th>vs next</th>")
    body = []
    for row in rows:
        cells = [
            f"<td class='num' data-sort='{row.rank}'>{row.rank}</td>",
            f"<td data-sort='{esc(row.entry)}'>{esc(row.entry)}<br><span class='ci'>{esc(row.description)}</span></td>",
        ]
        for c in row.cells.values():
            cells.append(
                f"<td class='num' data-sort='{esc(float(c.value))}' title='{esc(c.n)} test items'>{esc(fmt(c.value))} "
                f"<span class='ci'>[{esc(fmt(c.ci_low))}, {esc(fmt(c.ci_high))}]</span></td>"
            )
        if board.rank_by == "mean":
            cells.append(
                f"<td class='num' data-sort='{esc(float(row.rank_value))}'>{esc(fmt(row.rank_value))}</td>"
            )
        if row.vs_next is None:
            cells.append("<td></td>")
        else:
            kind = "sig" if row.vs_next["significant"] else "tie"
            cells.append(
                f"<td class='{kind}'>{esc(_mark(row))} <span class='ci'>p={esc(fmt_p(row.vs_next))}</span></td>"
            )
        body.append(f"<tr data-entry='{esc(row.entry)}'>{''.join(cells)}</tr>")
    links = "".join(f"<li><a href='{esc(page)}'>{esc(label)}</a></li>" for label, page in task_pages.items())
    suite_links = "".join(
        f"<li><a href='{esc(page)}'>{esc(label)}</a></li>" for label, page in (suite_pages or {}).items()
    )
    provenance = json.dumps({r.entry: r.provenance for r in rows}, indent=2, sort_keys=True, default=str)
    parts = [
        f"<h1>{esc(board.title)}</h1>",
        f"<p>Ranked by {esc(_direction(board))}; click a column to sort. Each value is the mean item "
        "score (probe seeds averaged per item) with its 95% bootstrap CI over test items (hover: how many); ↓ marks a column "
        "where lower is better. “vs next”, in rank order: paired bootstrap of the ranking figure against the "
        f"row ranked below ({esc(board.bootstrap_resamples)} resamples, seed {esc(board.seed)}): "
        "<span class='sig'>&gt;</span> better at p &lt; 0.05, <span class='tie'>≈</span> not separated.</p>",
        f"<table id='board'><thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(body)}</tbody></table>",
        *([f"<h2>Suites</h2><ul>{suite_links}</ul>"] if suite_links else []),
        f"<h2>Tasks</h2><ul>{links}</ul>",
        "<h2>Provenance</h2><p>Versions, hashes, dates and hardware of every row's results.</p>",
        f"<pre id='provenance'>{esc(provenance)}</pre>",
        f"<script>{_SORT_SCRIPT}</script>",
    ]
    return _page(board.title, parts)


def task_html(board: Leaderboard, label: str, rows: list[Row], images: list[str] = ()) -> str:
    """One task: each entry's metrics, its plots, then a table per group key (entries x group values)."""
    parts = [f"<p><a href='index.html'>← {esc(board.title)}</a></p>", f"<h1>{esc(label)}</h1>"]
    first = next(r.tasks[label] for r in rows if label in r.tasks)
    parts.append(
        f"<p>task {esc(first.get('task'))} version {esc(first.get('version'))}, plugin {esc(first.get('plugin'))} "
        f"{esc(first.get('plugin_version'))}, data hash <code>{esc(first.get('data_hash'))}</code></p>"
    )
    scores = sorted({s for r in rows for s in (r.tasks.get(label, {}).get("metrics") or {})})
    head = "".join(f"<th>{esc(h)}</th>" for h in ["entry", *scores])
    body = ""
    for r in rows:
        metrics = r.tasks.get(label, {}).get("metrics") or {}
        cells = "".join(f"<td class='num'>{esc(_value(metrics.get(s)))}</td>" for s in scores)
        body += f"<tr><td>{esc(r.entry)}</td>{cells}</tr>"
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts += [f"<img src='{esc(src)}' alt='{esc(src)}'>" for src in images]
    keys = sorted({k for r in rows for k in (r.tasks.get(label, {}).get("groups") or {})} - {SEED_GROUP})
    for key in keys:
        for score in scores:
            values = sorted(
                {v for r in rows for v in ((r.tasks.get(label, {}).get("groups") or {}).get(key) or {})},
                key=_natural,
            )
            head = "".join(f"<th>{esc(h)}</th>" for h in ["entry", *values])
            body = ""
            for r in rows:
                groups = (r.tasks.get(label, {}).get("groups") or {}).get(key) or {}
                cells = "".join(
                    f"<td class='num'>{esc(_value((groups.get(v) or {}).get(score)))}</td>" for v in values
                )
                body += f"<tr><td>{esc(r.entry)}</td>{cells}</tr>"
            parts.append(f"<h2>{esc(score)} by {esc(key)}</h2>")
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    return _page(f"{board.title}: {label}", parts)


def suite_html(
    board: Leaderboard, suite: str, rows: list[Row], task_pages: dict[str, str], images: list[str] = ()
) -> str:
    """One suite: its members (linked to their task pages, with their group label), each suite column broken
    down by the suite's groups (e.g. Scylla's complexity levels) with plots, and the suite's own figures."""
    first = rows[0].suites[suite]
    key = str(first.get("group_key") or "group")
    labels = first.get("groups") if isinstance(first.get("groups"), dict) else {}
    members = next(rows[0].column_tasks[c.title] for c in board.columns if c.suite == suite)
    parts = [
        f"<p><a href='index.html'>← {esc(board.title)}</a></p>",
        f"<h1>suite {esc(suite)}</h1>",
        f"<p>plugin {esc(first.get('plugin'))} {esc(first.get('plugin_version'))}; {len(members)} member tasks"
        f"{f', grouped by {esc(key)}' if labels else ''}.</p>",
    ]
    items = "".join(
        f"<li><a href='{esc(task_pages.get(t, ''))}'>{esc(t)}</a> <span class='ci'>{esc(key)} "
        f"{esc(labels.get(t, '–'))}</span></li>"
        for t in members
    )
    parts.append(f"<ul>{items}</ul>")
    for column in (c for c in board.columns if c.suite == suite):
        groups = list(suite_groups(first, members))  # none: the suite labels no member, only "all" is shown
        head = "".join(f"<th>{esc(h)}</th>" for h in ["entry", *groups, "all"])
        body = ""
        for r in rows:
            cells = r.suite_cells.get(column.title, {})
            values = [cells.get(g) for g in groups] + [r.cells[column.title]]
            body += (
                f"<tr><td>{esc(r.entry)}</td>"
                + "".join(f"<td class='num'>{esc(_cell_text(c))}</td>" for c in values)
                + "</tr>"
            )
        parts.append(f"<h2>{esc(heading(column))}{f' by {esc(key)}' if groups else ''}</h2>")
        parts.append(
            "<p class='ci'>The mean over each group's member tasks of their mean item score, 95% bootstrap CI "
            "over test items; “all”: over every member (the headline column).</p>"
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts += [f"<img src='{esc(src)}' alt='{esc(src)}'>" for src in images]
    critical = []
    for r in rows:
        for score, figures in sorted(((r.suites.get(suite) or {}).get("generalization") or {}).items()):
            if isinstance(figures, dict) and "critical" in figures:
                shares = figures.get("critical_frequency")
                share = shares.get(str(figures["critical"])) if isinstance(shares, dict) else None
                sure = f" (in {share:.0%} of resamples)" if isinstance(share, (int, float)) else ""
                critical.append(
                    f"<tr><td>{esc(r.entry)}</td><td>{esc(score)}</td>"
                    f"<td>{esc(figures['critical'] if figures['critical'] is not None else 'no gap')}{esc(sure)}</td></tr>"
                )
    if critical:
        parts.append(
            f"<h2>Critical {esc(key)}</h2><p class='ci'>From each entry's results: the {esc(key)} with the largest "
            "ID − OOD gap (all of the suite's items).</p>"
        )
        parts.append(
            "<table><thead><tr><th>entry</th><th>score</th><th>critical</th></tr></thead>"
            f"<tbody>{''.join(critical)}</tbody></table>"
        )
    return _page(f"{board.title}: suite {suite}", parts)


def _cell_text(cell: Any) -> str:
    return "–" if cell is None else f"{fmt(cell.value)} [{fmt(cell.ci_low)}, {fmt(cell.ci_high)}]"


def _value(metric: dict[str, Any] | None) -> str:
    if not metric:
        return "–"
    return f"{fmt(metric['value'])} [{fmt(metric['ci_low'])}, {fmt(metric['ci_high'])}]"


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def write_site(board: Leaderboard, rows: list[Row], out: str | Path) -> list[Path]:
    """index.html, one page per task, leaderboard.md and leaderboard.json under ``out`` (atomic writes)."""
    out = Path(out)
    for stale in [
        *out.glob("task-*.html"),
        *out.glob("suite-*.html"),
        *out.glob("plot-*.png"),
    ]:  # an earlier build's
        stale.unlink()
    labels = sorted({label for r in rows for label in r.tasks})
    pages = {label: f"task-{slug(label)}.html" for label in labels}
    written = []
    for label, page in pages.items():
        images = []
        scores = sorted({c.score for c in board.columns if label in rows[0].column_tasks[c.title]})
        keys = sorted({k for r in rows for k in ((r.tasks.get(label) or {}).get("groups") or {})})
        for key in keys:
            for score in scores:
                png = out / f"plot-{slug(label)}-{slug(key)}-{slug(score)}.png"
                if plot_task(label, key, score, rows, png):
                    images.append(png.name)
                    written.append(png)
        write_text_atomic(out / page, task_html(board, label, rows, images))
        written.append(out / page)
    suite_pages = {
        s: f"suite-{slug(s)}.html" for s in dict.fromkeys(c.suite for c in board.columns if c.suite)
    }
    for suite, page in suite_pages.items():
        images = []
        for column in (c for c in board.columns if c.suite == suite):
            series = {
                r.entry: {g: vars(c) for g, c in r.suite_cells.get(column.title, {}).items()} for r in rows
            }
            key = str(rows[0].suites[suite].get("group_key") or "group")
            png = out / f"plot-suite-{slug(suite)}-{slug(column.title)}.png"
            if plot_series(f"{suite}: {column.title} by {key} (95% CIs)", key, column.score, series, png):
                images.append(png.name)
                written.append(png)
        write_text_atomic(out / page, suite_html(board, suite, rows, pages, images))
        written.append(out / page)
    files = {
        "index.html": index_html(board, rows, pages, suite_pages),
        "leaderboard.md": markdown(board, rows),
        "leaderboard.json": json.dumps(as_json(board, rows), indent=2, sort_keys=True, default=str) + "\n",
    }
    for name, text in files.items():
        write_text_atomic(out / name, text)
        written.append(out / name)
    return written
