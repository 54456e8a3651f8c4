"""`tts ask`: answer one question."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer




def ask(
    question: Annotated[
        Optional[str], typer.Argument(help="The question. '-' or a pipe reads it from stdin.", show_default=False)
    ] = None,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="Search strategy (see `tts strategies`).")] = "greedy",
    n: Annotated[int, typer.Option("-n", "--samples", help="Number of samples / total expansions.")] = 4,
    policy: Annotated[
        Optional[str], typer.Option("--policy", "-p", help="Policy model name from models.toml, or a path to a .gguf.")
    ] = None,
    models_file: Annotated[Optional[Path], typer.Option("--models", help="Extra models.toml (overrides built-ins).")] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (greedy always uses 0).")] = 0.8,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling threshold.")] = 0.95,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Token limit per sampled solution.")] = 1024,
    budget: Annotated[
        Optional[int], typer.Option("--budget", help="Hard cap on generated policy tokens for the whole search.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same run.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the answer; no cost summary.")] = False,
    system_prompt: Annotated[Optional[str], typer.Option("--system-prompt", help="Replace the system prompt.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (default: all cores).")] = None,
    gpu_layers: Annotated[
        Optional[int], typer.Option("--gpu-layers", help="Layers to offload to a GPU (-1: all; default from models.toml).")
    ] = None,
    ctx: Annotated[int, typer.Option("--ctx", help="KV-cache size in tokens, shared by all parallel sequences.")] = 16384,
    verifier: Annotated[
        Optional[str],
        typer.Option("--verifier", "-v", help="Verifier model (name or .gguf); the policy's name shares its engine."),
    ] = None,
    verifier_kind: Annotated[
        Optional[str],
        typer.Option("--verifier-kind", help="judge (LLM-as-judge) or token-prm; default from models.toml."),
    ] = None,
    aggregate: Annotated[str, typer.Option(help="Step scores -> solution score: last, min, prod, mean.")] = "last",
    beam_width: Annotated[int, typer.Option("--beam-width", "-m", help="Beams kept (beam), subtree width (dvts).")] = 2,
    max_depth: Annotated[int, typer.Option("--max-depth", help="Step-level search: most steps per solution.")] = 40,
    step_tokens: Annotated[int, typer.Option("--step-tokens", help="Step-level search: token limit per step.")] = 256,
    iterations: Annotated[int, typer.Option(help="mcts: search iterations.")] = 8,
    rounds: Annotated[int, typer.Option(help="refine: critique/revise rounds at most.")] = 3,
    c_puct: Annotated[float, typer.Option("--c-puct", help="mcts: exploration constant of PUCT.")] = 1.0,
) -> None:
    """Answer QUESTION with a small local model, spending compute with the chosen strategy."""
    from tts_cli.cli.runtime import ModelLoader, check_strategy_options, make_config
    from tts_cli.display.cost import cost_table
    from tts_cli.env import Environment
    from tts_cli.errors import UsageError
    from tts_cli.prompts import prompt_set
    from tts_cli.questions import read_question
    from tts_cli.solver import solve
    from tts_cli.strategies import get_strategy

    env = Environment()
    config = make_config(
        n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens, budget=budget, seed=seed,
        aggregate=aggregate, beam_width=beam_width, max_depth=max_depth, step_tokens=step_tokens,
        iterations=iterations, rounds=rounds, c_puct=c_puct,
    )
    info = get_strategy(strategy)  # fail on a typo before loading any model
    check_strategy_options(strategy, config)
    if info.needs_verifier and verifier is None:
        raise UsageError(f"strategy {strategy} needs a verifier: pass --verifier MODEL")
    text = read_question(question, sys.stdin.buffer, bool(env.stdin_isatty))
    loader = ModelLoader(env, models_file, threads=threads, gpu_layers=gpu_layers, n_ctx=ctx, quiet=quiet)
    try:
        engine = loader.load(policy)
        scorer = loader.load_verifier(verifier, verifier_kind)
        solution = solve(
            text, strategy=strategy, policy=engine, config=config,
            prompts=prompt_set("math", system_prompt), verifier=scorer,
        )
    finally:
        loader.close()
    if as_json:
        env.stdout.write(json.dumps(solution.to_dict(), ensure_ascii=False) + "\n")
    else:
        env.stdout.write(f"{solution.answer if solution.answer is not None else '(no answer)'}\n")
    env.stdout.flush()
    if not quiet:
        env.err.print(cost_table(solution.cost))


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
