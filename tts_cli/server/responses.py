"""OpenAI response and chunk objects built from ``Solution``s.

A choice's text is the chosen solution (its reasoning and its final answer; a program sample adds
the answer its program printed), cut before the first ``stop`` sequence. ``usage`` counts every
token the search really cost, policy and verifier together: ``prompt_tokens`` all input positions
(``prompt_tokens_details.cached_tokens`` of them reused from the KV cache instead of evaluated),
``completion_tokens`` every sampled token of every sample; ``usage.tts`` is the cost as
``tts ask --json`` reports it (tokens per model, FLOPs, wall time, the sandbox's time). Each choice
carries ``tts``: the answer, the candidates, the route and the cost, as ``tts ask --json``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

CHUNK_CHARS = 256  # the chosen text is streamed in pieces of this size


def choice_text(solution: Any, stop: Sequence[str] = ()) -> tuple[str, str]:
    """(text, finish_reason) of a solution."""
    result = solution.result
    index = result.chosen if result.chosen is not None else (0 if result.candidates else None)
    if index is None:
        return "", "stop"
    candidate = result.candidates[index]
    text = candidate.text
    if candidate.program is not None and result.chosen is not None:
        text = f"{text.rstrip()}\n\nThe program prints: {solution.shown_answer}"
    finish = "length" if candidate.finish_reason == "length" else "stop"
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=None)
    if cut is not None:
        text, finish = text[:cut], "stop"
    return text, finish


def record(solution: Any) -> dict[str, Any]:
    """What ``tts ask --json`` prints for it, without the tree."""
    data: dict[str, Any] = solution.to_dict(include_tree=False)
    return data


def usage(solutions: Sequence[Any]) -> dict[str, Any]:
    evaluated = cached = generated = 0
    flops = wall = execution = 0.0
    for solution in solutions:
        cost = solution.cost
        for model in (cost.policy, cost.verifier):
            if model is not None:
                evaluated += model.prompt_tokens
                cached += model.cached_tokens
                generated += model.generated_tokens
        flops += cost.flops
        wall += cost.wall_seconds
        execution += cost.execution_seconds
    return {
        "prompt_tokens": evaluated + cached,
        "completion_tokens": generated,
        "total_tokens": evaluated + cached + generated,
        "prompt_tokens_details": {"cached_tokens": cached},
        "tts": {
            "costs": [solution.cost.to_dict() for solution in solutions],
            "evaluated_tokens": evaluated,
            "flops": flops,
            "wall_seconds": round(wall, 4),
            "execution_seconds": round(execution, 4),
        },
    }


def chat_completion(rid: str, created: int, model: str, solutions: Sequence[Any], stop: Sequence[str]) -> dict[str, Any]:
    choices = []
    for index, solution in enumerate(solutions):
        text, finish = choice_text(solution, stop)
        choices.append({"index": index, "message": {"role": "assistant", "content": text}, "logprobs": None,
                        "finish_reason": finish, "tts": record(solution)})  # fmt: skip
    return {"id": rid, "object": "chat.completion", "created": created, "model": model, "choices": choices,
            "usage": usage(solutions)}  # fmt: skip


def text_completion(rid: str, created: int, model: str, solutions: Sequence[Any], stop: Sequence[str]) -> dict[str, Any]:
    choices = []
    for index, solution in enumerate(solutions):
        text, finish = choice_text(solution, stop)
        choices.append({"index": index, "text": text, "logprobs": None, "finish_reason": finish, "tts": record(solution)})
    return {"id": rid, "object": "text_completion", "created": created, "model": model, "choices": choices,
            "usage": usage(solutions)}  # fmt: skip


def chunks(endpoint: str, rid: str, created: int, model: str, index: int, solution: Any, stop: Sequence[str]) -> list[dict[str, Any]]:
    """The chunks that stream one finished choice: (chat: the role,) the text in pieces, then the
    finish reason with the choice's ``tts`` record."""
    text, finish = choice_text(solution, stop)
    pieces = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]
    out = []
    if endpoint == "chat":
        out.append(_chunk(endpoint, rid, created, model, [{"index": index, "delta": {"role": "assistant", "content": ""},
                                                          "logprobs": None, "finish_reason": None}]))  # fmt: skip
        for piece in pieces:
            out.append(_chunk(endpoint, rid, created, model, [{"index": index, "delta": {"content": piece},
                                                              "logprobs": None, "finish_reason": None}]))  # fmt: skip
        last = {"index": index, "delta": {}, "logprobs": None, "finish_reason": finish, "tts": record(solution)}
    else:
        for piece in pieces:
            out.append(_chunk(endpoint, rid, created, model, [{"index": index, "text": piece, "logprobs": None,
                                                              "finish_reason": None}]))  # fmt: skip
        last = {"index": index, "text": "", "logprobs": None, "finish_reason": finish, "tts": record(solution)}
    out.append(_chunk(endpoint, rid, created, model, [last]))
    return out


def usage_chunk(endpoint: str, rid: str, created: int, model: str, solutions: Sequence[Any]) -> dict[str, Any]:
    return _chunk(endpoint, rid, created, model, [], usage=usage(solutions))


def _chunk(endpoint: str, rid: str, created: int, model: str, choices: list[dict[str, Any]],
           usage: Optional[dict[str, Any]] = None) -> dict[str, Any]:  # fmt: skip
    data: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk" if endpoint == "chat" else "text_completion",
                            "created": created, "model": model, "choices": choices}  # fmt: skip
    if usage is not None:
        data["usage"] = usage
    return data
