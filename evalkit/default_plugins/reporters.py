"""Default reporters: console summary, results.md, report.html and PNG plots."""

from __future__ import annotations

from pathlib import Path

from evalkit import hookimpl
from evalkit.api import Reporter
from evalkit.reporting import (
    HEADER,
    detail_tables,
    html_report,
    markdown_report,
    metric_rows,
    plot_groups,
    plot_suite_bars,
    plot_suites,
    text_table,
)
from evalkit.results import write_text_atomic


def console(results, run_dir: Path) -> list[Path]:
    print(text_table(HEADER, metric_rows(results)))
    for title, header, rows in detail_tables(results):
        print(f"\n{title}\n{text_table(header, rows)}")
    return []


def markdown(results, run_dir: Path) -> list[Path]:
    path = run_dir / "results.md"
    write_text_atomic(path, markdown_report(results))
    return [path]


def plots(results, run_dir: Path) -> list[Path]:
    return plot_groups(results, run_dir) + plot_suites(results, run_dir) + plot_suite_bars(results, run_dir)


def html(results, run_dir: Path) -> list[Path]:
    images = sorted(p.name for p in run_dir.glob("*.png"))
    path = run_dir / "report.html"
    write_text_atomic(path, html_report(results, images))
    return [path]


@hookimpl
def evalkit_register_reporters(register):
    register(Reporter("console", console, "summary table on standard output"))
    register(Reporter("markdown", markdown, "results.md with per-group and per-seed tables"))
    register(Reporter("plots", plots, "PNG plot of every score against every group key, and of each suite"))
    register(Reporter("html", html, "self-contained report.html (escaped) with the plots"))
