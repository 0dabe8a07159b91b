"""Which generation engine a run uses: `runtime.generate.engine` ('continuous', the default, or 'static')."""

from __future__ import annotations

from typing import Any

from evalkit.errors import UserError

ENGINES = ("continuous", "static")


def generator_class(runtime_cfg: Any) -> type:
    """The generator class named by the runtime config (continuous batching unless it says 'static')."""
    generate = None if runtime_cfg is None else runtime_cfg.get("generate")
    engine = "continuous" if generate is None else generate.get("engine", "continuous")
    if engine == "static":
        from evalkit.runtime.generation import Generator

        return Generator
    if engine == "continuous":
        from evalkit.runtime.continuous import ContinuousGenerator

        return ContinuousGenerator
    raise UserError(
        f"--config.runtime.generate.engine={engine!r} is not valid; use one of: {', '.join(ENGINES)}"
    )
