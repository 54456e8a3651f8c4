"""`tts doctor`: explain this machine to its user, and prove (in a child process) that llama.cpp runs."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from tts_cli.cli.common import ModelsFileOption
from tts_cli.env import Environment
from tts_cli.errors import ModelError, UsageError
from tts_cli.units import megabytes

_HARDWARE = "Hardware"


def doctor(
    invocation: typer.Context,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model for the decode check (name or .gguf path; downloaded if needed). Default: the default policy if downloaded, else the smallest downloaded model.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    cpu_repack: Annotated[Optional[str], typer.Option("--cpu-repack", help="auto, on or off: try the decode with llama.cpp's extra CPU buffer types forced (default: $TTS_CPU_REPACK, else auto).", rich_help_panel=_HARDWARE)] = None,
    gpu_layers: Annotated[Optional[int], typer.Option("--gpu-layers", help="Layers to offload to a GPU in the check (-1 all; default from models.toml).", rich_help_panel=_HARDWARE)] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (default: all cores).", rich_help_panel=_HARDWARE)] = None,
    batch: Annotated[int, typer.Option("--batch", help="Sequences in the batched decode.")] = 8,
    timeout: Annotated[float, typer.Option(help="Seconds the decode check may take.")] = 300.0,
    models: ModelsFileOption = None,
    simulate_crash: Annotated[bool, typer.Option("--simulate-crash", hidden=True)] = False,
) -> None:
    """Check this machine: llama.cpp build, CPU features, GPU offload, downloaded models, and a short
    real decode in a child process (a native crash is reported, exit 3, instead of killing tts)."""
    from tts_cli.config import load_registry, resolve_model_ref
    from tts_cli.doctor import machine_facts, run_probe_child, sandbox_facts
    from tts_cli.engine.cpu import requested_mode
    from tts_cli.engine.probe import ProbeRequest
    from tts_cli.paths import models_dir
    from tts_cli.store import ModelStore

    env = invocation.ensure_object(Environment)
    requested_mode(cpu_repack)
    if batch < 1:
        raise UsageError(f"--batch must be at least 1 (got {batch})")
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {threads})")
    registry = load_registry(models)
    store = ModelStore()
    report: dict[str, Any] = {"tts": _version(), **machine_facts(), "models_dir": str(models_dir())}
    report["sandbox"] = sandbox_facts()
    spec = resolve_model_ref(model, registry) if model is not None else _default_probe_model(registry, store)
    outcome = None
    if spec is not None:
        if spec.backend == "openai":
            raise UsageError(f"{spec.name} is served over HTTP (backend = \"openai\"): doctor checks local GGUF models")
        from tts_cli.cli.common import ensure_with_progress

        path = ensure_with_progress(env, store, spec)
        layers = spec.gpu_layers if gpu_layers is None else gpu_layers
        request = ProbeRequest(
            path=str(path), name=spec.name, n_gpu_layers=999 if layers < 0 else layers, n_threads=threads,
            cpu_repack=cpu_repack, batch=batch, simulate_crash=simulate_crash,
        )
        if env.stderr_isatty and not as_json:
            env.err.print(f"[dim]decoding with {spec.name} in a child process…[/dim]", end="\r")
        outcome = run_probe_child(request, timeout=timeout)
        report["check"] = {"model": spec.name, "records": outcome.records, "ok": outcome.ok}
        if not outcome.ok:
            report["check"]["error"] = outcome.failure()
    report["models"] = [
        {"name": s.name, "downloaded": store.is_downloaded(s), "size": s.size}
        for s in registry.models.values() if s.backend != "openai"
    ]
    if as_json:
        env.stdout.write(json.dumps(report) + "\n")
    else:
        _print_report(env, report, outcome)
    if outcome is not None and not outcome.ok:
        from tts_cli.crash import CRASH_HINT

        hint = CRASH_HINT if outcome.crash_signal is not None else "see README, Troubleshooting"
        raise ModelError(f"{outcome.failure()}; {hint}")


def _default_probe_model(registry: Any, store: Any) -> Any:
    local = [s for s in registry.models.values() if s.backend != "openai" and store.is_downloaded(s)]
    default = registry.models.get(registry.default_policy)
    if default in local:
        return default
    return min(local, key=lambda s: s.size or 0, default=None)


def _version() -> str:
    from tts_cli import __version__

    return __version__


def _print_report(env: Environment, report: dict[str, Any], outcome: Any) -> None:
    lines = [
        f"tts {report['tts']} · Python {report['python']} · {report['platform']}",
        f"CPU        {report['cpu']} · {report['cores']} cores · {' '.join(report['cpu_flags']) or 'no notable flags'}",
    ]
    build = outcome.record("build") if outcome is not None else None
    if build is not None:
        devices = ", ".join(f"{d['name']} ({d['description']})" for d in build["devices"]) or "not reported by this build"
        offload = "supported by this build" if build["gpu_offload_supported"] else "not in this build (CPU only)"
        lines += [
            f"llama.cpp  llama-cpp-python {build['llama_cpp_python']} · {build['system_info']}",
            f"devices    {devices}",
            f"GPU        offload {offload}",
        ]
    lines += _sandbox_lines(report["sandbox"])
    lines.append(f"models     {report['models_dir']}")
    for m in report["models"]:
        size = megabytes(m["size"]) if m["size"] else "size unknown"
        lines.append(f"           {'✓' if m['downloaded'] else '·'} {m['name']} ({size}{'' if m['downloaded'] else ', not downloaded'})")
    if outcome is None:
        lines.append("decode     skipped: no model downloaded (`tts doctor --model smollm2-135m` fetches a 98 MB one)")
    else:
        lines += _check_lines(report["check"]["model"], outcome)
    env.stdout.write("\n".join(lines) + "\n")


def _sandbox_lines(sandbox: dict[str, Any]) -> list[str]:
    """The jail for model-written programs (pot, mixed, the program verifier): which bwrap, and
    whether it works; when it does not, why, and what to install."""
    found = sandbox.get("bwrap")
    lines = []
    if found is not None:
        userns = "user namespaces work" if found["user_namespaces"] else f"no user namespaces ({found.get('user_namespaces_error') or 'refused'})"
        lines.append(f"sandbox    bubblewrap {found['version'] or '(version unknown)'} · {found['origin']} · {found['path']} · {userns}")
    verdict = "ok: model-written programs run jailed" if sandbox["available"] else "programs are refused"
    lines.append(f"{'sandbox' if found is None else '':<10} {verdict}: {sandbox['detail']}")
    return lines


def _check_lines(model: str, outcome: Any) -> list[str]:
    lines = []
    load = outcome.record("load")
    if load is not None:
        gpu = f"{load['gpu_layers']} of {load['n_layers']} layers on GPU" if load["gpu_layers"] else "CPU only"
        lines.append(f"repack     {load['cpu_repack']}: {load['cpu_repack_reason']}")
        lines.append(f"decode     {model} in a child process: loaded in {load['seconds']:.1f} s, {gpu}")
    for d in outcome.decodes:
        unit = "sequence " if d["sequences"] == 1 else "sequences"
        lines.append(f"           {d['sequences']:>2} {unit}: {d['tokens_per_second']} tok/s ({d['tokens']} tokens in {d['seconds']:.2f} s)")
    lines.append("ok: llama.cpp runs on this machine" if outcome.ok else f"FAILED: {outcome.failure()}")
    return lines


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)

