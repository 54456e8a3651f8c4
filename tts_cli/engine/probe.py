"""A short real decode, run by ``tts doctor`` in a child process so that a native crash is caught.

    python -m tts_cli.engine.probe '{"path": "...", "name": "...", "n_gpu_layers": 0, ...}'

Prints one JSON object per line as each fact is known (build, load, each decode), so a crash
part-way still leaves what was learned before it.
"""

from __future__ import annotations

import ctypes
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from tts_cli.engine.types import EngineOptions, SamplingParams

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a map. Use many paragraphs."


@dataclass(frozen=True)
class ProbeRequest:
    path: str
    name: str
    n_gpu_layers: int = 0
    n_threads: Optional[int] = None
    cpu_repack: Optional[str] = None
    tokens: int = 48
    batch: int = 8
    simulate_crash: bool = False  # tests: crash in native code after loading, as a broken kernel would

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _emit(kind: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"kind": kind, **fields}) + "\n")
    sys.stdout.flush()


def build_facts() -> dict[str, Any]:
    """What this llama.cpp build is and which devices it sees (``llama_cpp`` imported here)."""
    import llama_cpp as ll

    from tts_cli.engine.llama import system_info

    return {
        "llama_cpp_python": getattr(ll, "__version__", "unknown"),
        "system_info": system_info(),
        "gpu_offload_supported": bool(ll.llama_supports_gpu_offload()),
        "devices": _devices(ll),
    }


def _devices(ll: Any) -> list[dict[str, str]]:
    """ggml's backend devices (CPU, CUDA0, Metal, Vulkan0 …); empty if the build hides them."""
    lib: Any = getattr(getattr(ll, "llama_cpp", None), "_lib", None)
    try:
        count_fn, get_fn = lib.ggml_backend_dev_count, lib.ggml_backend_dev_get
        name_fn, desc_fn, type_fn = lib.ggml_backend_dev_name, lib.ggml_backend_dev_description, lib.ggml_backend_dev_type
    except AttributeError:
        return []
    count_fn.restype, get_fn.restype = ctypes.c_size_t, ctypes.c_void_p
    get_fn.argtypes = [ctypes.c_size_t]
    for fn in (name_fn, desc_fn):
        fn.restype, fn.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    type_fn.restype, type_fn.argtypes = ctypes.c_int, [ctypes.c_void_p]
    kinds = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel"}
    devices = []
    for i in range(count_fn()):
        dev = get_fn(i)
        devices.append({
            "name": (name_fn(dev) or b"").decode(errors="replace"),
            "description": (desc_fn(dev) or b"").decode(errors="replace"),
            "type": kinds.get(type_fn(dev), "other"),
        })
    return devices


def run_probe(request: ProbeRequest) -> None:
    from tts_cli.engine.llama import LlamaEngine
    from tts_cli.gguf import validate_gguf

    build = build_facts()
    _emit("build", **build)
    started = time.perf_counter()
    options = EngineOptions(
        n_ctx=2048, n_threads=request.n_threads, n_gpu_layers=request.n_gpu_layers,
        n_seq_max=max(request.batch, 1), cpu_repack=request.cpu_repack,
    )
    validate_gguf(Path(request.path))
    engine = LlamaEngine(Path(request.path), name=request.name, options=options)
    layers = engine.n_layers
    offloaded = min(request.n_gpu_layers, layers) if build["gpu_offload_supported"] else 0
    _emit(
        "load", seconds=round(time.perf_counter() - started, 3), n_layers=layers, gpu_layers=offloaded,
        cpu_repack=engine.cpu_repack.label, cpu_repack_reason=engine.cpu_repack.reason,
    )
    if request.simulate_crash:
        ctypes.string_at(0)  # a read of address 0 in native code: SIGSEGV, as the AMX kernel does
    prompt = engine.chat_prompt([{"role": "user", "content": PROMPT}])
    engine.generate([prompt], [SamplingParams(temperature=0.0, max_tokens=4)])  # warm-up
    for n in sorted({1, request.batch}):
        params = [SamplingParams(temperature=0.8, max_tokens=request.tokens, seed=i) for i in range(n)]
        before = engine.usage.snapshot()
        t0 = time.perf_counter()
        completions = engine.generate([prompt] * n, params)
        seconds = time.perf_counter() - t0
        generated = engine.usage.since(before).generated_tokens
        _emit(
            "decode", sequences=n, tokens=generated, seconds=round(seconds, 3),
            tokens_per_second=round(generated / seconds, 1) if seconds > 0 else None,
            sample=completions[0].text[:60],
        )
    engine.close()


if __name__ == "__main__":
    from tts_cli.crash import enable_crash_log

    enable_crash_log()
    run_probe(ProbeRequest(**json.loads(sys.argv[1])))
