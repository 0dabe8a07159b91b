"""Metric functions: per-item scoring helpers, seeded bootstrap CIs, grouped aggregation, spread over
training seeds, the ID / OOD generalization gap, paired tests."""

from evalkit.metrics.aggregate import natural_key, summarize_groups, summarize_scores
from evalkit.metrics.bootstrap import (
    bootstrap_ci,
    paired_bootstrap,
    resample_statistic,
)
from evalkit.metrics.generalization import (
    SPLIT_GROUP,
    gap,
    score_s,
    summarize_generalization,
    summarize_suite_generalization,
)
from evalkit.metrics.scoring import choice_accuracy, exact_match, mean_logprob
from evalkit.metrics.seeds import summarize_over_seeds

__all__ = [
    "SPLIT_GROUP",
    "bootstrap_ci",
    "choice_accuracy",
    "exact_match",
    "gap",
    "mean_logprob",
    "natural_key",
    "paired_bootstrap",
    "resample_statistic",
    "score_s",
    "summarize_generalization",
    "summarize_groups",
    "summarize_over_seeds",
    "summarize_scores",
    "summarize_suite_generalization",
]
