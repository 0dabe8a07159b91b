"""`evalkit new-plugin`: the package it writes installs into a fresh virtualenv, where `evalkit list tasks`
shows its task, `evalkit run` runs its config and its own tests pass; bad names and existing folders are
refused with one sentence."""

from __future__ import annotations

import json
import shlex
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from doc_commands import walkthrough_commands

from evalkit.plugin_template import write_plugin
from evalkit.testing import run_cli


def fresh_venv(path: Path) -> Path:
    """A new virtualenv (no pip of its own) that sees this environment's packages, evalkit included, the way
    a user's environment with evalkit installed would; returns its python."""
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # `import` lines of a .pth file run at start-up: addsitedir also processes our editable installs.
    lines = [f"import site; site.addsitedir({p!r})" for p in site.getsitepackages()]
    (Path(purelib) / "evalkit_parent_env.pth").write_text("\n".join(lines) + "\n")
    return python


def run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=_clean_env()
    )


def _clean_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "JAX_PLATFORMS": "cpu"}


@pytest.mark.slow
def test_documented_walkthrough_installs_lists_runs_and_passes_its_tests(tmp_path, monkeypatch):
    """docs/plugins.md's walkthrough, command by command as written, in a fresh virtualenv: `evalkit new-plugin`,
    `pip install -e`, `evalkit run` of its config, `cd` and `pytest`."""
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(tmp_path / "data"))
    python = fresh_venv(tmp_path / "venv")
    work = cwd = tmp_path / "work"
    work.mkdir()
    ran = []
    for command in walkthrough_commands():
        for part in command.parts:
            words = shlex.split(part)
            if words[0] == "evalkit":
                done = run(python, "-m", "evalkit.cli", *words[1:], cwd=cwd)
            elif words[:2] == ["pip", "install"]:
                done = subprocess.run(
                    [
                        sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--disable-pip-version-check", *words[2:],
                    ],
                    cwd=cwd, capture_output=True, text=True, timeout=600,
                )  # fmt: skip
            elif words[0] == "cd":
                cwd = cwd / words[1]
                continue
            elif words[0] == "pytest":
                done = run(python, "-m", "pytest", "-p", "no:cacheprovider", *words[1:], cwd=cwd)
            else:
                pytest.fail(
                    f"docs/plugins.md:{command.line} shows {part!r}; teach this walkthrough to run it"
                )
            assert done.returncode == 0, f"{part}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
            ran.append((words[0], done))
            if words[:2] == ["evalkit", "new-plugin"]:
                package = work / f"evalkit-{words[2].replace('_', '-')}"
                assert {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} == {
                    "pyproject.toml",
                    "README.md",
                    "evalkit_my_task/__init__.py",
                    "configs/my_task.py",
                    "tests/conftest.py",
                    "tests/test_my_task.py",
                }
                before = run(python, "-m", "evalkit.cli", "list", "tasks", "--json", cwd=work)
                assert before.returncode == 0 and "my_task_reverse" not in before.stdout, before.stderr
            if words[:2] == ["pip", "install"]:  # the entry point registers the plugin's task
                listed = run(python, "-m", "evalkit.cli", "list", "tasks", "--json", cwd=work)
                assert listed.returncode == 0, listed.stderr
                assert {t["name"]: t for t in json.loads(listed.stdout)}["my_task_reverse"][
                    "plugin"
                ] == "my_task"
    assert [name for name, _ in ran] == ["evalkit", "pip", "evalkit", "pytest"]

    results = json.loads((work / "runs" / "my_task" / "results.json").read_text())
    metrics = results["tasks"]["my_task_reverse"]["metrics"]
    assert metrics["exact_match"]["value"] == 1.0  # the fake model reverses the prompt's last line
    assert metrics["char_accuracy"]["metric"] == "my_task_trimmed_mean"
    assert "4 passed" in ran[-1][1].stdout


def test_bad_names_and_existing_folders_are_one_sentence(tmp_path):
    for name in ("Bad-Name", "1abc", "a" * 41, "with space"):
        res = run_cli(["new-plugin", name, "--dir", str(tmp_path)])
        assert res.returncode == 2 and "is not valid" in res.stderr and "Traceback" not in res.stderr
    write_plugin("twice", tmp_path)
    res = run_cli(["new-plugin", "twice", "--dir", str(tmp_path)])
    assert res.returncode == 2 and "already exists" in res.stderr
    res = run_cli(["new-plugin", "elsewhere", "--dir", str(tmp_path / "missing")])
    assert res.returncode == 2 and "not a directory" in res.stderr
