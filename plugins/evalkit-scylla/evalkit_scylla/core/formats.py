"""Input strings in the exact Scylla formats (section 3), built from an instance's structured data.

Data layouts: ``{"l": [...]}`` (plain list), ``{"l": [...], "k": k}`` (list + target / k),
``{"l": [...], "a": a, "b": b}`` (list + open range), ``{"l1": [...], "l2": [...]}`` (two lists),
``{"n": n, "D": [[...], ...]}`` (TSP distance matrix).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .spec import get_task


def join_list(values: Sequence[int]) -> str:
    """Space-separated integers, as the paper's ``_cast_list_to_string``."""
    return " ".join(str(int(v)) for v in values)


def matrix_str(n: int, matrix: Sequence[Sequence[int]]) -> str:
    """The TSP input: ``$n$ = n, $D$ =`` then a LaTeX bmatrix in ``\\[ \\]`` with a trailing newline."""
    rows = [" & ".join(str(int(v)) for v in row) for row in matrix]
    body = "\\begin{bmatrix}\n" + " \\\\\n".join(rows) + "\n\\end{bmatrix}"
    return f"$n$ = {n}, $D$ =\n" + "\\[\n" + body + "\n" + "\\]\n"


def format_input(slug: str, data: Mapping[str, Any]) -> str:
    """The exact input string the paper puts into the prompt for task ``slug``."""
    kind = get_task(slug).input_kind
    if kind == "list":
        return join_list(data["l"])
    if kind == "list_k":
        return f"$l$ = {join_list(data['l'])}, $k$ = {int(data['k'])}"
    if kind == "list_range":
        return f"$l$ = {join_list(data['l'])}, $a$ = {int(data['a'])}, $b$ = {int(data['b'])}"
    if kind == "list_pair":
        return f"$l_1$ = {join_list(data['l1'])}, $l_2$ = {join_list(data['l2'])}"
    return matrix_str(int(data["n"]), data["D"])
