"""`evalkit new-plugin`: the package it writes installs into a fresh virtualenv, where `evalkit list tasks`
shows its task, `evalkit run` runs its config and its own tests pass; bad names and existing folders are
refused with one sentence."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

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
def test_new_plugin_installs_lists_runs_and_passes_its_tests(tmp_path):
    made = run_cli(["new-plugin", "word_flip", "--dir", str(tmp_path)])
    assert made.returncode == 0, made.stderr
    package = tmp_path / "evalkit-word-flip"
    assert {p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file()} == {
        "pyproject.toml",
        "README.md",
        "evalkit_word_flip/__init__.py",
        "configs/word_flip.py",
        "tests/conftest.py",
        "tests/test_word_flip.py",
    }

    python = fresh_venv(tmp_path / "venv")
    before = run(python, "-m", "evalkit.cli", "list", "tasks", "--json", cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert "word_flip_reverse" not in before.stdout

    installed = subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--disable-pip-version-check", str(package),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr

    listed = run(python, "-m", "evalkit.cli", "list", "tasks", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    tasks = {t["name"]: t for t in json.loads(listed.stdout)}
    assert tasks["word_flip_reverse"]["plugin"] == "word_flip"

    out = tmp_path / "run"
    ran = run(
        python,
        "-m",
        "evalkit.cli",
        "run",
        str(package / "configs" / "word_flip.py"),
        f"--config.output_dir={out}",
        f"--config.data_dir={tmp_path / 'data'}",
        "--config.tasks.word_flip_reverse.num_items=24",
        "--config.runtime.progress=False",
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    metrics = results["tasks"]["word_flip_reverse"]["metrics"]
    assert metrics["exact_match"]["value"] == 1.0  # the fake model reverses the prompt's last line
    assert metrics["char_accuracy"]["metric"] == "word_flip_trimmed_mean"

    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    assert "4 passed" in tested.stdout


def test_bad_names_and_existing_folders_are_one_sentence(tmp_path):
    for name in ("Bad-Name", "1abc", "a" * 41, "with space"):
        res = run_cli(["new-plugin", name, "--dir", str(tmp_path)])
        assert res.returncode == 2 and "is not valid" in res.stderr and "Traceback" not in res.stderr
    write_plugin("twice", tmp_path)
    res = run_cli(["new-plugin", "twice", "--dir", str(tmp_path)])
    assert res.returncode == 2 and "already exists" in res.stderr
    res = run_cli(["new-plugin", "elsewhere", "--dir", str(tmp_path / "missing")])
    assert res.returncode == 2 and "not a directory" in res.stderr
