"""The ``cross_dative`` task: every exposure sentence taught to every learner, scored on the other construction.

An item is one (learner, exposure). Its record holds, per learning rate, the protocol's figures (validation
curve, best step, losses) and the mean log-prob of the DO and of the PO generalization sentences at the initial,
final and best states; its scores are those of the LR with the best validation score (the paper's per-exposure
LR choice): ``cdg`` (best-state log-prob of the alternate construction), ``cdg_gain`` (best − initial),
``modeled`` and ``modeled_gain`` (the exposure's own construction). Learners are checkpoint or Hugging Face
folders (``learners``), or the run's own Flax model; all of them are loaded and checked before any simulation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from evalkit.api import Example, ModelHandle, Record, Task, UserError
from evalkit_cross_dative import files
from evalkit_cross_dative.learners import Learner, check_lengths, learner_names, make_learner

DIRECTION = {"do": "do→pp", "pp": "pp→do"}
ALTERNATE = {"do": "pp", "pp": "do"}
STIMULI = ("release", "generated")


def select_run(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The LR run an exposure is scored with: the best validation score, ties to the larger LR."""
    return max(runs, key=lambda r: (r["val_performance"], r["lr"]))


def exposure_scores(dative: str, run: dict[str, Any]) -> dict[str, float]:
    """CDG (alternate construction) and modeled (same construction) scores of one run."""
    lp, alt = run["logprob"], ALTERNATE[dative]
    return {
        "cdg": lp["best"][alt],
        "cdg_gain": lp["best"][alt] - lp["initial"][alt],
        "modeled": lp["best"][dative],
        "modeled_gain": lp["best"][dative] - lp["initial"][dative],
        "val_performance": run["val_performance"],
        "best_epoch": float(run["best_epoch"]),
        "lr": run["lr"],
    }


class CrossDativeTask(Task):
    name = "cross_dative"
    version = "1"
    description = (
        "Cross-dative generalization (Misra & Kim 2024): a novel verb learned from one DO or PO exposure sentence, "
        "its use measured in the other construction"
    )
    needs_manual_dir = True
    manual_instructions = f"the directory holding {files.SOURCE}"
    metrics = {"lr": "mean", "best_epoch": "mean"}

    def default_config(self) -> ConfigDict:
        cfg = ConfigDict()
        cfg.manual_dir = files.default_data_dir()
        cfg.learners = ()  # checkpoint / Hugging Face folders; empty: the run's own model
        cfg.lrs = (0.1, 0.01)
        cfg.steps = 70
        cfg.init_scale = 1e-5
        cfg.init_seed = 0
        cfg.sims_per_batch = 16
        cfg.sentence_groups = 8  # validation / generalization sentences bucketed by row-dependent length
        cfg.stimuli = "release"  # the released adaptation.json, or "generated" (stimuli_seed, lexicon)
        cfg.stimuli_seed = 0
        cfg.lexicon = ""  # a lexicon JSON for generated stimuli; '' = the release's
        cfg.configurations = ()  # feature codes to run; empty: all 135
        cfg.instances = 5  # the first N instances of each configuration
        cfg.datives = ("do", "pp")
        cfg.bootstrap = 1000  # resamples for the analysis' confidence intervals
        return cfg

    def validate_config(self, config: ConfigDict) -> None:
        lrs = tuple(config.lrs)
        if not lrs or any(not isinstance(x, int | float) or x <= 0 for x in lrs):
            raise UserError(
                f"tasks.cross_dative.lrs={lrs!r} must list positive learning rates, e.g. (0.1, 0.01)"
            )
        for key in ("steps", "sims_per_batch", "instances", "sentence_groups"):
            if not isinstance(config[key], int) or config[key] < 1:
                raise UserError(f"tasks.cross_dative.{key}={config[key]!r} must be a positive integer")
        if config.stimuli not in STIMULI:
            raise UserError(
                f"tasks.cross_dative.stimuli={config.stimuli!r} must be one of {', '.join(STIMULI)}"
            )
        bad = [d for d in config.datives if d not in files.DATIVES]
        if bad or not config.datives:
            raise UserError(
                f"tasks.cross_dative.datives={tuple(config.datives)!r} must list 'do' and/or 'pp'"
            )
        if not config.init_scale > 0:
            raise UserError(f"tasks.cross_dative.init_scale={config.init_scale!r} must be > 0")
        learner_names(tuple(config.learners))

    # --- data ----------------------------------------------------------------------------------------

    def _exposures(self, config: ConfigDict, manual_dir: str) -> list[Any]:
        from evalkit_cross_dative import stimuli

        codes = tuple(config.configurations) or None
        if config.stimuli == "release":
            files.verify_manifest(manual_dir)
            exposures = stimuli.exposures_from_release(files.read_adaptation(manual_dir))
            if codes is not None:
                known = {e.feature_config for e in exposures}
                unknown = sorted(set(codes) - known)
                if unknown:
                    raise UserError(
                        f"tasks.cross_dative.configurations names {', '.join(unknown)}, not in the release; "
                        "use 8-letter codes such as 'pasdnild'"
                    )
                exposures = [e for e in exposures if e.feature_config in set(codes)]
        else:
            lexicon = stimuli.Lexicon.from_json(config.lexicon) if config.lexicon else None
            exposures = stimuli.generate_exposures(
                lexicon, seed=int(config.stimuli_seed), configurations=list(codes) if codes else None
            )
        return [
            e for e in exposures if e.hypothesis_instance <= config.instances and e.dative in config.datives
        ]

    def read_manual(self, config: ConfigDict, manual_dir: str) -> Iterator[Example]:
        exposures = self._exposures(config, manual_dir)
        for name, path in zip(learner_names(tuple(config.learners)), tuple(config.learners) or ("",)):
            for e in exposures:
                yield {
                    "id": f"{name}/{e.item_id:04d}",
                    "learner": name,
                    "learner_path": str(path),
                    "item_id": e.item_id,
                    "hypothesis_id": e.hypothesis_id,
                    "hypothesis_instance": e.hypothesis_instance,
                    "dative": e.dative,
                    "feature_config": e.feature_config,
                    "sentence": e.sentence,
                    "groups": {"learner": name, "direction": DIRECTION[e.dative]},
                }

    # --- evaluation ----------------------------------------------------------------------------------

    def evaluate(
        self, handle: ModelHandle, examples: Sequence[Example], config: ConfigDict
    ) -> Iterator[Record]:
        return self._run(handle, examples, config)

    def _run(self, handle: ModelHandle, examples: Sequence[Example], config: ConfigDict) -> Iterator[Record]:
        from tqdm import tqdm

        good, bad = files.read_validation(config.manual_dir)
        generalization = files.read_generalization(config.manual_dir)
        gen_sentences = [g.sentence for g in generalization]
        by_learner: dict[str, list[Example]] = {}
        for ex in examples:
            by_learner.setdefault(ex["learner"], []).append(ex)
        learners = {
            name: _load_learner(handle, name, items[0]["learner_path"]) for name, items in by_learner.items()
        }
        for name, learner in learners.items():  # every check before any simulation
            check_lengths(learner, [ex["sentence"] for ex in by_learner[name]] + good + bad + gen_sentences)
        lrs = tuple(float(x) for x in config.lrs)
        total = sum(len(items) for items in by_learner.values()) * len(lrs)
        with tqdm(total=total, desc="cross_dative simulations", disable=not _progress(handle)) as bar:
            for name, items in by_learner.items():
                learner = learners[name]
                yield from self._learner_records(
                    learner, handle, items, good, bad, generalization, lrs, config, bar.update
                )

    def _learner_records(
        self,
        learner: Learner,
        handle: ModelHandle,
        items: Sequence[Example],
        good: Sequence[str],
        bad: Sequence[str],
        generalization: Sequence[files.GeneralizationItem],
        lrs: tuple[float, ...],
        config: ConfigDict,
        progress: Any,
    ) -> Iterator[Record]:
        from evalkit_cross_dative.exposure import Protocol, initial_rows, run_simulations

        mesh, rules = _mesh_and_rules(handle)
        protocol = Protocol(
            steps=int(config.steps),
            init_scale=float(config.init_scale),
            sims_per_batch=int(config.sims_per_batch),
            max_groups=int(config.sentence_groups),
        )
        good_ids = [learner.encode(s) for s in good]
        bad_ids = [learner.encode(s) for s in bad]
        gen_ids = [learner.encode(g.sentence) for g in generalization]
        gen_dative = np.asarray([g.dative for g in generalization])
        exposure_len = max(len(learner.encode(ex["sentence"])) for ex in items)
        table = np.asarray(learner.model.output_embedding(), np.float32)
        per_call = max(1, protocol.sims_per_batch // len(lrs)) * 4  # exposures per durable chunk
        for lo in range(0, len(items), per_call):
            chunk = items[lo : lo + per_call]
            sims = [(ex, lr) for ex in chunk for lr in lrs]
            rows = initial_rows(
                table, [(int(config.init_seed), int(ex["item_id"])) for ex, _ in sims], protocol.init_scale
            )
            result = run_simulations(
                learner.model,
                mesh,
                rules,
                rows,
                [lr for _, lr in sims],
                [learner.encode(ex["sentence"]) for ex, _ in sims],
                good_ids,
                bad_ids,
                gen_ids,
                protocol,
                progress=progress,
                exposure_len=exposure_len,
            )
            for i, ex in enumerate(chunk):
                runs = [_run_record(result, i * len(lrs) + j, lr, gen_dative) for j, lr in enumerate(lrs)]
                chosen = select_run(runs)
                yield {
                    "id": ex["id"],
                    "groups": ex["groups"],
                    "scores": exposure_scores(ex["dative"], chosen),
                    "details": {
                        "learner": ex["learner"],
                        "item_id": ex["item_id"],
                        "hypothesis_id": ex["hypothesis_id"],
                        "hypothesis_instance": ex["hypothesis_instance"],
                        "dative": ex["dative"],
                        "feature_config": ex["feature_config"],
                        "sentence": ex["sentence"],
                        "runs": runs,
                    },
                }

    def summarize(self, records: Sequence[Record], config: ConfigDict) -> dict[str, Any]:
        from evalkit_cross_dative.analysis import summary_of
        from evalkit_cross_dative.table import records_table

        return summary_of(records_table(records), bootstrap=int(config.bootstrap), seed=int(config.init_seed))


def _run_record(result: Any, k: int, lr: float, gen_dative: np.ndarray) -> dict[str, Any]:
    from evalkit_cross_dative.exposure import STATES

    best = int(result.best_step[k])
    return {
        "lr": lr,
        "val_performance": float(result.val_performance[k]),
        "best_epoch": best,
        "train_loss": float(result.train_losses[k, best]),
        "logprob": {
            state: {d: float(result.gen_scores[k, s][gen_dative == d].mean()) for d in files.DATIVES}
            for s, state in enumerate(STATES)
        },
        "val_scores": [round(float(v), 6) for v in result.val_scores[k]],
        "train_losses": [round(float(v), 6) for v in result.train_losses[k]],
    }


def _progress(handle: ModelHandle) -> bool:
    runtime = getattr(handle, "runtime", None)
    return bool(runtime.get("progress", True)) if runtime is not None else True


def _mesh_and_rules(handle: ModelHandle) -> tuple[Any, Any]:
    from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config

    mesh = getattr(handle, "mesh", None)
    if mesh is None:
        return make_mesh(mesh_config()), DEFAULT_RULES
    return mesh, getattr(handle, "rules", DEFAULT_RULES)


def _load_learner(handle: ModelHandle, name: str, path: str) -> Learner:
    """The learner at ``path`` (a checkpoint or Hugging Face folder), or the run's own model when ''."""
    if not path:
        model = getattr(handle, "model", None)
        if model is None or not hasattr(model, "hidden_states_from_embeddings"):
            raise UserError(
                "the cross_dative task trains a row of the learner's embeddings, so it needs a Flax learner: run "
                "with model.name=flax and a checkpoint, or list learner folders in tasks.cross_dative.learners"
            )
        return make_learner(name, model, getattr(handle, "tokenizer", None))
    from evalkit.models import load_model

    mesh, rules = _mesh_and_rules(handle)
    model, tokenizer, _ = load_model(path, mesh, rules)
    return make_learner(name, model, tokenizer)
