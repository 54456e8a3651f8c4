"""The server's pure parts, without a server: the model-name form, request bodies into Jobs, the
gate, and responses built from a solution."""

from __future__ import annotations

from typing import Any

import pytest

from tts_cli.server.errors import ApiError
from tts_cli.server.gate import Gate
from tts_cli.server.names import Route, model_ids, parse_model
from tts_cli.server.protocol import Limits, parse_chat, parse_completion

POLICY = "qwen2.5-coder-1.5b"
STRATEGIES = ("greedy", "majority", "pot-greedy", "mixed", "best-of-n")


@pytest.mark.parametrize(
    ("name", "route"),
    [
        (POLICY, Route()),
        (f"majority@{POLICY}", Route("majority")),
        (f"majority-16@{POLICY}", Route("majority", 16)),
        (f"pot-greedy@{POLICY}", Route("pot-greedy")),
        (f"best-of-n-4@{POLICY}", Route("best-of-n", 4)),
        ("mixed-8", Route("mixed", 8)),
        ("greedy", Route("greedy")),
    ],
)
def test_model_names(name: str, route: Route) -> None:
    assert parse_model(name, POLICY, STRATEGIES) == route


@pytest.mark.parametrize("name", ["gpt-4o", "majority@other-model", f"majority-0@{POLICY}", f"majority-08@{POLICY}",
                                  f"wizard-3@{POLICY}", "", "@", f"majority-x@{POLICY}"])  # fmt: skip
def test_names_this_server_does_not_serve(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_model(name, POLICY, STRATEGIES)
    assert caught.value.status == 404 and caught.value.code == "model_not_found"


def test_the_models_listed() -> None:
    assert model_ids(POLICY, ["greedy", "mixed"]) == [POLICY, f"greedy@{POLICY}", f"mixed@{POLICY}"]


def chat(**body: Any) -> Any:
    return parse_chat({"model": POLICY, "messages": [{"role": "user", "content": "What is 2 + 3?"}], **body},
                      Limits(), POLICY, STRATEGIES)  # fmt: skip


def test_a_chat_body_becomes_a_job() -> None:
    job = parse_chat({
        "model": f"majority-8@{POLICY}", "n": 2, "max_tokens": 300, "temperature": 0.5, "top_p": 0.9, "seed": 7,
        "stop": "###", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": "Hello"},
                     {"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "2 + 3?"}]}],
        "tts": {"with_greedy": True, "budget": 900},
        "frequency_penalty": 0.5,  # not used by this server: ignored, as OpenAI-compatible servers do
    }, Limits(), POLICY, STRATEGIES)  # fmt: skip
    assert job.question == "What is\n2 + 3?" and job.system_note == "Be brief."
    assert job.conversation == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert (job.choices, job.stream, job.include_usage, job.stop) == (2, True, True, ["###"])
    assert job.settings == {"strategy": "majority", "n": 8, "max_tokens": 300, "temperature": 0.5, "top_p": 0.9,
                            "seed": 7, "budget": 900}  # fmt: skip
    assert job.options == {"with_greedy": True}


def test_the_extension_wins_over_the_model_name() -> None:
    job = chat(model=f"majority-8@{POLICY}", tts={"strategy": "mixed", "n": 4})
    assert job.settings["strategy"] == "mixed" and job.settings["n"] == 4


def test_max_completion_tokens_is_read_first() -> None:
    assert chat(max_completion_tokens=100, max_tokens=50).settings["max_tokens"] == 100


@pytest.mark.parametrize(
    ("changes", "status", "param"),
    [
        ({"n": 5}, 422, "n"),
        ({"max_tokens": 5000}, 422, "max_tokens"),
        ({"tts": {"n": 65}}, 422, "tts.n"),
        ({"temperature": 2.5}, 400, "temperature"),
        ({"top_p": 0}, 400, "top_p"),
        ({"stop": ""}, 400, "stop"),
        ({"stream_options": {"include_usage": "yes"}}, 400, "stream_options.include_usage"),
        ({"tts": {"strategy": 3}}, 400, "tts.strategy"),
        ({"tts": {"budget": 0}}, 400, "tts.budget"),
    ],
)
def test_values_out_of_bounds(changes: dict[str, Any], status: int, param: str) -> None:
    with pytest.raises(ApiError) as caught:
        chat(**changes)
    assert (caught.value.status, caught.value.param) == (status, param)


def test_completions_take_a_prompt_or_a_list_of_them() -> None:
    jobs = parse_completion({"model": POLICY, "prompt": ["What is 1 + 1?", "What is 2 + 2?"], "max_tokens": 9},
                            Limits(), POLICY, STRATEGIES)  # fmt: skip
    assert [j.question for j in jobs] == ["What is 1 + 1?", "What is 2 + 2?"]
    assert all(j.endpoint == "completion" and j.settings["max_tokens"] == 9 for j in jobs)
    with pytest.raises(ApiError) as caught:
        parse_completion({"model": POLICY, "prompt": ["q"] * 9}, Limits(), POLICY, STRATEGIES)
    assert caught.value.status == 413


def test_the_gate_refuses_beyond_parallel_plus_queue_but_never_a_lone_request() -> None:
    gate = Gate(parallel=2, queue=1)
    assert gate.enter(2) and gate.enter(1)
    assert not gate.enter(1) and gate.waiting == 1
    gate.leave(3, seconds=4.0)
    assert gate.in_flight == 0 and gate.enter(10)  # alone, even a request larger than the gate runs
    assert not gate.enter(1) and gate.retry_after() >= 4
