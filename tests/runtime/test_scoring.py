"""Packed scoring equals a plain forward per request; truncation, text, rolling, compile bounds, the handle."""

import functools

import jax
import numpy as np
import pytest

from evalkit.api.requests import Generate, Generation, Loglikelihood, LoglikelihoodRolling
from evalkit.config import runtime_defaults
from evalkit.errors import UserError
from evalkit.models import ByteTokenizer, tiny
from evalkit.runtime import create_model, make_mesh, mesh_config
from evalkit.runtime.scoring import Scorer, rolling_windows
from evalkit.runtime.stats import RuntimeStats

MAX_LEN = 64
TOK = ByteTokenizer()


@functools.cache
def setup():
    cfg = tiny(vocab_size=300, d_model=32, d_ff=64, num_heads=4, num_kv_heads=2, max_len=MAX_LEN)
    mesh = make_mesh(mesh_config(), devices=jax.devices()[:1])
    rules = mesh_config().rules
    return create_model(cfg, mesh, rules, seed=0), mesh, rules


def scorer(max_tokens=256, num_buckets=1, too_long="truncate", stats=None):
    """A fresh scorer; the default one is shared so its compiled shapes are reused across tests."""
    if (max_tokens, num_buckets, too_long, stats) == (256, 1, "truncate", None):
        return _shared_scorer()
    return _new_scorer(max_tokens, num_buckets, too_long, stats)


@functools.cache
def _shared_scorer():
    return _new_scorer(256, 1, "truncate", None)


def _new_scorer(max_tokens, num_buckets, too_long, stats):
    model, mesh, rules = setup()
    rt = runtime_defaults()
    rt.batch.max_tokens, rt.batch.num_buckets, rt.too_long = max_tokens, num_buckets, too_long
    return Scorer(model, mesh, rules, rt, stats or RuntimeStats(), TOK)


@functools.cache
def _forward():
    model = setup()[0]
    return jax.jit(lambda t: jax.nn.log_softmax(model(t, np.arange(t.shape[1])[None])[0][0], -1))


def plain(context, continuation):
    """Reference: one unpacked forward pass over context + continuation."""
    whole = np.asarray(list(context) + list(continuation), np.int32)
    padded = np.zeros((1, MAX_LEN), np.int32)  # right padding: causal attention never sees it; one compile
    padded[0, : len(whole) - 1] = whole[:-1]
    logprobs = np.asarray(_forward()(padded))[: len(whole) - 1]
    n = len(continuation)
    rows = np.arange(len(whole) - 1)[-n:]
    targets = whole[1:][-n:]
    return float(logprobs[rows, targets].sum()), bool((logprobs[rows].argmax(-1) == targets).all())


def random_requests(n, seed=0, hi=MAX_LEN):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(rng.integers(2, hi + 2))
        ids = rng.integers(0, 256, length).tolist()
        cont = int(rng.integers(1, min(8, length - 1) + 1))
        out.append(Loglikelihood(tuple(ids[:-cont]), tuple(ids[-cont:])))
    return out


def test_packed_scoring_equals_plain_forward():
    requests = random_requests(40)
    results = scorer().loglikelihood(requests)
    for req, res in zip(requests, results):
        logprob, greedy = plain(req.context, req.continuation)
        assert res.logprob == pytest.approx(logprob, abs=1e-5, rel=1e-6)
        assert res.is_greedy == greedy and res.num_tokens == len(req.continuation) and res.truncated == 0


def test_greedy_flag_true_for_argmax_continuation():
    context = (5, 6, 7, 8)
    padded = np.zeros((1, MAX_LEN), np.int32)
    padded[0, : len(context)] = context
    best = int(np.asarray(_forward()(padded))[len(context) - 1].argmax())
    res = scorer().loglikelihood(
        [Loglikelihood(context, (best,)), Loglikelihood(context, ((best + 1) % 256,))]
    )
    assert res[0].is_greedy and not res[1].is_greedy


def test_compile_count_bounded_by_buckets():
    counts = []
    for n in (50, 400):
        stats = RuntimeStats()
        s = scorer(stats=stats, num_buckets=3, max_tokens=512)
        s.loglikelihood(random_requests(n, seed=n))
        counts.append(stats.compiles)
        assert stats.real_tokens < stats.padded_tokens
    assert max(counts) <= 3, counts


def test_identically_shaped_models_share_executables_but_not_results():
    from evalkit.runtime.stats import clear_shared_executables

    model0, mesh, rules = setup()
    model1 = create_model(
        model0.config, mesh, rules, seed=1
    )  # another probe seed: same shapes, other weights
    requests = random_requests(30, seed=7)

    def score(model):
        s = Scorer(model, mesh, rules, runtime_defaults(), RuntimeStats(), TOK)
        return [r.logprob for r in s.loglikelihood(requests)], s.stats

    first, stats0 = score(model0)
    second, stats1 = score(model1)
    assert stats0.compiles >= 1 and stats1.compiles == 0 and stats1.reused_compiles == stats0.compiles
    clear_shared_executables()
    fresh, stats_fresh = score(model1)
    assert stats_fresh.compiles == stats0.compiles and fresh == second  # reuse changes nothing
    assert max(abs(a - b) for a, b in zip(first, second)) > 1e-3  # the second model's own weights
    wider_cfg = tiny(vocab_size=301, d_model=32, d_ff=64, num_heads=4, num_kv_heads=2, max_len=MAX_LEN)
    wider = create_model(wider_cfg, mesh, rules, seed=0)
    _, stats_other = score(wider)
    assert stats_other.compiles >= 1 and stats_other.reused_compiles == 0


def multiple_choice_requests(questions, seed=0):
    """4 choices per question sharing its context: some choices begin alike, some repeat, some contexts
    are long enough to be left-truncated (then each choice keeps a different part), plus text pairs."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(questions):
        context = tuple(rng.integers(0, 256, int(rng.integers(1, 70))).tolist())
        first = tuple(rng.integers(0, 256, 1).tolist())
        for c in range(4):
            cont = tuple(rng.integers(0, 256, int(rng.integers(1, 7))).tolist())
            out.append(Loglikelihood(context, first + cont if c % 2 else cont))
        out.append(out[-1])
    for answer in (" Paris", " Lyon", " Marseille"):
        out.append(Loglikelihood("Q: The capital of France is? A:", answer))
    out += [Loglikelihood("", " yes"), Loglikelihood("", " no")]
    return out


def test_shared_prefixes_score_like_requests_alone():
    requests = multiple_choice_requests(24)
    stats = {share: RuntimeStats() for share in (True, False)}
    results = {}
    for share in (True, False):
        model, mesh, rules = setup()
        rt = runtime_defaults()
        rt.batch.max_tokens, rt.batch.num_buckets, rt.batch.share_prefixes = 256, 1, share
        results[share] = Scorer(model, mesh, rules, rt, stats[share], TOK).loglikelihood(requests)
    for req, shared, alone in zip(requests, results[True], results[False], strict=True):
        assert abs(shared.logprob - alone.logprob) <= 1e-5, (req, shared, alone)
        assert (shared.is_greedy, shared.num_tokens, shared.truncated) == (
            alone.is_greedy,
            alone.num_tokens,
            alone.truncated,
        )
    for req, res in list(zip(requests, results[True]))[:40]:
        if not res.truncated:
            logprob, greedy = plain(req.context, req.continuation)
            assert res.logprob == pytest.approx(logprob, abs=2e-5) and res.is_greedy == greedy
    assert any(r.truncated for r in results[True])
    assert stats[True].real_tokens < 0.5 * stats[False].real_tokens  # each context fed once, not 5 times


def test_too_long_truncates_or_raises():
    ids = tuple(range(1, 81))  # 80 tokens: 15 over the context of 64
    stats = scorer().stats
    before = stats.truncated_count
    [res] = scorer().loglikelihood([Loglikelihood(ids[:-5], ids[-5:])])
    assert res.truncated == 80 - 1 - MAX_LEN and stats.truncated_count == before + 1
    expected, _ = plain(ids[-(MAX_LEN + 1) : -5], ids[-5:])
    assert res.logprob == pytest.approx(expected, abs=1e-5)
    with pytest.raises(UserError, match="--config.runtime.too_long"):
        scorer(too_long="error").loglikelihood([Loglikelihood(ids[:-5], ids[-5:])])
    with pytest.raises(UserError, match="continuation"):
        scorer().loglikelihood([Loglikelihood((1,), tuple(range(MAX_LEN + 1)))])


def test_text_requests_follow_lm_eval_encoding_and_bos():
    s = scorer()
    res = s.loglikelihood([Loglikelihood("The cat ", "sat"), Loglikelihood("", "hi"), Loglikelihood("a", "")])
    # Trailing space moves to the continuation: context "The cat", continuation " sat".
    assert res[0].logprob == pytest.approx(plain(TOK.encode("The cat"), TOK.encode(" sat"))[0], abs=1e-5)
    assert res[0].num_tokens == 4
    assert res[1].logprob == pytest.approx(plain([TOK.bos_id], TOK.encode("hi"))[0], abs=1e-5)
    assert (res[2].logprob, res[2].is_greedy, res[2].num_tokens) == (0.0, True, 0)


def test_ids_outside_the_vocabulary_are_refused_not_scored_as_nan():
    with pytest.raises(UserError, match="context has token id 300, outside the model's vocabulary"):
        scorer().loglikelihood([Loglikelihood([1, 300], [2])])

    class Wide(ByteTokenizer):  # a tokenizer with more ids than the model's embedding table
        def encode(self, text):
            return [299 + len(text)]

    model, mesh, rules = setup()
    wide = Scorer(model, mesh, rules, runtime_defaults(), RuntimeStats(), Wide())
    with pytest.raises(UserError, match="the tokenizer turned a request's context into token id 302"):
        wide.loglikelihood([Loglikelihood("ab", "c")])


def test_rolling_sums_disjoint_windows():
    text = "rolling windows cover every token exactly once! " * 3  # 144 bytes: windows of 64, 64, 16
    ids = TOK.encode(text)
    windows = rolling_windows(ids, TOK.bos_id, MAX_LEN)
    assert [len(c) for _, c in windows] == [64, 64, 16] and sum((c for _, c in windows), []) == ids
    expected = sum(plain(ctx, cont)[0] for ctx, cont in windows)
    [res, empty] = scorer().loglikelihood_rolling([LoglikelihoodRolling(text), LoglikelihoodRolling("")])
    assert res.num_tokens == len(ids) and res.logprob == pytest.approx(expected, abs=1e-4, rel=1e-6)
    assert (empty.logprob, empty.num_tokens) == (0.0, 0)


def test_flax_handle_scores_generates_and_reports(monkeypatch):
    from evalkit.runtime import engines
    from evalkit.runtime.handle import FLAX_MODEL_SPEC, flax_model_config, load_flax_model

    cfg = flax_model_config()
    cfg.update(dict(d_model=32, d_ff=64, num_layers=1, max_len=32))
    rt = runtime_defaults()
    rt.batch.max_tokens = 128
    handle = load_flax_model(cfg, rt)
    assert FLAX_MODEL_SPEC.name == "flax" and FLAX_MODEL_SPEC.load is load_flax_model
    assert handle.tokenizer.name == "bytes" and handle.mesh.devices.size == jax.device_count()
    [res] = handle.loglikelihood([Loglikelihood("ab", "c")])
    assert res.num_tokens == 1 and res.logprob < 0

    class FakeGenerator:
        def __init__(self, model, mesh, rules, runtime_cfg, stats, tokenizer):
            assert model is handle.model and stats is handle.runtime_stats

        def generate(self, requests):
            return [Generation("x", (120,), "length") for _ in requests]

    monkeypatch.setattr(engines, "generator_class", lambda runtime_cfg: FakeGenerator)
    assert handle.generate([Generate("ab", max_new_tokens=1)])[0].text == "x"
    stats = handle.stats()
    assert stats["compiles"] == 1 and stats["processes"] == 1 and stats["devices"] >= 1
    assert "device_kind" in stats and stats["real_tokens"] == 2

    bad = flax_model_config()
    bad.vocab_size = 100
    with pytest.raises(UserError, match="vocab_size"):
        load_flax_model(bad, rt)
