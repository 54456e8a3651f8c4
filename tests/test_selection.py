"""tts_cli.selection: signals from token traces, selection rules, selector specs, the stop rule."""

from __future__ import annotations

import math
import random

import pytest

from tts_cli.errors import UsageError
from tts_cli.selection import (
    DEFAULT_PARAM,
    PRESETS,
    RULES,
    SIGNALS,
    SelectionError,
    available_selectors,
    best,
    beta_above_half,
    borda,
    filtered_vote,
    majority,
    parse_selector,
    regularized_beta,
    settle_probability,
    softmax_vote,
    summarize,
    summarize_trace,
    weighted_vote,
)

NAN = float("nan")
INF = float("inf")

# --- majority and best ------------------------------------------------------------------------


def test_majority_takes_the_first_member_of_the_largest_group():
    assert majority([[0], [1, 2], [3]]) == 1
    assert majority([[0, 4], [1, 2, 3]]) == 1


def test_majority_ties_go_to_the_earliest_group():
    assert majority([[0, 2], [1, 3]]) == 0
    assert majority([[1, 3], [2, 4], [5]]) == 1


def test_majority_without_groups_is_none():
    assert majority([]) is None
    assert majority([[]]) is None
    assert majority([[], [2]]) == 2


def test_best_is_the_highest_value_among_answered_candidates():
    assert best(["a", None, "b", "a"], [0.1, 5.0, 0.3, 0.3]) == 2  # 1 has no answer; 2 and 3 tie
    assert best([None, None], [1.0, 2.0]) is None
    assert best([], []) is None


def test_best_treats_nan_as_minus_infinity():
    assert best(["a", "b", "c"], [NAN, 0.0, -INF]) == 1
    assert best([None, "a", "b"], [NAN, -INF, NAN]) == 1  # all -inf: the earliest answered


# --- weighted votes ---------------------------------------------------------------------------


def test_weighted_sum_picks_the_heaviest_group_and_its_best_member():
    assert weighted_vote([[0, 1], [2]], [0.3, 0.3, 0.5]) == 0
    assert weighted_vote([[0, 1], [2]], [0.2, 0.4, 0.5]) == 1
    assert weighted_vote([[0, 1], [2]], [0.1, 0.3, 0.5]) == 2


def test_weighted_ties_go_to_the_larger_group_then_the_earlier():
    assert weighted_vote([[0], [1, 2]], [1.0, 0.5, 0.5]) == 1
    assert weighted_vote([[0, 3], [1, 2]], [0.2, 0.5, 0.5, 0.8]) == 3  # 1.0 = 1.0, same size: group 0
    assert weighted_vote([[0], [1, 2]], [0.9, 0.9, 0.1], how="max") == 1


def test_weighted_sum_is_exact_whatever_the_order_of_members():
    values = [0.1, 0.7, 0.2, 0.2, 0.7, 0.1]  # both groups hold 0.1, 0.2, 0.7
    assert weighted_vote([[0, 2, 4], [1, 3, 5]], values) == 4
    assert weighted_vote([[1, 3, 5], [0, 2, 4]][::-1], values) == 4


def test_weighted_mean_and_max():
    values = [0.9, 0.9, 0.0, 0.7]
    assert weighted_vote([[0, 1, 2], [3]], values, how="sum") == 0
    assert weighted_vote([[0, 1, 2], [3]], values, how="mean") == 3
    assert weighted_vote([[0, 1], [2]], [0.5, 0.6, 0.9], how="max") == 2


def test_weighted_sum_of_negative_values_is_applied_as_given():
    logprobs = [-1.0, -1.0, -1.5]
    assert weighted_vote([[0, 1], [2]], logprobs, how="sum") == 2
    assert weighted_vote([[0, 1], [2]], logprobs, how="mean") == 0


def test_weighted_vote_with_nan_and_infinities():
    assert weighted_vote([[0], [1]], [NAN, -5.0]) == 1
    assert weighted_vote([[0, 1], [2]], [-INF, 10.0, 1.0]) == 2
    assert weighted_vote([[0, 1], [2]], [INF, -INF, 0.0]) == 2  # inf + -inf is NaN: -inf
    assert weighted_vote([[0], [1, 2]], [-INF, -INF, -INF]) == 1  # all equal: the larger group
    assert weighted_vote([[0, 1], [2]], [1e308, 1e308, 1.0]) == 0  # overflows to inf, no error


def test_weighted_vote_edge_cases_and_bad_weighting():
    assert weighted_vote([], []) is None
    assert weighted_vote([[0]], [NAN]) == 0
    with pytest.raises(SelectionError, match="sum, mean, max"):
        weighted_vote([[0]], [1.0], how="median")


# --- filtered vote ----------------------------------------------------------------------------


def sixteen() -> tuple[list[list[int]], list[float]]:
    """Group A: 0..9 (index 0 the weakest of all), B: 10, 11 (the strongest), C: 12..15."""
    values = [0.0] + [0.1 + 0.01 * i for i in range(1, 10)] + [0.9, 0.95] + [0.5] * 4
    return [list(range(10)), [10, 11], [12, 13, 14, 15]], values


def test_filter_keeps_the_top_fraction_rounded_up():
    groups, values = sixteen()
    assert filtered_vote(groups, values, keep=0.1) == 10  # ceil(1.6) = 2 kept: 10 and 11
    assert filtered_vote(groups, values, keep=0.9) == 1  # 15 kept: 0 dropped, A still wins
    assert filtered_vote(groups, values, keep=1.0) == 0
    assert filtered_vote(groups, values, keep=0.01) == 11  # at least one


def test_filter_does_not_round_up_float_noise():
    values = [25.0 - i for i in range(25)]
    groups = [[0, 1, 2, *range(7, 25)], [3, 4, 5, 6]]
    assert 0.28 * 25 > 7
    assert filtered_vote(groups, values, keep=0.28) == 3  # 7 kept: B 4 to A 3
    assert filtered_vote(groups, values, keep=0.32) == 0  # 8 kept: 4 to 4, A first


def test_filter_ties_among_kept_go_to_the_earliest_kept_candidate():
    assert filtered_vote([[0, 3], [1, 2]], [0.9, 0.1, 0.8, 0.2], keep=0.5) == 0
    assert filtered_vote([[0, 3], [1, 2]], [0.0, 0.9, 0.1, 0.8], keep=0.5) == 1
    assert filtered_vote([[0, 3], [1, 2]], [0.1, 0.9, 0.8, 0.7], keep=0.75) == 1


def test_filter_ranks_nan_last_and_counts_only_answered():
    assert filtered_vote([[0], [2]], [NAN, 100.0, 0.0], keep=0.5) == 2  # 1 has no answer
    assert filtered_vote([], [], keep=0.5) is None
    for keep in (0.0, -0.1, 1.5, NAN):
        with pytest.raises(SelectionError):
            filtered_vote([[0]], [1.0], keep=keep)


# --- softmax vote -----------------------------------------------------------------------------


def test_softmax_temperature_goes_from_best_to_majority():
    groups, values = [[0, 1, 2], [3]], [0.1, 0.2, 0.3, 0.31]
    assert softmax_vote(groups, values, temperature=1e-3) == 3
    assert softmax_vote(groups, values, temperature=1e-300) == 3
    assert softmax_vote(groups, values, temperature=1.0) == 2
    assert softmax_vote(groups, values, temperature=1e6) == 2


def test_softmax_is_stable_and_handles_infinities():
    assert softmax_vote([[0, 1], [2]], [1000.5, 1000.5, 1001.0]) == 0  # 2 e^-0.5 to 1
    assert softmax_vote([[0, 1], [2]], [1000.0, 999.0, 1001.0]) == 2  # e^-1 + e^-2 to 1
    assert softmax_vote([[0], [1, 2]], [-INF, -INF, -INF]) == 1
    assert softmax_vote([[0], [1, 2]], [INF, 0.0, 0.0]) == 0
    assert softmax_vote([[0, 1], [2]], [NAN, NAN, -3.0]) == 2
    assert softmax_vote([], [], temperature=0.5) is None
    with pytest.raises(SelectionError, match="temperature"):
        softmax_vote([[0]], [1.0], temperature=0.0)


# --- Borda ------------------------------------------------------------------------------------


def test_borda_points_and_power():
    groups, values = [[0, 1], [2, 3]], [0.9, 0.1, 0.5, 0.4]  # points 4, 1 | 3, 2
    assert borda(groups, values) == 0  # 5 to 5, same size: the earlier group
    assert borda(groups, values, power=2.0) == 0  # 17 to 13
    assert borda(groups, values, power=0.5) == 2  # 3 to 3.15


def test_borda_ranks_ties_by_index_and_counts_only_answered():
    assert borda([[0], [1]], [0.5, 0.5]) == 0
    assert borda([[0, 2], [1]], [0.5, 0.5, 0.5]) == 0  # points 3 + 1 to 2
    assert borda([[1, 2], [3]], [99.0, 0.5, 0.5, 0.8]) == 1  # n = 3: 2 + 1 to 3, tie, larger group
    assert borda([[1], [3]], [99.0, 0.5, 0.5, 0.8]) == 3
    assert borda([], []) is None
    with pytest.raises(SelectionError, match="power"):
        borda([[0]], [1.0], power=-1.0)


# --- signals ----------------------------------------------------------------------------------


def trace(confidence: list[float]) -> dict[str, float]:
    n = len(confidence)
    return summarize([-1.0] * n, confidence, [0.5] * n, [2.0] * n, window=3, tail=2, bottom=0.5)


def test_summarize_known_trace():
    s = trace([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # window means 2, 3, 4, 5
    assert list(s) == list(SIGNALS[:-1])
    assert s["lowest_conf"] == pytest.approx(2.0)
    assert s["bottom_conf"] == pytest.approx(2.5)
    assert s["tail_conf"] == pytest.approx(5.5)
    assert s["mean_conf"] == pytest.approx(3.5)
    assert s["mean_logprob"] == -1.0
    assert s["neg_entropy"] == -0.5
    assert s["self_certainty"] == 2.0


def test_summarize_finds_the_lowest_window_where_it_is():
    s = trace([5.0, 5.0, 5.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0])
    assert s["lowest_conf"] == pytest.approx(1.0)
    assert s["bottom_conf"] == pytest.approx((1 + 7 / 3 + 7 / 3 + 11 / 3) / 4)  # 4 lowest of 7 windows
    assert s["tail_conf"] == pytest.approx(5.0)


def test_summarize_matches_a_plain_computation():
    rng = random.Random(7)
    conf = [rng.uniform(0.5, 8.0) for _ in range(500)]
    s = summarize([0.0] * 500, conf, [0.0] * 500, [0.0] * 500)
    windows = sorted(sum(conf[i : i + 64]) / 64 for i in range(500 - 64 + 1))
    k = math.ceil(0.1 * len(windows))
    assert s["lowest_conf"] == pytest.approx(windows[0], rel=1e-12)
    assert s["bottom_conf"] == pytest.approx(sum(windows[:k]) / k, rel=1e-12)
    assert s["tail_conf"] == pytest.approx(sum(conf[-64:]) / 64, rel=1e-12)


def test_summarize_trace_shorter_than_window_and_tail_is_one_window():
    s = summarize([-2.0, -4.0], [1.0, 2.0, 3.0], [1.0, 2.0], [3.0, 5.0])
    assert s["lowest_conf"] == s["bottom_conf"] == s["tail_conf"] == s["mean_conf"] == pytest.approx(2.0)
    assert s["mean_logprob"] == -3.0
    assert s["neg_entropy"] == -1.5
    assert s["self_certainty"] == 4.0


def test_summarize_bottom_fraction_rounds_up_but_not_float_noise():
    conf = [float(i) for i in range(25)]
    assert 0.28 * 25 > 7
    s = summarize(conf, conf, conf, conf, window=1, bottom=0.28)  # 7 of 25 windows, not 8
    assert s["bottom_conf"] == 3.0
    s = summarize(conf, conf, conf, conf, window=1, bottom=0.29)  # 7.25: 8
    assert s["bottom_conf"] == 3.5
    s = summarize(conf, conf, conf, conf, window=1, bottom=0.001)  # at least one
    assert s["bottom_conf"] == 0.0


def test_summarize_empty_trace_is_least_confident():
    s = summarize([], [], [], [])
    assert s == {name: -INF for name in SIGNALS[:-1]}


def test_summarize_nan_becomes_minus_infinity():
    s = summarize([NAN, 0.0], [1.0, NAN], [0.0, 0.0], [0.0, 0.0], window=1, tail=1)
    assert s["mean_logprob"] == -INF
    assert s["mean_conf"] == s["tail_conf"] == -INF
    assert s["neg_entropy"] == 0.0


def test_summarize_trace_reads_a_trace_or_its_dict():
    from tts_cli.engine.types import TokenTrace

    trace = TokenTrace(logprob=[-1.0, -0.5], confidence=[2.0, 3.0], entropy=[0.5, 0.25], self_certainty=[1.0, 2.0])
    expected = summarize(trace.logprob, trace.confidence, trace.entropy, trace.self_certainty)
    assert summarize_trace(trace) == summarize_trace(trace.to_dict()) == expected


def test_summarize_bad_settings():
    for kwargs in ({"window": 0}, {"tail": 0}, {"bottom": 0.0}, {"bottom": 1.5}):
        with pytest.raises(SelectionError):
            summarize([1.0], [1.0], [1.0], [1.0], **kwargs)  # type: ignore[arg-type]


# --- selectors --------------------------------------------------------------------------------


def test_parse_plain_vote():
    s = parse_selector("vote")
    assert (s.name, s.rule, s.signal, s.param, s.needs, s.spec, str(s)) == (
        "vote", "majority", None, None, None, "vote", "vote",
    )  # fmt: skip
    assert s.choose(["1", "2", "2"], [[0], [1, 2]], {}) == 1


@pytest.mark.parametrize(
    ("spec", "rule", "signal", "param", "canonical"),
    [
        ("best:tail_conf", "best", "tail_conf", None, "best:tail_conf"),
        ("vote-sum:lowest_conf", "vote-sum", "lowest_conf", None, "vote-sum:lowest_conf"),
        ("vote-max:mean_logprob", "vote-max", "mean_logprob", None, "vote-max:mean_logprob"),
        ("vote-mean:judge", "vote-mean", "judge", None, "vote-mean:judge"),
        ("filter:tail_conf", "filter", "tail_conf", 0.9, "filter:tail_conf@0.9"),
        ("filter:tail_conf@0.1", "filter", "tail_conf", 0.1, "filter:tail_conf@0.1"),
        (" filter : tail_conf @ .10 ", "filter", "tail_conf", 0.1, "filter:tail_conf@0.1"),
        ("softmax:mean_logprob@0.5", "softmax", "mean_logprob", 0.5, "softmax:mean_logprob@0.5"),
        ("softmax:neg_entropy", "softmax", "neg_entropy", 1.0, "softmax:neg_entropy@1"),
        ("borda:self_certainty@2", "borda", "self_certainty", 2.0, "borda:self_certainty@2"),
        ("borda:bottom_conf@0.1234567", "borda", "bottom_conf", 0.1234567, "borda:bottom_conf@0.1234567"),
    ],
)
def test_parse_rule_signal_param(spec, rule, signal, param, canonical):
    s = parse_selector(spec)
    assert (s.rule, s.signal, s.param, s.needs) == (rule, signal, param, signal)
    assert s.spec == str(s) == s.name == canonical
    assert parse_selector(canonical) == s
    assert s.summary


def test_every_rule_and_signal_round_trips():
    for rule in RULES:
        for signal in SIGNALS:
            s = parse_selector(f"{rule}:{signal}")
            assert s.param == DEFAULT_PARAM.get(rule)
            assert parse_selector(s.spec) == s


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("", ["vote", "conf-filter", "best", "borda"]),
        ("nope", ["vote", "conf-filter", "vote-sum", "RULE:SIGNAL"]),
        ("majority", ["vote", "filter"]),
        ("vote:tail_conf", ["vote-sum"]),
        ("best", ["tail_conf", "judge"]),
        ("best:", ["tail_conf", "self_certainty"]),
        ("best:nope", ["'nope'", "lowest_conf"]),
        ("best:tail_conf@2", ["filter, softmax, borda"]),
        ("vote-sum:judge@1", ["filter, softmax, borda"]),
        ("filter:tail_conf@0", ["(0, 1]"]),
        ("filter:tail_conf@1.5", ["(0, 1]"]),
        ("filter:tail_conf@x", ["(0, 1]"]),
        ("filter:tail_conf@", ["(0, 1]"]),
        ("softmax:mean_logprob@0", ["temperature", "above 0"]),
        ("softmax:mean_logprob@nan", ["temperature"]),
        ("softmax:mean_logprob@inf", ["temperature"]),
        ("borda:self_certainty@-1", ["power"]),
    ],
)
def test_bad_specs_are_one_line_errors_naming_the_choices(spec, named):
    with pytest.raises(SelectionError) as caught:
        parse_selector(spec)
    message = str(caught.value)
    assert "\n" not in message
    for word in named:
        assert word in message
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, UsageError)


def test_presets_all_parse_to_their_spec():
    assert len(PRESETS) >= 7
    for name, spec in PRESETS.items():
        s = parse_selector(name)
        assert s.name == name
        assert s.spec == str(s) == parse_selector(spec).spec
        assert (s.rule, s.signal, s.param) == (
            parse_selector(spec).rule,
            parse_selector(spec).signal,
            parse_selector(spec).param,
        )
        assert s.needs in SIGNALS
    assert parse_selector("conf-top10").param == 0.1
    assert parse_selector("judge-best").rule == "best"


def test_available_selectors_are_vote_and_the_presets():
    found = available_selectors()
    assert [s.name for s in found] == ["vote", *PRESETS]
    assert all(s.summary for s in found)


ANSWERS = ["1", "2", "1", "3", None]
GROUPS = [[0, 2], [1], [3]]
CONF = [0.2, 0.9, 0.3, 0.1, 50.0]  # the last has no answer


@pytest.mark.parametrize(
    ("spec", "chosen"),
    [
        ("vote", 0),
        ("best:tail_conf", 1),
        ("vote-sum:tail_conf", 1),
        ("vote-mean:tail_conf", 1),
        ("vote-max:tail_conf", 1),
        ("filter:tail_conf@1", 0),
        ("filter:tail_conf@0.5", 1),  # 2 kept: 1 and 2, a tie, 1 is earlier
        ("filter:tail_conf@0.25", 1),
        ("softmax:tail_conf@100", 2),  # near majority; the group's best member
        ("softmax:tail_conf@0.01", 1),
        ("borda:tail_conf", 2),  # points: 1→4, 2→3, 0→2, 3→1
        ("borda:tail_conf@3", 1),  # 64 to 27 + 8
    ],
)
def test_selectors_choose(spec, chosen):
    assert parse_selector(spec).choose(ANSWERS, GROUPS, {"tail_conf": CONF}) == chosen


def test_selectors_without_answers_choose_none():
    for s in available_selectors():
        signals = {name: [1.0, 2.0] for name in SIGNALS}
        assert s.choose([None, None], [], signals) is None
        assert s.choose([], [], {name: [] for name in SIGNALS}) is None


def test_a_missing_signal_names_the_selector_and_the_signal():
    with pytest.raises(SelectionError) as caught:
        parse_selector("conf-filter").choose(ANSWERS, GROUPS, {"tail_conf": CONF})
    message = str(caught.value)
    assert "'conf-filter'" in message and "'lowest_conf'" in message and "tail_conf" in message
    assert "\n" not in message
    with pytest.raises(SelectionError, match="3 values"):
        parse_selector("best:tail_conf").choose(ANSWERS, GROUPS, {"tail_conf": [1.0, 2.0, 3.0]})


# --- settled vote -----------------------------------------------------------------------------


def test_settle_probability_known_values():
    assert settle_probability([3]) == 0.9375  # Beta(4, 1): 1 - 0.5 ** 4
    assert settle_probability([4, 0]) == 0.96875
    assert settle_probability([2, 2]) == 0.5
    assert settle_probability([0]) == 0.5
    assert settle_probability([]) == 0.5
    assert settle_probability([1, 5, 3]) == 382 / 512  # Beta(6, 4)
    assert settle_probability([3, 5]) == settle_probability([5, 3, 1, 0])


def test_settle_probability_around_the_usual_threshold():
    assert 0.9 <= settle_probability([3]) < 0.95 <= settle_probability([4])
    assert settle_probability([6, 4]) < 0.95 <= settle_probability([10, 1])


def test_settle_probability_is_monotone():
    for second in (0, 1, 3, 10):
        p = [settle_probability([top, second]) for top in range(second, second + 40)]
        assert p[0] == pytest.approx(0.5)
        assert all(a < b for a, b in zip(p, p[1:]))
    q = [settle_probability([20, second]) for second in range(21)]
    assert all(a > b for a, b in zip(q, q[1:]))
    w = [settle_probability([x, 2.0]) for x in (2.0, 2.5, 3.0, 3.5, 4.0)]
    assert all(a < b for a, b in zip(w, w[1:]))


def test_continued_fraction_matches_the_exact_sum():
    for a in (1, 2, 3, 7, 20, 150, 2000):
        for b in (1, 2, 5, 19, 140, 1900):
            exact = beta_above_half(a, b)
            assert regularized_beta(0.5, b, a) == pytest.approx(exact, rel=1e-10, abs=1e-300)


def test_regularized_beta_closed_forms():
    assert regularized_beta(0.25, 0.5, 0.5) == pytest.approx(1 / 3, rel=1e-12)  # arcsine law
    assert regularized_beta(0.3, 2.5, 1.0) == pytest.approx(0.3**2.5, rel=1e-12)
    assert regularized_beta(0.3, 1.0, 3.5) == pytest.approx(1 - 0.7**3.5, rel=1e-12)
    assert regularized_beta(0.8, 3.5, 1.0) == pytest.approx(0.8**3.5, rel=1e-12)
    assert regularized_beta(0.5, 2.5, 2.5) == pytest.approx(0.5, rel=1e-12)
    assert regularized_beta(0.0, 2.0, 3.0) == 0.0
    assert regularized_beta(1.0, 2.0, 3.0) == 1.0


def test_large_counts_use_the_continued_fraction():
    assert settle_probability([5000, 5000]) == pytest.approx(0.5, rel=1e-9)
    n = 5001 + 4701 - 1
    total, term = 0, 1
    for j in range(5001):
        total, term = total + term, term * (n - j) // (j + 1)
    exact = total / 2**n
    assert settle_probability([5000, 4700]) == pytest.approx(exact, rel=1e-10)
    assert 0.99 < exact < 1.0
    assert settle_probability([2100, 2000]) == pytest.approx(regularized_beta(0.5, 2001, 2101), rel=1e-10)


def test_bad_counts():
    for counts in ([-1], [NAN], [INF, 2]):
        with pytest.raises(SelectionError):
            settle_probability(counts)
