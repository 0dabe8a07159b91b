"""evalkit: JAX-native, plugin-based evaluation of how language models generalize.

Importing evalkit is cheap: jax is only imported by the runtime, never by the host.
"""

import pluggy

__version__ = "0.1.0"
# The hook API version. A plugin may require a minimum with `EVALKIT_PLUGIN_API = N` in its module.
__plugin_api_version__ = 1

from evalkit.errors import PluginError, UserError

hookimpl = pluggy.HookimplMarker("evalkit")

__all__ = ["PluginError", "UserError", "__plugin_api_version__", "__version__", "hookimpl"]
