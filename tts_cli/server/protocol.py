"""Request bodies of the OpenAI API read into ``Job``s, every field checked: a wrong type, a value
out of range or a missing field is an ``ApiError`` naming the field, never an exception deeper in.

The sampling fields mean what OpenAI says: ``n`` is the number of choices returned (each its own
search), ``max_tokens``/``max_completion_tokens`` bounds each sampled solution, ``temperature``,
``top_p``, ``seed`` set the sampling, and ``stop`` ends the returned text before the first stop
sequence (the search itself runs unchanged, so its answers can still be read). The search is
chosen by the model name (``names``) or by the extension object ``"tts": {"strategy": ..., "n":
samples, ...strategy options}``, which wins. Fields this server does not use are ignored, as
OpenAI-compatible servers do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Optional

from tts_cli.server.errors import ApiError
from tts_cli.server.names import Route, parse_model

ROLES = ("system", "developer", "user", "assistant")


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (``tts serve`` flags)."""

    max_body_bytes: int = 1 << 20
    max_choices: int = 4  # OpenAI's n
    max_samples: int = 64  # the search's samples (the model name's -N, tts.n)
    max_tokens: int = 4096  # per sampled solution
    max_messages: int = 64
    max_prompts: int = 8  # /v1/completions with a list of prompts


@dataclass
class Job:
    """One question to answer with ``choices`` independent searches."""

    endpoint: str  # "chat" or "completion"
    model: str  # as the client named it (echoed in the response)
    question: str
    conversation: list[dict[str, str]] = field(default_factory=list)  # user/assistant turns before it
    system_note: str = ""  # the client's system messages
    choices: int = 1
    stream: bool = False
    include_usage: bool = False
    stop: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # strategy, n, temperature, ... (set ones only)
    options: dict[str, Any] = field(default_factory=dict)  # the strategy's own options, by name


def parse_chat(body: Any, limits: Limits, policy: str, strategies: Collection[str]) -> Job:
    body = _object(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty array of messages", "messages", "invalid_type")
    if len(messages) > limits.max_messages:
        raise ApiError(413, f"at most {limits.max_messages} messages per request (got {len(messages)})", "messages",
                       "too_many_messages")  # fmt: skip
    turns = [_message(m, i) for i, m in enumerate(messages)]
    if turns[-1]["role"] != "user":
        raise ApiError(400, "the last message must be the user's question", "messages", "invalid_value")
    system_note = "\n\n".join(t["content"] for t in turns if t["role"] in ("system", "developer") and t["content"])
    conversation = [t for t in turns[:-1] if t["role"] in ("user", "assistant")]
    job = Job(endpoint="chat", model="", question=turns[-1]["content"], conversation=conversation,
              system_note=system_note)  # fmt: skip
    if not job.question.strip():
        raise ApiError(400, "the last user message is empty", "messages", "invalid_value")
    _common(body, job, limits, policy, strategies, tokens_field=("max_completion_tokens", "max_tokens"))
    return job


def parse_completion(body: Any, limits: Limits, policy: str, strategies: Collection[str]) -> list[Job]:
    body = _object(body)
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    else:
        raise ApiError(400, "'prompt' must be a string or a non-empty array of strings", "prompt", "invalid_type")
    if len(prompts) > limits.max_prompts:
        raise ApiError(413, f"at most {limits.max_prompts} prompts per request (got {len(prompts)})", "prompt",
                       "too_many_prompts")  # fmt: skip
    jobs = []
    for text in prompts:
        if not text.strip():
            raise ApiError(400, "a prompt is empty", "prompt", "invalid_value")
        job = Job(endpoint="completion", model="", question=text)
        _common(body, job, limits, policy, strategies, tokens_field=("max_tokens",))
        jobs.append(job)
    return jobs


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", None, "invalid_json")
    return body


def _message(message: Any, index: int) -> dict[str, str]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise ApiError(400, f"{where} must be an object with 'role' and 'content'", where, "invalid_type")
    role = message.get("role")
    if role not in ROLES:
        if role in ("tool", "function"):
            raise ApiError(422, f"{where}: tool messages are not supported by this server", f"{where}.role",
                           "unsupported_value")  # fmt: skip
        raise ApiError(400, f"{where}.role must be one of {', '.join(ROLES)}", f"{where}.role", "invalid_value")
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ApiError(422, f"{where}.content[{j}]: only text parts are supported", f"{where}.content",
                               "unsupported_content")  # fmt: skip
            parts.append(part["text"])
        text = "\n".join(parts)
    elif content is None and role == "assistant":
        text = ""
    else:
        raise ApiError(400, f"{where}.content must be a string or an array of text parts", f"{where}.content",
                       "invalid_type")  # fmt: skip
    if "\x00" in text:
        raise ApiError(400, f"{where}.content holds a NUL character", f"{where}.content", "invalid_value")
    return {"role": "system" if role == "developer" else str(role), "content": text}


def _common(
    body: dict[str, Any], job: Job, limits: Limits, policy: str, strategies: Collection[str], *, tokens_field: tuple[str, ...]
) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "'model' must be a non-empty string", "model", "invalid_type")
    job.model = model
    route: Route = parse_model(model, policy, strategies)
    job.choices = _int(body, "n", 1, limits.max_choices, default=1)
    job.stream = _bool(body, "stream", default=False)
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise ApiError(400, "'stream_options' must be an object", "stream_options", "invalid_type")
        job.include_usage = _bool(stream_options, "include_usage", default=False, where="stream_options.include_usage")
    for name in tokens_field:
        if body.get(name) is not None:
            job.settings["max_tokens"] = _int(body, name, 1, limits.max_tokens)
            break
    if body.get("temperature") is not None:
        job.settings["temperature"] = _number(body, "temperature", 0.0, 2.0)
    if body.get("top_p") is not None:
        top_p = _number(body, "top_p", 0.0, 1.0)
        if top_p <= 0:
            raise ApiError(400, "'top_p' must be above 0", "top_p", "invalid_value")
        job.settings["top_p"] = top_p
    if body.get("seed") is not None:
        job.settings["seed"] = _int(body, "seed", -(2**31), 2**31 - 1)
    job.stop = _stop(body.get("stop"))
    if route.strategy is not None:
        job.settings["strategy"] = route.strategy
    if route.samples is not None:
        job.settings["n"] = _bounded_samples(route.samples, limits, "model")
    _extension(body.get("tts"), job, limits, strategies)


def _extension(ext: Any, job: Job, limits: Limits, strategies: Collection[str]) -> None:
    if ext is None:
        return
    if not isinstance(ext, dict):
        raise ApiError(400, "'tts' must be an object", "tts", "invalid_type")
    for key, value in ext.items():
        where = f"tts.{key}"
        if key == "strategy":
            if not isinstance(value, str):
                raise ApiError(400, f"'{where}' must be a string", where, "invalid_type")
            if value not in strategies:
                raise ApiError(404, f"unknown strategy {value!r}: one of {', '.join(sorted(strategies))}", where,
                               "strategy_not_found")  # fmt: skip
            job.settings["strategy"] = value
        elif key in ("n", "samples"):
            job.settings["n"] = _bounded_samples(_int(ext, key, 1, None, where=where), limits, where)
        elif key == "budget":
            job.settings["budget"] = _int(ext, key, 1, None, where=where)
        elif key == "aggregate":
            if not isinstance(value, str):
                raise ApiError(400, f"'{where}' must be a string", where, "invalid_type")
            job.settings["aggregate"] = value
        else:
            job.options[key] = value


def _bounded_samples(samples: int, limits: Limits, where: str) -> int:
    if samples > limits.max_samples:
        raise ApiError(422, f"at most {limits.max_samples} samples per search (got {samples})", where, "too_many_samples")
    return samples


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > 4:
        raise ApiError(400, "'stop' must be a non-empty string or an array of at most 4 of them", "stop", "invalid_value")
    return list(stops)


def _bool(body: dict[str, Any], name: str, *, default: bool, where: Optional[str] = None) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ApiError(400, f"'{where or name}' must be true or false", where or name, "invalid_type")
    return value


def _int(body: dict[str, Any], name: str, minimum: int, maximum: Optional[int], *, default: Optional[int] = None,
         where: Optional[str] = None) -> int:  # fmt: skip
    value = body.get(name)
    where = where or name
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{where}' must be an integer", where, "invalid_type")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        status = 422 if maximum is not None and value > maximum else 400  # over this server's cap
        raise ApiError(status, f"'{where}' must be {bound} (got {value})", where, "invalid_value")
    return value


def _number(body: dict[str, Any], name: str, minimum: float, maximum: float) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ApiError(400, f"'{name}' must be a number", name, "invalid_type")
    if not minimum <= value <= maximum:
        raise ApiError(400, f"'{name}' must be between {minimum:g} and {maximum:g} (got {value})", name, "invalid_value")
    return float(value)
