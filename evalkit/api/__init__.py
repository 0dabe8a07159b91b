"""The public API for plugin authors: everything a plugin imports comes from here or ``evalkit``."""

from evalkit.api.extensions import Metric, Reporter
from evalkit.api.model import ModelHandle, ModelSpec, Tokenizer
from evalkit.api.requests import (
    REQUEST_KINDS,
    Chat,
    Generate,
    Generation,
    Loglikelihood,
    LoglikelihoodResult,
    LoglikelihoodRolling,
    Request,
    Response,
    RollingResult,
)
from evalkit.api.suite import Suite
from evalkit.api.task import Example, Record, Task
from evalkit.api.textfiles import json_document, jsonl_records, text_lines
from evalkit.errors import PluginError, UserError

__all__ = [
    "REQUEST_KINDS",
    "Chat",
    "Example",
    "Generate",
    "Generation",
    "Loglikelihood",
    "LoglikelihoodResult",
    "LoglikelihoodRolling",
    "Metric",
    "ModelHandle",
    "ModelSpec",
    "PluginError",
    "Record",
    "Reporter",
    "Request",
    "Response",
    "RollingResult",
    "Suite",
    "Task",
    "Tokenizer",
    "UserError",
    "json_document",
    "jsonl_records",
    "text_lines",
]
