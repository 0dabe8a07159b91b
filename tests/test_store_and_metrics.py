"""Record store (resume, torn lines), bootstrap, grouped aggregation, reporting escapes."""

import json

import numpy as np

from evalkit.api import Metric
from evalkit.metrics import bootstrap_ci, paired_bootstrap, summarize_groups, summarize_scores
from evalkit.reporting import html_report
from evalkit.results import RecordStore


def test_store_drops_torn_line_and_other_configs(tmp_path):
    path = tmp_path / "t" / "samples.jsonl"
    store = RecordStore(path, "h1")
    store.append([{"id": "2", "scores": {"a": 1}}, {"id": "10", "scores": {"a": 0}}])
    with open(path, "a") as f:
        f.write(json.dumps({"id": "x", "config_hash": "other", "scores": {}}) + "\n")
        f.write('{"id": "3", "config_ha')  # killed mid-write
    again = RecordStore(path, "h1")
    assert again.done() == {"2", "10"}
    again.append([{"id": "3", "scores": {"a": 1}}, {"id": "2", "scores": {"a": 5}}])  # "2" is not duplicated
    assert [r["id"] for r in RecordStore(path, "h1").records()] == ["2", "3", "10"]
    assert all(json.loads(line) for line in path.read_text().splitlines())
    again.compact()
    assert len(path.read_text().splitlines()) == 3


def test_bootstrap_is_seeded_and_brackets_the_mean():
    x = np.random.default_rng(0).random(200)
    a = bootstrap_ci(x, seed=1)
    assert a == bootstrap_ci(x, seed=1)
    assert a[1] < a[0] < a[2] and abs(a[0] - x.mean()) < 1e-12


def test_paired_bootstrap_detects_a_real_difference():
    rng = np.random.default_rng(0)
    b = rng.integers(0, 2, 300).astype(float)
    a = np.where(rng.random(300) < 0.3, 1.0, b)
    res = paired_bootstrap(a, b)
    assert res["mean_diff"] > 0 and res["ci_low"] > 0 and res["p_value"] < 0.01
    same = paired_bootstrap(b, b)
    assert same["mean_diff"] == 0 and same["p_value"] == 1.0


def test_an_item_scored_by_several_seeds_is_resampled_as_one_item():
    from evalkit.metrics.items import item_of, seed_item_id

    x = np.random.default_rng(0).integers(0, 2, 40).astype(float)
    twice, items = np.repeat(x, 2), np.repeat(np.arange(40), 2)  # each item seen by two probes, agreeing
    assert bootstrap_ci(twice, clusters=items, seed=3) == bootstrap_ci(x, seed=3)  # no extra evidence
    naive = bootstrap_ci(twice, seed=3)
    assert naive[2] - naive[1] < 0.8 * (bootstrap_ci(x, seed=3)[2] - bootstrap_ci(x, seed=3)[1])
    median = bootstrap_ci(twice, np.median, clusters=items, seed=3)  # any statistic: clusters concatenated
    assert median[1] <= median[0] <= median[2]
    assert bootstrap_ci([1.0, 0.0], clusters=["a", "a"]) == (0.5, 0.5, 0.5)  # one item: no interval

    rec = {"id": seed_item_id(1, "len8/3"), "groups": {"seed": "1", "length": "8"}}
    assert rec["id"] == "seed1/len8/3" and item_of(rec) == "len8/3"
    assert item_of({"id": "seed1/x", "groups": {}}) == "seed1/x"  # not a probe record: its own item
    mean = {"em": Metric("mean", np.mean)}
    records = [
        {"id": seed_item_id(s, f"i{i}"), "groups": {"seed": str(s)}, "scores": {"em": x[i]}}
        for s in (0, 1)
        for i in range(40)
    ]
    pooled = summarize_scores(records, mean, seed=3)["em"]
    assert pooled["n"] == 80 and (pooled["ci_low"], pooled["ci_high"]) == bootstrap_ci(x, seed=3)[1:]

    res = paired_bootstrap(twice, np.zeros(80), clusters=items, resamples=500)
    assert res["items"] == 40 and res["n"] == 80 and res["p_value"] == 0 and res["p_floor"] == 1 / 500


def test_grouped_aggregation():
    mean = {"em": Metric("mean", np.mean)}
    recs = [
        {"id": str(i), "groups": {"len": str(5 if i < 4 else 10)}, "scores": {"em": float(i < 4)}}
        for i in range(8)
    ]
    groups = summarize_groups(recs, mean)
    assert list(groups["len"]) == ["5", "10"]
    assert groups["len"]["5"]["em"]["value"] == 1.0 and groups["len"]["10"]["em"]["value"] == 0.0
    assert summarize_scores(recs, mean)["em"]["n"] == 8


def test_html_report_escapes_everything():
    results = {
        "model": {"name": "<script>alert(1)</script>"},
        "tasks": {"t<b>": {"status": "failed", "error": "<img src=x onerror=alert(1)>"}},
        "config": {"x": "</pre><script>"},
    }
    page = html_report(results, images=["a'.png"])
    assert "<script>" not in page and "<img src=x" not in page and "&lt;script&gt;" in page


def test_group_tables_keep_natural_order_after_a_json_round_trip():
    from evalkit.reporting import group_tables

    m = {"em": {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": 1}}
    results = json.loads(
        json.dumps({"tasks": {"t": {"groups": {"length": {"4": m, "10": m, "8": m}}}}}, sort_keys=True)
    )
    ((_, _, rows),) = group_tables(results)
    assert [r[0] for r in rows] == ["4", "8", "10"]
    skewed = {"em": {"value": 0.9, "ci_low": 0.75, "ci_high": 1.0, "n": 20}}
    ((_, header, rows),) = group_tables({"tasks": {"t": {"groups": {"length": {"4": skewed}}}}})
    assert header == ["length", "em", "n"] and rows == [["4", "0.9 [0.75, 1]", "20"]]  # the interval as is


def _seed_records(em_by_seed_length):
    return [
        {"id": f"seed{s}/{n}/{i}", "groups": {"seed": str(s), "length": str(n)}, "scores": {"em": v}}
        for (s, n), values in em_by_seed_length.items()
        for i, v in enumerate(values)
    ]


def test_over_seeds_reports_each_seeds_metric_and_their_median_and_range():
    from evalkit.metrics import summarize_over_seeds

    mean = {"em": Metric("mean", lambda x: float(np.mean(x)))}
    records = _seed_records(
        {
            (0, 8): [1, 1, 1, 1], (0, 16): [1, 0, 0, 0],
            (1, 8): [1, 1, 1, 0], (1, 16): [0, 0, 0, 0],
            (10, 8): [1, 1, 0, 0], (10, 16): [1, 1, 1, 0],
        }
    )  # fmt: skip
    out = summarize_over_seeds(records, mean)
    assert set(out["groups"]) == {"length"}  # the seed is what is spread over, not a group of its own
    at16 = out["groups"]["length"]["16"]["em"]
    assert at16["per_seed"] == {"0": 0.25, "1": 0.0, "10": 0.75}  # natural seed order
    assert (at16["median"], at16["min"], at16["max"], at16["seeds"]) == (0.25, 0.0, 0.75, 3)
    assert out["overall"]["em"]["per_seed"] == {"0": 0.625, "1": 0.375, "10": 0.625}
    assert out["overall"]["em"]["median"] == 0.625
    one_seed = [r for r in records if r["groups"]["seed"] == "0"]
    assert summarize_over_seeds(one_seed, mean) is None


def test_seed_tables_and_plots_show_the_spread_over_seeds(tmp_path):
    from evalkit.metrics import summarize_over_seeds
    from evalkit.reporting import markdown_report, plot_groups, seed_tables

    mean = {"em": Metric("mean", lambda x: float(np.mean(x)))}
    records = _seed_records({(0, 8): [1, 1], (0, 16): [1, 0], (1, 8): [1, 0], (1, 16): [0, 0]})
    task = {
        "status": "ok",
        "metrics": summarize_scores(records, mean),
        "groups": summarize_groups(records, mean),
        "over_seeds": summarize_over_seeds(records, mean),
    }
    results = json.loads(json.dumps({"tasks": {"t": task}}))
    ((title, header, rows),) = seed_tables(results)
    assert title == "t by length, over 2 seeds"
    assert header == ["length", "em median [min, max]", "em seed 0 / 1"]
    assert rows == [["8", "0.75 [0.5, 1]", "1 / 0.5"], ["16", "0.25 [0, 0.5]", "0.5 / 0"], ["all", "0.5 [0.25, 0.75]", "0.75 / 0.25"]]  # fmt: skip
    assert "## t by length, over 2 seeds" in markdown_report(results)
    names = sorted(p.name for p in plot_groups(results, tmp_path))
    assert names == ["t_by_length.png"]  # per-seed lines are drawn there; no separate plot by seed
    del results["tasks"]["t"]["over_seeds"]
    assert seed_tables(results) == []
    assert sorted(p.name for p in plot_groups(results, tmp_path)) == ["t_by_length.png", "t_by_seed.png"]


def test_categorical_groups_are_plotted_as_points(tmp_path):
    from evalkit.metrics import summarize_over_seeds
    from evalkit.reporting import plot_groups

    mean = {"em": Metric("mean", lambda x: float(np.mean(x)))}
    records = [
        {"id": f"seed{s}/{split}{i}", "groups": {"seed": str(s), "split": split}, "scores": {"em": float(v)}}
        for s in (0, 1)
        for split, vals in (("id", [1, 1]), ("ood", [s, 0]))
        for i, v in enumerate(vals)
    ]
    task = {"groups": summarize_groups(records, mean), "over_seeds": summarize_over_seeds(records, mean)}
    results = json.loads(json.dumps({"tasks": {"t": task}}))
    assert [p.name for p in plot_groups(results, tmp_path)] == ["t_by_split.png"]
    del results["tasks"]["t"]["over_seeds"]
    assert sorted(p.name for p in plot_groups(results, tmp_path)) == ["t_by_seed.png", "t_by_split.png"]
    assert (tmp_path / "t_by_split.png").stat().st_size > 1000


def test_seed_tables_keep_each_value_under_its_seed_when_a_seed_lacks_a_group(tmp_path):
    from evalkit.metrics import summarize_over_seeds
    from evalkit.reporting import plot_groups, seed_tables

    mean = {"em": Metric("mean", lambda x: float(np.mean(x)))}
    # seed 1 has no items of length 8; seed 2 sorts after seed 1 whatever the JSON order
    records = _seed_records(
        {(2, 8): [0, 1], (0, 8): [1, 1], (0, 16): [0, 0], (1, 16): [1, 1], (2, 16): [1, 0]}
    )
    task = {"groups": summarize_groups(records, mean), "over_seeds": summarize_over_seeds(records, mean)}
    results = json.loads(json.dumps({"tasks": {"t": task}}))
    ((_, header, rows),) = seed_tables(results)
    assert header[2] == "em seed 0 / 1 / 2"
    assert rows[0] == ["8", "0.75 [0.5, 1]", "1 / – / 0.5"]
    assert rows[1] == ["16", "0.5 [0, 1]", "0 / 1 / 0.5"]
    assert [p.name for p in plot_groups(results, tmp_path)] == ["t_by_length.png"]
    only_seeds = [{**r, "groups": {"seed": r["groups"]["seed"]}} for r in records]
    results = {"tasks": {"t": {"over_seeds": summarize_over_seeds(only_seeds, mean)}}}
    ((title, header, rows),) = seed_tables(results)  # no other group: the overall row alone
    assert title == "t, over 3 seeds" and [r[0] for r in rows] == ["all"]
