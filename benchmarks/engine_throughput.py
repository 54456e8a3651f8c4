"""Aggregate decode throughput: N sequences in one batch vs N sequential generations.

    python benchmarks/engine_throughput.py [--model qwen2.5-coder-0.5b] [--tokens 64] [--sizes 1,4,8,16]

Both arms run in this one process on the same loaded model, so the ratio printed last is
comparable even on a noisy shared machine.
"""

from __future__ import annotations

import argparse
import time

from tts_cli.config import load_registry, resolve_model_ref
from tts_cli.engine import EngineOptions, SamplingParams, load_engine
from tts_cli.store import ModelStore

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a map. Use many paragraphs."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per sequence")
    parser.add_argument("--sizes", default="1,4,8,16")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    spec = resolve_model_ref(args.model, load_registry())
    path = ModelStore().ensure(spec)
    engine = load_engine(path, name=spec.name, options=EngineOptions(n_ctx=8192, n_threads=args.threads), n_params=spec.params)
    prompt = engine.chat_prompt([{"role": "user", "content": PROMPT}])

    def params(i: int) -> SamplingParams:
        return SamplingParams(temperature=0.8, top_p=0.95, max_tokens=args.tokens, seed=1000 + i)

    engine.generate([prompt], [params(0)])  # warm-up: prompt in cache, threads spun up

    print(f"model {spec.name}, {args.tokens} tokens per sequence, prompt {len(prompt)} tokens")
    print(f"{'N':>4} {'batched tok/s':>14} {'sequential tok/s':>17} {'ratio':>7}")
    last_ratio = 0.0
    for n in sizes:
        before = engine.usage.snapshot()
        t0 = time.perf_counter()
        engine.generate([prompt] * n, [params(i) for i in range(n)])
        batched = engine.usage.since(before).generated_tokens / (time.perf_counter() - t0)

        before = engine.usage.snapshot()
        t0 = time.perf_counter()
        for i in range(n):
            engine.generate([prompt], [params(i)])
        sequential = engine.usage.since(before).generated_tokens / (time.perf_counter() - t0)
        last_ratio = batched / sequential
        print(f"{n:>4} {batched:>14.1f} {sequential:>17.1f} {last_ratio:>6.2f}x", flush=True)
    print(f"batched/sequential throughput at N={sizes[-1]}: {last_ratio:.2f}x")


if __name__ == "__main__":
    main()
