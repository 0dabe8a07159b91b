"""Per-item scoring helpers tasks use inside ``Task.score``."""

from __future__ import annotations

from collections.abc import Sequence

from evalkit.api.requests import LoglikelihoodResult


def exact_match(prediction: str | Sequence[int], target: str | Sequence[int], strip: bool = True) -> float:
    """1.0 if the prediction equals the target (strings optionally stripped, token sequences as tuples)."""
    if isinstance(prediction, str) and isinstance(target, str):
        return float((prediction.strip() if strip else prediction) == (target.strip() if strip else target))
    return float(tuple(prediction) == tuple(target))


def choice_accuracy(results: Sequence[LoglikelihoodResult], gold: int, normalize: bool = False) -> float:
    """1.0 if the gold choice has the highest log-likelihood (per token when ``normalize``)."""
    scores = [r.logprob / max(r.num_tokens, 1) if normalize else r.logprob for r in results]
    return float(max(range(len(scores)), key=scores.__getitem__) == gold)


def mean_logprob(result: LoglikelihoodResult) -> float:
    """Mean log-prob per continuation token."""
    return result.logprob / max(result.num_tokens, 1)
