"""Plugin loading and the registries plugins fill.

Plugins are discovered through the ``evalkit`` entry-point group, lazily and once. Environment controls:
``EVALKIT_PLUGINS=a,b`` loads only those entry points, ``EVALKIT_DISABLE_PLUGINS=a,b`` blocks some,
``EVALKIT_DISABLE_PLUGIN_AUTOLOAD=1`` loads none (evalkit's own default plugins stay),
``EVALKIT_TRACE_PLUGINS=1`` prints every hook call to stderr.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.metadata
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import pluggy

import evalkit
from evalkit import hookspecs
from evalkit.api import Metric, ModelSpec, Reporter, Suite, Task
from evalkit.errors import PluginError, UserError

ENTRY_POINT_GROUP = "evalkit"
DEFAULT_PLUGINS = (
    "evalkit.default_plugins.models",
    "evalkit.default_plugins.metrics",
    "evalkit.default_plugins.reporters",
)
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")

# kind -> (hook name, required type)
KINDS: dict[str, tuple[str, type]] = {
    "tasks": ("evalkit_register_tasks", Task),
    "models": ("evalkit_register_models", ModelSpec),
    "metrics": ("evalkit_register_metrics", Metric),
    "reporters": ("evalkit_register_reporters", Reporter),
    "suites": ("evalkit_register_suites", Suite),
}


@dataclasses.dataclass
class Registered:
    """One registered object and the plugin that registered it."""

    obj: Any
    plugin: str


class Registry:
    """Name -> object for one kind, filled through that kind's register hook."""

    def __init__(self, kind: str, items: dict[str, Registered]):
        self.kind = kind
        self._items = items

    def names(self) -> list[str]:
        return sorted(self._items)

    def plugin_of(self, name: str) -> str:
        return self._items[name].plugin

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def get(self, name: str) -> Any:
        """The object registered as ``name``, or a UserError that suggests the closest name."""
        if name not in self._items:
            singular = self.kind[:-1]
            close = difflib.get_close_matches(name, self._items, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UserError(
                f"unknown {singular} {name!r}; {hint}run `evalkit list {self.kind}` to see the "
                f"{len(self._items)} available, or install the plugin that provides it"
            )
        return self._items[name].obj


class PluginHost:
    """The pluggy plugin manager plus lazily built registries."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("evalkit")
        self.pm.add_hookspecs(hookspecs)
        self._loaded = False
        self._registries: dict[str, Registry] = {}
        self._distinfo: dict[str, tuple[str, str]] = {}  # plugin name -> (distribution, version)

    # --- loading -------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the default plugins and the entry points once; validate every hook implementation."""
        if self._loaded:
            return
        self._loaded = True
        for modname in DEFAULT_PLUGINS:
            module = importlib.import_module(modname)
            self.pm.register(module, name=modname)
        if not _env_flag("EVALKIT_DISABLE_PLUGIN_AUTOLOAD"):
            self._load_entry_points()
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
            raise PluginError(
                f"plugin {name!r} implements a hook evalkit does not define ({exc}); fix the hook name "
                f"(see docs/plugins.md) or disable the plugin with EVALKIT_DISABLE_PLUGINS={name}"
            ) from exc
        if _env_flag("EVALKIT_TRACE_PLUGINS"):
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()

    def _load_entry_points(self) -> None:
        allow = _env_list("EVALKIT_PLUGINS")
        deny = _env_list("EVALKIT_DISABLE_PLUGINS")
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if (allow is not None and ep.name not in allow) or ep.name in deny:
                continue
            if self.pm.get_plugin(ep.name) is not None or self.pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's
                raise PluginError(
                    f"plugin {ep.name!r} failed to import ({type(exc).__name__}: {exc}); reinstall it or "
                    f"disable it with EVALKIT_DISABLE_PLUGINS={ep.name}"
                ) from exc
            _check_api_version(ep.name, plugin)
            _check_hooks_marked(ep.name, plugin)
            try:
                self.pm.register(plugin, name=ep.name)
            except pluggy.PluginValidationError as exc:
                raise PluginError(
                    f"plugin {ep.name!r} has an invalid hook ({exc}); fix it or disable it with "
                    f"EVALKIT_DISABLE_PLUGINS={ep.name}"
                ) from exc
            dist = ep.dist
            self._distinfo[ep.name] = (dist.metadata["Name"], dist.version) if dist else (ep.name, "?")

    def register(self, plugin: Any, name: str | None = None) -> str:
        """Register a plugin object (tests, notebooks); registries are rebuilt on next use. A plugin that
        an installed entry point already loaded is registered again in its place (same name by default)."""
        self.load()
        loaded_as = self.pm.get_name(plugin) if self.pm.is_registered(plugin) else None
        name = name or loaded_as
        _check_api_version(name or repr(plugin), plugin)
        _check_hooks_marked(name or repr(plugin), plugin)
        if loaded_as is not None:
            self.pm.unregister(plugin)
        try:
            plugin_name = self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin {name or plugin!r} cannot be registered: {exc}") from exc
        self._registries.clear()
        return plugin_name

    def unregister(self, name: str) -> None:
        self.pm.unregister(name=name)
        self._registries.clear()

    # --- registries ----------------------------------------------------------------------------

    def registry(self, kind: str) -> Registry:
        """The registry of ``kind`` ('tasks', 'models', 'metrics', 'reporters', 'suites'), built on first use."""
        self.load()
        if kind not in self._registries:
            self._registries[kind] = self._collect(kind)
        return self._registries[kind]

    def _collect(self, kind: str) -> Registry:
        hook_name, required = KINDS[kind]
        items: dict[str, Registered] = {}
        caller = getattr(self.pm.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # registration order
            register = _make_register(kind, required, impl.plugin_name, items)
            kwargs = {"register": register} if "register" in impl.argnames else {}
            try:
                returned = impl.function(**kwargs)
            except UserError:
                raise
            except Exception as exc:  # noqa: BLE001 - report which plugin broke
                raise PluginError(
                    f"plugin {impl.plugin_name!r} raised {type(exc).__name__} in {hook_name}: {exc}; fix "
                    f"the plugin or disable it with EVALKIT_DISABLE_PLUGINS={impl.plugin_name}"
                ) from exc
            if returned is not None:
                raise PluginError(
                    f"plugin {impl.plugin_name!r} returned a value from {hook_name}; it must call "
                    "register(obj) for each object and return None"
                )
        return Registry(kind, items)

    def plugins_info(self) -> list[dict[str, Any]]:
        """Name, distribution, version, hooks and registrations of every loaded plugin."""
        self.load()
        regs = {kind: self.registry(kind) for kind in KINDS}
        out = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            dist, version = self._distinfo.get(name, ("evalkit", evalkit.__version__))
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            registered = {
                kind: [n for n in reg.names() if reg.plugin_of(n) == name] for kind, reg in regs.items()
            }
            out.append(
                {
                    "name": name,
                    "distribution": dist,
                    "version": version,
                    "hooks": hooks,
                    "registered": {k: v for k, v in registered.items() if v},
                }
            )
        return sorted(out, key=lambda p: p["name"])

    def plugin_version(self, plugin_name: str) -> str:
        return self._distinfo.get(plugin_name, ("evalkit", evalkit.__version__))[1]


def _make_register(kind: str, required: type, plugin_name: str, items: dict[str, Registered]) -> Callable:
    def register(obj: Any) -> None:
        if not isinstance(obj, required):
            raise PluginError(
                f"plugin {plugin_name!r} registered {obj!r} as one of its {kind}, but it must be an "
                f"instance of evalkit.api.{required.__name__}"
            )
        name = getattr(obj, "name", "")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise PluginError(
                f"plugin {plugin_name!r} registered a {kind[:-1]} with invalid name {name!r}; names are "
                "lowercase letters, digits, '_', '.' and '-'"
            )
        if name in items:
            raise PluginError(
                f"{kind[:-1]} {name!r} is registered by both plugin {items[name].plugin!r} and plugin "
                f"{plugin_name!r}; uninstall or disable one of them (EVALKIT_DISABLE_PLUGINS=...)"
            )
        items[name] = Registered(obj, plugin_name)

    return register


def _check_api_version(name: str, plugin: Any) -> None:
    required = getattr(plugin, "EVALKIT_PLUGIN_API", None)
    if required is None:
        return
    if isinstance(required, str) and required.strip().isdigit():
        required = int(required)
    if isinstance(required, bool) or not isinstance(required, int) or required < 1:
        raise PluginError(
            f"plugin {name!r} sets EVALKIT_PLUGIN_API={required!r}; it must be the int API version it "
            f"needs (this evalkit provides {evalkit.__plugin_api_version__})"
        )
    if required > evalkit.__plugin_api_version__:
        raise PluginError(
            f"plugin {name!r} requires evalkit plugin API {required}, but this evalkit "
            f"{evalkit.__version__} provides {evalkit.__plugin_api_version__}; upgrade evalkit"
        )


def _check_hooks_marked(name: str, plugin: Any) -> None:
    """A hook implementation without @hookimpl would be silently ignored by pluggy."""
    for attr in dir(plugin):
        if hasattr(hookspecs, attr) and attr.startswith("evalkit_") and callable(getattr(plugin, attr, None)):
            if not hasattr(getattr(plugin, attr), "evalkit_impl"):
                raise PluginError(
                    f"plugin {name!r} defines {attr}() without @hookimpl, so evalkit would never call it; "
                    f"decorate it with @evalkit.hookimpl (or disable the plugin: EVALKIT_DISABLE_PLUGINS={name})"
                )


def _env_list(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None if var == "EVALKIT_PLUGINS" else set()
    return {v.strip() for v in value.split(",") if v.strip()}


def _env_flag(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in {"1", "true", "yes"}


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host (created on first use)."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def reset_host() -> None:
    """Forget the plugin host so the next use reloads plugins (tests)."""
    global _HOST
    _HOST = None
