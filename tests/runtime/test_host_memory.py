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

# Mallocs, touches and frees a 64 MiB block twice, before and after the call; prints the page faults
# of each second cycle (the first one may fault legitimately: the heap has to grow once).
_PROBE = """
import ctypes, json, resource, sys
from evalkit.runtime.host_memory import keep_freed_host_memory
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
size = 64 << 20

def cycle():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

cycle()
default = cycle()
applied = keep_freed_host_memory()
cycle()
print(json.dumps({"applied": applied, "default": default, "kept": cycle()}))
"""


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    clean.pop(host_memory.OPT_OUT_ENV, None)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc_only
def test_freed_blocks_are_reused_without_page_faults() -> None:
    result = _probe()
    pages = (64 << 20) // os.sysconf("SC_PAGE_SIZE")
    assert result["applied"] is True
    assert result["default"] > pages // 2  # glibc unmaps a freed 64 MiB block: touching it again faults
    assert result["kept"] < pages // 50  # kept in the heap: (almost) no new faults


@glibc_only
def test_opt_out_and_user_settings_are_respected() -> None:
    assert _probe(EVALKIT_KEEP_HOST_MEMORY="0")["applied"] is False
    assert _probe(MALLOC_MMAP_THRESHOLD_="1048576")["applied"] is False
    assert _probe(GLIBC_TUNABLES="glibc.malloc.trim_threshold=1048576")["applied"] is False


def test_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(host_memory.OPT_OUT_ENV, raising=False)
    monkeypatch.setattr(host_memory.platform, "libc_ver", lambda: ("", ""))
    assert host_memory.keep_freed_host_memory() is False
