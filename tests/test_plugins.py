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
    assert toy["registered"]["tasks"] == ["toy_choice", "toy_files", "toy_reverse"]
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
