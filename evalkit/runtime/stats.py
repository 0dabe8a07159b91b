"""Runtime statistics a model handle reports into results.json: compilations, padding, throughput."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Hashable
from typing import Any


@dataclasses.dataclass
class RuntimeStats:
    """Counters shared by the scoring and generation engines of one model handle."""

    compiles: int = 0
    compile_s: float = 0.0
    real_tokens: int = 0  # tokens that carried data in the device batches
    padded_tokens: int = 0  # all token slots sent to the device (real + padding)
    device_s: float = 0.0  # wall time spent in engine calls, compilation excluded
    new_tokens: int = 0  # generated tokens
    truncated_count: int = 0  # requests left-truncated to fit the context
    _compiled: dict[Hashable, Callable] = dataclasses.field(default_factory=dict, repr=False)

    def compiled(self, key: Hashable, lower: Callable[[], Any]) -> Callable:
        """The compiled executable for ``key``; ``lower()`` returns a ``jax.stages.Lowered`` on a miss.

        Every compilation is counted and timed here, so the count is exact and bounded by the shapes used.
        """
        if key not in self._compiled:
            t0 = time.perf_counter()
            self._compiled[key] = lower().compile()
            self.compile_s += time.perf_counter() - t0
            self.compiles += 1
        return self._compiled[key]

    def as_dict(self) -> dict[str, Any]:
        padding = 1.0 - self.real_tokens / self.padded_tokens if self.padded_tokens else 0.0
        return {
            "compiles": self.compiles,
            "compile_s": round(self.compile_s, 3),
            "device_s": round(self.device_s, 3),
            "real_tokens": self.real_tokens,
            "padded_tokens": self.padded_tokens,
            "padding_fraction": round(padding, 4),
            "tokens_per_s": round(self.real_tokens / self.device_s, 1) if self.device_s else 0.0,
            "new_tokens": self.new_tokens,
            "new_tokens_per_s": round(self.new_tokens / self.device_s, 1)
            if self.device_s and self.new_tokens
            else 0.0,
            "truncated_count": self.truncated_count,
        }
