"""Shared fixtures for evalkit's own tests."""

from pathlib import Path

import pytest

from evalkit.runtime.host_memory import keep_freed_host_memory

pytest_plugins = ["evalkit.testing"]

keep_freed_host_memory()  # as the CLI does, for the whole session (plugins' tests included)

TEST_PLUGINS = Path(__file__).parent / "plugins"


@pytest.fixture(autouse=True)
def _fresh_shared_executables():
    """Each test compiles what it uses, so compile counts do not depend on which tests ran before."""
    from evalkit.runtime.stats import clear_shared_executables

    clear_shared_executables()


@pytest.fixture(scope="session")
def installed_plugins(tmp_path_factory) -> dict[str, Path]:
    """Really install each test plugin under tests/plugins into its own directory (pip --target)."""
    from evalkit.testing import install_plugin

    root = tmp_path_factory.mktemp("site")
    return {d.name: install_plugin(d, root / d.name) for d in sorted(TEST_PLUGINS.iterdir()) if d.is_dir()}
