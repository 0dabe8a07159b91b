"""Leaderboards: `evalkit leaderboard run` runs and resumes entries, `build` joins their results into a site,
Markdown and JSON with CIs, neighbour tests and provenance; strings from configs and result files are
escaped; mixed task versions and other bad input are refused with one sentence."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalkit.testing import run_cli

BOARD = """
from ml_collections import ConfigDict


def get_config():
    c = ConfigDict()
    c.title = "Toy board <b>{title}</b>"
    c.tasks = ConfigDict({{
        "toy_reverse": ConfigDict({{"num_items": 40}}),
        "rev_b": ConfigDict({{"task": "toy_reverse", "seed": 5, "num_items": 30}}),
        "toy_choice": ConfigDict({{"num_items": 20}}),
    }})
    c.entries = (
        ConfigDict({{"name": "perfect", "model": {{"name": "fake"}}, "description": "<script>alert(1)</script>"}}),
        ConfigDict({{"name": "noisy", "model": {{"name": "fake", "error_rate": 0.5}}}}),
        ConfigDict({{"name": "{third}", "model": {{"name": "fake"}}, "overrides": ("model.error_rate=0.6",)}}),
    )
    c.columns = (
        ConfigDict({{"title": "reverse <img src=x onerror=alert(2)>", "tasks": "toy_reverse", "score": "exact_match"}}),
        ConfigDict({{"title": "both", "tasks": ("toy_reverse", "rev_b"), "score": "exact_match"}}),
        ConfigDict({{"title": "choice", "tasks": "{choice_task}", "score": "acc"}}),
        {extra}
    )
    c.rank_by = "{rank_by}"
    c.bootstrap_resamples = 500
    return c
"""


def write_board(path: Path, **fields: str) -> Path:
    values = {
        "title": "x",
        "third": "noisier",
        "choice_task": "toy_choice",
        "rank_by": "mean",
        "extra": "",
        **fields,
    }
    path.write_text(BOARD.format(**values))
    return path


@pytest.fixture(scope="module")
def board_run(installed_plugins, tmp_path_factory):
    """One leaderboard run of three fake-model entries on the toy plugin's tasks, shared by the tests."""
    root = tmp_path_factory.mktemp("board")
    board = write_board(root / "board.py")
    paths = [installed_plugins["evalkit-toy"]]
    res = run_cli(["leaderboard", "run", str(board), "--results", str(root / "results")], pythonpath=paths)
    assert res.returncode == 0, res.stderr[-3000:]
    return root, board, paths


def copy_results(src: Path, dst: Path, pattern: str = "*") -> None:
    """Copy the entries' result files (all, or those named ``pattern``) so a test can alter its copy."""
    for path in src.rglob(pattern):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())


def cli(paths, *args):
    return run_cli(list(args), pythonpath=paths)


LOWER = 'ConfigDict({"title": "misses", "tasks": "toy_reverse", "score": "exact_match", "higher_is_better": False}),'


def test_run_skips_finished_entries_and_resumes_a_partial_one(board_run):
    root, board, paths = board_run
    again = cli(paths, "leaderboard", "run", str(board), "--results", str(root / "results"))
    assert again.returncode == 0, again.stderr
    assert [line.split(":")[1].strip().split(" ")[0] for line in again.stdout.splitlines() if ": " in line][
        :3
    ] == ["done"] * 3
    respelled = cli(paths, "leaderboard", "run", str(board), "--results", f"{root / 'results'}/./")
    assert respelled.returncode == 0 and respelled.stdout.count(": done (results of this config") == 3, (
        respelled.stdout
    )
    # Kill "noisy" half-way: no results.json, half of one task's records.
    noisy = root / "results" / "noisy"
    (noisy / "results.json").unlink()
    samples = noisy / "toy_reverse" / "samples.jsonl"
    lines = samples.read_text().splitlines()
    samples.write_text("\n".join(lines[:15]) + "\n")
    resumed = cli(paths, "leaderboard", "run", str(board), "--results", str(root / "results"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "perfect: done" in resumed.stdout and "noisier: done" in resumed.stdout
    assert "noisy: running" in resumed.stdout
    task = json.loads((noisy / "results.json").read_text())["tasks"]["toy_reverse"]
    assert (task["num_items"], task["num_resumed"]) == (40, 15)
    assert len(samples.read_text().splitlines()) == 40


def test_build_ranks_with_cis_tests_and_provenance(board_run):
    root, board, paths = board_run
    site = root / "site"
    res = cli(
        paths, "leaderboard", "build", str(board), "--results", str(root / "results"), "--out", str(site)
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert {p.name for p in site.iterdir()} == {
        "index.html", "leaderboard.md", "leaderboard.json",
        "task-toy_reverse.html", "task-rev_b.html", "task-toy_choice.html",
        "plot-toy_reverse-length-exact_match.png", "plot-rev_b-length-exact_match.png",
    }  # fmt: skip
    assert (
        "<img src='plot-toy_reverse-length-exact_match.png'" in (site / "task-toy_reverse.html").read_text()
    )
    data = json.loads((site / "leaderboard.json").read_text())
    rows = data["rows"]
    assert [r["entry"] for r in rows] == ["perfect", "noisy", "noisier"]
    perfect, noisy = rows[0], rows[1]
    assert perfect["cells"]["both"]["value"] == 1.0 and perfect["cells"]["both"]["n"] == 70
    cell = noisy["cells"]["both"]
    assert cell["ci_low"] < cell["value"] < cell["ci_high"]
    assert perfect["vs_next"]["significant"] and perfect["vs_next"]["mean_diff"] > 0.3
    assert rows[-1]["vs_next"] is None
    prov = noisy["provenance"]
    assert prov["tasks"]["toy_reverse"]["version"] == "1" and prov["tasks"]["toy_reverse"]["data_hash"]
    assert prov["model"]["config_hash"] and prov["run_hash"] and prov["evalkit_version"]
    assert set(prov["hardware"]) == {"device_kind", "devices", "processes"}  # the fake model states none
    markdown = (site / "leaderboard.md").read_text()
    assert "| 1 | perfect |" in markdown and "&lt;img src=x" in markdown and "<img" not in markdown


def test_strings_from_configs_and_results_are_escaped(board_run, tmp_path):
    root, board, paths = board_run
    results = tmp_path / "results"
    copy_results(root / "results", results)  # then plant HTML in a result file's strings
    path = results / "perfect" / "results.json"
    data = json.loads(path.read_text())
    data["model"]["name"] = "<img src=x onerror=alert(3)>"
    data["tasks"]["toy_reverse"]["plugin"] = "\"'><script>alert(4)</script>"
    path.write_text(json.dumps(data))
    site = tmp_path / "site"
    res = cli(paths, "leaderboard", "build", str(board), "--results", str(results), "--out", str(site))
    assert res.returncode == 0, res.stderr[-3000:]
    for page in site.glob("*.html"):
        text = page.read_text()
        assert text.count("<script>") == (1 if page.name == "index.html" else 0), page.name
        assert "<img src=x" not in text and "alert(1)</script>" not in text, page.name
        assert all(tag.startswith("<img src='plot-") for tag in re.findall(r"<img[^>]*>", text)), page.name
    index = (site / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index and "&lt;img src=x onerror=alert(3)&gt;" in index
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in (site / "task-toy_reverse.html").read_text()


def test_mixed_task_versions_are_refused_naming_both(board_run, tmp_path):
    root, board, paths = board_run
    results = tmp_path / "results"
    copy_results(root / "results", results, pattern="results.json")
    path = results / "noisy" / "results.json"
    data = json.loads(path.read_text())
    data["tasks"]["toy_choice"]["version"] = "2"
    path.write_text(json.dumps(data))
    res = cli(
        paths, "leaderboard", "build", str(board), "--results", str(results), "--out", str(tmp_path / "s")
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "'toy_choice' has version 1 in entry 'perfect' but 2 in entry 'noisy'" in res.stderr


@pytest.mark.parametrize(
    "fields, change, message",
    [
        ({}, "missing_results", "has no results at"),
        ({}, "schema", "has results schema version 99; this evalkit reads 1, 2"),
        ({"third": "noisy"}, None, "are both named 'noisy'"),
        ({"third": "Perfect"}, None, "entries 'perfect' and 'Perfect' differ only in case"),
        ({"extra": LOWER}, None, "rank_by='mean' averages the columns, but 'reverse"),
        ({"extra": LOWER.replace("False", "'no'")}, None, "higher_is_better must be True or False, got 'no'"),
        ({"rank_by": 'mean"\n    c.judge = "x'}, None, "judge must be a model section with a `name`"),
        ({}, "judge", "entry 'perfect' was rated by no judge but entry 'noisy' by judge 'fake' (config abc)"),
        (
            {},
            "all_configs",
            "entry 'perfect' was run with tasks.toy_reverse.num_items=41 but the leaderboard sets 40",
        ),
        (
            {"extra": 'ConfigDict({"title": "s", "suite": "toy_reverse", "score": "exact_match"}),'},
            None,
            "column 's' names 'toy_reverse' as a suite, but it is a task; use tasks=('toy_reverse',)",
        ),
        (
            {"extra": 'ConfigDict({"title": "s", "tasks": "toy_choice", "score": "accuracy"}),'},
            "samples",
            "has no items with score 'accuracy' (its scores: acc, logprob_gold)",
        ),
        (
            {"extra": 'ConfigDict({"title": "s", "tasks": "toy_choice", "socre": "acc"}),'},
            None,
            "column 3 has unknown key 'socre'",
        ),
        (
            {"rank_by": 'mean"\n    c.judge = ConfigDict({"name": "fake"})  #'},
            None,
            "the leaderboard's judge is 'fake' but entry 'perfect' was rated by no judge",
        ),
        ({"choice_task": "toy_nope"}, None, "names task 'toy_nope', which is not in `tasks`"),
        ({"rank_by": "speed"}, None, "rank_by='speed' is neither 'mean' nor a column title"),
        ({"rank_by": 'mean"\n    c.seed = "7'}, None, "seed must be a non-negative int, got '7'"),
        (
            {"rank_by": 'mean"\n    c.columns = ()\n    c.rank_by = "mean'},
            None,
            "has no columns; add at least one",
        ),
        (
            {},
            "config",
            "'toy_reverse' was run with different settings in entries 'perfect' and 'noisy' (num_items)",
        ),
    ],
)
def test_bad_leaderboards_are_one_sentence(board_run, tmp_path, fields, change, message):
    root, _, paths = board_run
    board = write_board(tmp_path / "board.py", **fields)
    results = tmp_path / "results"
    copy_results(root / "results", results, pattern="*" if change == "samples" else "results.json")
    if change == "missing_results":
        (results / "noisier" / "results.json").unlink()
    if change == "config":
        data = json.loads((results / "noisy" / "results.json").read_text())
        data["tasks"]["toy_reverse"]["config"]["num_items"] = 41
        (results / "noisy" / "results.json").write_text(json.dumps(data))
    if change == "all_configs":  # every entry alike, but not as the board says: a run-time override
        for name in ("perfect", "noisy", "noisier"):
            data = json.loads((results / name / "results.json").read_text())
            data["tasks"]["toy_reverse"]["config"]["num_items"] = 41
            data["config"]["tasks"]["toy_reverse"]["num_items"] = 41
            (results / name / "results.json").write_text(json.dumps(data))
    if change == "judge":
        data = json.loads((results / "noisy" / "results.json").read_text())
        data["judge"] = {"name": "fake", "plugin": "evalkit", "config_hash": "abc"}
        (results / "noisy" / "results.json").write_text(json.dumps(data))
    if change == "schema":
        data = json.loads((results / "noisy" / "results.json").read_text())
        data["schema_version"] = 99
        (results / "noisy" / "results.json").write_text(json.dumps(data))
    res = cli(
        paths, "leaderboard", "build", str(board), "--results", str(results), "--out", str(tmp_path / "s")
    )
    assert res.returncode == 2, res.stdout
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def _browser():
    """Headless Debian chromium driven through chromedriver (.ci/run installs both); skipped only where
    they are missing and EVALKIT_REQUIRE_BROWSER is unset."""
    import os
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if not (chromium and driver and webdriver):
        if os.environ.get("EVALKIT_REQUIRE_BROWSER"):
            pytest.fail("chromium, chromedriver and selenium are required (EVALKIT_REQUIRE_BROWSER is set)")
        pytest.skip("needs chromium, chromedriver and selenium (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def board_entries(browser) -> list[str]:
    """The entries of the page's table#board, in the order the rows are shown."""
    from selenium.webdriver.common.by import By

    return [r.get_attribute("data-entry") for r in browser.find_elements(By.CSS_SELECTOR, "#board tbody tr")]


def test_page_renders_sorts_and_never_runs_planted_html(board_run, tmp_path):
    """In a real browser: the table renders, a header click reorders rows (and a second click reverses
    them), and HTML planted in configs and result files is shown as text, never run."""
    from selenium.webdriver.common.by import By

    root, _, paths = board_run
    board = write_board(tmp_path / "board.py", title="<img src=x onerror='window.pwned=1'>")
    results = tmp_path / "results"
    copy_results(root / "results", results)
    path = results / "noisy" / "results.json"
    data = json.loads(path.read_text())
    data["model"]["name"] = "'\"><script>window.pwned=2</script><img src=x onerror='window.pwned=3'>"
    path.write_text(json.dumps(data))
    site = tmp_path / "site"
    res = cli(paths, "leaderboard", "build", str(board), "--results", str(results), "--out", str(site))
    assert res.returncode == 0, res.stderr[-3000:]

    browser = _browser()
    try:
        browser.get((site / "index.html").as_uri())

        assert board_entries(browser) == ["perfect", "noisy", "noisier"]
        headers = browser.find_elements(By.CSS_SELECTOR, "#board th")
        header = next(h for h in headers if h.text.startswith("choice"))
        rank = next(h for h in headers if h.text.startswith("rank"))
        rank.click()  # descending by rank: the last row first
        assert board_entries(browser) == ["noisier", "noisy", "perfect"]
        rank.click()
        assert board_entries(browser) == ["perfect", "noisy", "noisier"]
        header.click()  # all three tie on choice accuracy: a stable sort keeps the order
        assert sorted(board_entries(browser)) == ["noisier", "noisy", "perfect"]
        assert browser.execute_script("return window.pwned === undefined")
        assert browser.find_elements(By.TAG_NAME, "img") == []
        assert len(browser.find_elements(By.TAG_NAME, "script")) == 1
        assert "<img src=x onerror='window.pwned=1'>" in browser.find_element(By.TAG_NAME, "h1").text
        assert "<script>window.pwned=2</script>" in browser.find_element(By.ID, "provenance").text
        browser.get((site / "task-toy_reverse.html").as_uri())
        assert browser.execute_script("return window.pwned === undefined")
        assert "exact_match by length" in browser.page_source
    finally:
        browser.quit()


def test_build_reads_results_without_changing_them_and_shares_draws_across_columns(board_run, tmp_path):
    """A torn last line (a killed run) is skipped, not cut off; two columns over the same task's items
    give the neighbour test of one column (one draw of the items per resample, not two)."""
    root, _, paths = board_run
    results = tmp_path / "results"
    copy_results(root / "results", results)
    samples = results / "noisy" / "toy_reverse" / "samples.jsonl"
    samples.write_bytes(samples.read_bytes() + b'{"id": "torn')
    before = samples.read_bytes()
    tests = []
    for extra in ("", "twice"):
        board = tmp_path / f"board{extra}.py"
        text = BOARD.format(title="x", third="noisier", choice_task="toy_choice", rank_by="mean", extra="")
        columns = '"title": "reverse", "tasks": "toy_reverse", "score": "exact_match"'
        if extra:
            columns += (
                '}), ConfigDict({"title": "reverse again", "tasks": "toy_reverse", "score": "exact_match"'
            )
        text = (
            text[: text.index("    c.columns")]
            + f"    c.columns = (ConfigDict({{{columns}}}),)\n    return c\n"
        )
        board.write_text(text)
        out = tmp_path / f"site{extra}"
        res = cli(paths, "leaderboard", "build", str(board), "--results", str(results), "--out", str(out))
        assert res.returncode == 0, res.stderr[-3000:]
        tests.append([r["vs_next"] for r in json.loads((out / "leaderboard.json").read_text())["rows"]])
    assert samples.read_bytes() == before
    assert tests[0] == tests[1]
    assert tests[0][0]["significant"] and tests[0][0]["mean_diff"] > 0


def test_a_lower_is_better_column_ranks_and_sorts_lowest_first(board_run, tmp_path):
    """rank_by a lower-is-better column: rows ascend, `>` means the upper row is lower (better), the header
    says ↓, and in the browser the first click on that column puts the lowest first."""
    root, _, paths = board_run
    board = write_board(tmp_path / "board.py", extra=LOWER, rank_by="misses")
    site = tmp_path / "site"
    res = cli(
        paths, "leaderboard", "build", str(board), "--results", str(root / "results"), "--out", str(site)
    )
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads((site / "leaderboard.json").read_text())
    rows = data["rows"]
    values = [r["cells"]["misses"]["value"] for r in rows]
    assert values == sorted(values) and rows[-1]["entry"] == "perfect" and values[-1] == 1.0
    assert rows[-2]["vs_next"]["mean_diff"] < 0 and rows[-2]["vs_next"]["significant"]
    assert data["higher_is_better"] is False and data["columns"][-1]["higher_is_better"] is False
    markdown = (site / "leaderboard.md").read_text()
    assert "misses ↓" in markdown and "lower first" in markdown
    index = (site / "index.html").read_text()
    assert "data-lower>misses ↓</th>" in index and "title='40 test items'" in index  # toy_reverse's 40 items

    from selenium.webdriver.common.by import By

    browser = _browser()
    try:
        browser.get((site / "index.html").as_uri())

        ranked = board_entries(browser)
        headers = browser.find_elements(By.CSS_SELECTOR, "#board th")
        misses = next(h for h in headers if h.text.startswith("misses"))
        both = next(h for h in headers if h.text.startswith("both"))
        both.click()  # higher is better: the highest first
        assert board_entries(browser)[0] == "perfect"
        misses.click()  # lower is better: the lowest first, as ranked
        assert board_entries(browser) == ranked
        misses.click()
        assert board_entries(browser) == ranked[::-1]
    finally:
        browser.quit()


def test_a_suite_column_gets_a_page_with_its_groups(installed_plugins, tmp_path):
    """A column over a suite: its page lists the members (linked) and breaks the column down by the suite's
    group labels with CIs and a plot; the index links it."""
    board = tmp_path / "board.py"
    board.write_text(
        "from ml_collections import ConfigDict\n\n\n"
        "def get_config():\n"
        "    c = ConfigDict()\n"
        "    c.title = 'Suite board'\n"
        "    c.tasks = ConfigDict({'toy_sizes': ConfigDict({'num_items': 12})})\n"
        "    c.entries = (\n"
        "        ConfigDict({'name': 'perfect', 'model': {'name': 'fake'}}),\n"
        "        ConfigDict({'name': 'noisy', 'model': {'name': 'fake', 'error_rate': 0.5}}),\n"
        "    )\n"
        "    c.columns = (ConfigDict({'title': 'sizes', 'suite': 'toy_sizes', 'score': 'exact_match'}),)\n"
        "    c.bootstrap_resamples = 200\n"
        "    return c\n"
    )
    paths = [installed_plugins["evalkit-toy"]]
    results, site = tmp_path / "results", tmp_path / "site"
    ran = cli(
        paths,
        "leaderboard",
        "run",
        str(board),
        "--results",
        str(results),
        f"--config.data_dir={tmp_path / 'd'}",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    built = cli(paths, "leaderboard", "build", str(board), "--results", str(results), "--out", str(site))
    assert built.returncode == 0, built.stderr[-3000:]
    data = json.loads((site / "leaderboard.json").read_text())
    perfect, noisy = data["rows"]
    assert data["columns"][0]["suite_groups"] == ["long", "short"]  # the suite's group_order
    assert (
        perfect["suite_cells"]["sizes"]["short"]["n"] == 12
        and perfect["suite_cells"]["sizes"]["long"]["value"] == 1.0
    )
    cell = noisy["suite_cells"]["sizes"]["long"]
    assert cell["ci_low"] < cell["value"] < 1.0 and cell["value"] <= cell["ci_high"]
    whole = noisy["cells"]["sizes"]["value"]
    assert abs(whole - (noisy["suite_cells"]["sizes"]["short"]["value"] + cell["value"]) / 2) < 1e-12
    page = (site / "suite-toy_sizes.html").read_text()
    assert "href='task-toy_reverse_long.html'" in page and "sizes by size" in page
    assert (
        "<img src='plot-suite-toy_sizes-sizes.png'" in page
        and (site / "plot-suite-toy_sizes-sizes.png").is_file()
    )
    assert "href='suite-toy_sizes.html'" in (site / "index.html").read_text()
    data = json.loads(
        (results / "noisy" / "results.json").read_text()
    )  # relabelled by another plugin version
    data["suites"]["toy_sizes"]["groups"]["toy_reverse"] = "tiny"
    (results / "noisy" / "results.json").write_text(json.dumps(data))
    refused = cli(paths, "leaderboard", "build", str(board), "--results", str(results), "--out", str(site))
    assert (
        refused.returncode == 2
        and "labels its members differently in entries 'perfect' and 'noisy'" in refused.stderr
    )


def test_the_board_judge_rates_every_entry(tmp_path):
    """A leaderboard's `judge` goes into every entry's run config, so all entries are rated by one judge."""
    from evalkit.leaderboard import load_leaderboard

    board = write_board(
        tmp_path / "board.py",
        rank_by='mean"\n    c.judge = ConfigDict({"name": "fake", "error_rate": 0.1})\n    c.x = "',
    )
    text = board.read_text().replace('\n    c.x = ""', "")
    board.write_text(text)
    loaded = load_leaderboard(str(board))
    for entry in loaded.entries:
        cfg = loaded.run_config(entry, str(tmp_path / "results"))
        assert cfg.judge.to_dict() == {"name": "fake", "error_rate": 0.1}
        assert cfg.output_dir == f"{tmp_path / 'results'}/{entry.name}"


def test_run_checks_every_entry_first_and_keeps_what_is_compared_fixed(board_run, tmp_path):
    """A typo in the last entry stops `leaderboard run` before the first entry runs, naming the entry; an
    override of what the board compares (tasks, model, seed, judge) is refused; `evalkit run` of a
    leaderboard config says to use `evalkit leaderboard run`."""
    _, _, paths = board_run
    board = write_board(tmp_path / "board.py")
    text = board.read_text().replace('"model.error_rate=0.6"', '"model.eror_rate=0.6"')
    board.write_text(text)
    results = tmp_path / "results"
    res = cli(paths, "leaderboard", "run", str(board), "--results", str(results))
    assert res.returncode == 2 and "entry 'noisier': unknown config key 'model.eror_rate'" in res.stderr
    assert not results.exists()  # nothing ran
    good = write_board(tmp_path / "good.py")
    res = cli(
        paths,
        "leaderboard",
        "run",
        str(good),
        "--results",
        str(results),
        "--config.tasks.toy_reverse.num_items=4",
    )
    assert (
        res.returncode == 2
        and "--config.tasks.toy_reverse.num_items would make the results differ" in res.stderr
    )
    res = cli(paths, "run", str(good))
    assert (
        res.returncode == 2 and "this is a leaderboard config" in res.stderr and "Traceback" not in res.stderr
    )
