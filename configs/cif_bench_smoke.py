"""CIF-Bench smoke run: 2 items of every task (149) on a tiny random byte-level model, within a minute or two
on 2 CPU cores (docs/benchmarks.md); writes the per-task, per-class and per-category tables, the per-category
plot and the HTML report. The same as `configs/cif_bench.py:smoke`.

    evalkit run configs/cif_bench_smoke.py
"""

import importlib.util
from pathlib import Path


def get_config(arg: str | None = None):
    if arg:
        raise ValueError(f"configs/cif_bench_smoke.py takes no argument, got {arg!r}")
    spec = importlib.util.spec_from_file_location(
        "cif_bench_config", Path(__file__).with_name("cif_bench.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config("smoke")
