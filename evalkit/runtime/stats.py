"""Runtime statistics a model handle reports into results.json: compilations, padding, throughput.

Compiled executables are kept process-wide (a small LRU keyed by model structure, parameter shapes,
mesh, rules and batch shape), so handles of identically shaped models, e.g. the probes of several
training seeds, compile each shape once between them.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import jax
import numpy as np

from evalkit.api.handle_stats import with_rates

SHARED_EXECUTABLES = 64  # how many compiled executables the process keeps for reuse across handles
_shared: collections.OrderedDict[Hashable, Callable] = collections.OrderedDict()
_shared_lock = threading.Lock()


def state_signature(state: Any) -> Hashable:
    """What of a model state an executable depends on: its tree structure and each leaf's abstract value
    (shape, dtype, weak type)."""
    leaves, treedef = jax.tree.flatten(state)
    return treedef, tuple(jax.typeof(x) if isinstance(x, jax.Array) else _abstract(x) for x in leaves)


def _abstract(x: Any) -> Hashable:
    x = np.asarray(x)
    return tuple(x.shape), str(x.dtype)


def _jax_settings() -> Hashable:
    """Global settings that change what jax traces (jit's own cache keys on them too)."""
    c = jax.config
    return (c.jax_enable_x64, c.jax_default_matmul_precision, c.jax_numpy_dtype_promotion)


def _shared_get(key: Hashable) -> Callable | None:
    with _shared_lock:
        exe = _shared.get(key)
        if exe is not None:
            _shared.move_to_end(key)
        return exe


def _shared_put(key: Hashable, exe: Callable) -> None:
    with _shared_lock:
        _shared[key] = exe
        while len(_shared) > SHARED_EXECUTABLES:
            _shared.popitem(last=False)


def clear_shared_executables() -> None:
    """Forget every executable kept for reuse (handles keep the ones they already use)."""
    with _shared_lock:
        _shared.clear()


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
    reused_compiles: int = 0  # executables another handle had already compiled for this key
    _compiled: dict[Hashable, Callable] = dataclasses.field(default_factory=dict, repr=False)

    def compiled(self, key: Hashable, lower: Callable[[], Any]) -> Callable:
        """The compiled executable for ``key``; ``lower()`` returns a ``jax.stages.Lowered`` on a miss.

        ``key`` must identify the computation completely (engine, model signature, mesh, rules, shapes):
        it is also looked up among the executables other handles compiled. Every compilation is counted
        and timed here, so the count is exact and bounded by the shapes used.
        """
        key = (key, _jax_settings())
        if key not in self._compiled:
            exe = _shared_get(key)
            if exe is not None:
                self.reused_compiles += 1
            else:
                t0 = time.perf_counter()
                exe = lower().compile()
                self.compile_s += time.perf_counter() - t0
                self.compiles += 1
                _shared_put(key, exe)
            self._compiled[key] = exe
        return self._compiled[key]

    def as_dict(self) -> dict[str, Any]:
        """The counters (times rounded to ms) and the rates derived from them (`handle_stats`)."""
        counters = {
            "compiles": self.compiles,
            "reused_compiles": self.reused_compiles,
            "compile_s": self.compile_s,
            "device_s": self.device_s,
            "real_tokens": self.real_tokens,
            "padded_tokens": self.padded_tokens,
            "new_tokens": self.new_tokens,
            "truncated_count": self.truncated_count,
        }
        out = with_rates(counters)
        return out | {"compile_s": round(self.compile_s, 3), "device_s": round(self.device_s, 3)}
