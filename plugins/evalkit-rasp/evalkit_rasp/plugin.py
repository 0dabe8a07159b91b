"""The evalkit entry point of evalkit-rasp: registers one task per RASP-L format."""

from evalkit import hookimpl

EVALKIT_PLUGIN_API = 1


@hookimpl
def evalkit_register_tasks(register):
    from evalkit_rasp.task import TASKS

    for task in TASKS:
        register(task)
