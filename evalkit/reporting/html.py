"""A static, self-contained HTML report of a results.json. Every value is escaped."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from evalkit.reporting.tables import HEADER, detail_tables, metric_rows

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;
margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}
img{max-width:100%}pre{background:#f7f7f7;padding:1em;overflow:auto}"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_report(results: Mapping[str, Any], images: list[str] = ()) -> str:
    model = html.escape(str(results.get("model", {}).get("name", "?")))
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>evalkit: {model}</title>",
        f"<style>{_STYLE}</style></head><body><h1>evalkit results: {model}</h1>",
        f"<p>run hash <code>{html.escape(str(results.get('run_hash', '')))}</code>, evalkit "
        f"{html.escape(str(results.get('evalkit_version', '')))}, {html.escape(str(results.get('created', '')))}</p>",
        _table(HEADER, metric_rows(results)),
    ]
    for title, header, rows in detail_tables(results):
        parts += [f"<h2>{html.escape(title)}</h2>", _table(header, rows)]
    for src in images:
        parts.append(f"<img src='{html.escape(src, quote=True)}' alt='{html.escape(src, quote=True)}'>")
    config = json.dumps(results.get("config", {}), indent=2, sort_keys=True, default=str)
    parts.append(f"<h2>Config</h2><pre>{html.escape(config)}</pre></body></html>")
    return "\n".join(parts) + "\n"
