"""The accelerator benchmark (evalkit alone, no PyTorch) runs end to end in its quick form on CPU, so a
session that is lent a GPU or TPU can run it in one call."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "accelerator.py"


@pytest.mark.slow
def test_accelerator_benchmark_quick_run_reports_every_engine():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["device"] and result["params"] > 0 and result["dtype"] == "float32"
    setup = json.loads(proc.stdout.strip().splitlines()[0])["setup"]
    assert "host_mmap_threshold" in setup  # what keep_freed_host_memory applied (as the CLI does)
    assert result["scoring"]["tokens_per_s"] > 0 and result["generation"]["new_tokens_per_s"] > 0
    assert result["training"]["tokens_per_s"] > 0 and result["training"]["steps"] == 3
    assert result["scoring"]["mfu"] is None and result["matmul_params"] < result["params"]  # CPU: no peak
    assert "import torch" not in SCRIPT.read_text()
