"""Plugin discovery through real installed packages, validation, allow/deny lists, API version."""

import json

import pytest

from evalkit import hookimpl
from evalkit.api import Task
from evalkit.errors import PluginError
from evalkit.testing import run_cli


def plugins_json(installed, names, env=None):
    res = run_cli(["plugins", "--json"], env=env, pythonpath=[installed[n] for n in names])
    return res


def test_installed_plugin_is_discovered_through_its_entry_point(installed_plugins):
    res = plugins_json(installed_plugins, ["evalkit-toy"])
    assert res.returncode == 0, res.stderr
    toy = {p["name"]: p for p in json.loads(res.stdout)}["toy"]
    assert toy["distribution"] == "evalkit-toy" and toy["version"] == "0.3.0"
    assert toy["registered"]["tasks"] == ["toy_choice", "toy_files", "toy_reverse", "toy_reverse_long"]
    assert "evalkit_register_tasks" in toy["hooks"]


def test_list_tasks_json(installed_plugins):
    res = run_cli(["list", "tasks", "--json"], pythonpath=[installed_plugins["evalkit-toy"]])
    assert res.returncode == 0, res.stderr
    tasks = {t["name"]: t for t in json.loads(res.stdout)}
    assert tasks["toy_reverse"]["plugin"] == "toy"
    assert tasks["toy_reverse"]["config"]["num_items"] == 40


def test_misspelled_hook_fails_at_load(installed_plugins):
    res = plugins_json(installed_plugins, ["evalkit-toy", "evalkit-misspelled"])
    assert res.returncode == 2
    assert "misspelled" in res.stderr and "evalkit_register_task" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_duplicate_names_rejected_naming_both_plugins(installed_plugins):
    res = run_cli(
        ["list", "tasks"], pythonpath=[installed_plugins["evalkit-toy"], installed_plugins["evalkit-dupe"]]
    )
    assert res.returncode == 2
    assert "'toy_reverse'" in res.stderr and "'toy'" in res.stderr and "'dupe'" in res.stderr


def test_allow_list_hides_other_plugins(installed_plugins):
    paths = [installed_plugins[n] for n in ("evalkit-toy", "evalkit-dupe", "evalkit-misspelled")]
    res = run_cli(["plugins", "--json"], env={"EVALKIT_PLUGINS": "toy"}, pythonpath=paths)
    assert res.returncode == 0, res.stderr
    names = {p["name"] for p in json.loads(res.stdout)}
    assert "toy" in names and "dupe" not in names and "misspelled" not in names


def test_deny_list_blocks_a_plugin(installed_plugins):
    paths = [installed_plugins[n] for n in ("evalkit-toy", "evalkit-dupe")]
    res = run_cli(["list", "tasks", "--json"], env={"EVALKIT_DISABLE_PLUGINS": "dupe"}, pythonpath=paths)
    assert res.returncode == 0, res.stderr
    assert {t["plugin"] for t in json.loads(res.stdout) if t["name"] == "toy_reverse"} == {"toy"}


def test_autoload_can_be_disabled(installed_plugins):
    res = run_cli(
        ["list", "tasks", "--json"],
        env={"EVALKIT_DISABLE_PLUGIN_AUTOLOAD": "1"},
        pythonpath=[installed_plugins["evalkit-toy"]],
    )
    assert res.returncode == 0 and json.loads(res.stdout) == []


class Good(Task):
    name = "good"


def test_hook_that_raises_names_the_plugin(evalkit_host, register_plugin):
    class Raises:
        @hookimpl
        def evalkit_register_tasks(self, register):
            raise ValueError("boom")

    register_plugin(Raises(), name="raiser")
    with pytest.raises(PluginError, match=r"'raiser' raised ValueError in evalkit_register_tasks: boom"):
        evalkit_host.registry("tasks")


def test_hook_that_returns_a_value_is_rejected(evalkit_host, register_plugin):
    class Returns:
        @hookimpl
        def evalkit_register_tasks(self, register):
            return [Good()]

    register_plugin(Returns(), name="returner")
    with pytest.raises(PluginError, match="'returner' returned a value"):
        evalkit_host.registry("tasks")


def test_registering_the_wrong_type_is_rejected(evalkit_host, register_plugin):
    class WrongType:
        @hookimpl
        def evalkit_register_tasks(self, register):
            register("not a task")

    register_plugin(WrongType(), name="wrongtype")
    with pytest.raises(PluginError, match="must be an instance of evalkit.api.Task"):
        evalkit_host.registry("tasks")


def test_opt_in_arguments_and_registration(evalkit_host, register_plugin):
    class NoArgs:
        @hookimpl
        def evalkit_task_start(self):  # accepts none of the spec's arguments
            pass

        @hookimpl
        def evalkit_register_tasks(self, register):
            register(Good())

    register_plugin(NoArgs(), name="noargs")
    assert "good" in evalkit_host.registry("tasks").names()


def test_plugin_requiring_newer_api_is_rejected(evalkit_host):
    class Future:
        EVALKIT_PLUGIN_API = 99

    with pytest.raises(PluginError, match="requires evalkit plugin API 99"):
        evalkit_host.register(Future(), name="future")


def test_unknown_task_suggests_closest(evalkit_host, register_plugin):
    class P:
        @hookimpl
        def evalkit_register_tasks(self, register):
            register(Good())

    register_plugin(P())
    with pytest.raises(Exception, match="unknown task 'goood'; did you mean 'good'"):
        evalkit_host.registry("tasks").get("goood")


@pytest.mark.parametrize("value", ["v1", 0, 1.5, True])
def test_plugin_api_version_must_be_a_positive_int(evalkit_host, value):
    class Odd:
        EVALKIT_PLUGIN_API = value

    with pytest.raises(PluginError, match=r"sets EVALKIT_PLUGIN_API=.*it must be the int API version"):
        evalkit_host.register(Odd(), name="odd")


def test_a_hook_without_hookimpl_is_refused_not_ignored(evalkit_host):
    class Undecorated:
        def evalkit_register_tasks(self, register):
            register(Good())

    with pytest.raises(PluginError, match=r"defines evalkit_register_tasks\(\) without @hookimpl"):
        evalkit_host.register(Undecorated(), name="undecorated")


def test_registering_an_installed_plugin_again_replaces_its_entry_point(
    installed_plugins, monkeypatch, evalkit_host, register_plugin
):
    monkeypatch.syspath_prepend(str(installed_plugins["evalkit-toy"]))
    import evalkit_toy

    assert evalkit_host.registry("tasks").plugin_of("toy_reverse") == "toy"  # loaded from its entry point
    assert register_plugin(evalkit_toy) == "toy"  # no "already registered" error; same name
    assert evalkit_host.registry("tasks").plugin_of("toy_reverse") == "toy"


def test_install_plugin_leaves_the_source_folder_clean(tmp_path):
    from evalkit.testing import install_plugin

    src = tmp_path / "src"
    (src / "evalkit_clean").mkdir(parents=True)
    (src / "evalkit_clean" / "__init__.py").write_text("EVALKIT_PLUGIN_API = 1\n")
    (src / "pyproject.toml").write_text(
        '[project]\nname = "evalkit-clean"\nversion = "0.1.0"\n'
        '[project.entry-points.evalkit]\nclean = "evalkit_clean"\n'
    )
    target = install_plugin(src, tmp_path / "site")
    assert any(p.name.startswith("evalkit_clean") and p.suffix == ".dist-info" for p in target.iterdir())
    assert sorted(p.name for p in src.iterdir()) == ["evalkit_clean", "pyproject.toml"]


def test_a_task_whose_default_config_is_not_a_configdict_is_named(evalkit_host, register_plugin, tmp_path):
    from evalkit.testing import evaluate_task

    class DictDefaults(Task):
        name = "dict_defaults"

        def default_config(self):
            return {"seed": 0}

    class P:
        @hookimpl
        def evalkit_register_tasks(self, register):
            register(DictDefaults())

    register_plugin(P(), name="dictplugin")
    with pytest.raises(PluginError, match=r"task 'dict_defaults': default_config\(\) returned a dict"):
        evaluate_task("dict_defaults", tmp_path)


def test_a_task_whose_metric_is_not_registered_names_task_and_score(evalkit_host, register_plugin, tmp_path):
    from evalkit.testing import evaluate_task

    class NeedsMetric(Task):
        name = "needs_metric"
        metrics = {"solved": "pass_at_k"}

    class P:
        @hookimpl
        def evalkit_register_tasks(self, register):
            register(NeedsMetric())

    register_plugin(P(), name="needsmetric")
    with pytest.raises(
        Exception, match="task 'needs_metric' aggregates its score 'solved' with metric 'pass_at_k'"
    ):
        evaluate_task("needs_metric", tmp_path)


class OneItem(Task):
    """A one-item log-likelihood task whose score() returns ``scores`` as given."""

    def __init__(self, name, scores):
        self.name, self.scores = name, scores

    def generate(self, config):
        yield {"id": "item0"}

    def requests(self, example, config):
        from evalkit.api import Loglikelihood

        return [Loglikelihood("a", "b")]

    def score(self, example, responses, config):
        return self.scores


def _evaluate_one_item(register_plugin, tmp_path, name, scores, plugin_attrs=None):
    from evalkit.testing import evaluate_task

    class P:
        @hookimpl
        def evalkit_register_tasks(self, register):
            register(OneItem(name, scores))

    for attr, value in (plugin_attrs or {}).items():
        setattr(P, attr, value)
    register_plugin(P(), name=f"{name}_plugin")
    return evaluate_task(name, tmp_path)["tasks"][name]


@pytest.mark.parametrize(
    "scores, match",
    [
        (0.5, "with a float; score\\(\\) must return a dict of numbers"),
        ({"em": "yes"}, "'em' is 'yes'; score\\(\\) values must be numbers"),
        ({"em": float("nan")}, "'em' is NaN; use None for an item without this score"),
    ],
)
def test_bad_scores_fail_the_task_with_the_item_named(evalkit_host, register_plugin, tmp_path, scores, match):
    task = _evaluate_one_item(register_plugin, tmp_path, "bad_scores", scores)
    assert task["status"] == "failed" and "task 'bad_scores' scored item 'item0'" in task["error"]
    assert __import__("re").search(match, task["error"]), task["error"]


def test_number_like_scores_are_accepted(evalkit_host, register_plugin, tmp_path):
    import types

    import numpy as np

    scores = types.MappingProxyType({"flag": np.bool_(True), "arr": np.array(0.5), "none": None})
    # an evalkit_* name that is not a hook is fine without @hookimpl
    task = _evaluate_one_item(
        register_plugin, tmp_path, "number_like", scores, {"evalkit_hookimpl": hookimpl}
    )
    assert task["status"] == "ok", task.get("error")
    assert task["metrics"]["flag"]["value"] == 1.0 and task["metrics"]["arr"]["value"] == 0.5


def test_records_from_a_tasks_own_protocol_are_checked_the_same_way(evalkit_host, register_plugin, tmp_path):
    class OwnProtocol(OneItem):
        def evaluate(self, handle, examples, config):
            for ex in examples:
                yield {"id": ex["id"], "scores": {"em": "high"}}

    class P:
        @hookimpl
        def evalkit_register_tasks(self, register):
            register(OwnProtocol("own_protocol", None))

    from evalkit.testing import evaluate_task

    register_plugin(P(), name="ownprotocol")
    task = evaluate_task("own_protocol", tmp_path)["tasks"]["own_protocol"]
    assert task["status"] == "failed" and "scored item 'item0': 'em' is 'high'" in task["error"]
