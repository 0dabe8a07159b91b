"""The evalkit hook specifications (plugin API version 1).

Registration hooks receive a ``register`` callable and return nothing; lifecycle hooks observe a run.
A hook implementation may accept any subset of a spec's arguments (new arguments are opt-in), so hooks
grow without breaking plugins. Every hook is documented in ``docs/plugins.md``.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("evalkit")


# --- registration -------------------------------------------------------------------------------


@hookspec
def evalkit_register_tasks(register) -> None:
    """Register tasks: call ``register(task)`` with an ``evalkit.api.Task`` instance for each."""


@hookspec
def evalkit_register_models(register) -> None:
    """Register model kinds: call ``register(spec)`` with an ``evalkit.api.ModelSpec`` for each."""


@hookspec
def evalkit_register_metrics(register) -> None:
    """Register metric aggregations: call ``register(metric)`` with an ``evalkit.api.Metric`` for each."""


@hookspec
def evalkit_register_suites(register) -> None:
    """Register suites: call ``register(suite)`` with an ``evalkit.api.Suite`` for each (its tasks may come
    from any plugin; a run that names the suite runs them all)."""


@hookspec
def evalkit_register_reporters(register) -> None:
    """Register reporters: call ``register(reporter)`` with an ``evalkit.api.Reporter`` for each."""


# --- lifecycle ----------------------------------------------------------------------------------


@hookspec
def evalkit_run_start(run_dir: str, config: dict[str, Any]) -> None:
    """Called once before any task runs, with the run directory and the resolved config as a dict."""


@hookspec
def evalkit_task_start(task: str, config: dict[str, Any], num_items: int, num_done: int) -> None:
    """Called before a task evaluates, with its resolved config and how many items are already done."""


@hookspec
def evalkit_result(task: str, record: dict[str, Any]) -> None:
    """Called for every per-item record once it is durably stored (not for records restored on resume)."""


@hookspec
def evalkit_task_end(task: str, summary: dict[str, Any]) -> None:
    """Called after a task finishes or fails, with its entry of ``results.json``."""


@hookspec
def evalkit_run_end(run_dir: str, results: dict[str, Any]) -> None:
    """Called once after ``results.json`` is written, with its content."""
