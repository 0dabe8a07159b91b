"""`evalkit leaderboard run CONFIG --results DIR` and `evalkit leaderboard build CONFIG --results DIR --out SITE`."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any

from evalkit.errors import UserError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers the `leaderboard` subcommand with its `run` and `build` actions."""
    p = subparsers.add_parser(
        "leaderboard",
        help="run a leaderboard's entries, or build its site from their results",
        description=(
            "A leaderboard config (configs/leaderboards/*.py) names entries (models), tasks and headline "
            "columns. `run` evaluates every entry into RESULTS/<entry>/ (finished entries are skipped, partial "
            "ones resumed); `build` joins their results.json files into a static site, Markdown and JSON."
        ),
    )
    actions = p.add_subparsers(dest="action", required=True)
    run = actions.add_parser(
        "run",
        help="run the entries that have no results yet, resume partial ones",
        description=(
            "Run every entry of CONFIG into RESULTS/<entry>/. --config.KEY=VALUE overrides apply to every entry "
            "and may set how it runs (data_dir, runtime.*), not what is compared (tasks, model, seed, judge)."
        ),
    )
    run.add_argument("config", help="path/to/leaderboard.py[:arg]")
    run.add_argument("--results", required=True, help="directory holding one results directory per entry")
    build = actions.add_parser("build", help="build the site (index.html, task pages, .md, .json)")
    build.add_argument("config", help="path/to/leaderboard.py[:arg]")
    build.add_argument("--results", required=True, help="directory holding one results directory per entry")
    build.add_argument("--out", required=True, help="where to write the site")
    p.set_defaults(func=run_command)
    return p


def run_command(args: argparse.Namespace, overrides: dict[str, str]) -> int:
    from evalkit.leaderboard import load_leaderboard

    board = load_leaderboard(args.config)
    if args.action == "build":
        if overrides:
            raise UserError(
                "--config.* overrides apply to `leaderboard run`, not `build`; build reads results"
            )
        return build(board, args.results, args.out)
    return run_entries(board, args.results, overrides)


def build(board: Any, results: str, out: str) -> int:
    from evalkit.leaderboard import build_table, write_site
    from evalkit.leaderboard.render import table_rows
    from evalkit.reporting.tables import text_table
    from evalkit.results import writable_dir

    rows = build_table(board, results)
    writable_dir(out, "--out")
    written = write_site(board, rows, out)
    print(board.title)
    print(text_table(*table_rows(board, rows)))
    print(f"wrote {len(written)} files to {out}/ (open {Path(out) / 'index.html'})")
    return 0


def run_entries(board: Any, results: str, overrides: dict[str, str]) -> int:
    """Each entry in turn: skipped when its results.json is of this very config, else run (resuming)."""
    from evalkit.cli import run_resolved
    from evalkit.plugins import get_host
    from evalkit.resolve import resolve_run

    compared = sorted(k for k in overrides if k.split(".")[0] in COMPARED)
    if compared:
        raise UserError(
            f"--config.{compared[0]} would make the results differ from the leaderboard's config; change the "
            "leaderboard config instead (overrides may set data_dir and runtime.*)"
        )
    host = get_host()
    runs = []
    for entry in board.entries:  # every entry is checked before any runs, so a typo costs no run
        try:
            runs.append(
                (entry, resolve_run(board.run_config(entry, results), {**entry.overrides, **overrides}, host))
            )
        except UserError as exc:
            raise UserError(f"entry {entry.name!r}: {exc}") from exc
    status = 0
    for entry, resolved in runs:
        done = Path(resolved.config.output_dir) / "results.json"
        rehash = functools.partial(_rehash, board, entry, results, overrides)
        if done.is_file() and _finished(done, resolved.run_hash, rehash):
            print(f"{entry.name}: done (results of this config in {done.parent})")
            continue
        print(f"{entry.name}: running into {resolved.config.output_dir}")
        status = max(status, run_resolved(host, resolved))
    return status


COMPARED = ("tasks", "model", "seed", "judge")  # run config sections that decide what a leaderboard compares


def _rehash(board: Any, entry: Any, results: str, overrides: dict[str, str], output_dir: str) -> str:
    """The run hash of ``entry`` had its output directory been spelled ``output_dir``."""
    from evalkit.plugins import get_host
    from evalkit.resolve import resolve_run

    given = {**entry.overrides, **overrides, "output_dir": output_dir}
    return resolve_run(board.run_config(entry, results), given, get_host()).run_hash


def _finished(path: Path, run_hash: str, rehash: Any) -> bool:
    """Whether ``path`` holds results of this very config. The output directory is part of the run hash, so
    results written to the same folder spelled another way (relative vs absolute, ``./``) count as this
    config's when the hash matches with the stored spelling."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        raise UserError(f"{path} cannot be read; delete it to rerun that entry") from None
    if stored.get("run_hash") == run_hash:
        return True
    stored_dir = (stored.get("config") or {}).get("output_dir") if isinstance(stored, dict) else None
    if not isinstance(stored_dir, str) or Path(stored_dir).resolve() != path.parent.resolve():
        return False
    return rehash(stored_dir) == stored.get("run_hash")
