"""RASP-L task specs: generated answer == oracle == RASP generation, vocabularies, constraints."""

from __future__ import annotations

import numpy as np
import pytest
from evalkit_rasp.rasp import programs as P
from evalkit_rasp.rasp.tasks import (
    PAD_TOKEN,
    TASK_FACTORIES,
    Vocab,
    addition_vocab,
    count_vocab,
    make_task,
    parity_vocab,
    rasp_generate,
    sequence_vocab,
)

ALL_TASKS = sorted(TASK_FACTORIES)
WITH_PROGRAM = [
    "count",
    "mode",
    "copy_unique",
    "sort_unique",
    "add_hints_forward",
    "add_hints_reverse",
    "parity_scratchpad",
]


def test_task_registry() -> None:
    assert set(ALL_TASKS) == set(WITH_PROGRAM) | {"copy_repeat", "add_plain", "parity_plain"}
    for name in ALL_TASKS:
        spec = make_task(name)
        assert spec.name == name
        assert (spec.program is not None) == (name in WITH_PROGRAM)
        if spec.program is not None:
            assert spec.program.eos == spec.eos
    with pytest.raises(KeyError):
        make_task("nope")


@pytest.mark.parametrize("name", ALL_TASKS)
def test_examples_oracle_vocab_and_generation(name: str) -> None:
    spec = make_task(name)
    rng = np.random.default_rng(11)
    lengths = [1, 2, 3, 5, 8] if spec.program is not None else [1, 2, 5, 17, 40]
    for length in lengths:
        for _ in range(3):
            prompt, answer = spec.make_example(rng, length)
            assert all(isinstance(t, int) for t in prompt + answer)
            assert answer[-1] == spec.eos and spec.eos not in answer[:-1] + prompt
            assert answer == spec.oracle(prompt)
            ids = spec.vocab.encode(prompt + answer)
            assert all(0 < i < spec.vocab.vocab_size for i in ids)  # PAD never used
            assert spec.vocab.decode(ids) == prompt + answer
            assert ids[-1] == spec.eos_id
            if spec.program is not None:
                assert rasp_generate(spec.program, prompt, max_new=len(answer) + 5) == answer


def test_vocab_tables() -> None:
    add = addition_vocab(3)
    assert add.tokens() == [PAD_TOKEN, -1, -2, -3, -5, *range(10), -100, -101, -102, -103]
    assert add.vocab_size == 19 and add.eos_id == 4 and add.pad_id == 0
    assert add.encode([-1, 0, 9, -100, -103, -5]) == [1, 5, 14, 15, 18, 4]
    assert make_task("add_plain").vocab.tokens() == add.tokens()[:15]  # plain = hinted prefix
    cnt = count_vocab(5)
    assert cnt.tokens() == [PAD_TOKEN, -1, -2, 0, 1, 2, 3, 4, 5] and cnt.eos_id == 2
    seq = sequence_vocab(2)
    assert seq.tokens() == [PAD_TOKEN, -1, -3, -5, 0, 1, 2] and seq.eos_id == 3
    par = parity_vocab(1)
    assert par.tokens() == [PAD_TOKEN, -1, -3, -5, 0, 1, -100, -101] and par.eos_id == 3
    for vocab in (add, cnt, seq, par):
        assert vocab.decode(range(vocab.vocab_size)) == vocab.tokens()
        assert vocab.encode(vocab.tokens()) == list(range(vocab.vocab_size))
        for bad in (-88, -999, -4):
            with pytest.raises(ValueError):
                vocab.encode([bad])
        with pytest.raises(ValueError):
            vocab.decode([vocab.vocab_size])
    with pytest.raises(ValueError):
        vocab.encode([3])  # value beyond max_value
    with pytest.raises(ValueError):
        addition_vocab(899)  # hint 899 would be -999
    assert addition_vocab(898).tokens()[-1] == -998
    with pytest.raises(ValueError):
        Vocab("bad", (("X", -88),), 2)


def test_vocab_parameters() -> None:
    assert make_task("count", max_value=9).vocab.vocab_size == 3 + 10
    assert make_task("copy_unique", max_value=49).vocab.vocab_size == 4 + 50
    assert make_task("add_hints_reverse", max_hint=20).vocab.vocab_size == 15 + 21
    assert make_task("parity_scratchpad", max_hint=20).vocab.vocab_size == 6 + 21
    assert make_task("parity_plain").vocab.vocab_size == 6
    assert make_task("copy_repeat").vocab.vocab_size == 4 + 2  # binary copy by default
    assert make_task("copy_repeat", max_value=9).vocab.vocab_size == 4 + 10


def test_generator_constraints() -> None:
    rng = np.random.default_rng(5)
    count = make_task("count", max_value=20)
    for length in (1, 7, 21):
        for _ in range(20):
            (start, a, b), answer = count.make_example(rng, length)
            assert start == -1 and 0 <= a <= b <= 20 and b - a + 1 == length
            assert len(answer) == length + 1
    with pytest.raises(ValueError):
        count.make_example(rng, 22)
    with pytest.raises(ValueError):
        count.oracle([-1, 5, 2])
    for name in ("copy_unique", "sort_unique"):
        spec = make_task(name, max_value=9)
        prompt, _ = spec.make_example(rng, 10)
        assert sorted(prompt[1:-1]) == list(range(10))
        with pytest.raises(ValueError):
            spec.make_example(rng, 11)
    repeat = make_task("copy_repeat")
    prompt, answer = repeat.make_example(rng, 40)
    assert set(prompt[1:-1]) == {0, 1} and answer[:-1] == prompt[1:-1]
    for _ in range(50):
        prompt, _ = make_task("mode").make_example(rng, 12)
        assert len(prompt) == 14 and all(0 <= t <= 9 for t in prompt[1:-1])
    add = make_task("add_hints_forward", max_hint=6)
    for length in (1, 4, 6):
        prompt, answer = add.make_example(rng, length)
        pad = length + 1
        assert len(prompt) == 3 + 4 * pad and len(answer) == 2 * pad + 1
        assert min(prompt) == P.hint(length)
    with pytest.raises(ValueError):
        add.make_example(rng, 7)
    plain = make_task("add_plain")
    prompt, answer = plain.make_example(rng, 6)
    assert (
        max(
            len(str(n))
            for n in (
                "".join(map(str, prompt[1 : prompt.index(-2)])),
                "".join(map(str, prompt[prompt.index(-2) + 1 : -1])),
            )
        )
        == 6
    )
    assert plain.oracle([-1, 8, 8, -2, 8, 4, 2, -3]) == [9, 3, 0, -5]
    par = make_task("parity_scratchpad", max_hint=9)
    prompt, answer = par.make_example(rng, 10)
    assert len(prompt) == 22 and len(answer) == 21 and set(prompt[2:-1:2]) <= {0, 1}
    with pytest.raises(ValueError):
        par.make_example(rng, 11)
    assert make_task("parity_plain").oracle([-1, 1, 1, 0, 1, -3]) == [1, -5]


def test_rasp_generate_limits() -> None:
    prog = P.PROGRAMS["count"]
    assert rasp_generate(prog, [-1, 0, 9], max_new=3) == [0, 1, 2]  # stops at max_new without EOS
    assert rasp_generate(prog.fn, [-1, 2, 3], max_new=9, eos=-2) == [2, 3, -2]
    with pytest.raises(ValueError):
        rasp_generate(prog.fn, [-1, 2, 3], max_new=9)
