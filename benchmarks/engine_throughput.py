"""Aggregate decode throughput: N sequences in one batch vs N sequential generations.

    python benchmarks/engine_throughput.py [--model qwen2.5-coder-0.5b] [--tokens 64] [--sizes 1,4,8,16]
    python benchmarks/engine_throughput.py --cpu-repack on,off    # what the AMX-safe default costs

Every arm runs in this one process on the same model file, so the ratios printed are comparable
even on a noisy shared machine. With several ``--cpu-repack`` modes the model is loaded once per
mode (``use_extra_bufts`` is fixed at load time) and the batched rows are compared at the end.
Forcing ``on`` on a CPU with AMX can crash llama.cpp (#20824): run such a comparison under
``tts doctor --cpu-repack on`` first.
"""

from __future__ import annotations

import argparse
import time

from tts_cli.config import load_registry, resolve_model_ref
from tts_cli.engine import EngineOptions, SamplingParams, load_engine
from tts_cli.store import ModelStore

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a map. Use many paragraphs."


def measure(engine, prompt: list[int], sizes: list[int], tokens: int) -> dict[int, tuple[float, float]]:
    def params(i: int) -> SamplingParams:
        return SamplingParams(temperature=0.8, top_p=0.95, max_tokens=tokens, seed=1000 + i)

    engine.generate([prompt], [params(0)])  # warm-up: prompt in cache, threads spun up
    print(f"{'N':>4} {'batched tok/s':>14} {'sequential tok/s':>17} {'ratio':>7}")
    rows: dict[int, tuple[float, float]] = {}
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
        rows[n] = (batched, sequential)
        print(f"{n:>4} {batched:>14.1f} {sequential:>17.1f} {batched / sequential:>6.2f}x", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--tokens", type=int, default=64, help="tokens generated per sequence")
    parser.add_argument("--sizes", default="1,4,8,16")
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
        prompt = engine.chat_prompt([{"role": "user", "content": PROMPT}])
        print(f"model {spec.name}, {args.tokens} tokens per sequence, prompt {len(prompt)} tokens, "
              f"cpu-repack {mode} -> {decision.label} ({decision.reason})")
        results[mode] = measure(engine, prompt, sizes, args.tokens)
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
