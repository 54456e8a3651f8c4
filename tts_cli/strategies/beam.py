"""``beam``: step-level beam search guided by the verifier (PRM).

Every depth spends N expansions: the frontier (at most M partial solutions, the best by aggregated
verifier score) is expanded into one-step continuations, N/M each (N spread over the frontier), in
ONE batched generate call; the new steps are scored in ONE verifier call. A continuation that ends
the answer (end of generation or a ``\\boxed{}`` answer) leaves the frontier for the finished pool;
of the rest the M best stay and the others are pruned. The search stops when the frontier is empty,
at ``--max-depth`` or when the token budget is spent; the best finished solution wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts_cli.strategies.base import SearchContext, SearchResult, finish, options_of, require_verifier
from tts_cli.strategies.options import Options, option
from tts_cli.strategies.registry import register
from tts_cli.strategies.stepper import (
    Partial,
    Stepper,
    max_depth_option,
    pick_best,
    settle_tree,
    spread,
    step_tokens_option,
)


@dataclass(frozen=True)
class BeamOptions(Options):
    width: int = option(2, "--beam-width", "-m", help="Beams kept per step (M).", minimum=1, at_most_n=True)
    max_depth: int = max_depth_option()
    step_tokens: int = step_tokens_option()


@register(
    "beam",
    summary="Step-level beam search: keep the M best partial solutions by verifier score, expand each into N/M steps.",
    options=BeamOptions,
    needs_verifier=True,
)
def run(ctx: SearchContext) -> SearchResult:
    verifier = require_verifier(ctx, "beam")
    config = ctx.config
    options = options_of(ctx, BeamOptions)
    n = max(1, config.n)
    width = max(1, min(options.width, n))
    how = config.aggregate
    stepper = Stepper(ctx, step_tokens=options.step_tokens)
    frontier: list[Partial] = [stepper.root()]
    finished: list[Partial] = []
    pruned = 0
    depth = 0
    stopped = "all beams finished"
    while frontier:
        if depth >= options.max_depth:
            stopped = "depth limit"
            break
        children = stepper.expand(frontier, spread(n, len(frontier)))
        if children is None:
            stopped = "budget exhausted"
            break
        depth += 1
        for parent, kids in zip(frontier, children):
            if not kids:  # no room left under --max-tokens: an unfinished dead end
                stepper.prune(parent)
                pruned += 1
        new = [kid for kids in children for kid in kids]
        stepper.score_last(verifier, new)
        active: list[Partial] = []
        for kid in new:
            if kid.finished:
                stepper.finish(kid)
                finished.append(kid)
            else:
                active.append(kid)
        active.sort(key=lambda p: p.score(how), reverse=True)  # stable: earlier wins ties
        for loser in active[width:]:
            stepper.prune(loser)
            pruned += 1
        frontier = active[:width]
    for leftover in frontier:  # unfinished at the depth or budget limit
        stepper.prune(leftover)
        pruned += 1 if leftover.node_id else 0
    settle_tree(ctx.tree)

    candidates = [p.candidate(how) for p in finished]
    info = {
        "depth": depth,
        "beam_width": width,
        "finished": len(finished),
        "pruned": pruned,
        "expansions": stepper.expansions,
        "generate_calls": stepper.calls,
        "verifier_calls": stepper.verifier_calls,
        "stopped": stopped,
        "aggregate": how,
    }
    return finish(ctx, candidates, pick_best(candidates), info)
