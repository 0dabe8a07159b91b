"""Leaderboards from a config and result files: `evalkit leaderboard run` runs (or resumes) every entry,
`evalkit leaderboard build` joins their results.json files into a static site, Markdown and JSON
(docs/leaderboards.md)."""

from evalkit.leaderboard.collect import Row, build_table
from evalkit.leaderboard.config import Column, Entry, Leaderboard, load_leaderboard
from evalkit.leaderboard.render import as_json, markdown, write_site

__all__ = [
    "Column",
    "Entry",
    "Leaderboard",
    "Row",
    "as_json",
    "build_table",
    "load_leaderboard",
    "markdown",
    "write_site",
]
