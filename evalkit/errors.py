"""Errors a user can fix. The CLI prints them as one sentence and exits with status 2."""


class UserError(Exception):
    """A problem with the user's input (config, data, plugin set-up) that names its fix."""


class PluginError(UserError):
    """A plugin is broken: its hook raised, returned the wrong thing, or registered an invalid object."""
