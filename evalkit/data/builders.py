"""Turn a task's examples into a TFDS array_record dataset and read it back (no TensorFlow).

Procedural tasks yield examples from a seed (``Task.generate``); file-based tasks read a manual directory
(``Task.read_manual``). Either way the host builds a TFDS ``GeneratorBasedBuilder`` named
``<plugin>__<task>`` whose builder config is the hash of the task config, so each configuration is built
once and cached under ``data_dir``. Examples are stored as JSON text beside their id.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from evalkit.api import Example, Task
from evalkit.errors import PluginError, UserError
from evalkit.results.store import natural_id_key

SPLIT = "test"


def _tfds():
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    return tfds


def _semver(version: str) -> str:
    parts = str(version).split(".")
    if not all(p.isdigit() for p in parts) or len(parts) > 3:
        raise PluginError(f"task version {version!r} must be numeric like '1' or '1.2.0'")
    return ".".join(parts + ["0"] * (3 - len(parts)))


class EmptyDataset(Exception):
    """A task's data source yielded no examples."""


def make_builder_class(
    name: str, version: str, examples: Callable[[], Iterable[Example]], description: str = ""
):
    """A TFDS builder class (not globally registered) whose single split holds ``examples()``."""
    tfds = _tfds()

    class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version(_semver(version))

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                description=description,
                features=tfds.features.FeaturesDict(
                    {"id": tfds.features.Text(), "json": tfds.features.Text()}
                ),
            )

        def _split_generators(self, dl_manager):
            return {SPLIT: self._generate_examples()}

        def _generate_examples(self):
            seen = set()
            for ex in examples():
                item_id = ex.get("id") if isinstance(ex, dict) else None
                if not isinstance(item_id, str) or not item_id:
                    raise PluginError(
                        f"task data for {name!r} yielded an example without a string 'id': {ex!r:.200}"
                    )
                if item_id in seen:
                    raise PluginError(
                        f"task data for {name!r} yielded the id {item_id!r} twice; ids must be unique"
                    )
                seen.add(item_id)
                yield item_id, {"id": item_id, "json": json.dumps(ex, ensure_ascii=False, sort_keys=True)}
            if not seen:
                raise EmptyDataset(name)

    Builder.name = name
    return Builder


def dataset_name(plugin: str, task: str) -> str:
    """The TFDS dataset name of a plugin's task: both lower-cased, other characters as ``_``, joined by ``__``."""
    clean = lambda s: re.sub(r"[^a-z0-9_]", "_", s.lower())  # noqa: E731
    return f"{clean(plugin)}__{clean(task)}"


def load_examples(task: Task, config, data_dir: str, plugin: str, data_hash: str) -> list[Example]:
    """Build (once) and read the task's evaluation examples, ordered by id."""
    tfds = _tfds()
    if task.needs_manual_dir:
        manual_dir = Path(str(config.get("manual_dir", "") or "")).expanduser()
        if not str(config.get("manual_dir", "")) or not manual_dir.is_dir() or not any(manual_dir.iterdir()):
            extra = f" ({task.manual_instructions})" if task.manual_instructions else ""
            raise UserError(
                f"task {task.name!r} needs its data files in a directory, but manual_dir "
                f"{str(manual_dir)!r} is missing or empty; set --config.tasks.{task.name}.manual_dir=PATH{extra}"
            )
        source = lambda: task.read_manual(config, str(manual_dir))  # noqa: E731
    else:
        source = lambda: task.generate(config)  # noqa: E731
    name = dataset_name(plugin, task.name)
    builder_cls = make_builder_class(name, task.version, source, task.description)
    root = Path(data_dir).expanduser()
    try:
        # One builder at a time per dataset config: parallel runs (or processes) sharing data_dir wait
        # for the first to finish building instead of racing on TFDS's temporary folders.
        with _exclusive(root / f".{name}-{data_hash}.lock"), contextlib.redirect_stdout(io.StringIO()):
            builder = builder_cls(
                config=tfds.core.BuilderConfig(name=data_hash), data_dir=str(root), file_format="array_record"
            )
            builder.download_and_prepare()  # TFDS prints "Downloading and preparing ..." (silenced)
    except (UserError, PluginError):
        raise
    except EmptyDataset:
        examples = []
    except (FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError) as exc:
        raise UserError(
            f"task {task.name!r} could not read its data ({exc}); check its manual_dir and data_dir"
        ) from exc
    else:
        source_ds = builder.as_data_source(split=SPLIT)
        examples = [json.loads(_text(source_ds[i]["json"])) for i in range(len(source_ds))]
    if not examples:
        raise UserError(
            f"task {task.name!r} produced no examples with this config; check its settings under "
            f"tasks.{task.name} (e.g. lengths, sizes, manual_dir)"
        )
    return sorted(examples, key=lambda ex: natural_id_key(ex["id"]))


@contextlib.contextmanager
def _exclusive(lock_path: Path):
    """An exclusive advisory lock on ``lock_path`` (created with its folder) for the block; no lock where
    the platform has no ``fcntl``, the folder is read-only or the filesystem refuses locks."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a")  # noqa: SIM115 - closed below
    except OSError:  # read-only data_dir (datasets prepared elsewhere): nothing to build, no lock
        yield
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:  # e.g. NFS without lock support: build unlocked, as before
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
