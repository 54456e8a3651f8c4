"""``dvts``: diverse verifier tree search.

N is split into N/M independent subtrees; each runs a greedy step-level search of width M: its
current node is expanded into M one-step children, the best child by aggregated verifier score is
kept and the others are pruned. All subtrees advance together: one batched generate call and one
verifier call per depth. A subtree ends when its kept child finishes (end of generation or a
``\\boxed{}`` answer). Only finished solutions are candidates: a subtree cut off by the depth limit
or the budget is dropped, and with no finished subtree the answer is None.
"""

from __future__ import annotations

from tts_cli.strategies.base import SearchContext, SearchResult
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import STEP_SEARCH_OPTIONS, Partial, Stepper, best_index, pick_best, require_verifier, settle_tree


@register(
    "dvts",
    summary="Diverse verifier tree search: N/M independent greedy step-level searches of width M.",
    needs_verifier=True,
    options=(
        "-n",
        "--beam-width",
        *STEP_SEARCH_OPTIONS,
    ),
)
def run(ctx: SearchContext) -> SearchResult:
    verifier = require_verifier(ctx, "dvts")
    config = ctx.config
    n = max(1, config.n)
    width = max(1, min(config.beam_width, n))
    subtrees = max(1, n // width)
    how = config.aggregate
    stepper = Stepper(ctx)
    current: dict[int, Partial] = {i: stepper.root() for i in range(subtrees)}  # unfinished subtrees
    finished: list[Partial] = []
    subtree_of: dict[int, int] = {}  # finished node id -> subtree index
    depth = 0
    stopped = "all subtrees finished"
    while current:
        if depth >= config.max_depth:
            stopped = "depth limit"
            break
        order = sorted(current)
        children = stepper.expand([current[i] for i in order], [width] * len(order))
        if children is None:
            stopped = "budget exhausted"
            break
        depth += 1
        stepper.score_last(verifier, [kid for kids in children for kid in kids])
        for index, kids in zip(order, children):
            if not kids:  # no room left under --max-tokens: dropped unfinished
                stepper.prune(current.pop(index))
                continue
            keep = best_index([k.score(how) for k in kids]) or 0
            for j, kid in enumerate(kids):
                if j != keep:
                    stepper.prune(kid)
            best = kids[keep]
            if best.finished:
                stepper.finish(best)
                finished.append(best)
                subtree_of[best.node_id] = index
                del current[index]
            else:
                current[index] = best
    dropped = len(current)
    for partial in current.values():
        stepper.prune(partial)
    settle_tree(ctx.tree)

    candidates = [p.candidate(how) for p in finished]
    info = {
        "depth": depth,
        "subtrees": subtrees,
        "beam_width": width,
        "finished": len(finished),
        "dropped_unfinished": dropped,
        "subtree_of_candidate": [subtree_of[p.node_id] for p in finished],
        "expansions": stepper.expansions,
        "generate_calls": stepper.calls,
        "verifier_calls": stepper.verifier_calls,
        "stopped": stopped,
        "aggregate": how,
    }
    chosen = pick_best(candidates)
    if chosen is None:
        return SearchResult(answer=None, chosen=None, candidates=candidates, info=info)
    ctx.tree.mark_chosen(candidates[chosen].node_id or 0)
    return SearchResult(answer=candidates[chosen].answer, chosen=chosen, candidates=candidates, info=info)
