"""Metrics and reporters: the two small registrable kinds besides tasks and models."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Metric:
    """Aggregates an array of per-item scores into one number (bootstrapped for a confidence interval)."""

    name: str
    aggregate: Callable[[np.ndarray], float]
    description: str = ""
    higher_is_better: bool = True


@dataclasses.dataclass(frozen=True)
class Reporter:
    """Writes a view of ``results.json`` (table, page, plot) into the run directory; returns the paths."""

    name: str
    report: Callable[[Mapping[str, Any], Path], list[Path]]
    description: str = ""
