"""A plugin for evalkit's tests that registers a task name the toy plugin already uses."""

from evalkit import hookimpl
from evalkit.api import Task


class Clash(Task):
    name = "toy_reverse"


@hookimpl
def evalkit_register_tasks(register):
    register(Clash())
