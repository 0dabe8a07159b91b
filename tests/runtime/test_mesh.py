"""Mesh building, logical-axis rules, sharded model creation (8 fake devices in a subprocess)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import AxisType, PartitionSpec

from evalkit.models import tiny
from evalkit.runtime import (
    DEFAULT_RULES,
    abstract_model,
    create_model,
    logical_to_mesh,
    make_mesh,
    maybe_init_distributed,
    mesh_config,
    param_count,
    shard_activation,
    shard_batch,
)

SHARDED_CHECK = Path(__file__).with_name("sharded_forward_check.py")


def test_mesh_config_defaults_and_single_device_mesh():
    cfg = mesh_config()
    assert dict(cfg.shape) == {"data": -1, "fsdp": 1, "tensor": 1}
    assert cfg.axis_types == "auto" and cfg.distributed.enabled is False
    mesh = make_mesh(cfg)
    assert mesh.axis_names == ("data", "fsdp", "tensor")
    assert mesh.shape["data"] == jax.device_count()
    assert mesh.axis_types == (AxisType.Auto,) * 3
    cfg.axis_types = "explicit"
    assert make_mesh(cfg).axis_types == (AxisType.Explicit,) * 3


@pytest.mark.parametrize(
    ("shape", "axis_types", "match"),
    [
        ({"data": -1, "fsdp": 1, "tensor": 3}, "auto", "does not divide"),
        ({"data": 2 * jax.device_count(), "fsdp": 1, "tensor": 1}, "auto", "available"),
        ({"data": -1, "fsdp": -1, "tensor": 1}, "auto", "at most one -1"),
        ({"data": -1, "fsdp": 1}, "auto", "axis_order"),
        ({"data": -1, "fsdp": 1, "tensor": 1}, "manual", "axis_types"),
    ],
)
def test_make_mesh_errors(shape, axis_types, match):
    cfg = mesh_config()
    cfg.shape = shape
    cfg.axis_types = axis_types
    with pytest.raises(ValueError, match=match):
        make_mesh(cfg)


def test_logical_to_mesh():
    assert logical_to_mesh(("batch", "length", "embed"), DEFAULT_RULES) == PartitionSpec(
        ("data", "fsdp"), None, None
    )
    assert logical_to_mesh(("vocab", "embed"), DEFAULT_RULES) == PartitionSpec("tensor", "fsdp")
    mesh = jax.sharding.AbstractMesh((4, 1, 2), ("data", "fsdp", "tensor"), axis_types=(AxisType.Auto,) * 3)
    assert logical_to_mesh(("batch", None, "heads"), DEFAULT_RULES, mesh) == PartitionSpec(
        "data", None, "tensor"
    )
    # 259 is not divisible by the tensor axis: that dimension stays replicated.
    assert logical_to_mesh(("vocab", "embed"), DEFAULT_RULES, mesh, (259, 64)) == PartitionSpec(None, None)
    with pytest.raises(ValueError, match="'experts'"):
        logical_to_mesh(("experts",), DEFAULT_RULES)


def test_shard_activation_is_a_noop_without_mesh():
    x = jax.numpy.ones((2, 3))
    assert shard_activation(x, ("batch", "length")) is x


def test_create_model_abstract_model_and_shard_batch():
    mesh = make_mesh(mesh_config())
    model = create_model(tiny(num_layers=1), mesh, DEFAULT_RULES, seed=0)
    abstract = abstract_model(tiny(), mesh, DEFAULT_RULES)
    assert param_count(model) == 102_592
    assert param_count(abstract) == 139_584
    kernel = abstract.layers[0].attn.q.kernel.get_value()
    assert isinstance(kernel, jax.ShapeDtypeStruct) and kernel.sharding.mesh == mesh
    assert model.embed.embedding[...].sharding.mesh == mesh
    batch = shard_batch(np.zeros((jax.device_count(), 5), np.int32), mesh, DEFAULT_RULES)
    assert batch.shape == (jax.device_count(), 5) and batch.sharding.mesh == mesh


def test_maybe_init_distributed_disabled_is_noop():
    assert maybe_init_distributed(mesh_config()) is False


@pytest.mark.slow
def test_sharded_model_matches_single_device_on_8_fake_devices():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, str(SHARDED_CHECK)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for mode, result in results.items():
        assert "tensor" in result["q_spec"], (mode, result)
        assert result["num_devices"] == 8, (mode, result)
        assert result["full_vs_single_device"] < 1e-5, (mode, result)
        assert result["decode_vs_single_device"] < 1e-5, (mode, result)
        assert result["blocked_vs_single_device"] < 1e-5, (mode, result)
