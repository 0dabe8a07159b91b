"""A broken plugin for evalkit's tests: its hook name is misspelled."""

from evalkit import hookimpl


@hookimpl
def evalkit_register_task(register):  # missing the final "s"
    pass
