"""The import rules of evalkit's layers (docs/architecture.md), read from the source: every import, including
those inside functions, so a lazy import cannot hide a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def documented_rules() -> dict[str, tuple[str, ...]]:
    """package (or module) -> evalkit packages it must never import, from the table in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text[text.index("| package | never imports |") :].split("\n\n")[0].splitlines()[2:]
    rules = {}
    for row in table:
        part, forbidden = (cell.strip() for cell in row.strip("|").split("|"))
        rules[part.strip("`")] = tuple(m.strip().strip("`") for m in forbidden.split(","))
    return rules


FORBIDDEN = documented_rules()


def test_the_documented_rules_cover_the_layers():
    assert {"evalkit/sharding.py", "evalkit/models", "evalkit/api", "evalkit/runtime"} <= set(FORBIDDEN)
    assert "evalkit.runtime" in FORBIDDEN["evalkit/models"]
    for part in FORBIDDEN:
        assert (ROOT / part).exists(), part


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement in a file, at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def files_of(part: str) -> list[Path]:
    target = ROOT / part
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_layers_import_only_what_lies_below_them(part):
    bad = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files_of(part)
        for line, module in imported_modules(path)
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[part])
    ]
    assert not bad, "\n".join(bad)


def test_plugins_import_only_the_public_api():
    public = ("evalkit", "evalkit.api", "evalkit.metrics", "evalkit.testing", "evalkit.data")
    heavy_public = ("evalkit.models", "evalkit.train", "evalkit.runtime")  # documented entry points
    bad = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        if "tests" in path.parts or ".egg-info" in str(path):
            continue
        for line, module in imported_modules(path):
            if module.startswith("evalkit.") or module == "evalkit":
                allowed = module in public or module in heavy_public
                allowed = allowed or any(module == p + ".config" for p in heavy_public)
                if not allowed:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "\n".join(bad)
