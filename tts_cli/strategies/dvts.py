"""``dvts``: diverse verifier tree search.

N is split into N/M independent subtrees; each runs a greedy step-level search of width M: its
current node is expanded into M one-step children, the best child by aggregated verifier score is
kept and the others are pruned. All subtrees advance together: one batched generate call and one
verifier call per depth. A subtree ends when its kept child finishes (end of generation or a
``\\boxed{}`` answer). Only finished solutions are candidates: a subtree cut off by the depth limit
or the budget is dropped, and with no finished subtree the answer is None.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts_cli.strategies.base import SearchContext, SearchResult, finish, options_of, require_verifier
from tts_cli.strategies.options import Options, option
from tts_cli.strategies.registry import register
from tts_cli.strategies.stepper import (
    Partial,
    Stepper,
    best_index,
    max_depth_option,
    pick_best,
    settle_tree,
    step_tokens_option,
)


@dataclass(frozen=True)
class DvtsOptions(Options):
    width: int = option(
        2, "--beam-width", "-m", help="Width M of each of the N/M subtrees.", minimum=1,
        at_most_n=True,
    )  # fmt: skip
    max_depth: int = max_depth_option()
    step_tokens: int = step_tokens_option()


@register(
    "dvts",
    summary="Diverse verifier tree search: N/M independent greedy step-level searches of width M.",
    options=DvtsOptions,
    needs_verifier=True,
)
def run(ctx: SearchContext) -> SearchResult:
    verifier = require_verifier(ctx, "dvts")
    config = ctx.config
    options = options_of(ctx, DvtsOptions)
    n = max(1, config.n)
    width = max(1, min(options.width, n))
    subtrees = max(1, n // width)
    how = config.aggregate
    stepper = Stepper(ctx, step_tokens=options.step_tokens)
    current: dict[int, Partial] = {i: stepper.root() for i in range(subtrees)}  # unfinished subtrees
    finished: list[Partial] = []
    subtree_of: dict[int, int] = {}  # finished node id -> subtree index
    depth = 0
    stopped = "all subtrees finished"
    while current:
        if depth >= options.max_depth:
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
    return finish(ctx, candidates, pick_best(candidates), info)
