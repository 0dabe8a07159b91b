"""The evalkit entry point of evalkit-cif-bench: one task per CIF-Bench task and the suites over them."""

from evalkit import hookimpl

EVALKIT_PLUGIN_API = 1


@hookimpl
def evalkit_register_tasks(register):
    from evalkit_cif_bench.task import all_tasks

    for task in all_tasks():
        register(task)


@hookimpl
def evalkit_register_suites(register):
    from evalkit_cif_bench.suite import suites

    for suite in suites():
        register(suite)
