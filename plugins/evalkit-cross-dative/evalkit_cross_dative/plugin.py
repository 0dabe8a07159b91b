"""The evalkit entry point of evalkit-cross-dative: the ``cross_dative`` task, and its table and analysis files
written beside every run that ran it."""

from __future__ import annotations

from pathlib import Path

from evalkit import hookimpl

EVALKIT_PLUGIN_API = 1


@hookimpl
def evalkit_register_tasks(register):
    from evalkit_cross_dative.learner_task import DativeLearnerTask
    from evalkit_cross_dative.task import CrossDativeTask

    register(DativeLearnerTask())
    register(CrossDativeTask())


@hookimpl
def evalkit_run_end(run_dir, results):
    """For each cross_dative task of the run: ``<task>/table.csv`` + ``table.jsonl`` (the paper's per-item
    schema) and ``<task>/analysis/`` (CDG scores, feature effects, mixed models, the effects plot)."""
    from evalkit_cross_dative.output import write_outputs

    for label, entry in (results.get("tasks") or {}).items():
        if entry.get("task") == "cross_dative" and entry.get("status") == "ok":
            write_outputs(Path(run_dir) / label, entry.get("config", {}), entry.get("config_hash", ""))
