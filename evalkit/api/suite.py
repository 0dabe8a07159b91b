"""Suites: a named set of tasks run together, with a group label per task and a suite-level summary."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ml_collections import ConfigDict

from evalkit.api.task import Record

SuiteSummary = Callable[[Mapping[str, Sequence[Record]], Mapping[str, ConfigDict]], Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class Suite:
    """Tasks that belong together (e.g. a benchmark's 20 tasks), named in a run config like one task.

    ``tasks`` are registered task names; ``groups`` gives some of them a label (e.g. their complexity
    level) that the host's suite figures average over, in ``group_order``; ``group_key`` names the labels
    (e.g. "level"); ``tags`` gives tasks further labels, several each (e.g. categories). ``summarize(records, configs)`` receives every member's records and resolved config,
    keyed by task name, and returns the suite's own JSON figures (results.json ``suites.<label>.summary``).
    """

    name: str
    tasks: tuple[str, ...]
    groups: Mapping[str, str] = dataclasses.field(default_factory=dict)
    group_key: str = "group"
    group_order: tuple[str, ...] = ()
    summarize: SuiteSummary | None = None
    description: str = ""
    #: further labels a task may carry several of (e.g. CIF-Bench's categories); ``tasks.<suite>.groups``
    #: selects by them as by group labels, and ``tag_key`` names them
    tags: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    tag_key: str = "tag"

    def __post_init__(self):
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "group_order", tuple(self.group_order))
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"suite {self.name!r} must list its tasks once each, got {self.tasks!r}")
        object.__setattr__(self, "tags", {t: tuple(v) for t, v in self.tags.items()})
        stray = sorted((set(self.groups) | set(self.tags)) - set(self.tasks))
        if stray:
            raise ValueError(f"suite {self.name!r} labels tasks it does not list: {', '.join(stray)}")
