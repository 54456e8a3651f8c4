"""Chat templates are untrusted code (they come with a GGUF or a models.toml): rendering one must
never run code, touch files or exhaust the machine. A template either renders harmlessly or raises
``TemplateError``, which the engine turns into a ``ModelError`` (exit 3)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tts_cli.engine.chat import CHATML_TEMPLATE, TemplateError, render_chat

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]

# Each tries to create MARKER (or to reach something that could); none may succeed.
ATTACKS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ messages.__class__.__base__.__subclasses__() }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c('touch MARKER', shell=True) }}{% endif %}{% endfor %}",
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ joiner.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ namespace.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "{{ self.__init__.__globals__.__builtins__.open('MARKER', 'w').write('x') }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ raise_exception.__globals__['__builtins__']['open']('MARKER', 'w') }}",
    "{{ strftime_now.__globals__.os.system('touch MARKER') }}",
    "{{ strftime_now.__code__ }}",
    "{{ config.__class__.__init__.__globals__['os'].popen('touch MARKER') }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('touch MARKER').read() }}",
    "{{ os.popen('touch MARKER').read() }}",
    "{{ __import__('os').system('touch MARKER') }}",
    "{{ messages.__class__ }}",
    "{{ messages|attr('__class__')|attr('__mro__') }}",
    "{{ messages|map(attribute='__class__')|list }}",
    "{{ '{0.__class__.__mro__}'.format(messages) }}",
    "{{ '%s'|format(messages.__class__) }}",
    "{% import 'os' as os %}{{ os.system('touch MARKER') }}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{% from 'os' import system %}{{ system('touch MARKER') }}",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_malicious_templates_cannot_run_code(tmp_path: Path, attack: str) -> None:
    marker = tmp_path / "pwned"
    template = attack.replace("MARKER", str(marker))
    messages = copy.deepcopy(MESSAGES)
    try:
        text = render_chat(template, messages)
    except TemplateError as exc:
        assert str(exc).startswith("chat template failed")
    else:  # rendered harmlessly: nothing of Python's internals leaks out
        assert "<class" not in text and "<function" not in text and "<code" not in text and "root:" not in text
    assert not marker.exists()
    assert messages == MESSAGES


@pytest.mark.parametrize(
    "template",
    [
        "{% set _ = messages.append({'role': 'system', 'content': 'pwned'}) %}",
        "{{ messages[0].update({'content': 'pwned'}) }}",
        "{{ messages.pop() }}",
        "{{ messages[1].clear() }}",
    ],
)
def test_templates_cannot_change_the_messages(template: str) -> None:
    messages = copy.deepcopy(MESSAGES)
    with pytest.raises(TemplateError, match="unsafe"):
        render_chat(template, messages)
    assert messages == MESSAGES


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{{ 'a' * 10**10 }}", "too large"),
        ("{{ 10**10 * 'a' }}", "too large"),
        ("{{ [0] * 10**9 }}", "too large"),
        ("{{ messages * 10**9 }}", "too large"),
        ("{{ 2 ** (10**9) }}", "exponent too large"),
        ("{% for i in range(10**12) %}x{% endfor %}", "Range too big"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion too deep"),
        ("{{ 1 / 0 }}", "division by zero"),
        ("{{ messages + 1 }}", "can only concatenate"),
        ("{{ messages[99]['content'] }}", "chat template failed"),
        ("{% for %}", "chat template failed"),
        ("{{ raise_exception('Conversation roles must alternate') }}", "Conversation roles must alternate"),
        ("{{ undefined_function() }}", "is undefined"),
    ],
)
def test_templates_that_fail_or_would_exhaust_the_machine_raise_template_error(template: str, words: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError) as info:
        render_chat(template, MESSAGES)
    assert str(info.value).startswith("chat template failed: ") and words in str(info.value)
    assert time.monotonic() - started < 5


def test_ordinary_templates_still_work() -> None:
    assert render_chat(None, MESSAGES) == render_chat(CHATML_TEMPLATE, MESSAGES)
    assert render_chat(None, MESSAGES).endswith("<|im_start|>assistant\n")
    hf_style = (
        "{{ bos_token }}{% for message in messages %}"
        "{% if loop.first and message['role'] == 'system' %}{% set ns = namespace(sys=message['content']) %}"
        "[SYS]{{ ns.sys }}[/SYS]{% else %}[{{ message['role']|upper }}]{{ message['content']|trim }}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}[ASSISTANT]{% endif %}{{ '=' * 3 }}{{ 2 ** 3 }}"
    )
    text = render_chat(hf_style, MESSAGES, bos_token="<s>")
    assert text == "<s>[SYS]Be brief.[/SYS][USER]What is 2 + 2?[ASSISTANT]===8"
    assert render_chat("{{ strftime_now('%Y') }}", MESSAGES).isdigit()


# ---------------------------------------------------------------------------------------------
# Through the CLI: a malicious chat_template in a --models file


@pytest.mark.real
@pytest.mark.parametrize("command", ["ask", "solve"])
def test_malicious_chat_template_from_models_file_is_a_model_error(
    cli: Callable[..., Any], tmp_path: Path, smollm2_path: Path, command: str
) -> None:
    marker = tmp_path / "pwned"
    template = "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
    models = tmp_path / "m.toml"
    models.write_text(
        '[models.evil]\nfile = "evil.gguf"\n'
        f"chat_template = {json.dumps(template)}\n"
        f'[[models.evil.sources]]\nkind = "path"\npath = {json.dumps(str(smollm2_path))}\n'
    )
    problems = tmp_path / "p.txt"
    problems.write_text("What is 1 + 1?\nWhat is 2 + 2?\n")
    target = ["hi"] if command == "ask" else [str(problems)]
    result = cli(command, *target, "--models", str(models), "--policy", "evil", "--max-tokens", "8", "--threads", "2")
    err = result.err
    assert result.code == 3, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("tts: error:")]
    assert len(errors) == 1 and "evil: chat template failed" in errors[0] and "unsafe" in errors[0], err
    assert result.out == ""
    assert not marker.exists()
