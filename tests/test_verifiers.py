"""Verifiers without a model: aggregation, prompt layout, score maths, batching, usage, config."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

import pytest

from tts_cli.cost import ModelUsage
from tts_cli.errors import ModelError, UsageError
from tts_cli.verifiers import (
    AGGREGATIONS,
    PRM_PRESETS,
    JudgeVerifier,
    PRMConfig,
    TokenPRMVerifier,
    aggregate,
    available_verifiers,
    make_verifier,
    prm_config_from_dict,
    registry,
)
from tts_cli.verifiers._scoring import binary_score

# (prompt text, candidate strings) -> one log-prob per candidate
Scorer = Callable[[str, list[str]], list[float]]


class LogprobEngine:
    """Characters are tokens, except whole words listed in ``words`` which are one token each."""

    WORDS = ("Yes", " Yes", "yes", "No", " No", "no", "+", "-")

    def __init__(self, scorer: Scorer, *, words: Sequence[str] = WORDS, name: str = "fake") -> None:
        self.scorer = scorer
        self.name = name
        self.n_params = 500
        self.usage = ModelUsage(model=name, params=500)
        self.words = {w: 100_000 + i for i, w in enumerate(words)}
        self.calls: list[tuple[list[str], list[str], Optional[ModelUsage]]] = []

    @property
    def context_length(self) -> int:
        return 100_000

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        bos = [1] if add_special else []
        if text in self.words:
            return bos + [self.words[text]]
        return bos + [ord(c) for c in text]

    def detokenize(self, tokens: Sequence[int]) -> str:
        names = {v: k for k, v in self.words.items()}
        return "".join(names.get(t, "<s>" if t == 1 else chr(t)) for t in tokens)

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        return self.tokenize("".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>")

    def next_token_logprobs(
        self, prefixes: Sequence[Sequence[int]], candidates: Sequence[int], *, usage: Optional[ModelUsage] = None
    ) -> list[list[float]]:
        texts = [self.detokenize(p) for p in prefixes]
        cands = [self.detokenize([c]) for c in candidates]
        self.calls.append((texts, cands, usage))
        target = usage or self.usage
        target.prompt_tokens += sum(len(p) for p in prefixes)
        return [self.scorer(t, cands) for t in texts]


def table(values: dict[str, float]) -> Scorer:
    """Scorer giving each candidate string the log of the probability in ``values`` (absent: ~0)."""
    return lambda text, cands: [math.log(values[c]) if c in values else -1e9 for c in cands]


# ------------------------------------------------------------------------------- aggregation
@pytest.mark.parametrize(
    "how, expected", [("last", 0.5), ("min", 0.2), ("prod", 0.8 * 0.2 * 0.5), ("mean", 0.5)]
)
def test_aggregate(how: str, expected: float) -> None:
    assert aggregate([0.8, 0.2, 0.5], how) == pytest.approx(expected)


def test_aggregate_empty_and_unknown() -> None:
    assert AGGREGATIONS == ("last", "min", "prod", "mean")
    assert all(aggregate([], how) == 0.0 for how in AGGREGATIONS)
    with pytest.raises(ValueError) as err:
        aggregate([0.5], "max")
    assert all(name in str(err.value) for name in AGGREGATIONS)


def test_binary_score_is_stable() -> None:
    assert binary_score([math.log(0.3)], [math.log(0.1)]) == pytest.approx(0.75)
    assert binary_score([-1000.0], [-1000.0 - math.log(3)]) == pytest.approx(0.75)
    assert binary_score([-5000.0], [-1.0]) == 0.0
    assert binary_score([-1.0], [-5000.0]) == 1.0
    assert binary_score([-math.inf], [-math.inf]) == 0.5
    assert binary_score([math.log(0.1), math.log(0.2)], [math.log(0.1)]) == pytest.approx(0.75)


# ------------------------------------------------------------------------------------- judge
SOLUTIONS = [["Add 2 and 3 to get 5.", "So the answer is 5."], ["2 + 3 = 6.", "The answer is 6."]]


def test_judge_converts_yes_no_and_sums_variants() -> None:
    engine = LogprobEngine(table({"Yes": 0.3, " Yes": 0.2, "yes": 0.1, "No": 0.15, " No": 0.05}))
    judge = JudgeVerifier(engine)
    scores = judge.score("What is 2 + 3?", SOLUTIONS)
    assert scores == [[pytest.approx(0.75)] * 2, [pytest.approx(0.75)] * 2]


def test_judge_scores_each_step_in_one_batched_call_on_its_own_usage() -> None:
    def scorer(text: str, cands: list[str]) -> list[float]:
        good = "6" not in text.split("Is Step")[0]  # the judge only dislikes steps saying 6
        p_yes = 0.9 if good else 0.2
        return [math.log(p_yes) if c == "Yes" else math.log(1 - p_yes) if c == "No" else -1e9 for c in cands]

    engine = LogprobEngine(scorer)
    judge = JudgeVerifier(engine)
    scores = judge.score("What is 2 + 3?", SOLUTIONS)
    assert scores == [[pytest.approx(0.9), pytest.approx(0.9)], [pytest.approx(0.2), pytest.approx(0.2)]]
    assert len(engine.calls) == 1
    texts, cands, usage = engine.calls[0]
    assert len(texts) == 4
    assert set(cands) == {"Yes", " Yes", "yes", "No", " No", "no"}
    assert usage is judge.usage and judge.usage.prompt_tokens > 0
    assert engine.usage.prompt_tokens == 0 and engine.usage.generated_tokens == 0
    assert judge.usage.model == "fake" and judge.usage.params == 500


def test_judge_prompt_layout_shares_the_problem_and_earlier_steps() -> None:
    engine = LogprobEngine(table({"Yes": 0.5, "No": 0.5}))
    JudgeVerifier(engine).score("What is 2 + 3?", SOLUTIONS)
    texts = engine.calls[0][0]
    # the system prompt and the problem open every prompt
    head = texts[0][: texts[0].index("Step 1:")]
    assert "What is 2 + 3?" in head and "strict math grader" in head
    assert all(t.startswith(head) for t in texts)
    # step k's prompt shows steps 1..k, then asks about step k, and extends step k-1's shared part
    first, second = texts[0], texts[1]
    assert "Step 1: Add 2 and 3 to get 5." in first and "Step 2" not in first.split("Is Step")[0]
    assert first.rstrip().endswith("Is Step 1 correct? Answer with Yes or No.</user><assistant>")
    assert second.startswith(first[: first.index("\n\nIs Step 1")])
    assert "Is Step 2 correct?" in second


def test_judge_last_only_scores_one_step_per_solution() -> None:
    engine = LogprobEngine(table({"Yes": 0.6, "No": 0.4}))
    judge = JudgeVerifier(engine)
    scores = judge.score("Q?", [["a", "b", "c"], ["d"], []], last_only=True)
    assert scores == [[pytest.approx(0.6)], [pytest.approx(0.6)], []]
    texts = engine.calls[0][0]
    assert len(texts) == 2
    assert "Is Step 3 correct?" in texts[0] and "Step 3: c" in texts[0]
    assert "Is Step 1 correct?" in texts[1]


def test_judge_no_steps_makes_no_call() -> None:
    engine = LogprobEngine(table({}))
    assert JudgeVerifier(engine).score("Q?", [[], []]) == [[], []]
    assert JudgeVerifier(engine).score("Q?", []) == []
    assert engine.calls == []


def test_judge_prompt_overrides_and_given_usage() -> None:
    engine = LogprobEngine(table({"Yes": 0.5, "No": 0.5}))
    usage = ModelUsage(model="judge-role", params=7)
    judge = JudgeVerifier(
        engine, name="j", usage=usage, system="SYS", template="P={problem}|S={steps}|K={k}?"
    )
    judge.score("Q", [["x"]])
    assert judge.name == "j" and judge.usage is usage and usage.prompt_tokens > 0
    assert engine.calls[0][0][0] == "<system>SYS</system><user>P=Q|S=Step 1: x|K=1?</user><assistant>"


def test_judge_needs_single_token_yes_and_no() -> None:
    with pytest.raises(ModelError, match="No"):
        JudgeVerifier(LogprobEngine(table({}), words=("Yes",)))


# ----------------------------------------------------------------------------------- token PRM
def test_math_shepherd_prefix_ends_with_the_step_tag() -> None:
    engine = LogprobEngine(table({"+": 0.8, "-": 0.2}))
    prm = TokenPRMVerifier(engine, PRM_PRESETS["math-shepherd"])
    scores = prm.score("What is 2 + 3?", [["Add 2 and 3 to get 5.", "The answer is 5."]])
    assert scores == [[pytest.approx(0.8), pytest.approx(0.8)]]
    (texts, cands, usage), = engine.calls
    assert cands == ["+", "-"] and usage is prm.usage
    assert texts == [
        "<s>What is 2 + 3? Step 1: Add 2 and 3 to get 5. ки",
        "<s>What is 2 + 3? Step 1: Add 2 and 3 to get 5. ки\nStep 2: The answer is 5. ки",
    ]
    assert engine.usage.prompt_tokens == 0


def test_plain_prm_keeps_existing_step_labels_and_drops_stray_tags() -> None:
    engine = LogprobEngine(table({"+": 0.5, "-": 0.5}))
    prm = TokenPRMVerifier(engine, PRM_PRESETS["math-shepherd"])
    assert prm.plain_text("Q", ["Step 1: a ки ", "b"], 2) == "Q Step 1: a ки\nStep 2: b ки"


def test_plain_prm_scores_reflect_each_step() -> None:
    def scorer(text: str, cands: list[str]) -> list[float]:
        bad = text.removesuffix(" <tag>").endswith("wrong.")
        return [math.log(0.1 if bad else 0.9), math.log(0.9 if bad else 0.1)]

    engine = LogprobEngine(scorer)
    config = PRMConfig(format="plain", step_tag=" <tag>", good_token="+", bad_token="-")
    prm = TokenPRMVerifier(engine, config)
    scores = prm.score("Q", [["fine.", "wrong.", "fine."], ["wrong."]])
    assert scores == [[pytest.approx(0.9), pytest.approx(0.1), pytest.approx(0.9)], [pytest.approx(0.1)]]
    assert len(engine.calls) == 1
    assert engine.calls[0][0][1] == "<s>Q fine. <tag>\nwrong. <tag>"
    assert prm.score("Q", [["fine.", "wrong."]], last_only=True) == [[pytest.approx(0.1)]]


def test_rlhflow_chat_turns() -> None:
    engine = LogprobEngine(table({"+": 0.7, "-": 0.3}))
    prm = TokenPRMVerifier(engine, PRM_PRESETS["rlhflow"])
    scores = prm.score("Q?", [["s1", "s2", "s3"]], last_only=True)
    assert scores == [[pytest.approx(0.7)]]
    assert engine.calls[0][0] == [
        "<user>Q? s1</user><assistant>+</assistant><user>s2</user><assistant>+</assistant>"
        "<user>s3</user><assistant>"
    ]
    assert prm.chat_messages("Q?", ["s1", "s2"], 1) == [{"role": "user", "content": "Q? s1"}]


def test_chat_prm_system_message() -> None:
    engine = LogprobEngine(table({"+": 0.7, "-": 0.3}))
    prm = TokenPRMVerifier(engine, PRMConfig(format="chat", good_token="+", bad_token="-", system="S"))
    assert prm.chat_messages("Q", ["a"], 1)[0] == {"role": "system", "content": "S"}


def test_prm_tokens_must_be_single_tokens() -> None:
    engine = LogprobEngine(table({}))
    with pytest.raises(ModelError, match="good token"):
        TokenPRMVerifier(engine, PRMConfig(format="chat", good_token="good", bad_token="-"))


# ------------------------------------------------------------------------------ PRM config
def test_prm_config_from_dict() -> None:
    assert prm_config_from_dict({"preset": "math-shepherd"}) == PRM_PRESETS["math-shepherd"]
    custom = prm_config_from_dict({"preset": "rlhflow", "good_token": "Yes", "bad_token": "No"})
    assert custom == PRMConfig(format="chat", good_token="Yes", bad_token="No")
    full = prm_config_from_dict(
        {"format": "plain", "step_tag": "<t>", "good_token": "a", "bad_token": "b", "step_separator": "\n\n"}
    )
    assert full.step_tag == "<t>" and full.step_separator == "\n\n" and full.system is None


@pytest.mark.parametrize(
    "table_, key",
    [
        ({"preset": "math-shepherd", "tag": " ки"}, "tag"),
        ({"preset": "math-shepherd", "good_token": 1}, "good_token"),
        ({"preset": "math-shepherd", "system": 3}, "system"),
        ({"preset": "nope"}, "preset"),
        ({"format": "html", "good_token": "+", "bad_token": "-"}, "format"),
        ({"format": "plain", "good_token": "+", "bad_token": "-"}, "step_tag"),
        ({"format": "chat", "good_token": "+"}, "bad_token"),
        ({"format": "chat", "good_token": "+", "bad_token": "+"}, "bad_token"),
    ],
)
def test_prm_config_from_dict_names_the_bad_key(table_: dict, key: str) -> None:
    with pytest.raises(ValueError) as err:
        prm_config_from_dict(table_)
    assert str(err.value).startswith(key)


def test_prm_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRM_PRESETS["rlhflow"].good_token = "x"  # type: ignore[misc]


# -------------------------------------------------------------------------------- registry
def test_make_verifier_builtins() -> None:
    engine = LogprobEngine(table({"+": 0.5, "-": 0.5}))
    assert {"judge", "token-prm"} <= {info.name for info in available_verifiers()}
    assert isinstance(make_verifier("judge", engine, name="j"), JudgeVerifier)
    prm = make_verifier("token-prm", engine)
    assert isinstance(prm, TokenPRMVerifier) and prm.config == PRM_PRESETS["math-shepherd"]
    assert make_verifier("token-prm", engine, preset="rlhflow").config == PRM_PRESETS["rlhflow"]
    assert make_verifier("token-prm", engine, config="rlhflow").config == PRM_PRESETS["rlhflow"]
    from_table = make_verifier("token-prm", engine, config={"format": "chat", "good_token": "+", "bad_token": "-"})
    assert from_table.config.format == "chat"


def test_make_verifier_errors() -> None:
    engine = LogprobEngine(table({}))
    with pytest.raises(UsageError, match="did you mean 'judge'"):
        make_verifier("judg", engine)
    with pytest.raises(UsageError, match="did you mean 'rlhflow'"):
        make_verifier("token-prm", engine, preset="rlhflo")
    with pytest.raises(UsageError, match="step_tag"):
        make_verifier("token-prm", engine, config={"format": "plain", "good_token": "+", "bad_token": "-"})


def test_third_party_verifiers_come_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    class Plugin:
        def load(self):
            def setup(register):
                register("always-yes", lambda engine, **kw: JudgeVerifier(engine, **kw), "test plugin")

            return setup

    monkeypatch.setattr(registry, "_VERIFIERS", {})
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [Plugin()] if group == "tts_cli.verifiers" else [])
    names = [info.name for info in registry.available_verifiers()]
    assert names == ["judge", "token-prm", "program", "arithmetic", "always-yes"]
    engine = LogprobEngine(table({"Yes": 0.5, "No": 0.5}))
    assert isinstance(registry.make_verifier("always-yes", engine), JudgeVerifier)
