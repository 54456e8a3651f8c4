"""Where a monitor ends sequences that are decoded together, for engines that know every
sequence's whole trace up front (the scripted test engine, the bench's replay).

It mirrors ``LlamaEngine.step``: one token per live sequence per step, in request order; a sequence
whose token was its last finishes; otherwise the monitor may end it, unless it is the last live
sequence of the call (early stop never ends the last one: someone has to answer). The first token
comes from the prefill and is never checked.
"""

from __future__ import annotations

from typing import Optional, Sequence

from tts_cli.engine.types import Monitor, TokenTrace


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
