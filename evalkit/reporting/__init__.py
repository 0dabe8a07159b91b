"""Views of results: console and Markdown tables, static HTML, plots."""

from evalkit.reporting.html import html_report
from evalkit.reporting.plots import plot_groups, plot_suite_bars, plot_suites
from evalkit.reporting.tables import (
    HEADER,
    detail_tables,
    generalization_tables,
    group_tables,
    markdown_report,
    markdown_table,
    metric_rows,
    seed_tables,
    suite_tables,
    text_table,
)

__all__ = [
    "HEADER",
    "detail_tables",
    "generalization_tables",
    "group_tables",
    "html_report",
    "markdown_report",
    "markdown_table",
    "metric_rows",
    "plot_groups",
    "plot_suite_bars",
    "plot_suites",
    "seed_tables",
    "suite_tables",
    "text_table",
]
