"""``mcts``: Monte Carlo tree search over reasoning steps.

One iteration:

1. **Selection** — from the root, repeatedly take the child with the highest PUCT score
   ``Q + c_puct * P * sqrt(N_parent) / (1 + N_child)`` (``Q`` the child's mean value, ``P`` its prior)
   until reaching a node that has not been expanded, or a terminal one.
2. **Expansion** — that leaf gets ``--beam-width`` one-step children, in one batched generate call.
3. **Evaluation** — every child that did not finish the answer is rolled out to a complete solution
   (sampled, one batched generate call for all of them); the new step and the rollout's steps are
   scored in one verifier call. A child's value is the aggregated verifier score of its completed
   solution (``--aggregate``); its prior is its step score normalised over its siblings (uniform if
   they are all zero).
4. **Backpropagation** — each child's value is added to the child and all its ancestors
   (visit count + 1, value sum + value; Q is the mean).

A terminal leaf (finished answer, depth limit, or no room left under ``--max-tokens``) is not
expanded again; selecting it backpropagates its value once more. The search runs ``--iterations``
iterations or until the token budget is spent. The answer comes from the most visited path: the
best-scored finished solution (a finished step or a finished rollout) below its last node, or the
best finished solution anywhere when that subtree has none.

The visit/value arithmetic lives in small pure functions (``puct_score``, ``select_child``,
``backpropagate``, ``priors_from_scores``, ``most_visited_path``) so it can be tested exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from tts_cli.engine.types import Completion
from tts_cli.strategies.base import (
    Candidate,
    SearchContext,
    SearchResult,
    capped_tokens,
    finish,
    generate,
    has_boxed_answer,
    options_of,
    require_verifier,
    split_steps,
)
from tts_cli.strategies.options import Options, option
from tts_cli.strategies.registry import register
from tts_cli.strategies.stepper import (
    Partial,
    Stepper,
    max_depth_option,
    pick_best,
    settle_tree,
    step_tokens_option,
)
from tts_cli.tree import FINISHED, PRUNED
from tts_cli.verifiers.aggregate import aggregate

# ------------------------------------------------------------------------------ pure functions


@dataclass
class Stat:
    """MCTS statistics of one node."""

    visits: int = 0
    value_sum: float = 0.0
    prior: float = 1.0

    @property
    def q(self) -> float:
        """Mean value (0 for an unvisited node)."""
        return self.value_sum / self.visits if self.visits else 0.0


def puct_score(child: Stat, parent_visits: int, c_puct: float) -> float:
    """``Q + c_puct * P * sqrt(N_parent) / (1 + N_child)``."""
    return child.q + c_puct * child.prior * math.sqrt(max(0, parent_visits)) / (1 + child.visits)


def select_child(children: Sequence[Stat], parent_visits: int, c_puct: float) -> int:
    """Index of the child with the highest PUCT score (the first one on ties)."""
    if not children:
        raise ValueError("no children to select from")
    scores = [puct_score(c, parent_visits, c_puct) for c in children]
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def backpropagate(stats: dict[int, Stat], path: Sequence[int], value: float) -> None:
    """Add one visit and ``value`` to every node on ``path`` (root first, the evaluated node last)."""
    for node in path:
        stat = stats.setdefault(node, Stat())
        stat.visits += 1
        stat.value_sum += value


def priors_from_scores(scores: Sequence[float]) -> list[float]:
    """Verifier step scores normalised to sum to 1; uniform when they are all zero or negative."""
    if not scores:
        return []
    clipped = [max(0.0, float(s)) for s in scores]
    total = sum(clipped)
    if total <= 0 or not math.isfinite(total):
        return [1.0 / len(scores)] * len(scores)
    return [s / total for s in clipped]


def most_visited_path(stats: dict[int, Stat], children: dict[int, list[int]], root: int = 0) -> list[int]:
    """From ``root``, follow the most visited child (higher Q on ties, then the first) to a leaf."""
    path = [root]
    node = root
    while children.get(node):
        kids = children[node]
        node = max(kids, key=lambda k: (stats[k].visits, stats[k].q, -kids.index(k)))
        path.append(node)
    return path


# ---------------------------------------------------------------------------------- the search


@dataclass(frozen=True)
class MctsOptions(Options):
    iterations: int = option(8, "--iterations", help="Search iterations.", minimum=1)
    children: int = option(2, "--beam-width", "-m", help="Children per expansion.", minimum=1)
    c_puct: float = option(1.0, "--c-puct", help="Exploration constant of PUCT.", minimum=0)
    max_depth: int = max_depth_option()
    step_tokens: int = step_tokens_option()


@register(
    "mcts",
    summary="Monte Carlo tree search over steps: PUCT selection, verifier values, rollouts to an answer.",
    options=MctsOptions,
    reads=("temperature", "top_p", "max_tokens", "budget"),
    needs_verifier=True,
)
def run(ctx: SearchContext) -> SearchResult:
    search = _Search(ctx, require_verifier(ctx, "mcts"), options_of(ctx, MctsOptions))
    for _ in range(max(0, search.options.iterations)):
        if not search.iterate():
            break
    return search.result()


@dataclass
class _Rollout:
    completion: Completion
    cost: int
    steps: list[str]


class _Search:
    """The state of one search; ``iterate`` runs the four steps of one iteration."""

    def __init__(self, ctx: SearchContext, verifier: Any, options: MctsOptions) -> None:
        self.ctx = ctx
        self.tree = ctx.tree
        self.verifier = verifier
        self.options = options
        self.how = ctx.config.aggregate
        self.width = max(1, options.children)
        self.stepper = Stepper(ctx, step_tokens=options.step_tokens)
        self.partials: dict[int, Partial] = {0: self.stepper.root()}
        self.stats: dict[int, Stat] = {0: Stat()}
        self.children: dict[int, list[int]] = {}
        self.terminal: dict[int, float] = {}  # node -> value, for nodes never to expand
        self.candidates: list[Candidate] = []
        self.rollouts = 0
        self.iterations = 0
        self.stopped = "iterations done"

    def iterate(self) -> bool:
        """One iteration; False when the budget is spent before its expansion."""
        path = self.select()
        node = path[-1]
        if node in self.terminal:
            self.iterations += 1
            backpropagate(self.stats, path, self.terminal[node])
            return True
        leaf = self.partials[node]
        if self.tree.nodes[node].depth >= self.options.max_depth or self.stepper.room(leaf) <= 0:
            self.iterations += 1
            self._end_at(path, leaf)
            return True
        expanded = self.stepper.expand([leaf], [self.width])  # one batched generate call
        if expanded is None:
            self.stopped = "budget exhausted"
            return False
        self.iterations += 1
        kids = expanded[0]
        if not kids:
            self._end_at(path, leaf)
            return True
        self.children[node] = [k.node_id for k in kids]
        self.partials.update((k.node_id, k) for k in kids)
        self.evaluate(path, kids)
        return True

    # 1. selection
    def select(self) -> list[int]:
        """The path from the root, by PUCT, to a node not expanded yet or a terminal one."""
        path = [0]
        node = 0
        while node in self.children and node not in self.terminal:
            kids = self.children[node]
            node = kids[select_child([self.stats[k] for k in kids], self.stats[node].visits, self.options.c_puct)]
            path.append(node)
        return path

    def _end_at(self, path: list[int], leaf: Partial) -> None:
        """``leaf`` will never be expanded: its own score is its value from now on."""
        self.terminal[leaf.node_id] = leaf.score(self.how)
        self.stepper.prune(leaf)
        backpropagate(self.stats, path, self.terminal[leaf.node_id])

    # 3. evaluation (and 4. backpropagation of each child's value)
    def evaluate(self, path: list[int], kids: list[Partial]) -> None:
        rollouts = self._roll_out(kids)
        step_scores, rollout_scores = self._score(kids, rollouts)
        priors = priors_from_scores(step_scores)
        for pos, kid in enumerate(kids):
            kid.scores.append(step_scores[pos])
            meta = {**self.tree.nodes[kid.node_id].meta, "prior": priors[pos]}
            self.tree.update(kid.node_id, score=step_scores[pos], meta=meta)
            self.stats[kid.node_id] = Stat(prior=priors[pos])
            value = self._value(kid, rollouts.get(kid.node_id), rollout_scores[pos])
            backpropagate(self.stats, path + [kid.node_id], value)
            self._show_stats(kid.node_id)
        for ancestor in path[1:]:
            self._show_stats(ancestor)

    def _roll_out(self, kids: list[Partial]) -> dict[int, _Rollout]:
        """Every open child completed to a full solution, in one batched generate call."""
        open_kids = [k for k in kids if not k.finished and self.stepper.room(k) > 0]
        if not open_kids:
            return {}
        cap = capped_tokens(self.ctx.config, len(open_kids), spent=self.tree.total_tokens)
        if cap <= 0:
            return {}
        params = [
            self.ctx.config.sampling(10_000 + self.rollouts + i, max_tokens=min(cap, self.stepper.room(k)))
            for i, k in enumerate(open_kids)
        ]
        completions, costs = generate(self.ctx, [k.prefix for k in open_kids], params)
        self.stepper.calls += 1
        self.rollouts += len(open_kids)
        return {
            kid.node_id: _Rollout(completion, cost, split_steps(completion.text))
            for kid, completion, cost in zip(open_kids, completions, costs)
        }

    def _score(self, kids: list[Partial], rollouts: dict[int, _Rollout]) -> tuple[list[float], list[list[float]]]:
        """Each child's new step and every step of its rollout, scored in one verifier call."""
        solutions: list[list[str]] = []
        owners: list[tuple[int, int]] = []  # (kid position, 0 for the step itself, j for rollout step j)
        for pos, kid in enumerate(kids):
            solutions.append(kid.steps)
            owners.append((pos, 0))
            if kid.node_id in rollouts:
                rsteps = rollouts[kid.node_id].steps
                for j in range(1, len(rsteps) + 1):
                    solutions.append(kid.steps + rsteps[:j])
                    owners.append((pos, j))
        results = self.verifier.score(self.ctx.question, solutions, last_only=True)
        self.stepper.verifier_calls += 1
        step_scores = [0.0] * len(kids)
        rollout_scores: list[list[float]] = [[] for _ in kids]
        for (pos, j), scores in zip(owners, results):
            value = float(scores[-1]) if len(scores) else 0.0
            if j == 0:
                step_scores[pos] = value
            else:
                rollout_scores[pos].append(value)
        return step_scores, rollout_scores

    def _value(self, kid: Partial, rollout: Optional[_Rollout], rollout_scores: list[float]) -> float:
        """A child's value: its finished solution's score, its rollout's, or (no rollout: budget or
        --max-tokens) its step score alone."""
        if kid.finished:
            value = kid.score(self.how)
            self.terminal[kid.node_id] = value
            self.stepper.finish(kid)
            self.candidates.append(kid.candidate(self.how))
            return value
        if rollout is not None:
            return self._record_rollout(kid, rollout, rollout_scores)
        return kid.score(self.how)

    def _record_rollout(self, kid: Partial, rollout: _Rollout, rollout_scores: list[float]) -> float:
        completion, cost = rollout.completion, rollout.cost
        value = aggregate(kid.scores + rollout_scores, self.how)
        text = kid.text + kid.stop + completion.text
        done = completion.finished or has_boxed_answer(completion.text)
        answer = self.ctx.form.extract(text) if done else None
        node = self.tree.add(
            kid.node_id,
            completion.text,
            cost,
            status=FINISHED if done else PRUNED,
            score=value,
            answer=answer,
            meta={"kind": "rollout", "finish_reason": completion.finish_reason, "step_scores": rollout_scores},
        )
        if done:
            self.candidates.append(
                Candidate(
                    text=text,
                    answer=answer,
                    tokens=kid.tokens + cost,
                    finish_reason=completion.finish_reason,
                    node_id=node.id,
                    score=value,
                )
            )
        return value

    def _show_stats(self, node: int) -> None:
        meta = dict(self.tree.nodes[node].meta)
        meta.update(visits=self.stats[node].visits, value=self.stats[node].q)
        self.tree.update(node, meta=meta)

    # the answer
    def result(self) -> SearchResult:
        settle_tree(self.tree)
        best_path = most_visited_path(self.stats, self.children)
        info: dict[str, Any] = {
            "iterations": self.iterations,
            "rollouts": self.rollouts,
            "expansions": self.stepper.expansions,
            "generate_calls": self.stepper.calls,
            "verifier_calls": self.stepper.verifier_calls,
            "root_visits": self.stats[0].visits,
            "most_visited_path": best_path[1:],
            "visits": {k: self.stats[k].visits for k in self.children.get(0, [])},
            "stopped": self.stopped,
            "aggregate": self.how,
        }
        if not self.candidates:
            return finish(self.ctx, self.candidates, None, info)
        end = best_path[-1]
        candidates = self.candidates
        below = [i for i, c in enumerate(candidates) if end != 0 and end in {n.id for n in self.tree.path(c.node_id or 0)}]
        if below:
            chosen = below[pick_best([candidates[i] for i in below]) or 0]
            info["choice"] = "most visited path"
        else:
            chosen = pick_best(candidates) or 0
            info["choice"] = "best finished solution"
        return finish(self.ctx, candidates, chosen, info)
