"""KV-cache generation: matches a naive argmax loop, stops exactly, samples per item, and agrees across meshes.

One 1-device Generator (module fixture) serves most tests; every request stays in the same
prompt/new-token buckets, so the whole module compiles one prefill and one decode program here.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from generation_check import REQUESTS, TOKENIZER, make_generator, make_model

from evalkit.api.requests import Generate
from evalkit.errors import UserError
from evalkit.runtime.continuous import ContinuousGenerator
from evalkit.runtime.generation import Generator, bucket
from evalkit.testing_multiprocess import run_processes

CHECK_SCRIPT = Path(__file__).with_name("generation_check.py")


ENGINES = ("static", "continuous")


@pytest.fixture(scope="module", params=ENGINES)
def gen(request) -> Generator:
    """Each test runs on both engines: static batches and continuous batching (4 slots, 4-token chunks)."""
    return make_generator({}, devices=jax.devices()[:1], engine=request.param)


@pytest.fixture(scope="module")
def reference() -> list[list[int]]:
    """Tokens for REQUESTS from the static engine on one device: the baseline every engine and mesh must
    reproduce (greedy and sampled rows alike)."""
    return [list(g.tokens) for g in make_generator({}, devices=jax.devices()[:1]).generate(REQUESTS)]


@functools.cache
def _full_forward():
    graphdef, state = nnx.split(make_model())
    return state, jax.jit(lambda st, toks, pos: nnx.merge(graphdef, st)(toks, pos)[0])


def naive_greedy(prompt: list[int], steps: int) -> list[int]:
    """Argmax decoding with a full forward pass per token (no cache, no padding on the left)."""
    state, forward = _full_forward()
    width = 32
    seq = list(prompt)
    for _ in range(steps):
        toks = np.zeros((1, width), np.int32)
        toks[0, : len(seq)] = seq  # right padding is invisible to earlier positions (causal)
        logits = forward(state, jnp.asarray(toks), jnp.arange(width, dtype=jnp.int32)[None])
        seq.append(int(jnp.argmax(logits[0, len(seq) - 1])))
    return seq[len(prompt) :]


def _engine(generator: Generator) -> str:
    return "continuous" if isinstance(generator, ContinuousGenerator) else "static"


def _subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return {**env, **extra}


def test_greedy_matches_naive_argmax_loop(gen):
    prompts = [[3, 4, 5, 6, 7, 8, 9], [10, 2, 20], list(range(1, 17))]
    out = gen.generate([Generate(tuple(p), max_new_tokens=n) for p, n in zip(prompts, (12, 16, 5))])
    for prompt, g, n in zip(prompts, out, (12, 16, 5)):
        assert list(g.tokens) == naive_greedy(prompt, n)
        assert g.finish_reason == "length" and g.text is None


def test_max_new_tokens_is_exact(gen):
    out = gen.generate([Generate("fgh", max_new_tokens=n) for n in (1, 5, 15, 16)])
    assert [len(g.tokens) for g in out] == [1, 5, 15, 16]
    assert all(g.finish_reason == "length" for g in out)
    assert all(out[-1].tokens[: len(g.tokens)] == g.tokens for g in out)  # greedy: prefixes of each other
    assert out[-1].text == TOKENIZER.decode(out[-1].tokens)


def test_sampling_does_not_depend_on_batch(gen):
    item = Generate("kji", max_new_tokens=14, temperature=1.5, top_k=10, top_p=0.95, seed=7, key="task/42")
    alone = gen.generate([item])[0]
    others = [Generate("abcdefghijklmnop", max_new_tokens=16, temperature=1.0, key=f"o{i}") for i in range(4)]
    crowded = gen.generate([others[0], item, *others[1:]])  # other rows, another row index, longer padding
    assert crowded[1] == alone
    assert gen.generate([*others, item])[-1] == alone  # second batch
    assert gen.generate([dataclasses.replace(item, key="task/43")])[0].tokens != alone.tokens
    assert gen.generate([dataclasses.replace(item, seed=8)])[0].tokens != alone.tokens


def test_top_k_1_and_tiny_top_p_are_greedy(gen):
    greedy = gen.generate([Generate("nop", max_new_tokens=10)])[0].tokens
    k1 = Generate("nop", max_new_tokens=10, temperature=2.0, top_k=1, key="a")
    p0 = Generate("nop", max_new_tokens=10, temperature=2.0, top_p=1e-6, key="b")
    assert [g.tokens for g in gen.generate([k1, p0])] == [greedy, greedy]


def _token_texts(tokens) -> list[str]:
    return [TOKENIZER.decode([t]) for t in tokens]


def test_stop_string_spanning_two_tokens_cuts_exactly(gen):
    base = gen.generate([Generate("abcdefg", max_new_tokens=16)])[0]
    texts = _token_texts(base.tokens)
    # Stop strings made of the last char of token i-1 and the first of token i, first seen there;
    # i >= 9 puts them past the first host check (8 steps). One starts inside a multi-char token.
    cases = {}
    for i in range(9, 16):
        stop, cut = texts[i - 1][-1] + texts[i][0], len("".join(texts[:i])) - 1
        if base.text.find(stop) == cut:
            cases.setdefault(len(texts[i - 1]) > 1, (stop, cut))
    assert set(cases) == {True, False}, texts
    mid_token, at_boundary = (
        gen.generate([Generate("abcdefg", until=("zzz", cases[mid][0]), max_new_tokens=16)])[0]
        for mid in (True, False)
    )
    for (_, cut), out in ((cases[True], mid_token), (cases[False], at_boundary)):
        assert out.text == base.text[:cut] and out.finish_reason == "stop"
        # Tokens: the fewest whose text covers the returned text (a token holding part of the stop stays).
        k = next(k for k in range(17) if "".join(texts[:k]).startswith(out.text))
        assert out.tokens == base.tokens[:k]
    assert TOKENIZER.decode(at_boundary.tokens) == at_boundary.text
    assert TOKENIZER.decode(mid_token.tokens) != mid_token.text
    # The earliest of several stop strings wins; a stop string at the very start gives empty text.
    early = texts[2] + texts[3]
    first = gen.generate([Generate("abcdefg", until=(cases[True][0], early), max_new_tokens=16)])[0]
    assert first.text == base.text[: base.text.find(early)]
    assert gen.generate([Generate("abcdefg", until=(texts[0],), max_new_tokens=16)])[0].text == ""
    never = gen.generate([Generate("abcdefg", until=("<none>",), max_new_tokens=16)])[0]
    assert never == base


class _EosTokenizer(type(TOKENIZER)):
    """The test tokenizer with a chosen token as EOS."""

    def __init__(self, eos: int):
        self.__dict__.update(TOKENIZER.__dict__)
        self._eos = eos

    @property
    def eos_id(self) -> int:
        return self._eos


def test_eos_and_stop_token_ids(gen):
    base = gen.generate([Generate("abcdefg", max_new_tokens=16)])[0]
    j = next(j for j in range(2, 16) if base.tokens[j] not in base.tokens[:j])
    eos_gen = make_generator(
        {}, jax.devices()[:1], tokenizer=_EosTokenizer(base.tokens[j]), stats=gen.stats, engine=_engine(gen)
    )
    out = eos_gen.generate([Generate("abcdefg", max_new_tokens=16)])[0]
    assert (out.tokens, out.finish_reason) == (base.tokens[:j], "eos")
    assert out.text == TOKENIZER.decode(base.tokens[:j])
    ids = gen.generate(
        [Generate(tuple(TOKENIZER.encode("abcdefg")), until=(99, base.tokens[j]), max_new_tokens=16)]
    )
    assert (ids[0].tokens, ids[0].finish_reason, ids[0].text) == (base.tokens[:j], "stop", None)


def test_too_long_prompt_truncates_left_or_errors(gen):
    prompt = tuple(range(1, 20)) * 2  # 38 tokens; max_len 32 leaves 16 for the prompt with 16 new
    before = gen.stats.truncated_count
    out = gen.generate([Generate(prompt, max_new_tokens=16)])[0]
    assert out.truncated == 38 - 16 and gen.stats.truncated_count == before + 1
    assert out.tokens == gen.generate([Generate(prompt[-16:], max_new_tokens=16)])[0].tokens
    strict = make_generator({}, devices=jax.devices()[:1], too_long="error", engine=_engine(gen))
    with pytest.raises(UserError, match="--config.runtime.too_long"):
        strict.generate([Generate(prompt, max_new_tokens=16)])
    with pytest.raises(UserError, match="empty context"):  # no BOS/EOS to start from
        strict.generate([Generate("", max_new_tokens=4)])


@pytest.mark.parametrize("engine", ENGINES)
def test_identically_shaped_models_share_executables_but_not_outputs(reference, engine):
    from evalkit.runtime.stats import clear_shared_executables

    one = jax.devices()[:1]
    first = make_generator({}, devices=one, engine=engine)
    assert [list(g.tokens) for g in first.generate(REQUESTS)] == reference
    other = make_generator({}, devices=one, model=make_model(seed=1), engine=engine)  # same shapes
    shared = [list(g.tokens) for g in other.generate(REQUESTS)]
    assert other.stats.compiles == 0 and other.stats.reused_compiles == first.stats.compiles > 0
    clear_shared_executables()
    fresh = make_generator({}, devices=one, model=make_model(seed=1), engine=engine)
    assert [list(g.tokens) for g in fresh.generate(REQUESTS)] == shared and fresh.stats.compiles > 0
    assert shared != reference


def test_compile_count_does_not_grow_with_requests(gen, reference):
    assert [list(g.tokens) for g in gen.generate(REQUESTS)] == reference
    compiles = gen.stats.compiles
    many = [dataclasses.replace(r, key=f"{r.key}-{i}") for i in range(3) for r in REQUESTS]  # 15 requests
    out = gen.generate(many)
    assert len(out) == 15 and gen.stats.compiles == compiles
    assert [list(out[i].tokens) for i in (0, 3, 5, 8)] == [reference[0], reference[3]] * 2  # greedy rows
    assert gen.stats.new_tokens > 0 and gen.stats.device_s > 0
    assert [bucket(n) for n in (5, 17, 25, 33, 100)] == [16, 24, 32, 48, 128]
    if _engine(gen) == "continuous":
        return  # no partial batches (test_continuous_refills_slots_and_equals_static counts its programs)
    wide = copy.copy(gen)
    wide.batch_size = 32  # a partial last batch halves while it fits, down to 8 rows
    assert [wide._rows(n) for n in (1, 8, 9, 16, 17, 32)] == [8, 8, 16, 16, 32, 32]
    assert bucket(40, cap=32) == 40 and bucket(20, cap=16) == 20


@pytest.mark.parametrize("engine", ENGINES)
def test_same_outputs_on_data_and_tensor_meshes(reference, engine):
    proc = subprocess.run(
        [sys.executable, str(CHECK_SCRIPT), engine],
        capture_output=True,
        text=True,
        timeout=300,
        env=_subprocess_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert results == {"data8": reference, "data4_tensor2": reference, "explicit_2x2x2": reference}


@pytest.mark.multiprocess
@pytest.mark.parametrize("engine", ENGINES)
def test_two_processes_return_all_generations(reference, engine):
    script = (
        f"import sys\nsys.path.insert(0, {str(CHECK_SCRIPT.parent)!r})\n"
        f"import generation_check\ngeneration_check.print_process_generations({engine!r})\n"
    )
    outputs = run_processes(script, n=2, devices_per_process=4, timeout=300)
    assert [json.loads(out.strip().splitlines()[-1]) for out in outputs] == [
        {f"process{i}": reference} for i in range(2)
    ]


def test_continuous_refills_slots_and_equals_static():
    """More requests than slots, prompts of several prefill chunks, mixed max_new_tokens in one pool, stop
    strings and ids: every output equals the static engine's, and the compile count does not grow."""
    one = jax.devices()[:1]
    letters = "abcdefghijklmnop"
    mixed = [*REQUESTS] + [
        Generate(letters[:k], max_new_tokens=m, key=f"m{k}", temperature=0.7 if k % 2 else 0.0)
        for k, m in ((3, 7), (9, 2), (1, 1), (16, 16), (5, 11), (12, 3), (14, 9), (2, 13))
    ]
    static = make_generator({}, devices=one).generate(mixed)
    continuous = make_generator({}, devices=one, engine="continuous")
    assert continuous.generate(mixed) == static
    compiles = continuous.stats.compiles
    assert compiles == 4  # slot init, staging chunk, insert, decode
    assert (
        continuous.generate([*mixed, *mixed]) == [*static, *static] and continuous.stats.compiles == compiles
    )
    # Sampling is keyed per item: another slot count gives the same outputs.
    eight = make_generator({}, devices=one, engine="continuous")
    eight.batch_size = 8
    assert eight.generate(mixed) == static


def test_engine_is_chosen_by_the_runtime_config():
    from evalkit.config import runtime_defaults
    from evalkit.runtime.engines import generator_class

    rt = runtime_defaults()
    assert generator_class(None) is ContinuousGenerator and generator_class(rt) is ContinuousGenerator
    rt.generate.engine = "static"
    assert generator_class(rt) is Generator
    rt.generate.engine = "fast"
    with pytest.raises(
        UserError, match="runtime.generate.engine='fast' is not valid; use one of: continuous"
    ):
        generator_class(rt)
    with pytest.raises(UserError, match="prefill_chunk=48 is not valid; use a power of two"):
        make_generator({}, devices=jax.devices()[:1], engine="continuous", prefill_chunk=48)
