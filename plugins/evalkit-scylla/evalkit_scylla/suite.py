"""Scylla's suites: the 20 tasks with their complexity levels, and the paper's level table.

The host reports ID, OOD, gap and S per level with bootstrap CIs and how often each level is the critical
one (``suites.<label>.generalization``). This summary adds what only Scylla defines: accuracies with the
paper's denominator rule (unparseable answers left out, and 0 when fewer than 10% parse; 50% for the second
pass), the upstream ``ratio`` and ``relative_diff``, and the complexity each probe task (LIS, LCE, LCS) is
solved at, read off where its OOD accuracy meets the anchor tasks' OOD curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evalkit.api import Record, Suite
from evalkit_scylla.core.levels import level_table, paper_accuracy, strict_accuracy
from evalkit_scylla.core.spec import LEVELS, PROBE
from evalkit_scylla.core.spec import TASKS as SPECS

ANCHORS = [slug for slug, spec in SPECS.items() if spec.level != PROBE]
PROBE_SLUGS = [slug for slug, spec in SPECS.items() if spec.level == PROBE]
# One anchor task per level: the CPU-sized probe suite (trains a probe model per task).
CPU_PROBE_SLUGS = (
    "find_maximum",
    "sort_numbers",
    "three_sum_multiple_ten",
    "four_sum_multiple_ten",
    "subset_sum",
)


def _split_accuracies(records: Sequence[Record], first: str, threshold: float) -> dict[str, Any]:
    """Per split: strict accuracy and, for prompted tasks, the paper's accuracy and the count of answers
    its parser missed (probe tasks decode tokens: they have no paper parse)."""
    out = {}
    for split in ("id", "ood"):
        recs = [r for r in records if r["groups"].get("split") == split]
        strict = [r["scores"].get(f"{first}accuracy") for r in recs]
        if not recs or all(v is None for v in strict):
            continue
        out[split] = {"strict": strict_accuracy([bool(v) for v in strict if v is not None]), "n": len(recs)}
        if any(f"{first}accuracy_paper" in r["scores"] for r in recs):
            paper = [r["scores"].get(f"{first}accuracy_paper") for r in recs]
            out[split]["paper"] = paper_accuracy(
                [bool(v) for v in paper], [v is not None for v in paper], threshold
            )
            out[split]["unparseable_paper"] = sum(v is None for v in paper)
    return out


def _probe_complexity(probe_ood: float, levels: Mapping[str, Any]) -> str | None:
    """The first level whose mean anchor OOD accuracy is at or below the probe task's: the complexity
    the model handles the probe task at (the paper's §4.5 read-off); None above every level."""
    for level in LEVELS:
        if level in levels and levels[level]["mean_ood"] <= probe_ood:
            return level
    return None


def summarize(records: Mapping[str, Sequence[Record]], configs: Mapping[str, Any]) -> dict[str, Any]:
    """Per task and per level, both accuracies; probe tasks' complexity read-off; the task mode(s)."""
    per_task = {}
    for name, recs in records.items():
        slug = (
            name.removeprefix("scylla_probe_")
            if name.startswith("scylla_probe_")
            else name.removeprefix("scylla_")
        )
        per_task[slug] = {"first": _split_accuracies(recs, "", 0.10)}
        second = _split_accuracies(recs, "second_", 0.50)
        if second:
            per_task[slug]["second"] = second
    out: dict[str, Any] = {"tasks": per_task, "modes": sorted({str(c.mode) for c in configs.values()})}
    for kind in ("paper", "strict"):
        pairs = {
            slug: (t["first"]["id"][kind], t["first"]["ood"][kind])
            for slug, t in per_task.items()
            if slug in ANCHORS and {"id", "ood"} <= set(t["first"]) and kind in t["first"]["id"]
        }
        if not pairs:
            continue
        table = level_table(pairs)
        out[f"levels_{kind}"] = table
        probes = {
            slug: _probe_complexity(t["first"]["ood"][kind], table["levels"])
            for slug, t in per_task.items()
            if slug in PROBE_SLUGS and "ood" in t["first"] and kind in t["first"]["ood"]
        }
        if probes:
            out[f"probe_complexity_{kind}"] = probes
    return out


def _suite(name: str, prefix: str, slugs: Sequence[str], description: str) -> Suite:
    return Suite(
        name,
        tuple(f"{prefix}{slug}" for slug in slugs),
        groups={f"{prefix}{slug}": SPECS[slug].level for slug in slugs if slug in ANCHORS},
        group_key="level",
        group_order=LEVELS,
        summarize=summarize,
        description=description,
    )


SUITES = [
    _suite(
        "scylla", "scylla_", list(SPECS), "Scylla's 20 tasks prompted (chain of thought), levels O(N)..O(2^N)"
    ),
    _suite(
        "scylla_probe",
        "scylla_probe_",
        list(SPECS),
        "Scylla's 20 tasks, each with probe transformers trained on ID instances (token format)",
    ),
    _suite(
        "scylla_probe_cpu",
        "scylla_probe_",
        CPU_PROBE_SLUGS,
        "one Scylla task per level with small probe transformers: sized for a CPU (configs/scylla_probe.py)",
    ),
]
