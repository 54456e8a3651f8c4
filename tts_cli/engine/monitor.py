"""Where a monitor ends sequences that are decoded together, for engines that know every
sequence's whole trace up front (the scripted test engine, the bench's replay).

It mirrors ``LlamaEngine.step``: one token per live sequence per step, in request order; a sequence
whose token was its last finishes; otherwise the monitor may end it, unless it is the last live
sequence of the call (early stop never ends the last one: someone has to answer). The first token
comes from the prefill and is never checked.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from tts_cli.engine.types import Completion, Monitor, TokenTrace


def lockstep_stops(traces: Sequence[TokenTrace], lengths: Sequence[int], monitor: Monitor) -> list[Optional[int]]:
    """For each sequence, how many tokens it has when the monitor ends it (None: never ended)."""
    count = len(traces)
    stops: list[Optional[int]] = [None] * count
    seen = [TokenTrace() for _ in range(count)]
    live = [i for i in range(count) if lengths[i] > 0]
    step = 0
    while live:
        for i in list(live):
            full, partial = traces[i], seen[i]
            partial.logprob.append(full.logprob[step])
            partial.confidence.append(full.confidence[step])
            partial.entropy.append(full.entropy[step])
            partial.self_certainty.append(full.self_certainty[step])
            if step + 1 >= lengths[i]:
                live.remove(i)
            elif step > 0 and len(live) > 1 and monitor(i, partial):
                stops[i] = step + 1
                live.remove(i)
        step += 1
    return stops


def cut(trace: TokenTrace, tokens: int) -> TokenTrace:
    """The first ``tokens`` entries of ``trace``."""
    return TokenTrace(
        logprob=trace.logprob[:tokens], confidence=trace.confidence[:tokens],
        entropy=trace.entropy[:tokens], self_certainty=trace.self_certainty[:tokens],
    )  # fmt: skip


def apply_monitor(
    completions: list[Completion], monitor: Monitor, text_of: Callable[[list[int]], str]
) -> list[Optional[int]]:
    """End the traced completions where ``monitor`` would have ended them in the engine, in place
    (``text_of`` gives a cut completion's text); each one's generated tokens before, or None if it
    was not ended."""
    traced = [i for i, c in enumerate(completions) if c.trace is not None]
    stops = lockstep_stops(
        [completions[i].trace for i in traced],  # type: ignore[misc]
        [completions[i].generated_tokens for i in traced],
        lambda k, trace: monitor(traced[k], trace),
    )
    before: list[Optional[int]] = [None] * len(completions)
    for i, stop in zip(traced, stops):
        if stop is None:
            continue
        full = completions[i]
        assert full.trace is not None
        tokens = full.tokens[:stop]
        before[i] = full.generated_tokens
        completions[i] = Completion(
            text=text_of(tokens), tokens=tokens, finish_reason="stopped", generated_tokens=stop,
            trace=cut(full.trace, stop),
        )  # fmt: skip
    return before
