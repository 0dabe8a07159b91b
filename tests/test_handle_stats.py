"""Runtime figures of a task: counters of its model handles added and differenced, rates derived again."""

import pytest

from evalkit.api.handle_stats import add_stats, is_counter, stats_since, with_rates


def engine(compiles, device_s, real, padded, new, devices=8):
    return with_rates(
        {"compiles": compiles, "compile_s": 1.5, "device_s": device_s, "real_tokens": real,
         "padded_tokens": padded, "new_tokens": new, "truncated_count": 0, "device_kind": "cpu",
         "devices": devices, "processes": 2}
    )  # fmt: skip


def test_counters_rates_and_facts_are_told_apart():
    assert is_counter("compiles", 3) and is_counter("reused_compiles", 1) and is_counter("device_s", 0.5)
    assert is_counter("truncated_count", 0) and is_counter("input_tokens", 7)
    assert not is_counter("tokens_per_s", 10.0) and not is_counter("padding_fraction", 0.1)
    assert not is_counter("devices", 8) and not is_counter("device_kind", "cpu")
    assert not is_counter("done_count", True)


def test_two_probe_seeds_add_counters_and_rederive_rates():
    seed0, seed1 = engine(4, 2.0, 900, 1000, 100), engine(0, 1.0, 300, 500, 50)
    assert seed0["tokens_per_s"] == 450.0 and seed1["padding_fraction"] == 0.4
    both = add_stats(add_stats({}, seed0), seed1)
    assert both["compiles"] == 4 and both["device_s"] == 3.0 and both["real_tokens"] == 1200
    assert both["compile_s"] == 3.0 and both["new_tokens"] == 150
    assert both["tokens_per_s"] == 400.0 and both["new_tokens_per_s"] == 50.0  # 1200 / 3 s, 150 / 3 s
    assert both["padding_fraction"] == pytest.approx(0.2)  # 1 - 1200 / 1500, not either seed's
    assert both["devices"] == 8 and both["processes"] == 2 and both["device_kind"] == "cpu"  # facts


def test_a_shared_handle_gives_each_task_what_it_did():
    before, after = engine(2, 1.0, 100, 200, 0), engine(3, 4.0, 700, 800, 40)
    task = stats_since(before, after)
    assert task["compiles"] == 1 and task["device_s"] == 3.0 and task["real_tokens"] == 600
    assert (
        task["tokens_per_s"] == 200.0 and task["padding_fraction"] == 0.0 and task["new_tokens_per_s"] == 13.3
    )
    assert task["devices"] == 8 and task["processes"] == 2  # not 0: facts are not differenced


def test_a_plugin_handles_own_counters_are_added_too():
    fake = {"requests_count": 3, "input_tokens": 40}
    assert add_stats(fake, fake) == {"requests_count": 6, "input_tokens": 80}
    assert stats_since(fake, {"requests_count": 5, "input_tokens": 50}) == {
        "requests_count": 2,
        "input_tokens": 10,
    }
