"""The evalkit entry point of evalkit-scylla: the 20 prompted tasks, their probe-model variants and two
suites (``scylla`` and ``scylla_probe``)."""

from evalkit import hookimpl

EVALKIT_PLUGIN_API = 1


@hookimpl
def evalkit_register_tasks(register):
    from evalkit_scylla.probe import PROBE_TASKS
    from evalkit_scylla.task import TASKS

    for task in [*TASKS, *PROBE_TASKS]:
        register(task)


@hookimpl
def evalkit_register_suites(register):
    from evalkit_scylla.suite import SUITES

    for suite in SUITES:
        register(suite)
