"""keep_freed_host_memory: freed large blocks are reused instead of being faulted in again."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from evalkit.runtime import host_memory

glibc_only = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc malloc only"
)

# Mallocs, touches and frees a block twice before and twice after the call, on the main thread and on
# a worker thread (other glibc arena); prints the page faults of each second cycle (the first one may
# fault legitimately: the heap has to grow once).
_PROBE = """
import ctypes, json, resource, sys, threading
from evalkit.runtime.host_memory import keep_freed_host_memory
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)

def cycle(size):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

def twice(size, out, key):
    cycle(size)
    out[key] = cycle(size)

def on_worker(size, out, key):
    thread = threading.Thread(target=twice, args=(size, out, key))
    thread.start()
    thread.join()

out = {}
twice(64 << 20, out, "main_default")
on_worker(48 << 20, out, "worker_default")
out["threshold"] = keep_freed_host_memory()
twice(64 << 20, out, "main_kept")
on_worker(48 << 20, out, "worker_kept")
print(json.dumps(out))
"""


def _clean_env(**env: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    keep.pop(host_memory.OPT_OUT_ENV, None)
    keep.pop("LD_PRELOAD", None)
    return {**keep, **env}


def _probe(**env: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=_clean_env(**env), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc_only
def test_freed_blocks_are_reused_without_page_faults() -> None:
    result = _probe()
    page = os.sysconf("SC_PAGE_SIZE")
    assert result["threshold"] == host_memory.KEEP_LIMIT
    # glibc's defaults unmap a freed 64 MiB block (main thread) and 48 MiB block (worker): touching
    # them again faults every page; kept in the heap, (almost) none.
    assert result["main_default"] > (64 << 20) // page // 2
    assert result["worker_default"] > (48 << 20) // page // 2
    assert result["main_kept"] < (64 << 20) // page // 50
    assert result["worker_kept"] < (48 << 20) // page // 50


@glibc_only
@pytest.mark.parametrize(
    "env",
    [
        {"EVALKIT_KEEP_HOST_MEMORY": "0"},
        {"EVALKIT_KEEP_HOST_MEMORY": "off"},
        {"MALLOC_MMAP_THRESHOLD_": "1048576"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1048576"},
        {"LD_PRELOAD": "libjemalloc.so.2"},
    ],
)
def test_opt_out_and_user_settings_are_respected(env: dict[str, str]) -> None:
    script = "from evalkit.runtime.host_memory import keep_freed_host_memory as k; print(k())"
    if "LD_PRELOAD" in env:  # the library need not exist: only the variable is read
        script = f"import os; os.environ['LD_PRELOAD'] = {env['LD_PRELOAD']!r}; " + script
        env = {}
    out = subprocess.run(
        [sys.executable, "-c", script], env=_clean_env(**env), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0"


def test_no_op_without_glibc_and_bad_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (host_memory.OPT_OUT_ENV, "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "LD_PRELOAD"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setattr(host_memory.platform, "libc_ver", lambda: ("", ""))
    assert host_memory.keep_freed_host_memory() == 0
    with pytest.raises(ValueError, match="positive"):
        host_memory.keep_freed_host_memory(0)


def test_the_cli_applies_it_before_running_a_command(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from evalkit import cli

    calls: list[int] = []
    monkeypatch.setattr(host_memory, "keep_freed_host_memory", lambda: calls.append(1) or 0)
    with pytest.raises(SystemExit):
        cli.main(["--help"])  # parsing alone leaves the allocator alone
    assert calls == []
    assert cli.main(["list", "tasks"]) == 0
    assert calls == [1]
    capsys.readouterr()
