"""Pure-numpy RASP-L: core primitives, library, reference programs and task formats.

Submodules: ``core`` (primitives), ``lib`` (library built only from primitives),
``programs`` (next-token RASP-L programs with registered sizes), ``tasks`` (token formats,
vocabularies, example generators, oracles). Semantics follow ``apple/ml-np-rasp`` @ d77577a,
with ``argmax``/``argmin`` fixed (see ``lib``).
"""

from . import core, lib, programs, tasks

__all__ = ["core", "lib", "programs", "tasks"]
