"""Per-item log-likelihoods are identical on 1 device, an 8-device data mesh, a 4x2 data x tensor mesh, an
Explicit-axes 2x2x2 data x fsdp x tensor mesh, and 2 processes x 4 devices (jax.distributed on localhost,
rows fed per process, results all-gathered). The reference scores every request alone; the meshes and
processes share the contexts of multiple-choice requests (runtime.batch.share_prefixes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.testing_multiprocess import run_processes

# Shared by the in-process reference and the subprocesses: a tiny model, mixed requests, small batches.
COMMON = """
import json
import numpy as np
from evalkit.api.requests import Loglikelihood
from evalkit.config import runtime_defaults
from evalkit.runtime.handle import flax_model_config, load_flax_model


def score(mesh_shape, distributed=None, axis_types="auto", share=True):
    cfg = flax_model_config()
    cfg.update(dict(vocab_size=300, d_model=32, d_ff=64, num_layers=2, num_heads=4, num_kv_heads=2, max_len=64))
    rt = runtime_defaults()
    rt.mesh.shape.update(mesh_shape)
    rt.mesh.axis_types = axis_types
    rt.batch.max_tokens, rt.batch.num_buckets, rt.batch.share_prefixes = 512, 1, share
    if distributed:
        rt.distributed.update(distributed)
    handle = load_flax_model(cfg, rt)
    rng = np.random.default_rng(0)
    requests = []
    for _ in range(30):  # lengths 2..69: some packed several to a row, some left-truncated
        ids = rng.integers(0, 256, int(rng.integers(3, 70))).tolist()
        cut = int(rng.integers(1, 6))
        requests.append(Loglikelihood(tuple(ids[:-cut]), tuple(ids[-cut:])))
    for _ in range(8):  # multiple choice: 4 choices share a context (some contexts left-truncated)
        context = tuple(rng.integers(0, 256, int(rng.integers(1, 66))).tolist())
        requests += [Loglikelihood(context, tuple(rng.integers(0, 256, int(rng.integers(1, 6))).tolist()))
                     for _ in range(4)]
    requests.append(Loglikelihood("The capital of France is", " Paris"))
    requests.append(Loglikelihood("The capital of France is", " Lyon"))
    ll = handle.loglikelihood(requests)
    return {
        "logprob": [r.logprob for r in ll], "greedy": [r.is_greedy for r in ll],
        "truncated": [r.truncated for r in ll],
        "devices": handle.stats()["devices"], "processes": handle.stats()["processes"],
        "fed": handle.stats()["real_tokens"],
    }
"""

MESHES = {"data8": {"data": 8, "fsdp": 1, "tensor": 1}, "data4_tensor2": {"data": 4, "fsdp": 1, "tensor": 2}}

EIGHT_DEVICES = (
    COMMON
    + f"""
import jax
out = {{name: score(shape) for name, shape in {MESHES!r}.items()}}
out["explicit_2x2x2"] = score({{"data": 2, "fsdp": 2, "tensor": 2}}, axis_types="explicit")
print(json.dumps(out))
"""
)

TWO_PROCESSES = (
    COMMON
    + """
import os
dist = {"enabled": True, "coordinator_address": os.environ["EVALKIT_COORDINATOR"],
        "num_processes": int(os.environ["EVALKIT_NUM_PROCESSES"]), "process_id": int(os.environ["EVALKIT_PROCESS_ID"])}
print(json.dumps(score({"data": 4, "fsdp": 1, "tensor": 2}, dist)))
"""
)

ROOT = Path(__file__).resolve().parents[2]


def assert_same(got, want, label):
    assert got["greedy"] == want["greedy"] and got["truncated"] == want["truncated"], label
    for a, b in zip(got["logprob"], want["logprob"], strict=True):
        assert abs(a - b) <= 1e-5 + 1e-6 * abs(b), (label, a, b)


@pytest.fixture(scope="module")
def eight_devices():
    """The 8-device subprocess, started first so it compiles while this process builds the reference."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", EIGHT_DEVICES],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module")
def reference(eight_devices):
    namespace: dict = {}
    exec(COMMON, namespace)  # noqa: S102 - the shared test script
    one_device = {"data": -1, "fsdp": 1, "tensor": 1}  # pytest's own device (one, on CPU)
    alone, shared = namespace["score"](one_device, share=False), namespace["score"](one_device)
    assert shared["fed"] < alone["fed"]
    assert_same(shared, alone, "shared prefixes on one device")
    return alone


def test_single_process_meshes_match_one_device(eight_devices, reference):
    stdout, stderr = eight_devices.communicate(timeout=300)
    assert eight_devices.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    for name in (*MESHES, "explicit_2x2x2"):
        assert out[name]["devices"] == 8
        assert_same(out[name], reference, name)


@pytest.mark.multiprocess
def test_two_processes_match_one_device(reference):
    outputs = run_processes(TWO_PROCESSES, n=2, devices_per_process=4, timeout=300, init=False)
    for i, text in enumerate(outputs):
        out = json.loads(text.strip().splitlines()[-1])
        assert (out["devices"], out["processes"]) == (8, 2)
        assert_same(out, reference, f"process {i}")
