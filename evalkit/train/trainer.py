"""Train a transformer on a task's online documents: AdamW, data parallel, resumable, reusable when done.

A run lives in one work directory: `run.json` (what is being trained), `checkpoints/` (Orbax),
`history.jsonl` (logged losses and evals) and, once finished, `final.json` (the done marker). Batches
are a pure function of (seed, step), so a killed run resumed from its latest checkpoint reaches the same
parameters as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import jax
import ml_collections
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from tqdm.auto import tqdm

from evalkit.errors import UserError
from evalkit.models.config import transformer_config
from evalkit.models.sharded import abstract_model, param_count
from evalkit.results.atomic import write_json_atomic, write_text_atomic
from evalkit.results.schema import stable_hash
from evalkit.runtime.mesh import shard_batch
from evalkit.sharding import Rules, logical_to_mesh, use_mesh
from evalkit.train import checkpoints
from evalkit.train.config import check_fits, identity_view
from evalkit.train.data import BATCH_KEYS, DocumentFn, make_batch
from evalkit.train.flops import matmul_params, mfu
from evalkit.train.step import programs

EvalFn = Callable[[nnx.Module, int], Mapping[str, Any]]
FINAL_FILE = "final.json"
RUN_FILE = "run.json"
HISTORY_FILE = "history.jsonl"


@dataclasses.dataclass
class TrainResult:
    """A trained model, the step it reached, its logged history and measured throughput."""

    model: nnx.Module
    step: int
    history: list[dict[str, Any]]
    tokens_per_s: float
    reused: bool = False  # True when a finished run was loaded instead of trained
    final: dict[str, Any] | None = None  # the run's final.json record


# --- identity and files ------------------------------------------------------------------------------


def run_identity(
    model_cfg: ml_collections.ConfigDict,
    train_cfg: ml_collections.ConfigDict,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything that determines the trained parameters (logging/checkpoint cadence left out), as JSON."""
    ident = {"model": model_cfg.to_dict(), "train": identity_view(train_cfg), "extra": dict(extra or {})}
    return json.loads(json.dumps(ident, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, ml_collections.ConfigDict | ml_collections.FrozenConfigDict):
        return value.to_dict()
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return str(value)


def run_hash(
    model_cfg: ml_collections.ConfigDict,
    train_cfg: ml_collections.ConfigDict,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A short stable hash of :func:`run_identity`."""
    return stable_hash(run_identity(model_cfg, train_cfg, extra))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _claim_workdir(workdir: Path, identity: dict[str, Any], digest: str) -> None:
    """Records what `workdir` trains, or checks that an existing run there trains the same thing."""
    existing = _read_json(workdir / RUN_FILE)
    if existing is not None and existing.get("config_hash") != digest:
        raise UserError(
            f"work directory {workdir} holds a run with a different config (hash {existing.get('config_hash')}, "
            f"not {digest}); use another directory or delete it"
        )
    if existing is None and jax.process_index() == 0:
        write_json_atomic(workdir / RUN_FILE, {"config_hash": digest, **identity})


def _load_history(workdir: Path, upto: int) -> list[dict[str, Any]]:
    """Logged records up to step `upto`; later ones (from after the last checkpoint) are dropped."""
    path = workdir / HISTORY_FILE
    if not path.exists():
        return []
    records, dropped = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            dropped = True
            continue
        if 0 < upto and record.get("step", 0) <= upto:
            records.append(record)
        else:
            dropped = True
    if dropped and jax.process_index() == 0:
        write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in records))
    return records


# --- the loop ----------------------------------------------------------------------------------------


def _restore_final(
    workdir: Path, final: dict[str, Any], mesh: jax.sharding.Mesh, rules: Rules
) -> nnx.Module | None:
    cfg = transformer_config(**final["model_config"])
    graphdef, abstract = nnx.split(abstract_model(cfg, mesh, rules))
    manager = checkpoints.checkpoint_manager(
        workdir / "checkpoints", keep=max(1, final.get("keep_checkpoints", 1))
    )
    try:
        if final["steps"] not in manager.all_steps():
            return None
        params, _, _ = checkpoints.restore(manager, final["steps"], abstract)
    finally:
        manager.close()
    return nnx.merge(graphdef, params)


def load_trained(
    workdir: str | Path,
    mesh: jax.sharding.Mesh,
    rules: Rules,
    model_cfg: ml_collections.ConfigDict | None = None,
    train_cfg: ml_collections.ConfigDict | None = None,
    identity: Mapping[str, Any] | None = None,
) -> nnx.Module | None:
    """The final model of the finished run in `workdir`, or None when it has not finished.

    With `model_cfg` and `train_cfg` (and the run's `identity`), also None when the run there was
    trained with a different config.
    """
    final = _read_json(Path(workdir) / FINAL_FILE)
    if final is None:
        return None
    if model_cfg is not None and train_cfg is not None:
        if final.get("config_hash") != run_hash(model_cfg, train_cfg, identity):
            return None
    return _restore_final(Path(workdir), final, mesh, rules)


def train(
    model_cfg: ml_collections.ConfigDict,
    train_cfg: ml_collections.ConfigDict,
    document_fn: DocumentFn,
    workdir: str | Path,
    mesh: jax.sharding.Mesh,
    rules: Rules,
    eval_fn: EvalFn | None = None,
    progress: bool = True,
    *,
    identity: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Trains (or resumes, or reuses) the run in `workdir`; see the module docstring.

    `document_fn(rng) -> (token ids, loss mask)` draws one training document. `eval_fn(model, step)`
    returns a dict of JSON-able metrics; it runs at step 0 and every `eval_every` steps when that is set,
    and always at the end. The model it gets is only valid during the call (the next step donates its
    buffers). `identity` joins the run hash (e.g. the task and seed).
    """
    check_fits(model_cfg, train_cfg)
    workdir = Path(workdir)
    ident = run_identity(model_cfg, train_cfg, identity)
    digest = stable_hash(ident)
    final = _read_json(workdir / FINAL_FILE)
    if final is not None and final.get("config_hash") == digest:
        model = _restore_final(workdir, final, mesh, rules)
        if model is not None:
            history = _load_history(workdir, final["steps"])
            return TrainResult(
                model, final["steps"], history, final["tokens_per_s"], reused=True, final=final
            )
    _claim_workdir(workdir, ident, digest)
    return _Run(
        model_cfg, train_cfg, document_fn, workdir, mesh, rules, eval_fn, progress, digest, ident
    ).run()


class _Run:
    """One call's training loop (state kept on the instance to keep the loop readable)."""

    def __init__(
        self,
        model_cfg: ml_collections.ConfigDict,
        train_cfg: ml_collections.ConfigDict,
        document_fn: DocumentFn,
        workdir: Path,
        mesh: jax.sharding.Mesh,
        rules: Rules,
        eval_fn: EvalFn | None,
        progress: bool,
        digest: str,
        ident: dict[str, Any],
    ):
        self.model_cfg, self.cfg, self.document_fn = model_cfg, train_cfg, document_fn
        self.workdir, self.mesh, self.rules = workdir, mesh, rules
        self.eval_fn, self.progress, self.digest, self.ident = eval_fn, progress, digest, ident
        self.is_main = jax.process_index() == 0

    def _batch(self, step: int) -> dict[str, jax.Array]:
        cfg = self.cfg
        batch = make_batch(
            self.document_fn,
            step,
            cfg.seed,
            cfg.batch_size,
            cfg.context_len,
            cfg.packing,
            position_range=cfg.get("position_range", 0),
        )
        return {k: place_global(batch[k], self.mesh, self.rules) for k in BATCH_KEYS}

    def run(self) -> TrainResult:
        cfg = self.cfg
        progs = programs(self.model_cfg, cfg, self.mesh, self.rules)
        state = progs.init(cfg.seed)
        manager = checkpoints.checkpoint_manager(self.workdir / "checkpoints", cfg.keep_checkpoints)
        start, prior_wall = 0, 0.0
        latest = manager.latest_step()
        if latest is not None:
            _, _, meta = checkpoints.restore(manager, latest, state[0], state[1])  # fills `state` in place
            start, prior_wall = latest, float(meta.get("wall_s", 0.0))
            if self.progress and self.is_main:
                print(
                    f"evalkit: resuming training from the checkpoint at step {start} of {cfg.steps}",
                    file=sys.stderr,
                )
        history = _load_history(self.workdir, start)
        bar = tqdm(total=cfg.steps, initial=start, desc="train", disable=not (self.progress and self.is_main))
        clock = _Clock(prior_wall)
        window: list[dict[str, jax.Array]] = []
        last_eval = None
        log = (self.workdir / HISTORY_FILE).open("a", encoding="utf-8") if self.is_main else None
        try:
            with use_mesh(self.mesh, self.rules):
                if self.eval_fn is not None and cfg.eval_every and start == 0:  # the untrained baseline
                    with clock.paused():
                        record = {"step": 0, "eval": self._evaluate(progs.model(state), 0)}
                    self._log(record, history, log)
                for step in range(start, cfg.steps):
                    state, metrics = progs.step(state, self._batch(step))
                    done = step + 1
                    window.append(metrics)
                    bar.update(1)
                    clock.stepped(metrics)
                    record = {}
                    if done % cfg.log_every == 0 or done == cfg.steps:
                        record, window = self._summarise(window, done, clock.wall()), []
                        bar.set_postfix(loss=f"{record['loss']:.4f}")
                    if self.eval_fn is not None and (
                        done == cfg.steps or (cfg.eval_every and done % cfg.eval_every == 0)
                    ):
                        with clock.paused():
                            last_eval = self._evaluate(progs.model(state), done)
                        record = {**(record or {"step": done}), "eval": last_eval}
                    if record:
                        self._log(record, history, log)
                    if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                        with clock.paused():
                            meta = {"step": done, "wall_s": clock.wall()}
                            checkpoints.save(manager, done, state[0], state[1], meta)
            jax.block_until_ready(state)
            tokens_per_s = clock.steps_per_s() * cfg.batch_size * cfg.context_len
            manager.wait_until_finished()
        finally:
            bar.close()
            manager.close()
            if log is not None:
                log.close()
        model = progs.model(state)
        final = self._finish(model, history, last_eval, clock.wall(), tokens_per_s)
        return TrainResult(model, cfg.steps, history, tokens_per_s, reused=False, final=final)

    def _evaluate(self, model: nnx.Module, step: int) -> dict[str, Any]:
        return {k: _to_python(v) for k, v in dict(self.eval_fn(model, step)).items()}

    @staticmethod
    def _log(record: dict[str, Any], history: list[dict[str, Any]], log: TextIO | None) -> None:
        history.append(record)
        if log is not None:
            log.write(json.dumps(record) + "\n")
            log.flush()

    def _summarise(self, window: list[dict[str, jax.Array]], step: int, wall: float) -> dict[str, Any]:
        values = jax.device_get(window)
        return {
            "step": step,
            "loss": float(np.mean([v["loss"] for v in values])),
            "grad_norm": float(values[-1]["grad_norm"]),
            "lr": float(values[-1]["lr"]),
            "wall_s": round(wall, 3),
        }

    def _finish(
        self,
        model: nnx.Module,
        history: list[dict[str, Any]],
        last_eval: dict[str, Any] | None,
        wall: float,
        tokens_per_s: float,
    ) -> dict[str, Any]:
        last_loss = next((r["loss"] for r in reversed(history) if "loss" in r), math.nan)
        params = param_count(model)
        devices = list(self.mesh.devices.flat)
        flop_params = matmul_params(model)  # lookup tables are no FLOPs
        final = {
            "config_hash": self.digest,
            "model_config": self.ident["model"],
            "train_config": self.cfg.to_dict(),
            "identity": self.ident["extra"],
            "steps": self.cfg.steps,
            "final_loss": last_loss,
            "eval": last_eval,
            "wall_s": round(wall, 3),
            "tokens_per_s": round(tokens_per_s, 1),
            "params": params,
            "mfu": mfu(flop_params, tokens_per_s, devices),
            "device_kind": devices[0].device_kind,
            "num_devices": len(devices),
            "keep_checkpoints": self.cfg.keep_checkpoints,
        }
        if self.is_main:
            write_json_atomic(self.workdir / FINAL_FILE, final)
        return final


class _Clock:
    """Wall time of a run (across resumes) and step throughput without the compiling step or pauses."""

    def __init__(self, prior_wall: float):
        self.t0, self.prior = time.perf_counter(), prior_wall
        self.timed_from: float | None = None
        self.timed_steps, self.pause_s = 0, 0.0

    def wall(self) -> float:
        return time.perf_counter() - self.t0 + self.prior

    def stepped(self, metrics: Any) -> None:
        if self.timed_from is None:  # the first step of a call compiles: start timing after it
            jax.block_until_ready(metrics)
            self.timed_from = time.perf_counter()
        else:
            self.timed_steps += 1

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        tick = time.perf_counter()
        try:
            yield
        finally:
            if self.timed_from is not None:  # pauses before timing starts are not in the window anyway
                self.pause_s += time.perf_counter() - tick

    def steps_per_s(self) -> float:
        if self.timed_from is None or not self.timed_steps:
            return 0.0
        elapsed = time.perf_counter() - self.timed_from - self.pause_s
        return self.timed_steps / elapsed if elapsed > 0 else 0.0


def place_global(x: np.ndarray, mesh: jax.sharding.Mesh, rules: Rules) -> jax.Array:
    """Shards a [batch, length] array that every process holds in full (batches are pure functions of
    the step); each process transfers only the rows its devices own."""
    if jax.process_count() == 1:
        return shard_batch(x, mesh, rules)
    sharding = NamedSharding(mesh, logical_to_mesh(("batch", "length"), rules, mesh, x.shape))
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def _to_python(value: Any) -> Any:
    """JSON-able form of an eval value (arrays become floats or lists)."""
    if isinstance(value, jax.Array | np.ndarray | np.generic):
        value = np.asarray(value)
        return value.item() if value.ndim == 0 else value.tolist()
    return value
