"""The commands README.md and docs/*.md show, read the way a reader would copy them.

A command is a line of a ```bash block (continuation lines joined, `# comments` dropped, `&&` chains split)
or an inline code span that starts with a command word (`evalkit run ...`, `python benchmarks/x.py`, ...).
tests/test_docs_commands.py runs every one of them, in a dry form where the real run takes minutes.
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
SHELL_BLOCKS = ("bash", "sh", "shell", "console")

_ENV = r"(?:[A-Z_][A-Z0-9_]*=\S+\s+)*"
_COMMAND_START = re.compile(
    _ENV + r"(?:evalkit\s+(?:[a-z][a-z-]*|--help)\b"
    r"|python3?\s+(?:-m\s+\w|[\w./<>-]+\.py\b)|pip\s+\w|pytest\b|cd\s|tpu_scripts/[\w.-]+\.sh\b)"
)
# A fenced block (``` or ~~~, indented up to 3 spaces as in a list item): its language and its body.
_FENCE = re.compile(r"^ {0,3}(```|~~~)([\w-]*)[^\n]*\n(.*?)^ {0,3}\1", re.S | re.M)
# An inline code span of one or two backticks (two when the code holds one).
_INLINE = re.compile(r"(?<!`)(``?)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_OVERRIDE = re.compile(r"^--config\.([\w.<>*-]+)=(.*)$")


@dataclass(frozen=True)
class DocCommand:
    """One command line of the docs: where it is shown, its text, and its `&&`-chained parts."""

    file: str
    line: int
    text: str
    block: int = -1  # index of its fenced block in the file; -1: an inline code span

    @property
    def parts(self) -> list[str]:
        return split_chain(self.text)

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.text[:70]}"


def is_command(text: str) -> bool:
    return bool(_COMMAND_START.match(text.strip()))


def split_chain(text: str) -> list[str]:
    """`a && b  # note` -> ["a", "b"]: the comment dropped, split on && outside quotes, text kept as written
    (so `$(...)` and globs reach the shell unchanged)."""
    parts, current, quote = [], "", ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            break
        elif text.startswith("&&", i):
            parts.append(current)
            current, i = "", i + 2
            continue
        current += ch
        i += 1
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _block_lines(body: str, first_line: int) -> list[tuple[int, str]]:
    """Logical lines of a shell block (a trailing backslash joins the next line) with their line numbers."""
    out, pending, start = [], "", first_line
    for offset, raw in enumerate(body.splitlines()):
        if not pending:
            start = first_line + offset
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        text = (pending + raw).strip()
        text = text[2:] if text.startswith("$ ") else text  # a shell prompt is not part of the command
        pending = ""
        if text:
            out.append((start, text))
    return out


def commands_of(file: str) -> list[DocCommand]:
    text = (ROOT / file).read_text(encoding="utf-8")
    found: list[DocCommand] = []
    fenced_spans = []
    for index, block in enumerate(_FENCE.finditer(text)):
        fenced_spans.append(block.span())
        if block.group(2) not in SHELL_BLOCKS:
            continue
        first = text.count("\n", 0, block.start(3)) + 1
        for line, logical in _block_lines(block.group(3), first):
            if split_chain(logical):
                found.append(DocCommand(file, line, logical, index))
    for span in _INLINE.finditer(text):
        if any(a <= span.start() < b for a, b in fenced_spans):
            continue
        content = " ".join(span.group(2).split())
        if is_command(content):
            line = text.count("\n", 0, span.start()) + 1
            found.append(DocCommand(file, line, content))
    return sorted(found, key=lambda c: c.line)


@functools.cache
def documented_commands() -> list[DocCommand]:
    return [c for file in DOC_FILES for c in commands_of(file)]


@functools.cache
def walkthrough_commands() -> list[DocCommand]:
    """The new-plugin walkthrough, docs/plugins.md's first ```bash block: tests/test_new_plugin.py runs it in a
    fresh virtualenv (it installs a package, which the docs test must not do to the test environment)."""
    commands = commands_of("docs/plugins.md")
    first = min(c.block for c in commands if c.block >= 0)
    return [c for c in commands if c.block == first]


def unmarked_command_blocks() -> list[str]:
    """Fenced blocks that are not marked as shell yet hold a command at the start of a line: the docs
    test would miss them, so they must be marked ```bash (or rewritten)."""
    bad = []
    for file in DOC_FILES:
        text = (ROOT / file).read_text(encoding="utf-8")
        for block in _FENCE.finditer(text):
            if block.group(2) in SHELL_BLOCKS:
                continue
            for raw in block.group(3).splitlines():
                prompt = raw.lstrip().startswith("$ ")
                if (prompt or raw[:1] not in (" ", "")) and is_command(raw.lstrip().removeprefix("$ ")):
                    bad.append(f"{file}:{text.count(chr(10), 0, block.start()) + 1}: {raw.strip()}")
    return bad


def python_blocks() -> list[tuple[str, int, str]]:
    """The ```python blocks of the docs as (file, line, code)."""
    blocks = []
    for file in DOC_FILES:
        text = (ROOT / file).read_text(encoding="utf-8")
        for block in _FENCE.finditer(text):
            if block.group(2) == "python":
                blocks.append((file, text.count("\n", 0, block.start(3)) + 1, block.group(3)))
    return blocks


def documented_overrides() -> list[tuple[str, int, dict[str, str]]]:
    """Inline `--config.KEY=VALUE` overrides shown without a command, as (file, line, {key: value}) per span
    (the overrides of one span go together: `--config.judge.name=flax --config.judge.checkpoint=...`)."""
    found = []
    for file in DOC_FILES:
        text = (ROOT / file).read_text(encoding="utf-8")
        fenced = [b.span() for b in _FENCE.finditer(text)]
        for span in _INLINE.finditer(text):
            if any(a <= span.start() < b for a, b in fenced):
                continue
            content = " ".join(span.group(2).split())
            if not content.startswith("--config."):
                continue
            line = text.count("\n", 0, span.start()) + 1
            matches = [_OVERRIDE.match(word) for word in shlex.split(content)]
            overrides = {m.group(1): m.group(2) for m in matches if m}
            if overrides:
                found.append((file, line, overrides))
    return found
