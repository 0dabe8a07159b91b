"""Training small probe transformers on a task's online documents: resumable, data parallel, reusable."""

from evalkit.train.config import probe_config, train_config, validate_train_config
from evalkit.train.data import make_batch
from evalkit.train.probes import load_probe, probe_workdir, train_probe
from evalkit.train.trainer import TrainResult, load_trained, run_hash, train

__all__ = [
    "TrainResult",
    "load_probe",
    "load_trained",
    "make_batch",
    "probe_config",
    "probe_workdir",
    "run_hash",
    "train",
    "train_config",
    "train_probe",
    "validate_train_config",
]
