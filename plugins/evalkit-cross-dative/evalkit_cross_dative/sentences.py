"""Exposure sentences: the `Exposure` record, DO/PO rendering, the upstream item numbering, and the layout of the
released `adaptation.json` (shared by the generator and the release reader)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from evalkit.api import UserError
from evalkit_cross_dative.codes import DATIVES, VERB, parse_code


@dataclass(frozen=True)
class Exposure:
    """One exposure sentence with its ids (as in the upstream flat file) and its parsed arguments."""

    item_id: int
    hypothesis_id: int
    hypothesis_instance: int
    dative: str
    feature_config: str
    agent: str
    theme: str
    recipient: str
    sentence: str

    def as_record(self) -> dict[str, Any]:
        """The upstream `adaptation.jsonl` row: ids, the 8 feature words, arguments, dative, sentence."""
        return {
            "item": self.item_id,
            "hypothesis_id": self.hypothesis_id,
            "hypothesis_instance": self.hypothesis_instance,
            **parse_code(self.feature_config),
            "agent": self.agent,
            "theme": self.theme,
            "recipient": self.recipient,
            "dative": self.dative,
            "sentence": self.sentence,
        }


def render(agent: str, theme: str, recipient: str, dative: str, *, verb: str = VERB) -> str:
    """The sentence: DO `AGENT VERB RECIPIENT THEME .`, PO (`pp`) `AGENT VERB THEME to RECIPIENT .`."""
    if dative == "do":
        return f"{agent} {verb} {recipient} {theme} ."
    if dative == "pp":
        return f"{agent} {verb} {theme} to {recipient} ."
    raise UserError(f"dative {dative!r} is not 'do' or 'pp' (the prepositional object is labelled 'pp')")


def _item_id(hypothesis_id: int, dative: str, instance: int, instances: int) -> int:
    """Upstream numbering: per configuration, instances 1..n of DO, then of PO."""
    return (hypothesis_id - 1) * 2 * instances + (instances if dative == "pp" else 0) + instance


def exposures_of(code: str, hyp: int, triples: Sequence[tuple[str, str, str]]) -> list[Exposure]:
    """DO then PO exposures of one configuration from its (agent, theme, recipient) instances."""
    n = len(triples)
    return [
        Exposure(_item_id(hyp, d, k, n), hyp, k, d, code, a, t, r, render(a, t, r, d))
        for d in DATIVES
        for k, (a, t, r) in enumerate(triples, start=1)
    ]


def to_adaptation_json(exposures: Iterable[Exposure]) -> dict[str, dict[str, list[str]]]:
    """The released file's layout: code -> {"do": [sentences], "pp": [sentences]} in instance order."""
    grouped: dict[str, dict[str, list[Exposure]]] = {}
    for e in exposures:
        grouped.setdefault(e.feature_config, {d: [] for d in DATIVES})[e.dative].append(e)
    return {
        code: {
            d: [e.sentence for e in sorted(es, key=lambda e: e.hypothesis_instance)] for d, es in by.items()
        }
        for code, by in grouped.items()
    }
