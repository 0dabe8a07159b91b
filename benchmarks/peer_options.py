"""Options shared by the peer benchmarks (evalkit and PyTorch in one process)."""

from __future__ import annotations

import argparse

from evalkit.runtime.host_memory import keep_freed_host_memory


def add_keep_host_memory(parser: argparse.ArgumentParser) -> None:
    """`--keep-host-memory`: the `evalkit` command's allocator setting, off by default here because in one
    process it applies to both engines (docs/runtime.md)."""
    parser.add_argument(
        "--keep-host-memory",
        action="store_true",
        help="apply the evalkit CLI's allocator setting (docs/runtime.md) to this process: both sides",
    )


def apply_keep_host_memory(args: argparse.Namespace) -> int:
    """Applies the setting when asked; returns the mmap threshold set (0: none), for the JSON result."""
    return keep_freed_host_memory() if args.keep_host_memory else 0
