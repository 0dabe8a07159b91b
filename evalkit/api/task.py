"""The Task base class: what a task plugin subclasses and registers.

A task declares its data (a procedural generator or a reader of a manual directory, both turned into a
TFDS array_record dataset by the host), how an example becomes requests, how responses are scored, and how
per-item scores aggregate. Tasks that need a custom protocol override :meth:`Task.evaluate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from ml_collections import ConfigDict

from evalkit.api.requests import Request, Response

if TYPE_CHECKING:
    from evalkit.api.model import ModelHandle

Example = dict[str, Any]
Record = dict[str, Any]


class Task:
    """Base class for tasks. Subclass it, set ``name``, and register an instance.

    Examples are JSON-serialisable dicts with a unique string ``"id"``; an optional ``"groups"`` dict
    (e.g. ``{"length": "12"}``) drives grouped aggregation.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    #: score name -> registered metric name used to aggregate it (scores not listed use "mean").
    metrics: ClassVar[Mapping[str, str]] = {}
    #: the scores whose ID / OOD generalization figures the host reports when items carry a ``split``
    #: group ("id" / "ood"); None: every score.
    gap_scores: ClassVar[tuple[str, ...] | None] = None
    #: whether the task reads files from a manual directory (``manual_dir`` in its config).
    needs_manual_dir: ClassVar[bool] = False
    #: how to obtain the data, shown when the manual directory is missing.
    manual_instructions: ClassVar[str] = ""

    # --- configuration ---------------------------------------------------------------------------

    def default_config(self) -> ConfigDict:
        """The task's config with every key it accepts; run configs may only override these keys."""
        return ConfigDict()

    def validate_config(self, config: ConfigDict) -> None:
        """Raise ``evalkit.UserError`` naming the fix if ``config`` is unusable (before any work starts)."""

    # --- data ------------------------------------------------------------------------------------

    def generate(self, config: ConfigDict) -> Iterable[Example]:
        """Procedural data: yield the evaluation examples, deterministically from ``config`` (its seed)."""
        raise NotImplementedError

    def read_manual(self, config: ConfigDict, manual_dir: str) -> Iterable[Example]:
        """File-based data: yield the evaluation examples read from ``manual_dir``."""
        raise NotImplementedError

    def model_data_requests(self, config: ConfigDict) -> Sequence[Request]:
        """Requests to the model under test whose answers the examples are built from (e.g. Scylla's
        distribution probing: the model proposes its own inputs); empty (the default): the data does not
        depend on the model, and comes from :meth:`generate` or :meth:`read_manual`."""
        return ()

    def model_data(self, config: ConfigDict, responses: Sequence[Response]) -> Iterable[Example]:
        """The examples built from the answers to :meth:`model_data_requests` (in request order)."""
        raise NotImplementedError

    # --- evaluation ------------------------------------------------------------------------------

    def requests(self, example: Example, config: ConfigDict) -> Sequence[Request]:
        """The requests one example needs (any mix of kinds)."""
        raise NotImplementedError

    def follow_up(
        self, example: Example, responses: Sequence[Response], config: ConfigDict
    ) -> Sequence[Request]:
        """Requests of the item's next pass, built from every response so far (in request order); empty
        when the item is done (the default: one pass). The host sends every item's first pass, then every
        second pass, and so on, and stores an item only once its last pass is answered."""
        return ()

    def score(
        self, example: Example, responses: Sequence[Response], config: ConfigDict
    ) -> Mapping[str, float]:
        """Per-item scores from the responses to every pass's requests (in request order)."""
        raise NotImplementedError

    def judge_requests(
        self, example: Example, responses: Sequence[Response], config: ConfigDict
    ) -> Sequence[Request]:
        """Requests to the run's judge model (``config.judge``) about the item's responses, e.g. a rubric
        prompt; asked only when a judge is configured. Empty (the default): the task is never judged."""
        return ()

    def judge_score(
        self, example: Example, responses: Sequence[Response], judgements: Sequence[Response], config: ConfigDict
    ) -> Mapping[str, float | None]:
        """Scores from the judge's answers to :meth:`judge_requests`, stored beside the task's own scores."""
        raise NotImplementedError

    def details(
        self, example: Example, responses: Sequence[Response], config: ConfigDict
    ) -> Mapping[str, Any]:
        """What a person reading ``samples.jsonl`` needs to see the item (e.g. the target and the decoded
        output), JSON values stored under the record's ``details``; default: nothing."""
        return {}

    def evaluate(
        self, handle: ModelHandle, examples: Sequence[Example], config: ConfigDict
    ) -> Iterator[Record] | None:
        """Custom protocol: yield one record per example (``{"id", "scores", ...}``), or return None.

        Returning None (the default) means the host's request/score loop evaluates the task.
        """
        return None

    def summarize(self, records: Sequence[Record], config: ConfigDict) -> Mapping[str, Any]:
        """Task-level figures beyond per-score means (e.g. the longest length with exact match >= 0.95)."""
        return {}

    @property
    def judged(self) -> bool:
        """Whether the task asks a judge model (it overrides :meth:`judge_requests`)."""
        return type(self).judge_requests is not Task.judge_requests

    # --- probe models ------------------------------------------------------------------------------

    #: whether evalkit must train probe models on this task before evaluating. Such a task's config has a
    #: ``probe`` section: ``model`` (an ``evalkit.models.transformer_config``), ``train`` (an
    #: ``evalkit.train.train_config``) and ``seeds`` (one probe model is trained per seed).
    trains_probes: ClassVar[bool] = False

    def training_identity(self, config: ConfigDict) -> dict[str, Any]:
        """What determines the training documents (part of a probe's hash); default: the config minus ``probe``."""
        data = config.to_dict()
        data.pop("probe", None)
        return data

    def probe_model_config(self, config: ConfigDict) -> ConfigDict:
        """The probe's transformer config (override to fill in task-derived fields such as the vocabulary)."""
        return config.probe.model

    def training_document(
        self, config: ConfigDict, rng: np.random.Generator
    ) -> tuple[Sequence[int], Sequence[bool]]:
        """One fresh training document drawn from ``rng``: token ids and a per-token loss mask.

        The trainer builds batch ``i`` from ``numpy.random.default_rng([seed, i])``, so training data is
        online (fresh samples every step) and a resumed run sees exactly the batches it would have seen.
        """
        raise NotImplementedError
