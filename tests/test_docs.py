"""Docs stay true: every hook is documented with its exact signature, docs/reference.md is generated from the code
and every public name has documentation."""

import inspect
from pathlib import Path

from evalkit import hookspecs

ROOT = Path(__file__).resolve().parents[1]


def test_every_hook_is_documented_with_its_signature():
    text = (ROOT / "docs" / "plugins.md").read_text()
    hooks = [name for name in dir(hookspecs) if name.startswith("evalkit_")]
    assert len(hooks) == 10
    for name in hooks:
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"### `{name}({params})`" in text, name


def test_every_hook_has_a_docstring():
    for name in dir(hookspecs):
        if name.startswith("evalkit_"):
            assert getattr(hookspecs, name).__doc__.strip()


def test_reference_is_generated_from_the_code():
    from evalkit import reference

    committed = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert committed == reference.render(), (
        "docs/reference.md is stale: run `python -m evalkit.reference --write docs/reference.md`"
    )


def test_every_hook_and_public_name_is_documented():
    from evalkit import reference

    assert reference.undocumented() == []
    names = {e.name for e in reference.public_entries()}
    assert {"Task", "Loglikelihood", "bootstrap_ci", "evaluate_task", "hookimpl", "json_document"} <= names
    assert len(reference.hook_entries()) == 10


def test_an_undocumented_public_name_is_caught(monkeypatch):
    from evalkit import api, reference

    def helper(x):
        return x

    monkeypatch.setattr(api, "__all__", [*api.__all__, "helper"])
    monkeypatch.setattr(api, "helper", helper, raising=False)
    assert reference.undocumented() == ["evalkit.api.helper"]
