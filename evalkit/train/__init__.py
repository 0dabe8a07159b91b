"""Training small probe transformers on a task's online documents: resumable, data parallel, reusable."""

from evalkit.lazy import lazy_exports

# Lazy exports: importing this package (or its jax-free `config` module, as plugins' default configs do)
# does not import jax until a name that needs it is used.
_EXPORTS = {
    "TrainResult": "evalkit.train.trainer",
    "load_probe": "evalkit.train.probes",
    "load_trained": "evalkit.train.trainer",
    "make_batch": "evalkit.train.data",
    "probe_config": "evalkit.train.config",
    "probe_workdir": "evalkit.train.probes",
    "run_hash": "evalkit.train.trainer",
    "train": "evalkit.train.trainer",
    "train_config": "evalkit.train.config",
    "train_probe": "evalkit.train.probes",
    "validate_train_config": "evalkit.train.config",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
