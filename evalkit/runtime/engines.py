"""Which generation engine a run uses: `runtime.generate.engine` ('static', the default, or 'continuous')."""

from __future__ import annotations

from typing import Any

from evalkit.errors import UserError

ENGINES = ("continuous", "static")


def generator_class(runtime_cfg: Any) -> type:
    """The generator class named by the runtime config (static batches unless it says 'continuous')."""
    generate = None if runtime_cfg is None else runtime_cfg.get("generate")
    engine = "static" if generate is None else generate.get("engine", "static")
    if engine == "static":
        from evalkit.runtime.generation import Generator

        return Generator
    if engine == "continuous":
        from evalkit.runtime.continuous import ContinuousGenerator

        return ContinuousGenerator
    raise UserError(
        f"--config.runtime.generate.engine={engine!r} is not valid; use one of: {', '.join(ENGINES)}"
    )
