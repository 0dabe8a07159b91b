"""Host allocator tuning: keep freed memory for reuse instead of unmapping it after every XLA call.

XLA on CPU mallocs each call's scratch buffers and frees them when the call returns. glibc serves
blocks above its mmap threshold (128 KiB at first, rising to at most 32 MiB) with a fresh `mmap` and
unmaps them on free, so every call faults all those pages back in, zero-filled by the kernel. For a
small model that is a large share of a step (quickstart probe training: ~26 -> ~19 ms per step).
Raising glibc's mmap and trim thresholds makes freed blocks stay in the heap for the next call.
(glibc still unmaps a worker thread's 64 MiB heap once it is wholly free; docs/runtime.md.)
"""

from __future__ import annotations

import ctypes
import os
import platform

KEEP_LIMIT = 1 << 30  # main-thread blocks up to 1 GiB stay in the heap (other threads' heaps: < 64 MiB)
OPT_OUT_ENV = "EVALKIT_KEEP_HOST_MEMORY"  # 0 / false / no / off leaves the allocator alone
_OFF = ("0", "false", "no", "off")
_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
_OLD_GLIBC_MAX = 32 << 20  # older glibc versions refuse mmap thresholds above HEAP_MAX_SIZE / 2
_OTHER_ALLOCATORS = ("jemalloc", "tcmalloc", "mimalloc")


def _left_alone() -> bool:
    """Opted out, or the environment already chose the allocator or its thresholds (the user wins)."""
    if os.environ.get(OPT_OUT_ENV, "1").strip().lower() in _OFF:
        return True
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return True
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.mmap_threshold" in tunables or "glibc.malloc.trim_threshold" in tunables:
        return True
    return any(name in os.environ.get("LD_PRELOAD", "") for name in _OTHER_ALLOCATORS)


def keep_freed_host_memory(limit: int = KEEP_LIMIT) -> int:
    """Raises glibc's mmap and trim thresholds to `limit` bytes; returns the mmap threshold set (0: none).

    Does nothing (0) off Linux/glibc, with ``EVALKIT_KEEP_HOST_MEMORY=0``, when the environment sets the
    thresholds itself or preloads another allocator. Process-wide and idempotent: the `evalkit` command
    calls it; library users may call it once at start-up. Freed blocks then stay mapped, so the resident
    set size does not shrink after a large step.
    """
    if limit <= 0:
        raise ValueError(f"limit={limit} must be a positive number of bytes")
    if _left_alone() or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return 0
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return 0
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    size = min(int(limit), 2**31 - 1)
    for threshold in (size, min(size, _OLD_GLIBC_MAX)):
        if mallopt(_M_MMAP_THRESHOLD, threshold):
            mallopt(_M_TRIM_THRESHOLD, threshold)
            return threshold
    return 0
