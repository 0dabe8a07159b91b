"""Benchmark: evalkit's batched JAX novel-verb exposure learning vs a one-exposure-at-a-time PyTorch reference.

The cross-dative protocol (Misra & Kim 2024; reference note §3): a new token " [verb]" gets one embedding row
(tied input/output), drawn from N(mean, 1e-5 · Σ) of the existing rows; only that row is trained with Adam
(constant LR) for ``--steps`` full-batch steps on one exposure sentence, the verbhood validation score (150 good
minus 150 bad sentences) is measured after every step, and the 255 generalization sentences are scored at the
initial, final and best states.

* evalkit: ``evalkit_cross_dative.exposure.run_simulations`` on the first ``--exposures`` released exposure
  sentences, ``--sims-per-batch`` simulations trained together in one compiled ``scan`` (shared frozen model,
  cached sentence prefixes). Called twice: a first call on one batch of exposures (the same shapes, so it
  compiles the program the second call runs; its trace/lower/compile time from jax.monitoring is
  ``compile_s``), then a timed call on all exposures, which gives exposures/s.
* PyTorch: ``tests/torch_reference.py`` of the plugin (``transformers.OPTForCausalLM``, AdamW on the embedding
  matrix with the other rows' gradients zeroed, validation after every step), the authors' way: one exposure at
  a time, on the first ``--torch-exposures`` exposures, ``torch.set_num_threads`` = all cores.

Both load the same random tiny OPT folder (``evalkit.testing.write_tiny_hf_opt``; byte-level BPE trained on the
stimulus and validation sentences with their verbs written back in) and start from the same initial rows
(``initial_rows(table, [(0, item_id)], 1e-5)``). Token ids of every sentence are checked to be equal (evalkit's
new-token id V = the model's vocabulary size, transformers' ``add_tokens([" [verb]"])`` id). On the exposures
both ran, the script reports the largest |Δ| of the generalization log-probs (all three states), validation
scores and train losses (every state), and how many best steps differ (a near-tie in validation may flip one;
the log-prob difference is then also given over the exposures whose best step agrees).

Random weights: the figures measure speed and agreement, not what a trained learner learns. Data: the
released stimuli under ``--data-dir`` (default: the plugin's default data directory). The last line printed
is one JSON object (evalkit_exposures_per_s, torch_exposures_per_s, ratio, max_abs_diff, ...). Machines may
be shared, so process CPU-seconds per exposure are reported too (``cpu_time_ratio``).

The defaults keep a 2-core CPU run to about five minutes (on such a CPU one 70-step exposure takes evalkit
about 6 s and the reference about a minute); a GPU run can afford many more exposures:

    python benchmarks/dative.py [--exposures 16] [--torch-exposures 2] [--steps 70] [--sims-per-batch 8]
    python benchmarks/dative.py --paper-shape   # hidden 256, 8 layers, 8 heads, ffn 1024, vocab 8192 (GPU)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_name

PAPER_SHAPE = {"hidden": 256, "layers": 8, "heads": 8, "ffn": 1024, "vocab": 8192}
STIMULUS_VOCAB = 1500  # larger vocabularies need filler text (see tokenizer_texts)
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "plugins" / "evalkit-cross-dative" / "tests"
# Words written in place of "[verb]" in the tokenizer's training text (the novel verb must stay novel).
FILL_WORDS = ("gave", "sent", "brought", "showed", "told", "threw", "picture", "ball", "little", "big")


def tokenizer_texts(
    exposures: list[str], generalization: list, good: list[str], bad: list[str], filler_words: int = 0
) -> list[str]:
    """The tokenizer's training text: every sentence used, with a real word where the novel verb is, plus
    ``filler_words`` random letter strings (the stimuli alone give a byte-level BPE about 1,900 ids; the filler
    lets it reach a paper-sized vocabulary, so that the output layer has the paper's width)."""
    texts = [item.original for item in generalization]
    for i, s in enumerate([*exposures, *good, *bad]):
        texts.append(s.replace("[verb]", FILL_WORDS[i % len(FILL_WORDS)]))
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, int(rng.integers(3, 9)))) for _ in range(filler_words)]
    texts += [" ".join(words[i : i + 10]) for i in range(0, len(words), 10)] * 2
    return texts


class CompileTimer:
    """Sums jax's trace, lowering and backend-compile durations while active."""

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self) -> None:
        import jax

        self.total = 0.0
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, event: str, duration: float, **_: object) -> None:
        if self.active and event in self.EVENTS:
            self.total += duration


def padding(seqs: list[list[int]], verb: int) -> float:
    """The fraction of the row-dependent (suffix) slots evalkit computes for a sentence set that are padding."""
    from evalkit_cross_dative.exposure import Protocol, sentence_groups

    return sentence_groups(seqs, verb, Protocol().max_groups).padding()


def max_abs(a: object, b: object) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=16, help="released exposures evalkit runs")
    parser.add_argument("--torch-exposures", type=int, default=2, help="of those, how many torch runs")
    parser.add_argument("--steps", type=int, default=70)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--sims-per-batch", type=int, default=8, help="evalkit Protocol.sims_per_batch")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--ffn", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=1000, help="BPE vocabulary size asked of the tokenizer")
    parser.add_argument("--max-len", type=int, default=128)
    parser.add_argument(
        "--paper-shape", action="store_true", help="the paper's learner shape (see PAPER_SHAPE)"
    )
    parser.add_argument(
        "--data-dir", default=None, help="cross-dative data directory (default: the plugin's)"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument(
        "--matmul-precision",
        default=None,
        choices=("default", "high", "highest"),
        help="jax_default_matmul_precision (e.g. 'highest' on a GPU, where float32 matmuls may use TF32)",
    )
    args = parser.parse_args()
    if args.paper_shape:
        for key, value in PAPER_SHAPE.items():
            setattr(args, key, value)
    if not 1 <= args.torch_exposures <= args.exposures:
        parser.error("--torch-exposures must be between 1 and --exposures")

    import jax
    import torch
    import transformers
    from evalkit_cross_dative.exposure import STATES, Protocol, initial_rows, run_simulations
    from evalkit_cross_dative.files import (
        default_data_dir,
        read_adaptation,
        read_generalization,
        read_validation,
    )
    from evalkit_cross_dative.learners import VERB_TOKEN, check_lengths, make_learner
    from evalkit_cross_dative.stimuli import exposures_from_release

    from evalkit.models import load_model
    from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config
    from evalkit.testing import write_tiny_hf_opt

    sys.path.insert(0, str(REFERENCE_DIR))
    import torch_reference

    if args.matmul_precision:
        jax.config.update("jax_default_matmul_precision", args.matmul_precision)
    root = args.data_dir or default_data_dir()
    released = exposures_from_release(read_adaptation(root))
    exposures = released[: args.exposures]
    generalization = read_generalization(root)
    good, bad = read_validation(root)
    n, k = len(exposures), min(args.torch_exposures, len(exposures))
    filler = 2 * args.vocab if args.vocab > STIMULUS_VOCAB else 0
    gen_sentences = [item.sentence for item in generalization]
    shape = {
        "hidden": args.hidden,
        "layers": args.layers,
        "heads": args.heads,
        "ffn": args.ffn,
        "vocab": args.vocab,
        "max_len": args.max_len,
    }
    device = jax.devices()[0]
    print(
        f"{n} exposures (torch: {k}), {args.steps} steps, lr {args.lr}, {len(good)}+{len(bad)} validation, "
        f"{len(gen_sentences)} generalization sentences; jax on {device.platform} ({device.device_kind}) "
        f"x{jax.device_count()}, cpu {cpu_name()}",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="evalkit-dative-") as tmp:
        folder = write_tiny_hf_opt(
            Path(tmp) / "opt",
            texts=tokenizer_texts([e.sentence for e in released], generalization, good, bad, filler),
            vocab_size=args.vocab,
            hidden_size=args.hidden,
            num_layers=args.layers,
            num_heads=args.heads,
            ffn_dim=args.ffn,
            max_len=args.max_len,
        )

        # --- evalkit learner and token ids
        mesh, rules = make_mesh(mesh_config()), DEFAULT_RULES
        model, tokenizer, _ = load_model(folder, mesh, rules)
        learner = make_learner("tiny-opt", model, tokenizer)
        verb = learner.verb_id
        shape["vocab"] = verb  # the size the tokenizer reached
        all_sentences = [e.sentence for e in exposures] + good + bad + gen_sentences
        check_lengths(learner, all_sentences)
        ids = {s: learner.encode(s) for s in all_sentences}

        # --- torch learner; its token ids must be evalkit's (V -> the added token's id)
        torch.set_num_threads(args.threads)
        tmodel, tverb = torch_reference.load_model(folder)
        htok = transformers.AutoTokenizer.from_pretrained(str(folder))
        htok.add_tokens([VERB_TOKEN])
        new_id = htok.convert_tokens_to_ids(VERB_TOKEN)
        assert new_id == tverb == verb, (
            f"new-token ids differ: transformers {new_id}, torch row {tverb}, evalkit {verb}"
        )
        for s, e_ids in ids.items():
            t_ids = htok(s)["input_ids"]
            want = [new_id if t == verb else t for t in e_ids]
            assert t_ids == want, f"token ids differ for {s!r}: transformers {t_ids}, evalkit {want}"
        assert all(t[0] == learner.bos_id == torch_reference.BOS for t in ids.values())

        table = np.asarray(model.output_embedding())
        protocol = Protocol(steps=args.steps, sims_per_batch=args.sims_per_batch)
        rows = initial_rows(table, [(0, e.item_id) for e in exposures], protocol.init_scale)
        ex_ids = [ids[e.sentence] for e in exposures]
        good_ids, bad_ids = [ids[s] for s in good], [ids[s] for s in bad]
        gen_ids = [ids[s] for s in gen_sentences]

        # --- evalkit: a first call on one batch (same shapes: compiles the program), then all exposures, timed
        warm = min(n, args.sims_per_batch)
        ex_len = max(len(s) for s in ex_ids)  # one exposure width for both calls

        def evalkit_run(m: int):
            return run_simulations(
                model, mesh, rules, rows[:m], [args.lr] * m, ex_ids[:m], good_ids, bad_ids, gen_ids, protocol,
                exposure_len=ex_len,
            )  # fmt: skip

        timer = CompileTimer()
        timer.active = True
        t0 = time.perf_counter()
        evalkit_run(warm)
        first_s = time.perf_counter() - t0
        compile_s, timer.total = timer.total, 0.0
        t0, c0 = time.perf_counter(), time.process_time()
        res = evalkit_run(n)
        ek_s, ek_cpu = time.perf_counter() - t0, time.process_time() - c0
        timer.active = False
        recompile_s = timer.total
        ek_rate = n / ek_s
        ek_rate_warm = n / max(1e-9, ek_s - recompile_s)
        print(
            f"evalkit: first call ({warm} exposures) {first_s:.2f}s ({compile_s:.2f}s tracing+compiling); "
            f"timed call ({n} exposures) {ek_s:.2f}s ({recompile_s:.2f}s compiling) -> {ek_rate:.3f} exposures/s",
            flush=True,
        )

        # --- torch: one exposure at a time
        t_good, t_bad, t_gen = ([s[1:] for s in seqs] for seqs in (good_ids, bad_ids, gen_ids))  # no BOS
        ref = []
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(k):
            ref.append(
                torch_reference.run_exposure(
                    tmodel,
                    tverb,
                    rows[i],
                    ex_ids[i][1:],
                    t_good,
                    t_bad,
                    t_gen,
                    lr=args.lr,
                    steps=args.steps,
                )
            )
        th_s, th_cpu = time.perf_counter() - t0, time.process_time() - c0
        th_rate = k / th_s

        print(f"torch:   {k} exposures in {th_s:.2f}s -> {th_rate:.3f} exposures/s ({args.threads} threads)")

    # --- agreement on the exposures both ran
    by_state = {
        state: max(max_abs(res.gen_scores[i, j], r.logprobs[state]) for i, r in enumerate(ref))
        for j, state in enumerate(STATES)
    }
    per_exposure = [
        max(max_abs(res.gen_scores[i, j], r.logprobs[s]) for j, s in enumerate(STATES))
        for i, r in enumerate(ref)
    ]
    agree = [int(res.best_step[i]) == r.best_step for i, r in enumerate(ref)]
    val_diff = max(max_abs(res.val_scores[i], r.val_scores) for i, r in enumerate(ref))
    loss_diff = max(max_abs(res.train_losses[i], r.train_losses) for i, r in enumerate(ref))
    row_diff = max(
        max_abs(res.rows[i, j], r.new_row[s]) for i, r in enumerate(ref) for j, s in enumerate(STATES)
    )
    max_diff = max(per_exposure)
    agreeing = [d for d, a in zip(per_exposure, agree) if a]
    max_diff_agreeing = max(agreeing) if agreeing else None
    mismatches = len(agree) - sum(agree)
    ratio = ek_rate / th_rate
    cpu_ratio = (th_cpu / k) / (ek_cpu / n)  # CPU-seconds per exposure, torch / evalkit (shared machines)

    print()
    print(f"{'':<34}{'evalkit':>12}{'torch':>12}")
    print(f"{'exposures timed':<34}{n:>12}{k:>12}")
    print(f"{'seconds':<34}{ek_s:>12.2f}{th_s:>12.2f}")
    print(f"{'exposures/s':<34}{ek_rate:>12.3f}{th_rate:>12.3f}")
    print(f"{'process CPU-s per exposure':<34}{ek_cpu / n:>12.3f}{th_cpu / k:>12.3f}")
    print(f"ratio (evalkit / torch): {ratio:.1f}x wall time, {cpu_ratio:.1f}x CPU time")
    print(
        f"evalkit compile {compile_s:.1f}s (first call, {warm} exposures: {first_s:.1f}s); the timed call compiled "
        f"for {recompile_s:.1f}s, without it {ek_rate_warm:.3f} exposures/s ({ek_rate_warm / th_rate:.1f}x)"
    )
    print(
        f"padding of the row-dependent (suffix) slots evalkit computes: validation "
        f"{padding(good_ids + bad_ids, verb):.0%}, generalization {padding(gen_ids, verb):.0%}"
    )
    print(f"agreement on {k} exposures:")
    for state, d in by_state.items():
        print(f"  max |Δ gen log-prob| {state:<8} {d:.2e}")
    print(f"  max |Δ validation score|      {val_diff:.2e}")
    print(f"  max |Δ train loss|            {loss_diff:.2e}")
    print(f"  max |Δ new row|               {row_diff:.2e}")
    steps_pairs = ", ".join(f"{int(res.best_step[i])}/{r.best_step}" for i, r in enumerate(ref))
    print(f"  best step (evalkit/torch): {steps_pairs}; {mismatches} mismatch(es)")
    if max_diff_agreeing is not None:
        print(f"  max |Δ gen log-prob| where best steps agree: {max_diff_agreeing:.2e}")

    report = {
        "benchmark": "dative",
        "cpu": cpu_name(),
        "jax_device": f"{device.platform}:{device.device_kind} x{jax.device_count()}",
        "exposures": n,
        "torch_exposures": k,
        "steps": args.steps,
        "lr": args.lr,
        "sims_per_batch": args.sims_per_batch,
        "shape": shape,
        "evalkit_s": round(ek_s, 3),
        "evalkit_first_call_s": round(first_s, 3),
        "compile_s": round(compile_s, 3),
        "evalkit_first_call_exposures": warm,
        "timed_call_compile_s": round(recompile_s, 3),
        "evalkit_exposures_per_s": round(ek_rate, 3),
        "evalkit_exposures_per_s_excl_compile": round(ek_rate_warm, 3),
        "validation_padding": round(padding(good_ids + bad_ids, verb), 3),
        "generalization_padding": round(padding(gen_ids, verb), 3),
        "torch_s": round(th_s, 3),
        "torch_exposures_per_s": round(th_rate, 4),
        "torch_threads": args.threads,
        "evalkit_cpu_s": round(ek_cpu, 3),
        "torch_cpu_s": round(th_cpu, 3),
        "cpu_time_ratio": round(cpu_ratio, 2),
        "ratio": round(ratio, 2),
        "max_abs_diff": float(f"{max_diff:.3e}"),
        "max_abs_diff_by_state": {s: float(f"{d:.3e}") for s, d in by_state.items()},
        "max_abs_diff_best_step_agrees": None
        if max_diff_agreeing is None
        else float(f"{max_diff_agreeing:.3e}"),
        "max_abs_val_diff": float(f"{val_diff:.3e}"),
        "max_abs_loss_diff": float(f"{loss_diff:.3e}"),
        "max_abs_row_diff": float(f"{row_diff:.3e}"),
        "best_step_mismatches": mismatches,
        "matmul_precision": args.matmul_precision or jax.config.jax_default_matmul_precision,
        "jax": jax.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
