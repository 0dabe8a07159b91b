"""Default model kinds: the deterministic ``fake`` model (and the Flax runtime once installed)."""

from evalkit import hookimpl
from evalkit.api import ModelSpec
from evalkit.default_plugins.fake_model import fake_model_config, load_fake_model


@hookimpl
def evalkit_register_models(register):
    register(ModelSpec("fake", load_fake_model, fake_model_config,
                       "deterministic fake model for tests and smoke runs (no jax)",
                       runtime_keys=("delay_s",)))
