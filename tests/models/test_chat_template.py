"""Chat templates: parity with transformers' apply_chat_template, loading from model folders, the sandbox."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hf_tiny import write_tokenizer

from evalkit.errors import UserError
from evalkit.models.chat_template import ChatTemplate, load_chat_template, plain_prompt

# The public templates of Llama-2-chat, Qwen2-Instruct and Mistral-7B-Instruct-v0.3 (its tool-aware one), verbatim.
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)
QWEN2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MISTRAL = """{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""
# Not a public template: the Jinja features templates lean on (tojson, namespace, loop controls,
# {% generation %}, strftime_now, dict(), tools/documents=None, the block-trimming settings).
FEATURES = """{% set ns = namespace(n=0) %}
{% for m in messages %}
    {% if m.role == 'skip' %}{% continue %}{% endif %}
    {% set ns.n = ns.n + 1 %}
    {{ ns.n }}:{{ m|tojson }}|{{ dict(a=m.role)|tojson(indent=1) }}
    {% if m.role == 'assistant' %}{% generation %}{{ m.content }}{{ eos_token }}{% endgeneration %}{% endif %}
    {% if loop.index > 3 %}{% break %}{% endif %}
{% endfor %}
{{ tools is none }}/{{ documents is none }}/{{ strftime_now('%Y') | length }}/{{ unk_token }}/{{ pad_token }}
{% if add_generation_prompt %}<gen>{% endif %}
"""

SYSTEM_USER = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}]
USER_ONLY = [{"role": "user", "content": "What is 2+2?"}]
MULTI_TURN = [
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": " Hi! How can I help? "},
    {"role": "user", "content": "Tell me a joke."},
]
SYSTEM_MULTI_TURN = [{"role": "system", "content": "You are a pirate."}, *MULTI_TURN]
ENDS_WITH_ASSISTANT = [*MULTI_TURN, {"role": "assistant", "content": "Why did the chicken..."}]
UNICODE_HTML = [{"role": "user", "content": 'héllo <b>&amp;</b> "quoted" 日本\n\nnew para'}]
CONVERSATIONS = [SYSTEM_USER, USER_ONLY, MULTI_TURN, SYSTEM_MULTI_TURN, ENDS_WITH_ASSISTANT, UNICODE_HTML]
NOT_ALTERNATING = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]

LLAMA_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
# Llama-2's tokenizer_config.json stores its specials as AddedToken dicts.
LLAMA_TOKENS_AS_ADDED = {
    k: {"__type": "AddedToken", "content": v, "lstrip": False, "normalized": False, "rstrip": False}
    for k, v in LLAMA_TOKENS.items()
}
QWEN_TOKENS = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
STYLES = {
    "llama2": (LLAMA2, LLAMA_TOKENS_AS_ADDED),
    "qwen2": (QWEN2, QWEN_TOKENS),
    "mistral": (MISTRAL, LLAMA_TOKENS),
    "features": (FEATURES, {**LLAMA_TOKENS, "pad_token": "<pad>"}),
}


def tokenizer_folder(folder: Path, config: dict, template_file: str | None = None) -> Path:
    """A tiny HF tokenizer folder: a word-level tokenizer.json, tokenizer_config.json, maybe chat_template.jinja."""
    folder.mkdir(parents=True, exist_ok=True)
    write_tokenizer(folder / "tokenizer.json")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", **config})
    )
    if template_file is not None:
        (folder / "chat_template.jinja").write_bytes(template_file.encode("utf-8"))
    return folder


def hf_tokenizer(folder: Path):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def hf_render(tok, messages, add_generation_prompt: bool) -> str:
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


# --- parity with transformers ---------------------------------------------------------------------------


@pytest.mark.parametrize("style", sorted(STYLES))
def test_render_matches_transformers(style, tmp_path):
    template, tokens = STYLES[style]
    folder = tokenizer_folder(tmp_path, {"chat_template": template, **tokens})
    tok = hf_tokenizer(folder)
    ours = load_chat_template("auto", folder)
    assert ours is not None and ours.origin == str(folder / "tokenizer_config.json")
    for messages in CONVERSATIONS:
        for agp in (True, False):
            expected = hf_render(tok, messages, agp)
            assert ours.render(messages, add_generation_prompt=agp) == expected, (style, messages, agp)
    # a template's raise_exception: transformers raises TemplateError, we a UserError with its message
    if style in ("llama2", "mistral"):
        with pytest.raises(Exception, match="roles must alternate"):
            hf_render(tok, NOT_ALTERNATING, True)
        with pytest.raises(UserError, match="roles must alternate"):
            ours.render(NOT_ALTERNATING)


def test_spot_values_of_public_templates():
    """Pins the outputs themselves, so the templates above are known to do what their models expect."""
    llama = ChatTemplate(LLAMA2, "llama2", LLAMA_TOKENS)
    assert llama.render(SYSTEM_USER) == "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST]"
    assert (
        llama.render(MULTI_TURN)
        == "<s>[INST] Hello [/INST] Hi! How can I help? </s><s>[INST] Tell me a joke. [/INST]"
    )
    qwen = ChatTemplate(QWEN2, "qwen2", {"eos_token": "<|im_end|>"})
    assert qwen.render(USER_ONLY, add_generation_prompt=True) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert not qwen.render(USER_ONLY, add_generation_prompt=False).endswith("assistant\n")
    mistral = ChatTemplate(MISTRAL, "mistral", LLAMA_TOKENS)
    assert mistral.render(SYSTEM_USER) == "<s>[INST] Be brief.\n\nHi there[/INST]"


def test_jinja_file_wins_and_trailing_newline_and_crlf_match_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    from packaging.version import Version

    if Version(transformers.__version__) < Version("4.50"):
        pytest.skip("older transformers do not read chat_template.jinja")
    text = "{% for m in messages %}[{{ m.role }}]\r\n{{ m.content }}\r\n{% endfor %}{{ eos_token }}\n"
    folder = tokenizer_folder(tmp_path, {"chat_template": "IGNORED", **LLAMA_TOKENS}, template_file=text)
    tok = hf_tokenizer(folder)
    ours = load_chat_template("auto", folder)
    assert ours.origin == str(folder / "chat_template.jinja")
    assert "\r" not in ours.source  # read in text mode, as transformers does
    for messages in CONVERSATIONS:
        assert ours.render(messages) == hf_render(tok, messages, True)
    assert ours.render(USER_ONLY) == "[user]\nWhat is 2+2?\n</s>"  # Jinja drops the one trailing newline


def test_named_templates_use_default_like_transformers(tmp_path):
    named = [{"name": "tool_use", "template": "TOOLS"}, {"name": "default", "template": QWEN2}]
    folder = tokenizer_folder(tmp_path, {"chat_template": named, **QWEN_TOKENS})
    ours = load_chat_template("auto", folder)
    assert ours.source == QWEN2
    tok = hf_tokenizer(folder)
    assert ours.render(MULTI_TURN) == hf_render(tok, MULTI_TURN, True)


# --- loading ----------------------------------------------------------------------------------------------


def test_auto_string_form_and_special_tokens(tmp_path):
    config = {
        "chat_template": QWEN2,
        **LLAMA_TOKENS_AS_ADDED,
        "pad_token": None,
        "add_bos_token": True,
        "image_token": "<img>",
        "extra_special_tokens": {"audio_token": "<aud>"},
    }
    folder = tokenizer_folder(tmp_path, config)
    ct = load_chat_template("auto", folder)
    assert ct.source == QWEN2
    assert dict(ct.special_tokens) == {**LLAMA_TOKENS, "image_token": "<img>", "audio_token": "<aud>"}
    assert (
        load_chat_template("auto", folder / "tokenizer.json") == ct
    )  # a tokenizer.json path names its folder
    assert (
        ChatTemplate("{{ image_token }}{{ audio_token }}", "x", ct.special_tokens).render(USER_ONLY)
        == "<img><aud>"
    )


def test_auto_without_template_is_none(tmp_path):
    assert load_chat_template("auto", tokenizer_folder(tmp_path / "a", LLAMA_TOKENS)) is None
    (tmp_path / "b").mkdir()
    assert load_chat_template("auto", tmp_path / "b") is None  # no tokenizer_config.json at all
    assert load_chat_template("auto", None) is None
    folder = tokenizer_folder(tmp_path / "c", {"chat_template": LLAMA2})
    assert load_chat_template("none", folder) is None
    assert load_chat_template("none", None) is None


def test_template_file_takes_specials_from_model_folder(tmp_path):
    folder = tokenizer_folder(tmp_path / "model", {**LLAMA_TOKENS, "chat_template": QWEN2})
    path = tmp_path / "my.jinja"
    path.write_text(LLAMA2, encoding="utf-8")
    ct = load_chat_template(str(path), folder)
    assert (ct.source, ct.origin, dict(ct.special_tokens)) == (LLAMA2, str(path), LLAMA_TOKENS)
    assert ct.render(USER_ONLY).startswith("<s>[INST] ")
    bare = load_chat_template(str(path), None)
    assert dict(bare.special_tokens) == {}
    with pytest.raises(UserError, match="'bos_token' is undefined"):  # `bos_token + ...` needs a value
        bare.render(USER_ONLY)
    mistral = ChatTemplate(MISTRAL, "m", {"eos_token": "</s>"})
    assert mistral.render(USER_ONLY) == "[INST] What is 2+2?[/INST]"  # while `{{ bos_token }}` renders ""
    for suffix in (".j2", ".txt"):
        other = path.with_suffix(suffix)
        other.write_text(QWEN2, encoding="utf-8")
        assert load_chat_template(str(other), folder).source == QWEN2


def test_json_template_file(tmp_path):
    path = tmp_path / "tpl.json"
    path.write_text(json.dumps({"chat_template": MISTRAL, "bos_token": "<B>", "eos_token": "<E>"}))
    alone = load_chat_template(str(path), None)
    assert alone.source == MISTRAL and dict(alone.special_tokens) == {"bos_token": "<B>", "eos_token": "<E>"}
    folder = tokenizer_folder(tmp_path / "model", LLAMA_TOKENS)
    assert dict(load_chat_template(str(path), folder).special_tokens) == LLAMA_TOKENS  # the model's own win


@pytest.mark.parametrize(
    "write, match",
    [
        (None, "Cannot read chat template file"),
        (lambda p: p.write_bytes(b"{{ messages }}\xff\xfe"), "not UTF-8"),
        (lambda p: p.mkdir(), "Cannot read chat template file"),
        (lambda p: p.write_text("   \n"), "is empty"),
    ],
    ids=["missing", "not-utf8", "directory", "empty"],
)
def test_bad_template_file_is_user_error(tmp_path, write, match):
    path = tmp_path / "t.jinja"
    if write is not None:
        write(path)
    with pytest.raises(UserError, match=match) as info:
        load_chat_template(str(path), None)
    assert str(path) in str(info.value) and "chat_template=none" in str(info.value)


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not an object"),
        ('{"chat_template": 3}', "neither a string nor a list"),
        ('{"chat_template": [{"name": "tool_use", "template": "x"}]}', 'no "default"'),
    ],
)
def test_malformed_tokenizer_config_is_user_error(tmp_path, text, match):
    (tmp_path / "tokenizer_config.json").write_text(text)
    with pytest.raises(UserError, match=match) as info:
        load_chat_template("auto", tmp_path)
    assert str(tmp_path / "tokenizer_config.json") in str(info.value)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_template_file_still_reads_the_folders_tokenizer_config(tmp_path, text):
    (tmp_path / "tokenizer_config.json").write_text(text)
    template = tmp_path / "t.jinja"
    template.write_text("x")
    with pytest.raises(UserError, match="tokenizer_config.json"):
        load_chat_template(str(template), tmp_path)


def test_json_template_file_without_template(tmp_path):
    path = tmp_path / "tpl.json"
    path.write_text('{"bos_token": "<s>"}')
    with pytest.raises(UserError, match='no "chat_template"') as info:
        load_chat_template(str(path), None)
    assert str(path) in str(info.value)


# --- errors and the sandbox -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",  # plain Jinja would render this as ""; we refuse any use of a withheld value
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__['os'].system('touch PWNED') }}",
        "{{ ''['__class__']['__subclasses__']() }}",
        "{{ ('a'|attr('__class__')).__subclasses__() }}",
        "{{ messages.append({'role': 'x'}) }}",
        "{% set ns = namespace() %}{% set ns.__class__ = 1 %}",
        "{{ namespace(__init__=1) }}",
    ],
)
def test_sandbox_refuses(template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ct = ChatTemplate(template, "evil.jinja")
    with pytest.raises(UserError, match="evil.jinja") as info:
        ct.render(USER_ONLY)
    assert "sandbox" in str(info.value) or "unsafe" in str(info.value)
    assert not (tmp_path / "PWNED").exists()


def test_raise_exception_and_render_errors_are_user_errors():
    with pytest.raises(
        UserError, match=r"^Chat template t\.jinja rejected the conversation: no system allowed;"
    ):
        ChatTemplate("{{ raise_exception('no system allowed') }}", "t.jinja").render(USER_ONLY)
    with pytest.raises(UserError, match=r"t\.jinja failed to render \(UndefinedError: 'foo' is undefined\)"):
        ChatTemplate("{{ foo.bar }}", "t.jinja").render(USER_ONLY)
    with pytest.raises(UserError, match="TypeError"):
        ChatTemplate("{{ messages[0].content + 1 }}", "t.jinja").render(USER_ONLY)
    with pytest.raises(UserError, match="Range too big"):
        ChatTemplate("{% for i in range(10**9) %}{% endfor %}", "t.jinja").render(USER_ONLY)


@pytest.mark.parametrize("template", ["{% for m in messages %}", "{{ x | no_such_filter }}", "{{ 'a' }"])
def test_unparsable_template_is_user_error_naming_origin(template, tmp_path):
    path = tmp_path / "bad.jinja"
    path.write_text(template)
    with pytest.raises(UserError, match="does not parse") as info:
        load_chat_template(str(path), None)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_message_shape_is_checked():
    ct = ChatTemplate(QWEN2, "q")
    for bad, exc in [
        ("hello", TypeError),
        ([], ValueError),
        (["hello"], TypeError),
        ([{"role": "user"}], ValueError),
        ([{"role": "user", "content": None}], ValueError),
        ([{"role": "user", "content": "x", "name": 3}], TypeError),
    ]:
        with pytest.raises(exc):
            ct.render(bad)
        with pytest.raises(exc):
            plain_prompt(bad)


def test_messages_are_not_mutated_and_extra_keys_reach_the_template():
    messages = [{"role": "user", "content": "x", "name": "bob"}]
    assert ChatTemplate("{{ messages[0].name }}", "t").render(messages) == "bob"
    assert messages == [{"role": "user", "content": "x", "name": "bob"}]


# --- the rest ---------------------------------------------------------------------------------------------


def test_sha256_and_value_semantics():
    a, b = ChatTemplate(QWEN2, "a"), ChatTemplate(QWEN2, "b", {"eos_token": "<|im_end|>"})
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    assert a.sha256 == hashlib.sha256(QWEN2.encode()).hexdigest()
    assert ChatTemplate(LLAMA2, "a").sha256 != a.sha256
    assert ChatTemplate(QWEN2 + " ", "a").sha256 != a.sha256
    assert a == ChatTemplate(QWEN2, "a", {}) and hash(a) == hash(ChatTemplate(QWEN2, "a", {}))
    with pytest.raises(TypeError):
        b.special_tokens["eos_token"] = "x"  # read-only
    with pytest.raises(TypeError):
        ChatTemplate(QWEN2, "a", {"eos_token": 2})


def test_plain_prompt():
    assert plain_prompt(USER_ONLY) == "What is 2+2?"
    assert plain_prompt(SYSTEM_USER) == "Be brief.\n\nHi there"
    assert plain_prompt(MULTI_TURN) == "Hello\n\n Hi! How can I help? \n\nTell me a joke."


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, evalkit.models.chat_template; print('jax' in sys.modules, 'jinja2' in sys.modules)"
    assert subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split() == [
        "False",
        "False",
    ]
