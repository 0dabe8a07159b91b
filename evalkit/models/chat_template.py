"""Chat templates: Hugging Face Jinja chat templates rendered in a sandbox, as `transformers` renders them.

`ChatTemplate.render(messages)` equals `tokenizer.apply_chat_template(messages, tokenize=False,
add_generation_prompt=...)`: the same Jinja settings (trim_blocks, lstrip_blocks, loop controls,
`{% generation %}` blocks), the same `tojson` filter and `raise_exception` / `strftime_now` globals,
and the same variables (`messages`, `tools=None`, `documents=None`, `add_generation_prompt` and the
tokenizer's special tokens such as `bos_token`). A template is untrusted text, so it runs in Jinja's
immutable sandbox and never imports or calls Python beyond what the sandbox allows.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import types
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from evalkit.api.requests import Chat
from evalkit.errors import UserError
from evalkit.models.tokenizers import TOKENIZER_DIR

R = TypeVar("R")

_FIX = "set --config.model.chat_template=none or to a template file"
# For a broken tokenizer_config.json: a template file would still read it (for the special tokens).
_NO_TEMPLATE = "set --config.model.chat_template=none"
# The day `strftime_now` reports (templates such as Llama 3.x write "Today Date: ..." into every prompt): fixed,
# so a prompt, and the results hashed with it, do not change with the day a run is made or resumed.
TEMPLATE_DATE = "2024-07-26"
_MIN_JINJA = (3, 1, 6)  # older releases have known sandbox escapes (transformers refuses them too)


@dataclasses.dataclass(frozen=True)
class ChatTemplate:
    """A Jinja chat template, where it came from, and the special tokens it may reference."""

    source: str
    origin: str
    special_tokens: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)
    date: str = TEMPLATE_DATE  # what strftime_now() reports (ISO date)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not isinstance(self.origin, str):
            raise TypeError("ChatTemplate source and origin must be strings.")
        tokens = dict(self.special_tokens)
        bad = {k: v for k, v in tokens.items() if not (isinstance(k, str) and isinstance(v, str))}
        if bad:
            raise TypeError(f"ChatTemplate special_tokens must map str to str, got {bad!r}.")
        object.__setattr__(self, "special_tokens", types.MappingProxyType(tokens))
        self._compiled()  # parse now, so a broken template fails when it is loaded, not mid-run

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the template text (recorded in results so runs name the exact template)."""
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def render(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
        """The prompt text for `messages`, exactly as transformers' `apply_chat_template(tokenize=False)`."""
        import jinja2

        chat = _checked_messages(messages)
        # Special tokens first: the explicit variables below win, as in transformers.
        variables: dict[str, Any] = dict(self.special_tokens)
        variables.update(
            messages=chat, tools=None, documents=None, add_generation_prompt=bool(add_generation_prompt)
        )
        today = datetime.fromisoformat(self.date)
        variables["strftime_now"] = today.strftime  # the fixed day, not the clock (TEMPLATE_DATE)
        compiled = self._compiled()
        try:
            return compiled.render(variables)
        except _TemplateRaised as e:
            raise UserError(
                f"Chat template {self.origin} rejected the conversation: {_one_line(e)}; fix the messages "
                f"(a template that refuses system messages: set the task's system prompt to ''), the "
                f"template, or {_FIX}."
            ) from None
        except jinja2.exceptions.SecurityError as e:
            raise UserError(
                f"Chat template {self.origin} tried an operation the sandbox forbids ({_one_line(e)}); "
                f"use a trusted template, or {_FIX}."
            ) from None
        except Exception as e:  # anything the template itself got wrong: undefined names, bad types, ...
            raise UserError(
                f"Chat template {self.origin} failed to render ({type(e).__name__}: {_one_line(e)}); "
                f"fix the template, or {_FIX}."
            ) from None

    def _compiled(self) -> Any:
        import jinja2

        try:
            return _compile(self.source)
        except jinja2.exceptions.TemplateSyntaxError as e:
            raise UserError(
                f"Chat template {self.origin} does not parse at line {e.lineno} ({_one_line(e)}); "
                f"fix the template, or {_FIX}."
            ) from None


def load_chat_template(spec: str, model_dir: str | os.PathLike[str] | None) -> ChatTemplate | None:
    """'auto': the model folder's template, or None when it has none (or model_dir is None); 'none': None;
    anything else: a template file (.jinja/.j2/.txt text, or a tokenizer_config-style .json).

    In the folder, `chat_template.jinja` wins over tokenizer_config.json's "chat_template" (a string,
    or a list of {"name", "template"} of which "default" is used), as in transformers. Special tokens
    come from model_dir's tokenizer_config.json (else, for a .json template file, from that file).
    """
    if not isinstance(spec, str):
        raise TypeError(f"Chat template spec must be a string, got {spec!r}.")
    folder = _model_folder(model_dir)
    if spec.strip().lower() == "none":
        return None
    config_path = folder / "tokenizer_config.json" if folder is not None else None
    config = _read_json(config_path) if config_path is not None and config_path.is_file() else None

    if spec.strip().lower() == "auto":
        if folder is None:
            return None
        jinja_path = folder / "chat_template.jinja"
        if jinja_path.is_file():
            source, origin = _read_text(jinja_path), str(jinja_path)
        elif config is not None and config.get("chat_template") is not None:
            source, origin = _template_from_config(config, config_path), str(config_path)
        else:
            return None
        return _make(source, origin, _special_tokens(config or {}))

    path = Path(spec).expanduser()
    if path.suffix.lower() == ".json":
        file_config = _read_json(path)
        if file_config.get("chat_template") is None:
            raise UserError(f'Chat template file {path} has no "chat_template" entry; add one, or {_FIX}.')
        source = _template_from_config(file_config, path)
        tokens = _special_tokens(config if config is not None else file_config)
    else:
        source = _read_text(path)
        tokens = _special_tokens(config or {})
    return _make(source, str(path), tokens)


def plain_prompt(messages: Sequence[Mapping[str, str]]) -> str:
    """The text sent to a model without a template: the messages' contents joined by a blank line."""
    return "\n\n".join(m["content"] for m in _checked_messages(messages))


TEMPLATE_FILES = ("tokenizer_config.json", "chat_template.jinja")  # where a model folder keeps its template


def template_folder(model_config: Mapping[str, Any]) -> Path | None:
    """Where a model's tokenizer files (and so its chat template) live: its Hugging Face checkpoint folder,
    the tokenizer folder `evalkit convert` writes into a checkpoint, or the folder of a tokenizer path."""
    candidates = []
    if model_config.get("checkpoint", ""):
        checkpoint = Path(str(model_config["checkpoint"])).expanduser()
        candidates += [checkpoint, checkpoint / TOKENIZER_DIR]
    spec = str(model_config.get("tokenizer", "bytes"))
    if spec != "bytes" and not spec.startswith("vocab:"):
        path = Path(spec).expanduser()
        candidates.append(path if path.is_dir() else path.parent)
    for folder in candidates:
        if any((folder / name).is_file() for name in TEMPLATE_FILES):
            return folder
    return None


def model_chat_template(model_config: Mapping[str, Any]) -> ChatTemplate | None:
    """The template ``model.chat_template`` selects ('auto': the model folder's, if any; 'none'; a file)."""
    return load_chat_template(str(model_config.get("chat_template", "auto")), template_folder(model_config))


def chat_text(chat: Chat, template: ChatTemplate | None) -> str:
    """The text a model reads for a :class:`evalkit.api.Chat` context: its template's rendering with the
    generation prompt (or :func:`plain_prompt` without a template), then the chat's assistant prefix."""
    messages = chat.as_dicts()
    prompt = template.render(messages, add_generation_prompt=True) if template else plain_prompt(messages)
    return prompt + chat.assistant_prefix


def render_chats(requests: Sequence[R], template: ChatTemplate | None) -> list[R]:
    """``requests`` with every :class:`evalkit.api.Chat` context replaced by its text (others unchanged)."""
    return [
        dataclasses.replace(r, context=chat_text(r.context, template))
        if isinstance(getattr(r, "context", None), Chat)
        else r
        for r in requests
    ]


def template_identity(template: ChatTemplate | None) -> dict[str, Any] | None:
    """What results record about the template a model renders chats with (None: plain prompts)."""
    if template is None:
        return None
    tokens = json.dumps(dict(template.special_tokens), sort_keys=True)
    return {
        "sha256": template.sha256,
        "origin": template.origin,
        "date": template.date,
        "special_tokens_sha256": hashlib.sha256(tokens.encode("utf-8")).hexdigest(),
    }


def _make(source: str, origin: str, tokens: Mapping[str, str]) -> ChatTemplate:
    if not source.strip():
        raise UserError(f"Chat template {origin} is empty; give a template, or {_FIX}.")
    return ChatTemplate(source=source, origin=origin, special_tokens=tokens)


def _model_folder(model_dir: str | os.PathLike[str] | None) -> Path | None:
    # A tokenizer spec may name tokenizer.json itself; its folder holds the template.
    if model_dir is None:
        return None
    path = Path(model_dir).expanduser()
    return path.parent if path.is_file() else path


def _read_text(path: Path) -> str:
    # Text mode, like transformers: universal newlines turn "\r\n" into "\n".
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise UserError(
            f"Chat template file {path} is not UTF-8 text ({e.reason}); re-save it, or {_FIX}."
        ) from None
    except OSError as e:
        raise UserError(
            f"Cannot read chat template file {path} ({e.strerror or e}); fix the path, or {_FIX}."
        ) from None


def _read_json(path: Path) -> dict[str, Any]:
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}); fix the file, or {_NO_TEMPLATE}.") from None
    if not isinstance(data, dict):
        raise UserError(
            f"{path} holds a JSON {type(data).__name__}, not an object; fix the file, or {_NO_TEMPLATE}."
        )
    return data


def _template_from_config(config: Mapping[str, Any], path: Path) -> str:
    """tokenizer_config's "chat_template": a string, or named templates (a list of {name, template} or a dict)."""
    value = config["chat_template"]
    if isinstance(value, str):
        return value
    named: dict[Any, Any] | None = None
    if isinstance(value, list) and all(
        isinstance(t, dict) and {"name", "template"} <= t.keys() for t in value
    ):
        named = {t["name"]: t["template"] for t in value}
    elif isinstance(value, dict):
        named = value
    if named is None:
        raise UserError(
            f'{path} has a "chat_template" that is neither a string nor a list of {{"name", "template"}} '
            f"entries; fix the file, or {_FIX}."
        )
    if not isinstance(named.get("default"), str):
        raise UserError(
            f'{path} has named chat templates {sorted(map(str, named))} but no "default" string one; '
            f"save the one you want as a template file and pass its path, or {_FIX}."
        )
    return named["default"]


def _special_tokens(config: Mapping[str, Any]) -> dict[str, str]:
    """Every "*_token" entry that is a string or an AddedToken dict (its "content"), plus a dict-valued
    "extra_special_tokens": the variables transformers v5 hands a template (its special_tokens_map)."""
    tokens: dict[str, str] = {}
    extra = config.get("extra_special_tokens")
    entries = [*config.items(), *(extra.items() if isinstance(extra, dict) else ())]
    for key, value in entries:
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(key, str) and key.endswith("_token") and isinstance(value, str):
            tokens[key] = value
    return tokens


def _checked_messages(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Plain-dict copies of `messages`, after checking their shape (a bad shape is a caller's bug)."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError(f"Chat messages must be a sequence of dicts, got {type(messages).__name__}.")
    if not messages:
        raise ValueError("Chat messages must not be empty.")
    chat = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(f"Chat message {i} must be a dict with 'role' and 'content', got {message!r}.")
        for key in ("role", "content"):
            if not isinstance(message.get(key), str):
                raise ValueError(f"Chat message {i} needs a str {key!r}, got {message!r}.")
        bad = [k for k, v in message.items() if not (isinstance(k, str) and isinstance(v, str))]
        if bad:
            raise TypeError(f"Chat message {i} must map str to str; entries {bad!r} are not.")
        chat.append(dict(message))
    return chat


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()).rstrip(".") or type(error).__name__


class _TemplateRaised(Exception):
    """The template called raise_exception(message)."""


@functools.lru_cache(maxsize=64)
def _compile(source: str) -> Any:
    return _environment().from_string(source)


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    """The sandboxed Jinja environment of transformers' `_compile_jinja_template`, built once."""
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    import jinja2.utils
    from jinja2.exceptions import SecurityError, TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    version = tuple(int(p) if p.isdigit() else 0 for p in jinja2.__version__.split(".")[:3])
    if version < _MIN_JINJA:
        raise UserError(
            f"jinja2 {jinja2.__version__} has known sandbox escapes; chat templates need jinja2>=3.1.6 "
            f"(pip install -U 'jinja2>=3.1.6'), or {_NO_TEMPLATE}."
        )

    class Raised(_TemplateRaised, TemplateError):
        pass

    class Undefined(jinja2.Undefined):
        """Jinja's lenient Undefined (a missing `bos_token` renders as ""), except that a value the
        sandbox withheld (e.g. `''.__class__`) fails on any use instead of rendering as ""."""

        __slots__ = ()

        def _unsafe(self) -> bool:
            return self._undefined_exception is SecurityError

        def __str__(self) -> str:
            if self._unsafe():
                self._fail_with_undefined_error()
            return super().__str__()

        def __iter__(self):  # type: ignore[override]
            if self._unsafe():
                self._fail_with_undefined_error()
            return super().__iter__()

        def __bool__(self) -> bool:
            if self._unsafe():
                self._fail_with_undefined_error()
            return super().__bool__()

        def __len__(self) -> int:
            if self._unsafe():
                self._fail_with_undefined_error()
            return super().__len__()

    class Generation(jinja2.ext.Extension):
        """Parses `{% generation %}...{% endgeneration %}` (transformers' assistant-mask marker) as its body."""

        tags = {"generation"}

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.Scope(body).set_lineno(lineno)

    class TemplateDict:
        """`dict(...)` for templates without exposing the dict type itself."""

        def __call__(self, *args: Any, **kwargs: Any) -> dict:
            return dict(*args, **kwargs)

        def fromkeys(self, *args: Any, **kwargs: Any) -> dict:
            return dict.fromkeys(*args, **kwargs)

    class TemplateNamespace(jinja2.utils.Namespace):
        """`namespace(...)` that refuses underscore attributes, as transformers does."""

        def __init__(*args: Any, **kwargs: Any) -> None:
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name: str, value: Any) -> None:
            TemplateNamespace._check_name(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check_name(name: Any) -> None:
            if isinstance(name, str) and name.startswith("_"):
                raise SecurityError(f"chat templates cannot set underscore attribute {name!r} on a namespace")

    def raise_exception(message: Any) -> None:
        raise Raised(message)

    def tojson(
        x: Any,
        ensure_ascii: bool = False,
        indent: Any = None,
        separators: Any = None,
        sort_keys: bool = False,
    ):
        # Unlike Jinja's tojson: no HTML escaping, and non-ASCII kept (what templates were written against).
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    def strftime_now(format: str) -> str:
        return datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=Undefined,
        extensions=[Generation, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = tojson
    env.globals.update(
        raise_exception=raise_exception,
        strftime_now=strftime_now,
        dict=TemplateDict(),
        namespace=TemplateNamespace,
    )
    return env
