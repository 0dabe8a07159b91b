"""Metric functions: per-item scoring helpers, seeded bootstrap CIs, grouped aggregation, spread over
training seeds, paired tests."""

from evalkit.metrics.aggregate import natural_key, summarize_groups, summarize_scores
from evalkit.metrics.bootstrap import bootstrap_ci, paired_bootstrap
from evalkit.metrics.scoring import choice_accuracy, exact_match, mean_logprob
from evalkit.metrics.seeds import summarize_over_seeds

__all__ = [
    "bootstrap_ci",
    "choice_accuracy",
    "exact_match",
    "mean_logprob",
    "natural_key",
    "paired_bootstrap",
    "summarize_groups",
    "summarize_over_seeds",
    "summarize_scores",
]
