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
from typing import Any, Sequence

from tts_cli.grading import extract_answer
from tts_cli.strategies.base import Candidate, SearchContext, SearchResult, capped_tokens
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import (
    STEP_SEARCH_OPTIONS,
    Partial,
    Stepper,
    aggregate,
    generate,
    has_boxed_answer,
    pick_best,
    require_verifier,
    settle_tree,
    split_steps,
)
from tts_cli.tree import FINISHED, PRUNED

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


@register(
    "mcts",
    summary="Monte Carlo tree search over steps: PUCT selection, verifier values, rollouts to an answer.",
    needs_verifier=True,
    options=(
        "--iterations",
        "--beam-width",
        "--c-puct",
        *STEP_SEARCH_OPTIONS,
    ),
)
def run(ctx: SearchContext) -> SearchResult:
    verifier = require_verifier(ctx, "mcts")
    config = ctx.config
    how = config.aggregate
    width = max(1, config.beam_width)
    stepper = Stepper(ctx)
    root = stepper.root()
    partials: dict[int, Partial] = {0: root}
    stats: dict[int, Stat] = {0: Stat()}
    children: dict[int, list[int]] = {}
    terminal: dict[int, float] = {}  # node -> value, for nodes never to expand
    candidates: list[Candidate] = []
    rollouts = 0
    iterations = 0
    stopped = "iterations done"

    for _ in range(max(0, config.iterations)):
        # 1. selection
        path = [0]
        node = 0
        while node in children and node not in terminal:
            kids = children[node]
            node = kids[select_child([stats[k] for k in kids], stats[node].visits, config.c_puct)]
            path.append(node)
        if node in terminal:
            iterations += 1
            backpropagate(stats, path, terminal[node])
            continue
        leaf = partials[node]
        if ctx.tree.nodes[node].depth >= config.max_depth or stepper.room(leaf) <= 0:
            terminal[node] = leaf.score(how)
            stepper.prune(leaf)
            iterations += 1
            backpropagate(stats, path, terminal[node])
            continue

        # 2. expansion: one batched generate call
        expanded = stepper.expand([leaf], [width])
        if expanded is None:
            stopped = "budget exhausted"
            break
        iterations += 1
        kids_p = expanded[0]
        if not kids_p:
            terminal[node] = leaf.score(how)
            stepper.prune(leaf)
            backpropagate(stats, path, terminal[node])
            continue
        children[node] = [k.node_id for k in kids_p]
        for kid in kids_p:
            partials[kid.node_id] = kid

        # 3. evaluation: rollouts (one batched generate call) + one verifier call
        open_kids = [k for k in kids_p if not k.finished and stepper.room(k) > 0]
        rollout_of: dict[int, tuple[Any, int, list[str]]] = {}
        if open_kids:
            cap = capped_tokens(config, len(open_kids), spent=ctx.tree.total_tokens)
            if cap > 0:
                params = [
                    config.sampling(10_000 + rollouts + i, max_tokens=min(cap, stepper.room(k)))
                    for i, k in enumerate(open_kids)
                ]
                completions, costs = generate(ctx, [k.prefix for k in open_kids], params)
                stepper.calls += 1
                rollouts += len(open_kids)
                for kid, completion, cost in zip(open_kids, completions, costs):
                    rollout_of[kid.node_id] = (completion, cost, split_steps(completion.text))
        solutions: list[list[str]] = []
        owners: list[tuple[int, int]] = []  # (kid position, 0 for the step itself, j for rollout step j)
        for pos, kid in enumerate(kids_p):
            solutions.append(kid.steps)
            owners.append((pos, 0))
            if kid.node_id in rollout_of:
                rsteps = rollout_of[kid.node_id][2]
                for j in range(1, len(rsteps) + 1):
                    solutions.append(kid.steps + rsteps[:j])
                    owners.append((pos, j))
        results = verifier.score(ctx.question, solutions, last_only=True)
        stepper.verifier_calls += 1
        step_score = [0.0] * len(kids_p)
        rollout_scores: list[list[float]] = [[] for _ in kids_p]
        for (pos, j), scores in zip(owners, results):
            value = float(scores[-1]) if len(scores) else 0.0
            if j == 0:
                step_score[pos] = value
            else:
                rollout_scores[pos].append(value)

        priors = priors_from_scores(step_score)
        for pos, kid in enumerate(kids_p):
            kid.scores.append(step_score[pos])
            ctx.tree.update(kid.node_id, score=step_score[pos], meta={**ctx.tree.nodes[kid.node_id].meta, "prior": priors[pos]})
            stats[kid.node_id] = Stat(prior=priors[pos])
            if kid.finished:
                value = kid.score(how)
                terminal[kid.node_id] = value
                stepper.finish(kid)
                candidates.append(kid.candidate(how))
            elif kid.node_id in rollout_of:
                completion, cost, _ = rollout_of[kid.node_id]
                full_scores = kid.scores + rollout_scores[pos]
                value = aggregate(full_scores, how)
                text = kid.text + kid.stop + completion.text
                done = completion.finish_reason == "eos" or has_boxed_answer(completion.text)
                answer = extract_answer(text) if done else None
                rnode = ctx.tree.add(
                    kid.node_id,
                    completion.text,
                    cost,
                    status=FINISHED if done else PRUNED,
                    score=value,
                    answer=answer,
                    meta={"kind": "rollout", "finish_reason": completion.finish_reason, "step_scores": rollout_scores[pos]},
                )
                if done:
                    candidates.append(
                        Candidate(
                            text=text,
                            answer=answer,
                            tokens=kid.tokens + cost,
                            finish_reason=completion.finish_reason,
                            node_id=rnode.id,
                            score=value,
                        )
                    )
            else:  # no rollout (budget or --max-tokens): the step score alone
                value = kid.score(how)
            # 4. backpropagation
            backpropagate(stats, path + [kid.node_id], value)
            meta = dict(ctx.tree.nodes[kid.node_id].meta)
            meta.update(visits=stats[kid.node_id].visits, value=stats[kid.node_id].q)
            ctx.tree.update(kid.node_id, meta=meta)
        for ancestor in path[1:]:
            meta = dict(ctx.tree.nodes[ancestor].meta)
            meta.update(visits=stats[ancestor].visits, value=stats[ancestor].q)
            ctx.tree.update(ancestor, meta=meta)

    settle_tree(ctx.tree)
    best_path = most_visited_path(stats, children)
    info: dict[str, Any] = {
        "iterations": iterations,
        "rollouts": rollouts,
        "expansions": stepper.expansions,
        "generate_calls": stepper.calls,
        "verifier_calls": stepper.verifier_calls,
        "root_visits": stats[0].visits,
        "most_visited_path": best_path[1:],
        "visits": {k: stats[k].visits for k in children.get(0, [])},
        "stopped": stopped,
        "aggregate": how,
    }
    if not candidates:
        return SearchResult(answer=None, chosen=None, candidates=candidates, info=info)
    end = best_path[-1]
    below = [i for i, c in enumerate(candidates) if end != 0 and end in {n.id for n in ctx.tree.path(c.node_id or 0)}]
    if below:
        local = pick_best([candidates[i] for i in below])
        chosen = below[local or 0]
        info["choice"] = "most visited path"
    else:
        chosen = pick_best(candidates) or 0
        info["choice"] = "best finished solution"
    ctx.tree.mark_chosen(candidates[chosen].node_id or 0)
    return SearchResult(answer=candidates[chosen].answer, chosen=chosen, candidates=candidates, info=info)
