"""Every command README.md and docs/*.md show is run here, so the docs cannot drift from the code.

How each kind of command runs (tests/doc_commands.py finds them):
- `evalkit list|plugins|--help|score|convert|compare|new-plugin|leaderboard` run for real, in-process, in a
  scratch directory that links the repo's configs/ (inputs they name, such as `requests.jsonl` or a Hugging
  Face folder, are made first: INPUTS). Leaderboards run in their `:test` form.
- `evalkit run|train CONFIG ...` resolve with `--print-config`: the config, every override key and value
  are checked, nothing is trained (the real runs take minutes; each config's reduced form runs in the
  plugins' tests).
- Synopses (`evalkit convert HF_DIR OUT_DIR [--dtype float32|bfloat16]`) and bare mentions
  (`evalkit score`) are parsed by the real argument parser, every alternative of `a|b`.
- `python benchmarks/x.py ARGS` and `python -m module ARGS` run up to their argparse call (tests/dry_parse.py).
- `pip install -e ...` runs with `--dry-run`; `pip download` and `pip install --target` run for real.
- `python3 -m venv`, `. .venv/bin/activate` and `python -m pytest` must be what `.ci/run` runs.
- `tpu_scripts/*.sh` run with a stub `gcloud` that records its arguments; the `evalkit run` it would start on
  the workers resolves with `--print-config`.
- Inline `--config.KEY=VALUE` overrides shown without a command must resolve against one of configs/*.py.
- The plugin walkthrough of docs/plugins.md runs in a fresh virtualenv: tests/test_new_plugin.py.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from doc_commands import (
    ROOT,
    DocCommand,
    documented_commands,
    documented_overrides,
    python_blocks,
    unmarked_command_blocks,
    walkthrough_commands,
)

COMMANDS = [c for c in documented_commands() if c not in walkthrough_commands()]
LEADERBOARD = "configs/leaderboards/quickstart.py"
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(\.[a-z]+)?$|<\w+>|^\.\.\.$")
# What a placeholder stands for when a synopsis is run (others: "1").
PLACEHOLDER_VALUES = {"ARGS": "--help", "CONFIG": "configs/quickstart.py"}
_SUBCOMMAND_WORDS = {
    "run",
    "train",
    "list",
    "plugins",
    "score",
    "convert",
    "compare",
    "leaderboard",
    "build",
    "new-plugin",
}


class Workspace:
    """A scratch directory the documented commands run in: `configs/` links to the repo's, `docs/` is empty,
    and what one command makes (a checkpoint, a leaderboard's results) the next may use."""

    def __init__(self, root: Path):
        self.root = root
        (root / "configs").symlink_to(ROOT / "configs")
        (root / "docs").mkdir()

    def path(self, text: str) -> str:
        """Documented absolute scratch paths (/tmp/...) moved inside the workspace."""
        return text.replace("/tmp/", f"{self.root}/tmp/")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("docs"))


@pytest.fixture
def in_workspace(workspace, monkeypatch) -> Workspace:
    monkeypatch.chdir(workspace.root)
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(workspace.root / "data"))
    return workspace


def test_the_docs_show_commands_and_mark_their_blocks():
    """The finder sees the commands (so an empty list cannot pass), and no command hides in an unmarked block."""
    files = {c.file for c in documented_commands()}
    assert {"README.md", "docs/runtime.md", "docs/leaderboards.md", "docs/plugins.md"} <= files
    assert len(documented_commands()) > 60 and walkthrough_commands()
    assert unmarked_command_blocks() == [], "mark these blocks ```bash so the docs test runs them"


def _marked(command: DocCommand):
    """Commands that run (or read) the quickstart leaderboard take a minute: marked slow."""
    slow = "leaderboard" in command.text and "configs/" in command.text or "runs/leaderboard" in command.text
    return pytest.param(command, id=command.id, marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("command", [_marked(c) for c in COMMANDS])
def test_documented_command_runs(command: DocCommand, in_workspace: Workspace, dry_parsed, monkeypatch):
    for part in command.parts:
        run_part(part, command, in_workspace, dry_parsed, monkeypatch)


def run_part(part: str, command: DocCommand, ws: Workspace, dry_parsed, monkeypatch) -> None:
    env, words = _split_env(shlex.split(part))
    where = f"{command.file}:{command.line}: {part}"
    if words[:3] in (["python3", "-m", "venv"], ["python", "-m", "venv"]) or words[0] == ".":
        _assert_ci_runs(words, where)
    elif words[:3] in (["python", "-m", "pytest"], ["python3", "-m", "pytest"]):
        _assert_ci_runs(words, where)
    elif words[0] == "evalkit":
        for key, value in env.items():
            monkeypatch.setenv(key, ws.path(value))
        run_evalkit(words[1:], ws, where)
    elif words[0] == "pip" or words[1:3] == ["-m", "pip"]:
        run_pip(part, ws, where)
    elif words[0].startswith("tpu_scripts/"):
        _run_tpu_script(words, ws, where)
    elif words[0] in ("python", "python3") and words[1:3] == ["-m", "evalkit.reference"]:
        _evalkit_reference(words[3:], ws)
    elif words[0] in ("python", "python3"):
        if env:  # its own process: the documented environment (PYTHONPATH=...) must be the one it runs with
            results = _dry_parse(_python_jobs(words[1:]), {k: ws.path(v) for k, v in env.items()}, ws.root)
        else:
            results = [dry_parsed[json.dumps(job)] for job in _python_jobs(words[1:])]
        for job, result in zip(_python_jobs(words[1:]), results, strict=True):
            assert result["ok"], f"{where}: {job['target']} {job['argv']}: {result['error']}"
    else:
        pytest.fail(
            f"{where}: the docs test does not know how to run this; teach tests/test_docs_commands.py"
        )


@pytest.mark.parametrize("file, line, code", python_blocks(), ids=[f"{f}:{n}" for f, n, _ in python_blocks()])
def test_python_snippets_compile_and_their_imports_exist(file, line, code):
    """A snippet is a fragment (it may use names it does not define), so it is compiled, and every name it
    imports must exist: a renamed or moved API breaks this test, not the reader's copy."""
    import ast
    import importlib

    tree = ast.parse(code, filename=f"{file}:{line}")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            module = importlib.import_module(node.module)
            missing = [a.name for a in node.names if not hasattr(module, a.name)]
            assert not missing, f"{file}:{line}: {node.module} has no {missing}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)


# --- evalkit -------------------------------------------------------------------------------------------------


def run_evalkit(argv: list[str], ws: Workspace, where: str) -> None:
    if _is_synopsis(argv):
        for variant in _expansions(argv):
            _parse_or_fail(variant, where)
        return
    if all(w in _SUBCOMMAND_WORDS for w in argv) and not _parses(argv):  # a mention: `evalkit score`
        assert "usage: evalkit" in _cli([*argv, "--help"], where)
        return
    command = argv[0]
    if command in ("run", "train"):
        printed = _cli([*argv, "--print-config"], where)
        assert '"run_hash"' in printed
    elif command in ("list", "plugins", "--help"):
        assert _cli(argv, where).strip()
    elif command == "new-plugin":
        shutil.rmtree(ws.root / f"evalkit-{argv[1].replace('_', '-')}", ignore_errors=True)
        _cli(argv, where)
        assert (ws.root / f"evalkit-{argv[1].replace('_', '-')}" / "pyproject.toml").is_file()
    elif command == "leaderboard":
        action, config = argv[1], argv[2]
        reduced = _reduced_leaderboard(config, where)
        results = argv[argv.index("--results") + 1]
        if action == "build":
            _make_inputs([results], ws, where)
        _cli([command, action, reduced, *argv[3:]], where)
        if action == "build":
            site = Path(argv[argv.index("--out") + 1])
            assert {"index.html", "leaderboard.md", "leaderboard.json"} <= {p.name for p in site.iterdir()}
    else:  # score, convert, compare: real, on inputs made first
        _make_inputs(argv[1:], ws, where)
        printed = _cli(argv, where)
        if command == "score":
            out = Path(argv[argv.index("--out") + 1])
            rows = [json.loads(line) for line in out.read_text().splitlines()]
            assert len(rows) == len(REQUESTS) and all(r["num_tokens"] > 0 for r in rows)
        elif command == "convert":
            assert json.loads(printed.splitlines()[-1])["step_dir"]
        elif command == "compare":
            assert "rasp_count" in printed


def _cli(argv: list[str], where: str) -> str:
    from evalkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv)
    except SystemExit as exc:  # --help
        status = exc.code or 0
    assert status == 0, f"{where}: `evalkit {shlex.join(argv)}` exited {status}: {err.getvalue()[-3000:]}"
    return out.getvalue()


def _parses(argv: list[str]) -> bool:
    from evalkit.cli import _parser
    from evalkit.config import split_overrides

    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            _parser().parse_args(split_overrides(argv)[1])
    except SystemExit:
        return False
    return True


def _parse_or_fail(argv: list[str], where: str) -> None:
    from evalkit.cli import _parser
    from evalkit.config import split_overrides

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            _parser().parse_args(split_overrides(argv)[1])
    except SystemExit:
        pytest.fail(f"{where}: `evalkit {shlex.join(argv)}` does not parse: {err.getvalue().strip()}")


def _is_placeholder(word: str) -> bool:
    """CONFIG, HF_DIR, FILE.jsonl, <name>, ..., path.py:ARG; not a file that exists (README.md, LICENSE)."""
    if (ROOT / word).exists():
        return False
    return bool(_PLACEHOLDER.search(word)) or bool(re.search(r":[A-Z]+$", word))


def _filled(word: str) -> str:
    return PLACEHOLDER_VALUES.get(word, "1") if _is_placeholder(word) else word


def _is_synopsis(words: list[str]) -> bool:
    """A usage line rather than a command: optional [groups], a|b alternatives or CAPITAL placeholders
    (values of --config.* overrides may be placeholders in a real command: they are only strings)."""
    return any(
        "[" in w or "]" in w or "|" in w or _is_placeholder(w.strip("[]"))
        for w in words
        if not w.startswith("--config.")
    )


def _expansions(words: list[str]) -> list[list[str]]:
    """Every variant of a synopsis: [groups] included, each alternative of a|b, placeholders as '1'."""
    choices = []
    for word in words:
        word = word.strip("[]")
        if word == "...":
            continue
        alternatives = word.split("|") if "|" in word and not word.startswith("--config.") else [word]
        choices.append([_filled(a) for a in alternatives])
    return [list(variant) for variant in itertools.product(*choices)]


def _reduced_leaderboard(config: str, where: str) -> str:
    """The `:test` form of a documented leaderboard (the full one trains probes for minutes); the full form
    is loaded and every entry's run config resolved, so it cannot drift either."""
    from evalkit.config import load_config_file
    from evalkit.leaderboard import load_leaderboard
    from evalkit.plugins import get_host
    from evalkit.resolve import resolve_run

    board = load_leaderboard(config)
    for entry in board.entries:
        resolve_run(board.run_config(entry, "runs/leaderboard"), dict(entry.overrides), get_host())
    try:
        load_config_file(f"{config}:test")
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{where}: give {config} a reduced ':test' form so the docs test can run it ({exc})")
    return f"{config}:test"


# --- inputs the documented commands name -------------------------------------------------------------------

REQUESTS = [
    {"id": "a", "context": "The cat sat on the", "continuation": " mat"},
    {"id": "b", "context": "1, 2, 3,", "continuation": " 4"},
    {"id": "c", "context": "", "continuation": "hello"},
]


def _write_requests(path: Path, ws: Workspace) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in REQUESTS))


def _write_hf_folder(path: Path, ws: Workspace) -> None:
    from evalkit.testing import write_tiny_hf_llama

    write_tiny_hf_llama(path)


def _run_leaderboard(path: Path, ws: Workspace) -> None:
    _cli(["leaderboard", "run", f"{LEADERBOARD}:test", "--results", str(path)], f"making {path}")


def _download_wheels(path: Path, ws: Workspace) -> None:
    """What docs/benchmarks.md's `pip download ... -d .whl ml_collections` makes, for the step after it."""
    download = next(c for c in COMMANDS if c.text.startswith("pip download") and " -d .whl " in c.text)
    run_pip(download.text, ws, download.id)


# What a documented command expects to find, and how the test makes it when no earlier command has.
INPUTS = {
    "requests.jsonl": _write_requests,
    "path/to/hf_model": _write_hf_folder,
    "hf/Qwen2-0.5B": _write_hf_folder,
    "runs/leaderboard": _run_leaderboard,
    ".whl": _download_wheels,
}


def _make_inputs(words: list[str], ws: Workspace, where: str) -> None:
    assert Path.cwd() == ws.root, where
    for word in words:
        for name, make in INPUTS.items():
            if (word == name or word.startswith(name + "/")) and not (ws.root / name).exists():
                (ws.root / name).parent.mkdir(parents=True, exist_ok=True)
                make(Path(name), ws)  # relative, as documented: the commands run in the workspace


def _quickstart_site(ws: Workspace) -> Path:
    """The documented quickstart leaderboard's site (its :test form), built once per workspace."""
    site = ws.root / "runs" / "leaderboard" / "site"
    if not (site / "leaderboard.json").is_file():
        _make_inputs(["runs/leaderboard"], ws, "quickstart leaderboard")
        build = [
            "leaderboard",
            "build",
            f"{LEADERBOARD}:test",
            "--results",
            "runs/leaderboard",
            "--out",
            str(site),
        ]
        _cli(build, "building the quickstart leaderboard")
    return site


@pytest.mark.slow
def test_quickstart_leaderboard_joins_two_plugins(in_workspace):
    """The documented leaderboard (its :test form): RASP-L and Scylla probe tasks, two entries, one site."""
    site = _quickstart_site(in_workspace)
    data = json.loads((site / "leaderboard.json").read_text())
    assert sorted(r["entry"] for r in data["rows"]) == ["alibi", "rope"]
    plugins = {t["plugin"] for r in data["rows"] for t in r["provenance"]["tasks"].values()}
    assert plugins == {"rasp", "scylla"}
    hardware = data["rows"][0]["provenance"]["hardware"]
    assert (hardware["devices"], hardware["processes"]) == ("1", "1") and hardware["device_kind"]
    ood = data["rows"][0]["cells"]["Scylla find max (OOD)"]
    assert ood["n"] == 8  # the 8 OOD items of the reduced form, not all 16
    assert (site / "task-scylla_probe_find_maximum.html").is_file()
    again = _cli(["leaderboard", "run", f"{LEADERBOARD}:test", "--results", "runs/leaderboard"], "rerun")
    assert again.count(": done (results of this config") == 2  # finished entries are not redone


@pytest.mark.slow
def test_quickstart_site_renders_and_sorts_in_a_browser(in_workspace):
    site = _quickstart_site(in_workspace)
    ranked = [r["entry"] for r in json.loads((site / "leaderboard.json").read_text())["rows"]]
    _renders_and_sorts_in_a_browser(site, ranked)


def _renders_and_sorts_in_a_browser(site: Path, ranked: list[str]) -> None:
    """The two-plugin site in headless chromium: the rows render in rank order, a header click reverses
    them and a second restores them, and the task page of the other plugin opens."""
    from selenium.webdriver.common.by import By
    from test_leaderboard import _browser, board_entries

    browser = _browser()
    try:
        browser.get((site / "index.html").as_uri())

        assert board_entries(browser) == ranked
        rank = next(
            h for h in browser.find_elements(By.CSS_SELECTOR, "#board th") if h.text.startswith("rank")
        )
        rank.click()
        assert board_entries(browser) == ranked[::-1]
        rank.click()
        assert board_entries(browser) == ranked
        browser.find_element(By.LINK_TEXT, "scylla_probe_find_maximum").click()
        assert browser.find_element(By.TAG_NAME, "h1").text == "scylla_probe_find_maximum"
    finally:
        browser.quit()


# --- pip, python -------------------------------------------------------------------------------------------


def run_pip(part: str, ws: Workspace, where: str) -> None:
    """An editable install of this repo resolves with --dry-run (installing would change the test
    environment); `pip download` and `pip install --target` run for real, inside the workspace."""
    words = shlex.split(part)
    rest = part.split(" pip ", 1)[1] if words[0] != "pip" else part[len("pip ") :]
    action = shlex.split(rest)[0]
    pip = f"{shlex.quote(sys.executable)} -m pip --disable-pip-version-check"
    if action == "install" and "-e" in shlex.split(rest):
        dry = "--dry-run --no-deps --no-index --no-build-isolation"
        line, cwd = f"{pip} install {dry} {rest[len('install ') :]}", ROOT
    elif action == "download" or (action == "install" and "--target" in shlex.split(rest)):
        if action == "install":
            _make_inputs(shlex.split(rest), ws, where)  # the wheels the documented download step fetches
        line, cwd = f"{pip} {action} --no-cache-dir {ws.path(rest[len(action) + 1 :])}", ws.root
    else:
        pytest.fail(f"{where}: the docs test does not know how to run this pip command")
    done = subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{where}: {line}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


def _run_tpu_script(words: list[str], ws: Workspace, where: str) -> None:
    """A TPU pod script with a stub `gcloud` on PATH that records each call; without arguments it must print
    its usage (exit 2); with them, every worker's `evalkit run` must resolve."""
    stub = ws.root / "stub-bin"
    stub.mkdir(exist_ok=True)
    calls = ws.root / "gcloud-calls.jsonl"
    calls.unlink(missing_ok=True)
    (stub / "gcloud").write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    (stub / "gcloud").chmod(0o755)
    argv = [_filled(w) for w in words[1:]]
    env = {**os.environ, "PATH": f"{stub}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", str(ROOT / words[0]), *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if not argv:
        assert done.returncode == 2 and "usage:" in done.stderr, f"{where}: {done.stderr}"
        return
    assert done.returncode == 0, f"{where}: {done.stderr[-2000:]}"
    recorded = [json.loads(line) for line in calls.read_text().splitlines()]
    ssh = next(c for c in recorded if c[:4] == ["compute", "tpus", "tpu-vm", "ssh"])
    assert "--worker=all" in ssh, ssh
    remote = ssh[ssh.index("--command") + 1]
    run_line = next(line.strip() for line in remote.splitlines() if line.strip().startswith("evalkit run "))
    assert '"run_hash"' in _cli([*shlex.split(run_line)[1:], "--print-config"], where)


def _evalkit_reference(argv: list[str], ws: Workspace) -> None:
    from evalkit.reference import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    written = Path(argv[argv.index("--write") + 1])
    assert written.read_text() == (ROOT / written).read_text()  # the documented command regenerates it


def _python_jobs(args: list[str]) -> list[dict]:
    """`python script.py ARGS` or `python -m module ARGS` as dry-parse jobs; `benchmarks/<name>.py` stands for
    every benchmark script, placeholders for a dummy value."""
    module = args[0] == "-m"
    target, argv = (args[1], args[2:]) if module else (args[0], args[1:])
    argv = [_filled(a) for a in argv]
    if "<" in target:
        pattern = re.sub(r"<\w+>", "*", target)
        targets = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern) if _is_script(p))
        assert targets, f"{target} matches no script"
    else:
        targets = [target]
    return [{"target": t if module else str(ROOT / t), "module": module, "argv": argv} for t in targets]


def _is_script(path: Path) -> bool:
    return 'if __name__ == "__main__":' in path.read_text()


def _dry_parse(jobs: list[dict], env: dict[str, str], cwd: Path) -> list[dict]:
    spec = cwd / f"jobs-{len(jobs)}-{abs(hash(json.dumps(jobs)))}.json"
    spec.write_text(json.dumps(jobs))
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "dry_parse.py"), str(spec)],
        cwd=cwd,
        env={**os.environ, "JAX_PLATFORMS": "cpu", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])["results"]


@pytest.fixture(scope="module")
def dry_parsed(workspace) -> dict[str, dict]:
    """Every documented `python ...` command without an environment prefix, dry-parsed in one process."""
    jobs = []
    for command in COMMANDS:
        for part in command.parts:
            env, words = _split_env(shlex.split(part))
            if words[0] in ("python", "python3") and not env and words[1:3] != ["-m", "pip"]:
                if words[1:3] not in (["-m", "pytest"], ["-m", "venv"], ["-m", "evalkit.reference"]):
                    jobs += [j for j in _python_jobs(words[1:]) if j not in jobs]
    results = _dry_parse(jobs, {}, workspace.root) if jobs else []
    return {json.dumps(job): result for job, result in zip(jobs, results, strict=True)}


# --- helpers -------------------------------------------------------------------------------------------------


def _split_env(words: list[str]) -> tuple[dict[str, str], list[str]]:
    env = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        key, _, value = words[0].partition("=")
        env[key] = value
        words = words[1:]
    return env, words


def _assert_ci_runs(words: list[str], where: str) -> None:
    """The set-up steps are what CI (.ci/run) runs on a fresh machine: the words in order in one of its commands."""
    ci = (ROOT / ".ci" / "run").read_text()
    for line in ci.replace("\\\n", " ").splitlines():
        for part in line.split("&&"):
            try:
                ci_words = iter(shlex.split(part, comments=True))
            except ValueError:
                continue
            if all(any(w == c for c in ci_words) for w in words):
                return
    pytest.fail(f"{where}: .ci/run does not run this; CI must run the README's set-up as written")


# --- overrides shown on their own ---------------------------------------------------------------


def _concrete(overrides: dict[str, str]) -> bool:
    """No placeholder key (KEY, <task>, *): the span shows real keys."""
    return not any(_is_placeholder(part) or "*" in part for key in overrides for part in key.split("."))


OVERRIDES = [o for o in documented_overrides() if _concrete(o[2])]


@pytest.mark.parametrize(
    "file, line, overrides", OVERRIDES, ids=[f"{f}:{n}:{','.join(o)}" for f, n, o in OVERRIDES]
)
def test_documented_overrides_resolve_against_a_config(file, line, overrides):
    """Overrides shown on their own (`--config.runtime.too_long=error`) name real keys with valid values:
    some config in configs/ resolves with them. A placeholder value (...) checks its key only."""
    from evalkit.config import load_config_file
    from evalkit.errors import UserError
    from evalkit.plugins import get_host
    from evalkit.resolve import resolve_run

    errors = []
    for config in sorted((ROOT / "configs").glob("*.py")):
        given = {k: v for k, v in overrides.items() if "..." not in v}
        try:
            resolved = resolve_run(load_config_file(str(config)), given, get_host())
            for key in overrides:
                node = resolved.config
                for part in key.split("."):
                    node = node[part]
        except (UserError, KeyError, AttributeError) as exc:
            errors.append(f"{config.name}: {exc}")
            continue
        return
    shown = " ".join(f"--config.{k}={v}" for k, v in overrides.items())
    pytest.fail(f"{file}:{line}: {shown} resolves against no config in configs/: {errors[:3]}")
