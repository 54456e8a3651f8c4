"""`tts serve` under load: many clients sharing one decode batch, against one at a time.

    python benchmarks/serve_throughput.py [--model qwen2.5-coder-0.5b] [--clients 16] [--max-tokens 256]
                                          [--soak 500] [--json docs/bench/serve.json]

Starts `tts serve` (greedy) on a free loopback port and sends it the first ``--clients`` GSM8K dev
questions: first one at a time, then all at once, each by its own client thread; it prints
requests per minute and the p50/p95 latency of both, and the generated tokens per second. It then
sends ``--soak`` short requests (16 clients at a time) and reads the server's resident memory
(VmRSS of the process that holds the model) before and after, counting every answer. Last, with
the server stopped, it measures the ceiling of that run in this process: the same questions'
prompts decoded greedily in one batch on the same model (``LlamaEngine.generate``), tokens per
second; the server's concurrent run is reported as a share of it. Run it alone: two llama.cpp
processes on a small machine slow each other down by far more than they measure.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k_test_dev.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--soak", type=int, default=500, help="short requests for the memory soak (0: none)")
    parser.add_argument("--soak-tokens", type=int, default=8)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in args.data.read_text().splitlines()[: args.clients]]
    log = Path(tempfile.mkdtemp(prefix="tts-serve-bench-")) / "serve.log"
    ctx = max(4096, args.clients * (args.max_tokens + 512))
    command = [sys.executable, "-m", "tts_cli", "serve", "-p", args.model, "--port", "0", "--ctx", str(ctx),
               "--max-tokens", str(args.max_tokens), "--parallel", str(args.clients), "--queue", "1024"]  # fmt: skip
    if args.threads:
        command += ["--threads", str(args.threads)]
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, stderr=sink, stdout=subprocess.DEVNULL)
    report: dict[str, Any] = {"model": args.model, "clients": args.clients, "max_tokens": args.max_tokens}
    try:
        url = wait_for_url(proc, log)
        ask(url, questions[0], args.max_tokens)  # warm-up: the first request pays for lazy setup
        report["one_at_a_time"] = run(url, questions, args.max_tokens, concurrent=False)
        print_row("one at a time", report["one_at_a_time"])
        report["all_at_once"] = run(url, questions, args.max_tokens, concurrent=True)
        print_row("all at once", report["all_at_once"])
        speedup = report["all_at_once"]["requests_per_minute"] / report["one_at_a_time"]["requests_per_minute"]
        report["speedup"] = round(speedup, 2)
        print(f"requests per minute, all at once / one at a time: {speedup:.2f}x")
        if args.soak:
            report["soak"] = soak(url, proc.pid, args.soak, args.soak_tokens)
            s = report["soak"]
            print(f"soak: {s['answered']}/{s['requests']} answered, {s['failed']} failed; server RSS "
                  f"{s['rss_before_mb']:.0f} MB -> {s['rss_after_mb']:.0f} MB ({s['rss_ratio']:.3f}x) in {s['seconds']:.0f} s")
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    report["server_exit"] = proc.returncode
    report["ceiling"] = ceiling(args.model, questions, args.max_tokens, ctx, args.threads)
    share = report["all_at_once"]["tokens_per_second"] / report["ceiling"]["tokens_per_second"]
    report["share_of_ceiling"] = round(share, 3)
    print(f"ceiling: {args.clients} prompts in one batch, {report['ceiling']['tokens']} tokens at "
          f"{report['ceiling']['tokens_per_second']:.1f} tok/s; the server's concurrent run reached {100 * share:.0f}% of it")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def wait_for_url(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 600  # the first run downloads the model
    while time.monotonic() < deadline:
        found = re.search(r"on (http://127\.0\.0\.1:\d+)/v1", log.read_text(errors="replace"))
        if found:
            return found.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"tts serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise SystemExit("tts serve did not start")


def ask(url: str, question: str, max_tokens: int) -> dict[str, Any]:
    body = json.dumps({"model": "greedy", "max_tokens": max_tokens, "messages": [{"role": "user", "content": question}]})
    request = urllib.request.Request(f"{url}/v1/chat/completions", data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=3600) as response:
        data = json.loads(response.read())
    data["latency"] = time.perf_counter() - started
    return dict(data)


def run(url: str, questions: list[str], max_tokens: int, *, concurrent: bool) -> dict[str, Any]:
    started = time.perf_counter()
    if concurrent:
        with ThreadPoolExecutor(max_workers=len(questions)) as pool:
            answers = list(pool.map(lambda q: ask(url, q, max_tokens), questions))
    else:
        answers = [ask(url, q, max_tokens) for q in questions]
    wall = time.perf_counter() - started
    latencies = sorted(a["latency"] for a in answers)
    tokens = sum(a["usage"]["completion_tokens"] for a in answers)
    return {
        "requests": len(answers),
        "seconds": round(wall, 2),
        "requests_per_minute": round(60 * len(answers) / wall, 2),
        "p50_seconds": round(statistics.median(latencies), 2),
        "p95_seconds": round(latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 2),
        "tokens": tokens,
        "tokens_per_second": round(tokens / wall, 2),
        "answers": [a["choices"][0]["tts"]["answer"] for a in answers],
    }


def print_row(name: str, row: dict[str, Any]) -> None:
    print(f"{name:>14}: {row['requests']} requests in {row['seconds']:.1f} s = {row['requests_per_minute']:.1f}/min, "
          f"p50 {row['p50_seconds']:.1f} s, p95 {row['p95_seconds']:.1f} s, {row['tokens_per_second']:.1f} tok/s")


def model_process(pid: int) -> int:
    """The process that holds the model: `tts serve` runs it in a supervised child."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    return int(children[0]) if children else pid


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def soak(url: str, server_pid: int, requests: int, max_tokens: int) -> dict[str, Any]:
    holder = model_process(server_pid)
    before = rss_mb(holder)
    failed = 0
    lock = threading.Lock()
    answered = 0

    def one(i: int) -> None:
        nonlocal failed, answered
        try:
            ask(url, f"What is {i} plus {i + 7}?", max_tokens)
            with lock:
                answered += 1
        except OSError:
            with lock:
                failed += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(requests)))
    after = rss_mb(holder)
    return {"requests": requests, "answered": answered, "failed": failed, "seconds": round(time.perf_counter() - started, 1),
            "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1), "rss_ratio": round(after / before, 3)}  # fmt: skip


def ceiling(model: str, questions: list[str], max_tokens: int, ctx: int, threads: Any) -> dict[str, Any]:
    """The same prompts, greedy, in one batched generate on the same model: tokens per second."""
    from tts_cli.config import load_registry, resolve_model_ref
    from tts_cli.engine import EngineOptions, SamplingParams, load_engine
    from tts_cli.prompts import prompt_set
    from tts_cli.store import ModelStore

    spec = resolve_model_ref(model, load_registry())
    engine = load_engine(ModelStore().ensure(spec), name=spec.name, options=EngineOptions(n_ctx=ctx, n_threads=threads),
                         chat_template=spec.chat_template, n_params=spec.params)  # fmt: skip
    try:
        prompts = [engine.chat_prompt(prompt_set("math").messages(q)) for q in questions]
        params = [SamplingParams(temperature=0.0, max_tokens=max_tokens)] * len(prompts)
        started = time.perf_counter()
        done = engine.generate(prompts, params)
        wall = time.perf_counter() - started
    finally:
        engine.close()
    tokens = sum(c.generated_tokens or len(c.tokens) for c in done)
    return {"tokens": tokens, "seconds": round(wall, 2), "tokens_per_second": round(tokens / wall, 2)}


if __name__ == "__main__":
    sys.exit(main())
