"""Chat-template rendering in a Jinja sandbox.

A GGUF carries its chat template as Jinja source written by whoever published the file, so it is
untrusted code: it is rendered in an immutable sandbox that refuses access to unsafe attributes,
with ``*`` and ``**`` bounded (the sandbox alone lets ``'a' * 10**10`` exhaust memory), and any
failure while rendering (``1/0``, runaway recursion, ...) becomes a ``TemplateError``.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Optional, Sequence

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


MAX_RESULT_ITEMS = 1_000_000  # longest string/list a template may build with ``*``
MAX_EXPONENT = 1_000


class TemplateError(Exception):
    pass


@functools.cache
def _sandbox_class() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class ChatSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for sequence, count in ((left, right), (right, left)):
                    if (
                        isinstance(sequence, (str, list, tuple))
                        and isinstance(count, int)
                        and len(sequence) * count > MAX_RESULT_ITEMS
                    ):
                        raise SecurityError("repetition result too large")
            elif operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise SecurityError("exponent too large")
            return super().call_binop(context, operator, left, right)

    return ChatSandbox


def render_chat(
    template: Optional[str],
    messages: Sequence[dict[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = _sandbox_class()(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        compiled = env.from_string(template or CHATML_TEMPLATE)
        return compiled.render(
            messages=list(messages),
            bos_token=bos_token,
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )
    except RecursionError:
        raise TemplateError("chat template failed: recursion too deep") from None
    except MemoryError:
        raise TemplateError("chat template failed: out of memory") from None
    except Exception as exc:  # untrusted code: any failure is the template's (jinja2 errors too)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TemplateError(f"chat template failed: {detail}") from exc
