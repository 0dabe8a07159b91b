"""The plugin-author reference (docs/reference.md), generated from the code: every hook of
``evalkit.hookspecs`` and every public name of the modules a plugin may import, with its signature and
docstring. ``python -m evalkit.reference`` prints it; ``--write PATH`` writes it; ``tests/test_docs.py``
fails when the committed file differs or a public name has no docstring.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
import types
from pathlib import Path

# The modules a plugin may import (docs/architecture.md), in the order the reference lists them.
PUBLIC_MODULES = ("evalkit", "evalkit.api", "evalkit.metrics", "evalkit.data", "evalkit.testing")


# Docs of public names that carry none of their own (constants, pluggy's marker instance).
NOTES = {
    "evalkit.__version__": "evalkit's version string.",
    "evalkit.__plugin_api_version__": (
        "The hook API version (an int). A plugin that needs at least version N sets "
        "``EVALKIT_PLUGIN_API = N`` in its module; an older evalkit refuses it with one sentence."
    ),
    "evalkit.hookimpl": (
        "Marks a module-level function as an implementation of an evalkit hook "
        "(``@hookimpl def evalkit_register_tasks(register): ...``); an unmarked ``evalkit_*`` function is an error."
    ),
    "evalkit.api.REQUEST_KINDS": "The request kinds a model handle serves, as named in results and stats.",
    "evalkit.api.Example": (
        "One dataset item, a JSON-serialisable dict: ``id``, optional ``groups`` (str -> str) and the task's fields."
    ),
    "evalkit.api.Record": "One scored item as stored in the per-item JSONL: a JSON-serialisable dict.",
    "evalkit.api.Request": "``Loglikelihood | LoglikelihoodRolling | Generate``: what ``Task.requests`` returns.",
    "evalkit.api.Response": (
        "``LoglikelihoodResult | RollingResult | Generation``: what ``Task.score`` receives, one per request."
    ),
    "evalkit.metrics.SPLIT_GROUP": (
        'The group key (``"split"``) whose values ``id`` / ``ood`` mark in- and out-of-distribution items.'
    ),
}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One documented name: where it lives, how it is called, and its docstring."""

    module: str
    name: str
    signature: str
    doc: str


def hook_entries() -> list[Entry]:
    """Every hook specification, in source order."""
    from evalkit import hookspecs

    hooks = [
        (inspect.getsourcelines(obj)[1], name, obj)
        for name, obj in vars(hookspecs).items()
        if name.startswith("evalkit_") and callable(obj)
    ]
    return [
        Entry("evalkit.hookspecs", name, _signature(obj), inspect.getdoc(obj) or "")
        for _, name, obj in sorted(hooks)
    ]


def public_entries() -> list[Entry]:
    """Every name in ``__all__`` of the public modules (names re-exported by ``evalkit`` itself only once)."""
    out, seen = [], set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if (id(obj), name) in seen:
                continue
            seen.add((id(obj), name))
            doc = NOTES.get(f"{module_name}.{name}") or _doc(obj)
            out.append(Entry(module_name, name, _signature(obj), doc))
    return out


def undocumented() -> list[str]:
    """Hooks and public names without a docstring (or, for constants, a note in ``NOTES``)."""
    return [f"{e.module}.{e.name}" for e in (*hook_entries(), *public_entries()) if not e.doc]


def render() -> str:
    """The whole reference as Markdown."""
    lines = [
        "# Reference: hooks and public API",
        "",
        "Generated from the code by `python -m evalkit.reference --write docs/reference.md`; do not edit by",
        "hand (`tests/test_docs.py` fails when this file and the code differ). docs/plugins.md explains how",
        "to use these; docs/architecture.md says what a plugin may import.",
        "",
        "## Hooks",
        "",
    ]
    for e in hook_entries():
        lines += [f"### `{e.name}{e.signature}`", "", e.doc, ""]
    lines += ["## Public API", ""]
    current = None
    for e in public_entries():
        if e.module != current:
            current = e.module
            lines += [f"### `{current}`", ""]
        title = e.name if e.signature == "constant" else f"{e.name}{e.signature}"
        lines += [f"#### `{title}`", "", e.doc, ""]
    return "\n".join(lines).rstrip() + "\n"


def _signature(obj: object) -> str:
    """``(params)`` of a function or class; "constant" for values, type aliases and objects of other
    libraries (``hookimpl``: its signature is pluggy's and may change with pluggy's version)."""
    if not callable(obj) or isinstance(obj, (types.GenericAlias, types.UnionType)):
        return "constant"
    owner = getattr(obj, "__module__", None) if inspect.isroutine(obj) or inspect.isclass(obj) else None
    if not (owner or type(obj).__module__).startswith("evalkit"):
        return "constant"
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # exceptions without their own __init__
        return "(message)" if inspect.isclass(obj) and issubclass(obj, BaseException) else "(...)"
    params = [_plain(p) for p in sig.parameters.values()]
    if inspect.isclass(obj):
        return f"({', '.join(str(p) for p in params)})"
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


class _Shown:
    """A default value shown by name (``np.mean``), not by a repr holding a memory address."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _plain(param: inspect.Parameter) -> inspect.Parameter:
    """The parameter without its annotation, its default shown stably."""
    param = param.replace(annotation=inspect.Parameter.empty)
    default = param.default
    if default is not inspect.Parameter.empty and " at 0x" in repr(default):
        module = getattr(default, "__module__", "") or ""
        name = getattr(default, "__qualname__", type(default).__name__)
        param = param.replace(default=_Shown(f"{module.split('.')[0]}.{name}" if module else name))
    return param


def _doc(obj: object) -> str:
    """The object's own docstring; none for constants and for instances that only inherit their class's."""
    if not callable(obj) or (not inspect.isroutine(obj) and not inspect.isclass(obj)):
        return ""
    return inspect.getdoc(obj) or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", metavar="PATH", help="write the reference here instead of printing it")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
