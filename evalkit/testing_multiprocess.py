"""Run one Python script as N cooperating JAX processes on this machine, each with simulated CPU devices.

For multi-host tests: every process gets ``XLA_FLAGS=--xla_force_host_platform_device_count=D`` and,
unless ``init=False``, runs ``jax.distributed.initialize("127.0.0.1:<free port>", num_processes=N,
process_id=i)`` before the script body. The coordinator address, process count and id are also in the
environment (``EVALKIT_COORDINATOR``, ``EVALKIT_NUM_PROCESSES``, ``EVALKIT_PROCESS_ID``) for scripts
that start JAX themselves (e.g. through ``runtime.distributed``).

    outputs = run_processes(SCRIPT, n=2, devices_per_process=4, timeout=120)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_PRELUDE = """\
import os
import jax
jax.distributed.initialize(
    os.environ["EVALKIT_COORDINATOR"],
    num_processes=int(os.environ["EVALKIT_NUM_PROCESSES"]),
    process_id=int(os.environ["EVALKIT_PROCESS_ID"]),
)
"""


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_processes(
    script: str,
    n: int,
    devices_per_process: int,
    timeout: float = 120.0,
    init: bool = True,
    env: dict[str, str] | None = None,
) -> list[str]:
    """Run ``script`` in ``n`` processes; return each one's stdout (by process id).

    Raises RuntimeError with every process's exit status and stderr tail if any fails or the group
    outlives ``timeout`` seconds (all are killed then).
    """
    port = free_port()
    root = str(Path(__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="evalkit-mp-") as tmp:
        path = Path(tmp) / "script.py"
        path.write_text((_PRELUDE if init else "") + script, encoding="utf-8")
        procs, logs = [], []
        for i in range(n):
            proc_env = {
                **os.environ,
                **(env or {}),
                "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process}",
                "JAX_PLATFORMS": "cpu",
                "EVALKIT_COORDINATOR": f"127.0.0.1:{port}",
                "EVALKIT_NUM_PROCESSES": str(n),
                "EVALKIT_PROCESS_ID": str(i),
                "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH", "")])),
            }
            out, err = (open(Path(tmp) / f"{i}.{kind}", "w+", encoding="utf-8") for kind in ("out", "err"))
            logs.append((out, err))
            procs.append(subprocess.Popen([sys.executable, str(path)], stdout=out, stderr=err, env=proc_env))
        deadline = time.monotonic() + timeout
        timed_out = False
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
                break
        if timed_out:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        outputs, errors = [], []
        for i, (proc, (out, err)) in enumerate(zip(procs, logs)):
            out.seek(0)
            err.seek(0)
            outputs.append(out.read())
            errors.append(f"--- process {i} exit {proc.returncode}:\n{err.read()[-3000:]}")
            out.close()
            err.close()
        if timed_out or any(p.returncode for p in procs):
            why = f"timed out after {timeout:.0f}s" if timed_out else "failed"
            raise RuntimeError(f"{n} processes {why}\n" + "\n".join(errors))
        return outputs
