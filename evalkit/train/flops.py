"""Training FLOPs and model FLOPs utilisation (MFU) against a small table of accelerator peaks."""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import nnx

from evalkit.models.sharded import param_count

#: Dense bf16 peak FLOP/s per chip, matched by substring of `device.device_kind` (first match wins).
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100", 989e12),
    ("GH200", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10G", 125e12),
    ("V100", 125e12),
    ("TPU v6", 918e12),
    ("TPU v5p", 459e12),
    ("TPU v5", 197e12),  # v5e ("TPU v5 lite")
    ("TPU v4", 275e12),
    ("TPU v3", 123e12),
)


def peak_flops(device: jax.Device) -> float | None:
    """Peak bf16 FLOP/s of one device, or None for CPUs and unknown chips."""
    if device.platform == "cpu":
        return None
    kind = device.device_kind
    return next((peak for name, peak in PEAK_FLOPS if name.lower() in kind.lower()), None)


def matmul_params(model: nnx.Module) -> int:
    """Parameters that take part in a matmul per token: all but lookup tables (the input embedding when
    the LM head is separate, learned position embeddings). The N of the 2N / 6N FLOP estimates."""
    lookups = param_count(model.pos_embed)  # a table for learned positions, nothing for the others
    if not model.config.tied_embeddings:  # tied: the table is also the LM head's matmul
        lookups += param_count(model.embed)
    return param_count(model) - lookups


def training_flops_per_token(params: int) -> float:
    """The usual 6·N estimate (forward 2N + backward 4N), attention scores left out."""
    return 6.0 * params


def mfu(params: int, tokens_per_s: float, devices: Sequence[jax.Device]) -> float | None:
    """Achieved training FLOP/s over the devices' summed peak; None when any peak is unknown."""
    peaks = [peak_flops(d) for d in devices]
    if not peaks or any(p is None for p in peaks):
        return None
    return training_flops_per_token(params) * tokens_per_s / sum(peaks)
