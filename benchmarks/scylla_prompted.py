"""Scylla's prompted two-pass run on a tiny random Llama-style model imported from a Hugging Face folder.

Writes the folder (byte-level tokenizer, a chat template), runs `configs/scylla.py:tiny` on it with
ITEMS ID + ITEMS OOD items per task (20 tasks, first pass MAX_NEW tokens, second pass 16), and reports
items/s and generated tokens/s of the whole run with the compile and padding figures from results.json.
Random weights: the numbers measure the pipeline (chat rendering, two passes, parsing, scoring), not a
model's accuracy. The last line printed is one JSON object.

    python benchmarks/scylla_prompted.py [--items 8] [--max-new 64] [--d-model 64] [--layers 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_name

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8, help="ID and OOD items per task (each)")
    parser.add_argument("--max-new", type=int, default=64, help="first-pass max_new_tokens")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()

    from evalkit.testing import write_tiny_hf_llama

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_tiny_hf_llama(
            Path(tmp) / "hf", chat_template=TEMPLATE, hidden_size=args.d_model, num_layers=args.layers
        )
        out = Path(tmp) / "run"
        command = [
            sys.executable, "-m", "evalkit.cli", "run", str(ROOT / "configs" / "scylla.py") + ":tiny",
            f"--config.model.checkpoint={folder}", f"--config.output_dir={out}",
            f"--config.data_dir={Path(tmp) / 'data'}", "--config.runtime.progress=false",
            f"--config.tasks.scylla.num_id={args.items}", f"--config.tasks.scylla.num_ood={args.items}",
            f"--config.tasks.scylla.max_new_tokens={args.max_new}", "--config.reporters=()",
        ]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"evalkit run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        results = json.loads((out / "results.json").read_text())
    runtime = results["runtime"]
    items = sum(t["num_items"] for t in results["tasks"].values())
    report = {
        "benchmark": "scylla_prompted",
        "cpu": cpu_name(),
        "items": items,
        "passes": 2,
        "wall_s": round(wall, 1),
        "run_wall_s": runtime["wall_s"],
        "items_per_s": round(items / runtime["wall_s"], 2),
        "new_tokens": runtime.get("new_tokens"),
        "new_tokens_per_s_wall": round(runtime.get("new_tokens", 0) / runtime["wall_s"], 1),
        "new_tokens_per_device_s": runtime.get("new_tokens_per_s"),
        "compiles": runtime.get("compiles"),
        "compile_s": runtime.get("compile_s"),
        "padding_fraction": runtime.get("padding_fraction"),
        "model": {"d_model": args.d_model, "layers": args.layers, "max_new_tokens": [args.max_new, 16]},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
