"""Default metric aggregations."""

import numpy as np

from evalkit import hookimpl
from evalkit.api import Metric


@hookimpl
def evalkit_register_metrics(register):
    register(Metric("mean", np.mean, "mean of per-item scores (accuracy, exact match, mean log-prob)"))
    register(Metric("median", np.median, "median of per-item scores"))
    register(Metric("max", np.max, "maximum per-item score"))
    register(Metric("min", np.min, "minimum per-item score"))
