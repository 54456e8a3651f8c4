"""Chat-template rendering in a Jinja sandbox.

A GGUF carries its chat template as Jinja source written by whoever published the file, so it is
untrusted code: it is rendered in an immutable sandbox that refuses access to unsafe attributes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional, Sequence

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class TemplateError(Exception):
    pass


def render_chat(
    template: Optional[str],
    messages: Sequence[dict[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
) -> str:
    from jinja2 import TemplateError as JinjaTemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
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
    except (JinjaTemplateError, TemplateError) as exc:
        raise TemplateError(f"chat template failed: {exc}") from exc
