"""Aggregate decode throughput: N sequences in one batch vs N sequential generations.

    python benchmarks/engine_throughput.py [--model qwen2.5-coder-0.5b] [--tokens 64] [--sizes 1,4,8,16]
    python benchmarks/engine_throughput.py --cpu-repack on,off    # what the AMX-safe default costs
    python benchmarks/engine_throughput.py --prompt-tokens 140 --tokens 256   # contexts like a solve's

By default every sequence continues one short shared prompt. ``--prompt-tokens P`` gives each
sequence a distinct prompt of P tokens instead, as distinct problems have: attention then reads
P + generated cells per sequence at every step, which on a CPU costs as much as the weights once
contexts reach a few hundred tokens (see README, "Many problems in one batch").

Every arm runs in this one process on the same model file, so the ratios printed are comparable
even on a noisy shared machine. With several ``--cpu-repack`` modes the model is loaded once per
mode (``use_extra_bufts`` is fixed at load time) and the batched rows are compared at the end.
Forcing ``on`` on a CPU with AMX can crash llama.cpp (#20824): run such a comparison under
``tts doctor --cpu-repack on`` first.
"""

from __future__ import annotations

import argparse

from tts_cli.config import load_registry, resolve_model_ref
from tts_cli.engine import EngineOptions, SamplingParams, load_engine
from tts_cli.store import ModelStore

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a map. Use many paragraphs."


FILLER = ("The keeper climbed the stairs each evening, trimmed the wick, wrote the weather in the log, "
          "and watched the ships pass the rocks until morning. ") * 80


def prompts_for(engine, n: int, prompt_tokens: int) -> list[list[int]]:
    """n prompts: the shared story prompt, or distinct prompts of ``prompt_tokens`` tokens each."""
    if prompt_tokens <= 0:
        return [engine.chat_prompt([{"role": "user", "content": PROMPT}])] * n
    body = engine.tokenize(FILLER)
    if len(body) < prompt_tokens:
        raise SystemExit(f"--prompt-tokens at most {len(body)}")
    return [engine.tokenize(f"Story {i}: ") + body[i % 7 : i % 7 + prompt_tokens] for i in range(n)]


def decode_rate(usage, sequences: int) -> float:
    """Decoded tokens per second: neither the prompt evaluation nor each sequence's first token,
    sampled from the prompt's logits, is in it."""
    return (usage.generated_tokens - sequences) / max(usage.generate_seconds, 1e-9)


def measure(engine, sizes: list[int], tokens: int, prompt_tokens: int = 0) -> dict[int, tuple[float, float]]:
    def params(i: int) -> SamplingParams:
        return SamplingParams(temperature=0.8, top_p=0.95, max_tokens=tokens, seed=1000 + i)

    engine.generate(prompts_for(engine, 1, prompt_tokens), [params(0)])  # warm-up: threads spun up
    print(f"{'N':>4} {'batched tok/s':>14} {'sequential tok/s':>17} {'ratio':>7}")
    rows: dict[int, tuple[float, float]] = {}
    for n in sizes:
        prompts = prompts_for(engine, n, prompt_tokens)
        if prompt_tokens > 0:
            engine.forget()
        before = engine.usage.snapshot()
        engine.generate(prompts, [params(i) for i in range(n)])
        batched = decode_rate(engine.usage.since(before), n)

        if prompt_tokens > 0:
            engine.forget()
        before = engine.usage.snapshot()
        for i in range(n):
            engine.generate([prompts[i]], [params(i)])
        sequential = decode_rate(engine.usage.since(before), n)
        rows[n] = (batched, sequential)
        print(f"{n:>4} {batched:>14.1f} {sequential:>17.1f} {batched / sequential:>6.2f}x", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per sequence")
    parser.add_argument("--sizes", default="1,4,8,16")
    parser.add_argument("--prompt-tokens", type=int, default=0,
                        help="a distinct prompt of this many tokens per sequence (default: one short shared prompt)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cpu-repack", default="auto", help="auto, on, off, or several: on,off")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = [m.strip() for m in args.cpu_repack.split(",")]

    spec = resolve_model_ref(args.model, load_registry())
    path = ModelStore().ensure(spec)
    results: dict[str, dict[int, tuple[float, float]]] = {}
    for mode in modes:
        options = EngineOptions(n_ctx=8192, n_threads=args.threads, cpu_repack=mode)
        engine = load_engine(path, name=spec.name, options=options, n_params=spec.params)
        decision = engine.cpu_repack  # type: ignore[attr-defined]
        prompt = prompts_for(engine, 1, args.prompt_tokens)[0]
        kind = "distinct prompts" if args.prompt_tokens > 0 else "one shared prompt"
        print(f"model {spec.name}, {args.tokens} tokens per sequence, {kind} of {len(prompt)} tokens, "
              f"cpu-repack {mode} -> {decision.label} ({decision.reason})")
        results[mode] = measure(engine, sizes, args.tokens, args.prompt_tokens)
        engine.close()
        last = results[mode][sizes[-1]]
        print(f"batched/sequential throughput at N={sizes[-1]}: {last[0] / last[1]:.2f}x\n", flush=True)
    if len(modes) > 1:
        base = modes[0]
        for mode in modes[1:]:
            ratios = " ".join(f"N={n}: {results[mode][n][0] / results[base][n][0]:.2f}x" for n in sizes)
            print(f"batched tok/s, cpu-repack {mode} / {base}: {ratios}")


if __name__ == "__main__":
    main()
