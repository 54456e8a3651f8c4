"""``refine``: self-correction — draft, critique, revise, for at most ``--rounds`` rounds.

The critique comes from the verifier when one is given (its step scores: all above 0.5 means "no
error", otherwise the lowest-scored step is pointed out), else from the policy itself (a critique
prompt that ends with a VERDICT line). The loop stops early once a critique finds no error.
Every draft, critique and revision is a tree node: draft -> critique -> revision -> critique -> ...
With a verifier the best-scored version wins (the later one on ties); without one, the last.
"""

from __future__ import annotations

from typing import Any, Optional

from tts_cli.grading import extract_answer
from tts_cli.prompts import critique_finds_error, critique_messages, revise_messages
from tts_cli.strategies.base import Candidate, SearchContext, SearchResult, capped_tokens
from tts_cli.strategies.registry import register
from tts_cli.strategies.steps import aggregate, generate, has_boxed_answer, split_steps
from tts_cli.tree import FINISHED, PRUNED

NO_ERROR_THRESHOLD = 0.5


def verifier_critique(step_scores: list[float], steps: list[str]) -> tuple[bool, str]:
    """(error found, critique text) from verifier step scores: an error unless all exceed 0.5."""
    if steps and step_scores and all(s > NO_ERROR_THRESHOLD for s in step_scores):
        return False, f"The verifier accepts every step (lowest score {min(step_scores):.2f}). VERDICT: CORRECT"
    if not steps or not step_scores:
        return True, "The solution has no steps to check. Solve the problem step by step. VERDICT: INCORRECT"
    worst = min(range(len(step_scores)), key=lambda i: step_scores[i])
    quoted = steps[worst] if len(steps[worst]) <= 400 else steps[worst][:400] + " ..."
    return True, (
        f"Step {worst + 1} looks wrong (verifier score {step_scores[worst]:.2f}):\n{quoted}\n"
        "Recheck this step and everything after it. VERDICT: INCORRECT"
    )


@register(
    "refine",
    summary="Self-correction: draft, critique (verifier or the model itself), revise; stops when no error is found.",
    needs_verifier=False,
    options=("--rounds", "--temperature", "--top-p", "--max-tokens", "--budget", "--verifier", "--aggregate"),
)
def run(ctx: SearchContext) -> SearchResult:
    config = ctx.config
    tree = ctx.tree
    verifier = ctx.verifier if ctx.verifier is not None and hasattr(ctx.verifier, "score") else None
    how = config.aggregate
    candidates: list[Candidate] = []
    steps_of: dict[int, list[str]] = {}  # candidate index -> steps
    calls = {"generate": 0, "verifier": 0, "seed": 0}
    history: list[dict[str, Any]] = []

    def ask(prefix: list[int], temperature: Optional[float] = None) -> Optional[Any]:
        """One sequence: generation is inherently sequential here (each step needs the last)."""
        cap = capped_tokens(config, 1, spent=tree.total_tokens)
        if cap <= 0:
            return None
        overrides: dict[str, Any] = {"max_tokens": cap}
        if temperature is not None:
            overrides["temperature"] = temperature
        params = config.sampling(calls["seed"], **overrides)
        calls["seed"] += 1
        completions, costs = generate(ctx, [prefix], [params])
        calls["generate"] += 1
        return completions[0], costs[0]

    def add_version(prefix: list[int], parent: int, kind: str) -> Optional[int]:
        got = ask(prefix)
        if got is None:
            return None
        completion, cost = got
        answer = extract_answer(completion.text)
        done = completion.finish_reason == "eos" or has_boxed_answer(completion.text)
        node = tree.add(
            parent,
            completion.text,
            cost,
            status=FINISHED if done else PRUNED,
            answer=answer,
            meta={"kind": kind, "finish_reason": completion.finish_reason},
        )
        candidates.append(
            Candidate(
                text=completion.text,
                answer=answer,
                tokens=cost,
                finish_reason=completion.finish_reason,
                node_id=node.id,
            )
        )
        steps_of[len(candidates) - 1] = split_steps(completion.text)
        return len(candidates) - 1

    def verifier_scores(index: int) -> list[float]:
        steps = steps_of[index]
        if not steps:
            scores: list[float] = []
        else:
            scores = [float(x) for x in verifier.score(ctx.question, [steps])[0]]
            calls["verifier"] += 1
        cand = candidates[index]
        cand.score = aggregate(scores, how)
        node = tree.nodes[cand.node_id or 0]
        tree.update(node.id, score=cand.score, meta={**node.meta, "step_scores": scores})
        return scores

    stopped = "rounds done"
    current = add_version(list(ctx.prompt), 0, "draft")
    if current is None:
        return SearchResult(answer=None, chosen=None, candidates=[], info={"reason": "budget exhausted"})
    rounds = 0
    scored: set[int] = set()
    for _ in range(max(0, config.rounds)):
        solution = candidates[current]
        # critique
        if verifier is not None:
            scores = verifier_scores(current)
            scored.add(current)
            error, text = verifier_critique(scores, steps_of[current])
            critique_node = tree.add(
                solution.node_id or 0, text, 0, status=FINISHED, meta={"kind": "critique", "source": "verifier"}
            )
        else:
            prefix = ctx.policy.chat_prompt(critique_messages(ctx.question, solution.text))
            got = ask(prefix, temperature=0.0)
            if got is None:
                stopped = "budget exhausted"
                break
            completion, cost = got
            text = completion.text
            error = critique_finds_error(text)
            critique_node = tree.add(
                solution.node_id or 0,
                text,
                cost,
                status=FINISHED,
                meta={"kind": "critique", "source": "policy", "finish_reason": completion.finish_reason},
            )
        history.append({"round": rounds + 1, "error": error, "critique_node": critique_node.id})
        if not error:
            stopped = "no error found"
            break
        # revision
        prefix = ctx.policy.chat_prompt(revise_messages(ctx.question, solution.text, text))
        revised = add_version(prefix, critique_node.id, "revision")
        if revised is None:
            stopped = "budget exhausted"
            break
        rounds += 1
        current = revised
    if verifier is not None and current not in scored:
        verifier_scores(current)
        scored.add(current)

    # A version cut off by the budget or --max-tokens only wins when no version is complete.
    def complete(i: int) -> bool:
        return tree.nodes[candidates[i].node_id or 0].status == FINISHED

    if verifier is not None:
        chosen = max(range(len(candidates)), key=lambda i: (complete(i), candidates[i].score or 0.0, i))
    else:
        chosen = max(range(len(candidates)), key=lambda i: (complete(i), i))
    info = {
        "rounds": rounds,
        "critic": "verifier" if verifier is not None else "policy",
        "stopped": stopped,
        "history": history,
        "generate_calls": calls["generate"],
        "verifier_calls": calls["verifier"],
    }
    tree.mark_chosen(candidates[chosen].node_id or 0)
    return SearchResult(answer=candidates[chosen].answer, chosen=chosen, candidates=candidates, info=info)
