"""Host allocator tuning: keep freed memory for reuse instead of unmapping it after every XLA call.

XLA on CPU mallocs each call's scratch buffers and frees them when the call returns. glibc serves
blocks above its mmap threshold (at most 32 MB, or 128 KB before any has been freed) with a fresh
`mmap` and unmaps them on free, so every call faults all those pages back in, zero-filled by the
kernel. For a small model that is a large share of a step (quickstart probe training: ~26 -> ~19 ms per
step). Raising glibc's mmap and trim thresholds makes freed blocks stay in the heap for the next call.
"""

from __future__ import annotations

import ctypes
import os
import platform

KEEP_LIMIT = 1 << 30  # blocks up to 1 GiB come from (and return to) the heap
OPT_OUT_ENV = "EVALKIT_KEEP_HOST_MEMORY"  # "0" leaves the allocator alone
_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_OLD_GLIBC_MAX = 32 << 20


def _user_tuned_malloc() -> bool:
    """Whether the environment already sets glibc malloc thresholds (the user's choice wins)."""
    if any(key.startswith("MALLOC_") and key.endswith("_THRESHOLD_") for key in os.environ):
        return True
    return "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", "")


def keep_freed_host_memory(limit: int = KEEP_LIMIT) -> bool:
    """Sets glibc's mmap and trim thresholds to `limit` bytes; returns whether it did.

    No-op (False) off Linux/glibc, when ``EVALKIT_KEEP_HOST_MEMORY=0``, or when the environment already
    sets malloc thresholds. Process-wide: the CLI calls it at start-up; library users may call it once.
    Freed memory up to `limit` then stays mapped (resident set size does not shrink after a large step).
    """
    if os.environ.get(OPT_OUT_ENV, "1") == "0" or _user_tuned_malloc():
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    size = min(int(limit), 2**31 - 1)
    if not mallopt(_M_TRIM_THRESHOLD, size):
        return False
    # Older glibc versions refuse mmap thresholds above HEAP_MAX_SIZE / 2 (32 MiB): settle for that.
    return bool(mallopt(_M_MMAP_THRESHOLD, size) or mallopt(_M_MMAP_THRESHOLD, min(size, _OLD_GLIBC_MAX)))
