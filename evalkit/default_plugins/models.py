"""Default model kinds: ``fake`` (deterministic, no jax), ``flax`` (the NNX runtime), ``probe`` (task-trained)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ml_collections import ConfigDict

from evalkit import hookimpl
from evalkit.api import ModelSpec, UserError
from evalkit.default_plugins.fake_model import fake_model_config, load_fake_model


class ProbeOnly:
    """The run's model when every task trains its own probe models: it answers no requests itself."""

    name = "probe"
    tokenizer = None

    def _refuse(self, requests: Sequence[Any]) -> list:
        raise UserError(
            "config.model.name is 'probe', but a task that does not train probe models sent it "
            "requests; set --config.model.name to a real model (see `evalkit list models`)"
        )

    loglikelihood = loglikelihood_rolling = generate = _refuse

    def stats(self) -> dict[str, Any]:
        return {}


def _load_probe(config: ConfigDict, runtime: ConfigDict) -> ProbeOnly:
    return ProbeOnly()


def _load_flax(config: ConfigDict, runtime: ConfigDict):
    from evalkit.runtime.handle import load_flax_model

    return load_flax_model(config, runtime)


def _flax_defaults() -> ConfigDict:
    from evalkit.runtime.handle import flax_model_config

    return flax_model_config()


def chat_template_identity(config: ConfigDict) -> dict[str, Any]:
    """The chat template a model renders chats with, as results record it (read from its folder)."""
    from evalkit.models.chat_template import model_chat_template, template_identity

    return {"chat_template": template_identity(model_chat_template(config))}


@hookimpl
def evalkit_register_models(register):
    register(
        ModelSpec(
            "fake",
            load_fake_model,
            fake_model_config,
            "deterministic fake model for tests and smoke runs (no jax)",
            runtime_keys=("delay_s",),
            identity=chat_template_identity,
        )
    )
    register(
        ModelSpec(
            "flax",
            _load_flax,
            _flax_defaults,
            "evalkit's Flax NNX transformer, sharded over the mesh (config, orbax or HF checkpoint)",
            identity=chat_template_identity,
        )
    )
    register(
        ModelSpec(
            "probe",
            _load_probe,
            ConfigDict,
            "no shared model: every task trains its own probe models (e.g. RASP-L)",
        )
    )
