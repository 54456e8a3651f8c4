"""Property-based tests (hypothesis): no input crashes answer extraction and equivalence, the
models.toml loader or the JSONL reader, and their results keep their promises.

Example counts are kept moderate so that the file runs in well under a minute; run with
``--hypothesis-show-statistics`` to see how many examples each property tried.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any, Iterator, Union

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from tts_cli.batch import BadLine, Problem, parse_lines
from tts_cli.config import ModelSpec, Registry, load_registry
from tts_cli.errors import ConfigError
from tts_cli.grading import answers_equivalent, extract_answer, extract_gold, group_equivalent, majority_answer

FAST = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MEDIUM = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like model output: numbers, LaTeX boxes, answer phrases, GSM8K hashes, noise.
_PIECES = st.sampled_from(
    [
        "The answer is ", "answer: ", "Final Answer: ", "**Answer:** ", "#### ", "\\boxed{", "\\boxed ",
        "\\fbox{", "}", "{", "$", "$$", "\\(", "\\)", "\\frac{1}{2}", "1,234", "-5", "3.14", "1/2", ",", ".",
        "\n", " ", "**", "=", "x", "clips", "\\", "\\\\", "\\}", "\\{", "%", "5-3", "007", "1,2,3",
    ]
)
MODEL_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(_PIECES, st.integers(-10**6, 10**6).map(str), st.text(max_size=5)), max_size=40).map("".join),
)
WHITESPACE = st.text(alphabet=" \t\n\r\f\v\u00a0\u2028\u3000", max_size=6)


# ---------------------------------------------------------------------------------------------
# Answer extraction


@FAST
@given(MODEL_TEXT)
@example("\\boxed{" * 5000)
@example("answer is " * 2000)
@example("####" * 3000 + "5")
def test_extract_answer_never_raises_and_returns_a_clean_answer(text: str) -> None:
    answer = extract_answer(text)
    assert answer is None or (isinstance(answer, str) and answer == answer.strip() and answer)


@FAST
@given(MODEL_TEXT, WHITESPACE, WHITESPACE)
def test_extract_answer_is_stable_under_surrounding_whitespace(text: str, before: str, after: str) -> None:
    assert extract_answer(before + text + after) == extract_answer(text)


@FAST
@given(st.text(alphabet=st.characters(blacklist_characters="\\"), max_size=80), st.integers(-10**12, 10**12),
       st.text(alphabet=st.characters(blacklist_characters="\\"), max_size=80))
def test_the_last_boxed_number_wins(before: str, number: int, after: str) -> None:
    assert extract_answer(f"{before}\\boxed{{{number}}}{after}") == str(number)


@FAST
@given(st.text(max_size=200), st.integers(0, 10**9))
def test_extract_gold_reads_gsm8k_hashes(reasoning: str, number: int) -> None:
    assume("####" not in reasoning)
    assert extract_gold(f"{reasoning}\n#### {number:,}") == str(number)
    assert isinstance(extract_gold(reasoning), str)


# ---------------------------------------------------------------------------------------------
# Equivalence

_ANSWER_POOL = st.sampled_from(
    [
        "1", "1.0", "1.00", "01", "2", "-2", "1,000", "1000", "1000.0", "$3", "3", "3%", "\\$3", "1/2", "0.5",
        "\\frac{1}{2}", "\\dfrac{1}{2}", "\\boxed{7}", "7", "$7$", "7.", "yes", "Yes", "no", "\\text{yes}", "",
        " ", "x", "y",
    ]
)
MAYBE_ANSWER = st.one_of(st.none(), _ANSWER_POOL, st.integers(-10**6, 10**6).map(str))


@FAST
@given(MAYBE_ANSWER, MAYBE_ANSWER)
def test_equivalence_of_common_answers_is_symmetric_and_never_raises(a: Any, b: Any) -> None:
    forward = answers_equivalent(a, b, timeout_seconds=2.0)
    assert isinstance(forward, bool)
    assert forward == answers_equivalent(b, a, timeout_seconds=2.0)
    if a is None or b is None or not a.strip() or not b.strip():
        assert forward is False


@FAST
@given(st.integers(-10**15, 10**15))
def test_numbers_in_different_spellings_are_equivalent(number: int) -> None:
    assert answers_equivalent(f"{number:,}", str(number))
    assert answers_equivalent(f"\\boxed{{{number}}}", f"${number}.0$")
    assert not answers_equivalent(str(number), str(number + 1))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.none(), st.text(max_size=60)), st.one_of(st.none(), st.text(max_size=60)))
@example("\\frac{1}{0}", "\\infty")
@example("x^{" * 200, "1")
def test_equivalence_of_arbitrary_text_never_raises(a: Any, b: Any) -> None:
    assert isinstance(answers_equivalent(a, b, timeout_seconds=1.0), bool)


@FAST
@given(st.lists(MAYBE_ANSWER, max_size=12))
def test_majority_groups_partition_the_usable_answers(answers: list) -> None:
    groups = group_equivalent(answers)
    members = [i for group in groups for i in group]
    usable = [i for i, a in enumerate(answers) if isinstance(a, str) and a.strip()]
    assert sorted(members) == usable  # every usable answer in exactly one group
    assert all(group == sorted(group) for group in groups)
    winner, same_groups = majority_answer(answers)
    assert same_groups == groups
    if groups:
        assert winner == max(groups, key=len)[0]
    else:
        assert winner is None


# ---------------------------------------------------------------------------------------------
# models.toml


@pytest.fixture(scope="module", autouse=True)
def _no_user_models_files() -> Iterator[None]:
    with tempfile.TemporaryDirectory() as empty, pytest.MonkeyPatch.context() as patch:
        patch.setenv("TTS_CONFIG_DIR", empty)
        patch.delenv("TTS_MODELS", raising=False)
        yield


def _toml_key(key: str) -> str:
    return json.dumps(key)  # a basic string: valid TOML for any key (control characters escaped)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


_SCALARS = st.one_of(
    st.text(max_size=12), st.integers(-(2**63), 2**63 - 1), st.booleans(), st.floats(allow_nan=True)
)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                       max_leaves=6)
_MODEL_KEYS = st.sampled_from(
    ["file", "description", "sha256", "size", "params", "context", "gpu_layers", "chat_template", "prm", "bogus"]
)
_GOOD_VALUES = {
    "file": st.sampled_from(["m.gguf", "x-q4.gguf", "../m.gguf", "", ".part-x", "a\\b", "a\x00b"]),
    "sha256": st.sampled_from(["0" * 64, "F" * 64, "abc", "g" * 64]),
    "size": st.integers(-5, 10**10),
    "params": st.integers(-5, 10**10),
    "context": st.integers(-5, 10**6),
    "gpu_layers": st.integers(-3, 100),
    "chat_template": st.text(max_size=30),
    "prm": st.one_of(
        st.fixed_dictionaries({"preset": st.sampled_from(["math-shepherd", "rlhflow", "nope"])}),
        st.dictionaries(st.sampled_from(["preset", "good_token", "bad_token", "step_tag", "format", "x"]), _SCALARS,
                        max_size=3),
    ),
}
_SOURCE = st.one_of(
    st.fixed_dictionaries({"kind": st.just("path"), "path": st.sampled_from(["m.gguf", "/nonexistent/m.gguf",
                                                                             "~nosuchuser/m.gguf", "", "a\x00b"])}),
    st.fixed_dictionaries({"kind": st.just("hf"), "repo": st.text(max_size=10), "file": st.text(max_size=10)},
                          optional={"revision": _SCALARS}),
    st.fixed_dictionaries({"kind": st.just("url"), "url": st.text(max_size=20)}),
    st.fixed_dictionaries({"kind": st.just("pypi-chunks"),
                           "packages": st.lists(st.sampled_from(["a==1", "bad", "b==2.0"]), max_size=3),
                           "members": st.lists(st.text(max_size=8), max_size=3)}),
    st.dictionaries(st.sampled_from(["kind", "path", "url", "repo", "file", "junk"]), _VALUES, max_size=3),
)


@st.composite
def _model_entry(draw: st.DrawFn) -> dict:
    entry: dict = {}
    for key in draw(st.lists(_MODEL_KEYS, unique=True, max_size=6)):
        entry[key] = draw(st.one_of(_GOOD_VALUES[key], _VALUES) if key in _GOOD_VALUES else _VALUES)
    if draw(st.booleans()):
        entry["sources"] = draw(st.lists(_SOURCE, max_size=3))
    return entry


@st.composite
def _structured_toml(draw: st.DrawFn) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append(f"default_policy = {_toml_value(draw(st.one_of(st.sampled_from(['smollm2-135m', 'm', 'nope']), _SCALARS)))}")
    if draw(st.booleans()):
        lines.append(f"{_toml_key(draw(st.text(max_size=8)))} = {_toml_value(draw(_VALUES))}")
    names = draw(st.lists(st.one_of(st.sampled_from(["m", "smollm2-135m", "a b", "é"]), st.text(max_size=8)),
                          unique=True, max_size=3))
    for name in names:
        entry = draw(_model_entry())
        sources = entry.pop("sources", None)
        inline = draw(st.booleans())
        if sources is not None and inline:  # sources = [{...}, ...] inside the model's table
            entry["sources"] = sources
        lines.append(f"[models.{_toml_key(name)}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entry.items())
        for source in [] if inline else sources or []:  # or one [[models.NAME.sources]] table each
            lines.append(f"[[models.{_toml_key(name)}.sources]]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in source.items())
    return "\n".join(lines) + "\n"


_VALID = (
    'default_policy = "m"\n[models.m]\nfile = "m.gguf"\ncontext = 2048\nsha256 = "' + "a" * 64 + '"\n'
    '[[models.m.sources]]\nkind = "url"\nurl = "http://example.invalid/m.gguf"\n'
)


@st.composite
def _mutated_toml(draw: st.DrawFn) -> str:
    text = _VALID
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 10)))
        text = text[:start] + draw(st.text(max_size=6)) + text[end:]
    return text


def _load(text: str) -> Union[Registry, ConfigError]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "models.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_registry(models_file=path)
        except ConfigError as exc:
            return exc


@MEDIUM
@given(st.one_of(st.text(max_size=200), _structured_toml(), _mutated_toml()))
@example(_VALID)
@example('[models."a\\nb"]\nfile = 3\n')
@example('[models.m]\nfile = "m.gguf"\n[[models.m.sources]]\nkind = "path"\npath = "~nosuchuser/m"\n')
def test_models_toml_gives_a_registry_or_a_one_line_config_error(text: str) -> None:
    result = _load(text)
    event(f"outcome: {type(result).__name__}")
    if isinstance(result, ConfigError):
        message = str(result)
        assert message and "\n" not in message and "\r" not in message, message
        assert "models.toml" in message  # names the file
        return
    assert isinstance(result, Registry)
    assert result.default_policy in result.models
    for name, spec in result.models.items():
        assert isinstance(spec, ModelSpec) and spec.name == name and spec.sources
        assert "/" not in spec.file and "\x00" not in spec.file and spec.context > 0


def test_the_unmutated_models_file_loads() -> None:
    registry = _load(_VALID)
    assert isinstance(registry, Registry) and registry.default_policy == "m"


# ---------------------------------------------------------------------------------------------
# JSONL / text input for `tts solve`

_JSON_FIELDS = st.sampled_from(["question", "problem", "id", "unique_id", "answer", "other"])
_JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["What is 1 + 1?", "  ", "", "a\x00b", "#### 5", "\\boxed{3}"]),
)
_JSON_LINE = st.one_of(
    st.dictionaries(_JSON_FIELDS, _JSON_VALUES, max_size=4).map(json.dumps),
    _JSON_VALUES.map(json.dumps),
).map(lambda s: s.encode())
_LINE = st.one_of(
    _JSON_LINE,
    st.binary(max_size=40),
    st.text(max_size=40).map(lambda s: s.encode("utf-8", errors="surrogatepass")),
    st.sampled_from([b"", b"   ", b"\xef\xbb\xbf", b"\xef\xbb\xbf{}", b"{", b"\xff", b"{\"id\": 1, \"question\": \"q\"}"]),
)


def _is_blank(raw: bytes) -> bool:
    try:
        return not raw.decode("utf-8").strip().lstrip("\ufeff")
    except UnicodeDecodeError:
        return False


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINE, max_size=12), st.booleans())
def test_parse_lines_never_raises_and_accounts_for_every_line(lines: list, newlines: bool) -> None:
    raw_lines = [line.replace(b"\n", b" ") + (b"\n" if newlines else b"") for line in lines]
    results = list(parse_lines(raw_lines))
    event(f"problems: {min(sum(isinstance(r, Problem) for r in results), 2)}+")
    expected = [n for n, raw in enumerate(raw_lines, start=1) if not _is_blank(raw)]
    assert [r.line for r in results] == expected  # exactly one result per non-blank line, in order
    ids = set()
    for result in results:
        assert isinstance(result, (Problem, BadLine))
        if isinstance(result, Problem):
            assert result.question and result.question == result.question.strip() and "\x00" not in result.question
            assert isinstance(result.id, (str, int)) and not isinstance(result.id, bool)
            assert result.id not in ids  # duplicates become BadLines
            ids.add(result.id)
            assert result.gold is None or isinstance(result.gold, str)
        else:
            assert result.error.startswith(f"line {result.line}: ")
            assert "\n" not in result.error


# ---------------------------------------------------------------------------------------------
# declared strategy options


def _values_for(declared: Any) -> Any:
    import typing

    kinds = typing.get_args(declared.type) or (declared.type,)
    if declared.spec.choices:
        return st.sampled_from([*declared.spec.choices, "", "median"])
    if float in kinds:
        return st.floats(allow_nan=True, allow_infinity=True)
    drawn = st.integers(-3, 40)
    return st.one_of(st.none(), drawn) if type(None) in kinds else drawn


@FAST
@given(st.data())
def test_declared_options_are_built_or_refused_naming_their_flag(data: Any) -> None:
    from tts_cli.errors import UsageError
    from tts_cli.strategies import SearchConfig, available
    from tts_cli.strategies.options import declarations

    for cls in [SearchConfig, *(info.options for info in available())]:
        values = {d.name: data.draw(_values_for(d), label=f"{cls.__name__}.{d.name}") for d in declarations(cls)}
        try:
            options = cls(**values)
        except UsageError as exc:
            flags = tuple(f"{d.spec.flag} " for d in declarations(cls))
            assert str(exc).startswith(flags), str(exc)
            continue
        n = data.draw(st.integers(1, 40), label="n")
        capped = options.capped(n)
        assert not capped.above_n(n) and type(capped) is cls  # capped at N, still valid
