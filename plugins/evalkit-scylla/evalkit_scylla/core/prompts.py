"""Exact Scylla prompt strings: the zero-shot CoT evaluation prompt (section 6) and the probing
prompts (section 7), byte for byte as in the authors' ``5_eval_model.py`` and ``modules/Task.py``.
"""

from __future__ import annotations

from .spec import TaskSpec

SYSTEM_PROMPT = "You are a helpful AI assistant."
SECOND_PASS_TRIGGER = "Therefore, the answer is"

_EVAL_TEMPLATE = (
    "Here is a task: {task_description}\n"
    "\n"
    "Solve the task with the following input:\n"
    "{input_str}\n"
    "\n"
    'IMPORTANT: End your response with "The answer is <ANSWER>" where you should fill <ANSWER> with your final '
    "answer and must format the final answer obeying the following rules: {answer_format_requirements}\n"
    "\n"
    "Your response:\nLet's think step by step."
)

_PROBE_LIST = (
    "Randomly generate number lists as test inputs for testing a program written for the task of {task_title}. "
    "The task description is: {task_description} Enclose each number list by square brackets, e.g. "
    "[x1, x2, x3, x4]. Do not generate the corresponding output. Do not use or generate any code. Make sure that "
    "the number elements are non-negative integers. Make sure that the number lists are not empty and not too "
    "long.\n\nNow please generate as many such number lists as possible:\n\n"
)
_PROBE_LIST_PAIR = (
    "Randomly generate pairs of number lists as test inputs for testing a program written for the task of "
    "{task_title}. The task description is: {task_description} Enclose each of the two number list by square "
    "brackets and put them in another list, e.g. [[x1, x2], [x3, x4]]. Do not generate the corresponding output. "
    "Do not use or generate any code. Make sure that the number elements are non-negative integers. Make sure "
    "that the number lists are not empty and not too long.\n\nNow please generate as many such pairs of number "
    "lists as possible:\n\n"
)
_PROBE_TSP = (
    "Randomly generate some adjacency matrices as test inputs for testing a program written for the task of "
    "solving the Traveling Salesman Problem (TSP). The task description is: Given a list of cities and the "
    "distances between each pair of cities, find the shortest path that visits every city once and returns to "
    "the starting city. Enclose each adjacency matrix by square brackets. Make sure the matrix is symmetric, and "
    "each element should be a non-negative integer. For example, [[0, x1, x2, x3], [x1, 0, x4, x5], "
    "[x2, x4, 0, x6], [x3, x5, x6, 0]] is a valid adjacency matrix. Do not generate the corresponding output. "
    "Do not use or generate any code. Make sure that the adjacency matrices have length larger than 3 but not "
    "too large.\n\nNow please generate as many such adjacency matrices as possible:\n\n"
)


def eval_prompt(spec: TaskSpec, input_str: str) -> str:
    """The zero-shot chain-of-thought evaluation prompt (no trailing newline)."""
    return _EVAL_TEMPLATE.format(
        task_description=spec.description, input_str=input_str, answer_format_requirements=spec.answer_format
    )


def probing_prompt(spec: TaskSpec) -> str:
    """The distribution-probing prompt that asks the model under test for test inputs."""
    if spec.input_kind == "matrix":
        return _PROBE_TSP
    template = _PROBE_LIST_PAIR if spec.input_kind == "list_pair" else _PROBE_LIST
    return template.format(task_title=spec.title, task_description=spec.description)


def paper_raw_text(spec: TaskSpec, input_str: str) -> str:
    """What the paper's vLLM path sends: system prompt, a blank line, then the prompt, with no chat template."""
    return SYSTEM_PROMPT + "\n\n" + eval_prompt(spec, input_str)
