"""RASP-L programs: reference worked examples, oracle agreement on random inputs far beyond
typical training lengths, causality, and length-independent program size."""

from __future__ import annotations

import numpy as np
import pytest
from evalkit_rasp.rasp import programs as P
from evalkit_rasp.rasp.tasks import addition_hints_prompt, make_task, rasp_generate

PROMPT_88_842 = [-1, -100, 0, -101, 0, -102, 8, -103, 8, -2, -100, 0, -101, 8, -102, 4, -103, 2, -3]
FORWARD_88_842 = [-100, 0, -101, 9, -102, 3, -103, 0, -5]
REVERSE_88_842 = [-103, 0, -102, 3, -101, 9, -100, 0, -5]

# Lengths for the random sweep: up to ~4x a typical training length (count: 60 -> 240).
MAX_TEST_LENGTH = {
    "count": 240,
    "mode": 80,
    "copy_unique": 80,
    "sort_unique": 80,
    "add_hints_forward": 40,
    "add_hints_reverse": 40,
    "parity_scratchpad": 80,
}
N_RANDOM = {"add_hints_forward": 250, "add_hints_reverse": 250}


def teacher_forced(program: P.RaspProgram, prompt: list[int], answer: list[int]) -> list[int]:
    """Program outputs at the positions predicting each answer token (one run, causal)."""
    out = program(prompt + answer[:-1])
    return [int(t) for t in out[len(prompt) - 1 :]]


def test_count_worked_example() -> None:
    assert rasp_generate(P.PROGRAMS["count"], [-1, 3, 7], max_new=20) == [3, 4, 5, 6, 7, -2]
    assert rasp_generate(P.PROGRAMS["count"], [-1, 4, 4], max_new=20) == [4, -2]


def test_count_packed_context() -> None:
    ctx = [5, 6, -1, 0, 4, 0, 1, 2, 3, 4, -2, -1, 5, 8, 5, 6, 7, 8]
    out = P.count(ctx).tolist()
    assert out[4:10] == [0, 1, 2, 3, 4, -2]  # first example: START at 2, counts 0..4
    assert out[13:18] == [5, 6, 7, 8, -2]  # second example: the most recent START (11) wins


def test_count_never_stops_when_a_gt_b() -> None:
    # the reason generators enforce a <= b
    assert -2 not in rasp_generate(P.PROGRAMS["count"], [-1, 5, 2], max_new=30)


@pytest.mark.parametrize(
    ("name", "expected"), [("add_hints_forward", FORWARD_88_842), ("add_hints_reverse", REVERSE_88_842)]
)
def test_addition_worked_example(name: str, expected: list[int]) -> None:
    assert addition_hints_prompt(88, 842) == PROMPT_88_842
    assert rasp_generate(P.PROGRAMS[name], PROMPT_88_842, max_new=30) == expected
    assert make_task(name).oracle(PROMPT_88_842) == expected
    reverse = name.endswith("reverse")
    assert (
        P.next_tok_addition(PROMPT_88_842 + expected[:-1], reverse=reverse)[-len(expected) :].tolist()
        == expected
    )


def test_small_program_examples() -> None:
    bos, sep, eos = P.BOS, P.SEP, P.EOS
    assert rasp_generate(P.PROGRAMS["mode"], [bos, 3, 1, 3, 1, 2, sep], 5) == [1, eos]  # tie -> smaller
    assert rasp_generate(P.PROGRAMS["mode"], [bos, 3, 1, 3, 2, sep], 5) == [3, eos]
    assert rasp_generate(P.PROGRAMS["copy_unique"], [bos, 4, 0, 9, sep], 9) == [4, 0, 9, eos]
    assert rasp_generate(P.PROGRAMS["sort_unique"], [bos, 5, 2, 9, 0, sep], 9) == [0, 2, 5, 9, eos]
    h = P.hint
    prompt = [bos, h(0), 1, h(1), 0, h(2), 1, sep]
    assert rasp_generate(P.PROGRAMS["parity_scratchpad"], prompt, 20) == [h(0), 1, h(1), 1, h(2), 0, eos]


@pytest.mark.parametrize("name", sorted(P.PROGRAMS))
def test_program_matches_oracle_on_random_lengths(name: str) -> None:
    spec = make_task(name)
    assert spec.program is P.PROGRAMS[name]
    rng = np.random.default_rng(1234)
    hi = MAX_TEST_LENGTH[name]
    lengths = list(range(1, 9)) + [hi, hi - 1] + list(rng.integers(1, hi + 1, size=N_RANDOM.get(name, 300)))
    for length in lengths:
        prompt, answer = spec.make_example(rng, int(length))
        assert answer == spec.oracle(prompt)
        assert teacher_forced(spec.program, prompt, answer) == answer, (name, prompt)
        if spec.hints_used is not None:  # the same example under a hint window (training-time numbering)
            first = int(rng.integers(0, spec.max_first_hint(int(length)) + 1))
            prompt, answer = spec.make_example(rng, int(length), first_hint=first)
            assert answer == spec.oracle(prompt) and P.hint(first) in prompt
            assert teacher_forced(spec.program, prompt, answer) == answer, (name, first, prompt)


@pytest.mark.parametrize("reverse", [False, True])
def test_addition_carry_chains(reverse: bool) -> None:
    name = "add_hints_reverse" if reverse else "add_hints_forward"
    spec = make_task(name)
    rng = np.random.default_rng(7)
    cases = [
        (0, 0),
        (9, 1),
        (1, 9),
        (5, 5),
        (9999, 1),
        (1, 99999),
        (99999, 99999),
        (4999, 5001),
        (10**12 - 1, 1),
    ]
    for _ in range(300):  # digits biased towards 9 and 0 for long carry chains
        digits = [rng.choice([0, 9, 9, 9, 1, 8], size=int(rng.integers(1, 15))) for _ in range(2)]
        cases.append(tuple(int("".join(map(str, d))) for d in digits))
    for a, b in cases:
        prompt = addition_hints_prompt(a, b)
        answer = spec.oracle(prompt)
        digits = [t for t in answer if t >= 0]
        assert int("".join(map(str, digits[::-1] if reverse else digits))) == a + b
        assert teacher_forced(spec.program, prompt, answer) == answer, (a, b)


@pytest.mark.parametrize("name", sorted(P.PROGRAMS))
def test_programs_are_causal(name: str) -> None:
    spec = make_task(name)
    prompt, answer = spec.make_example(np.random.default_rng(3), 6)
    seq = prompt + answer[:-1]
    full = spec.program(seq)
    for i in range(1, len(seq) + 1):
        assert int(spec.program(seq[:i])[-1]) == int(full[i - 1])


@pytest.mark.parametrize("name", sorted(P.PROGRAMS))
def test_program_size_is_length_independent(name: str) -> None:
    spec = make_task(name)
    rng = np.random.default_rng(0)
    sizes = set()
    for length in (1, 3, 10, 30):
        prompt, answer = spec.make_example(rng, length)
        sizes.add(P.measure_size(spec.program.fn, prompt + answer[:-1]))
        sizes.add(P.measure_size(spec.program.fn, prompt))
    assert sizes == {spec.program.size}


def test_copy_unique_program_fails_on_repeats() -> None:
    # contrast: the induction lookup is ambiguous once tokens repeat (no RASP-L program)
    spec = make_task("copy_repeat")
    rng = np.random.default_rng(2)
    wrong = 0
    for _ in range(20):
        prompt, answer = spec.make_example(rng, 15)
        wrong += teacher_forced(P.PROGRAMS["copy_unique"], prompt, answer) != answer
    assert wrong == 20
