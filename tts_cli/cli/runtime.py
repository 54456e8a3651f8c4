"""What the commands share at run time: validated search settings and loaded models."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from tts_cli.engine.types import Engine, EngineOptions
from tts_cli.env import Environment
from tts_cli.errors import UsageError
from tts_cli.strategies import Options, SearchConfig

MAX_CTX = 1 << 24


def check_strategy_options(strategy: str, options: Options, config: SearchConfig) -> None:
    """Options declared ``at_most_n`` (beam's and dvts's --beam-width) may not exceed -n."""
    above = options.above_n(config.n)
    if above:
        declared, value = above[0]
        raise UsageError(f"{declared.spec.flag} ({value}) cannot exceed -n ({config.n}) for {strategy}")


@dataclass
class ModelLoader:
    """Loads each GGUF once per process, so a verifier that is the policy model shares its engine.

    A ``backend = "openai"`` model is not loaded: its engine talks to the server (checked reachable
    once); ``threads``, ``gpu_layers`` and ``n_ctx`` do not apply to it."""

    env: Environment
    models_file: Optional[Path] = None
    threads: Optional[int] = None
    gpu_layers: Optional[int] = None
    n_ctx: int = 16384
    cpu_repack: Optional[str] = None
    quiet: bool = False
    batching: bool = False  # several threads will call the engines at once (enable_batching)
    _engines: dict[Any, Engine] = field(default_factory=dict)  # GGUF path or ("server", name)
    _registry: Any = None
    # bench/solve workers ask for models from several threads: each file is loaded once, and two
    # llama.cpp model loads at the same time crash (SIGSEGV)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        if self.n_ctx < 256:
            raise UsageError(f"--ctx must be at least 256 tokens (got {self.n_ctx})")
        if self.n_ctx > MAX_CTX:  # llama.cpp takes a uint32 and would silently wrap larger values
            raise UsageError(f"--ctx must be at most {MAX_CTX} tokens (got {self.n_ctx})")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads must be at least 1 (got {self.threads})")
        from tts_cli.engine.cpu import requested_mode

        requested_mode(self.cpu_repack)  # a typo in the option or TTS_CPU_REPACK fails before any load

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from tts_cli.config import load_registry

            self._registry = load_registry(self.models_file)
        return self._registry

    def spec(self, ref: Optional[str]) -> Any:
        from tts_cli.config import resolve_model_ref

        return resolve_model_ref(ref or self.registry.default_policy, self.registry)

    def load(self, ref: Optional[str]) -> Engine:
        """Resolve a model name or .gguf path, download it if needed, validate and load it."""
        with self._lock:
            return self._load(ref)

    def _load(self, ref: Optional[str]) -> Engine:
        from tts_cli.cli.common import ensure_with_progress
        from tts_cli.engine import load_engine
        from tts_cli.store import ModelStore

        spec = self.spec(ref)
        if spec.backend == "openai":
            return self._load_server(spec)
        path = ensure_with_progress(self.env, ModelStore(), spec).resolve()
        if path in self._engines:
            return self._engines[path]
        layers = spec.gpu_layers if self.gpu_layers is None else self.gpu_layers
        options = EngineOptions(
            n_ctx=self.n_ctx, n_threads=self.threads, n_gpu_layers=999 if layers < 0 else layers,
            cpu_repack=self.cpu_repack,
        )
        if not self.quiet and self.env.stderr_isatty:
            self.env.err.print(f"[dim]loading {spec.name}…[/dim]", end="\r")
        engine = load_engine(path, name=spec.name, options=options, chat_template=spec.chat_template, n_params=spec.params)
        if self.batching and hasattr(engine, "enable_batching"):
            engine.enable_batching()
        self._engines[path] = engine
        return engine

    def _load_server(self, spec: Any) -> Engine:
        from tts_cli.engine import load_server_engine

        key = ("server", spec.name)
        if key not in self._engines:
            if not self.quiet and self.env.stderr_isatty:
                self.env.err.print(f"[dim]connecting to {spec.server.base_url} ({spec.name})…[/dim]", end="\r")
            self._engines[key] = load_server_engine(spec)
        return self._engines[key]

    def is_server(self, ref: Optional[str]) -> bool:
        """Whether ``ref`` (None: the default policy) is served by an inference server. A .gguf
        path is local without looking at the file (a missing one fails when it is loaded)."""
        from tts_cli.config import looks_like_path

        if ref is not None and looks_like_path(ref):
            return False
        return bool(self.spec(ref).backend == "openai")

    def load_verifier(self, ref: Optional[str], kind: Optional[str]) -> Any:
        """A verifier on model ``ref``: a token PRM when models.toml gives it a ``prm`` table (or
        ``kind`` says so), else the LLM judge."""
        from tts_cli.verifiers import make_verifier
        from tts_cli.verifiers.registry import verifier_info

        if kind is not None and not verifier_info(kind).needs_model:
            return make_verifier(kind, None)
        if ref is None:
            return None
        spec = self.spec(ref)
        engine = self.load(ref)
        kind = kind or ("token-prm" if spec.prm is not None else "judge")
        if kind == "token-prm":
            return make_verifier(kind, engine, config=spec.prm or "math-shepherd")
        return make_verifier(kind, engine)

    def enable_batching(self) -> None:
        """Local engines, those loaded and those loaded later, merge concurrent callers' requests
        into one decode loop from now on."""
        self.batching = True
        for engine in self._engines.values():
            if hasattr(engine, "enable_batching"):
                engine.enable_batching()

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()


@dataclass
class Session:
    """Everything a command needs to run searches: settings checked, models loaded once."""

    config: SearchConfig
    strategy: str
    policy: Engine
    verifier: Any
    prompts: Any
    loader: ModelLoader
    verifier_ref: Optional[str] = None
    verifier_kind: Optional[str] = None
    options: Optional[Options] = None  # the strategy's own (None: its defaults)

    def for_problem(self) -> "Session":
        """A session for one of several problems solved at once: the same engines, but its own cost
        counters (a per-problem view of the policy and a fresh verifier)."""
        from tts_cli.engine.scoped import UsageScope

        return Session(
            config=self.config, strategy=self.strategy, policy=UsageScope(self.policy),
            verifier=self.loader.load_verifier(self.verifier_ref, self.verifier_kind), prompts=self.prompts,
            loader=self.loader, verifier_ref=self.verifier_ref, verifier_kind=self.verifier_kind, options=self.options,
        )

    def solve(self, question: Any, tree: Any = None) -> Any:
        """``question``: a ``questions.Question`` (its options shown lettered) or a plain string."""
        from tts_cli.solver import solve

        return solve(
            question, strategy=self.strategy, policy=self.policy, config=self.config,
            prompts=self.prompts, verifier=self.verifier, tree=tree, options=self.options,
        )

    def close(self) -> None:
        self.loader.close()


def check_settings(settings: Any) -> SearchConfig:
    """Validate options and the strategy before any model is loaded (fail fast on typos)."""
    from tts_cli.strategies import available, get_strategy

    config = settings.search_config()
    for other in available():  # every strategy flag is checked, whichever strategy runs
        settings.strategy_options(other.name)
    info = get_strategy(settings.strategy)
    check_strategy_options(settings.strategy, settings.strategy_options(), config)
    kind = getattr(settings, "verifier_kind", None)
    model_free = False
    if kind is not None:
        from tts_cli.verifiers.registry import verifier_info

        kind_info = verifier_info(kind)
        model_free = not kind_info.needs_model
        if kind_info.needs_model and settings.verifier is None:
            raise UsageError(f"--verifier-kind {kind} needs --verifier MODEL")
        if kind_info.needs_sandbox:
            require_sandbox(f"verifier {kind}")
    if info.needs_verifier and settings.verifier is None and not model_free:
        raise UsageError(
            f"strategy {settings.strategy} needs a verifier: pass --verifier MODEL (or --verifier-kind arithmetic)"
        )
    if info.needs_sandbox or settings.strategy_options().runs_programs():
        require_sandbox(f"strategy {settings.strategy}")
    return config


def require_sandbox(who: str) -> None:
    """Refuse, with the reason, what would run model-written programs where no sandbox can."""
    from tts_cli.errors import SandboxUnavailableError
    from tts_cli.sandbox import availability

    available, reason = availability()
    if not available:
        raise SandboxUnavailableError(f"{who} runs model-written programs, and {reason}")


def open_session(
    env: Environment, settings: Any, config: SearchConfig, *, quiet: bool = False, concurrent: bool = False
) -> Session:
    """Load the models. ``concurrent``: several problems will call them from threads at once, so a
    local engine merges their requests into one decode loop (``enable_batching``)."""
    from tts_cli.prompts import prompt_set

    loader = ModelLoader(
        env, settings.models_file, threads=settings.threads, gpu_layers=settings.gpu_layers,
        n_ctx=settings.ctx, quiet=quiet, cpu_repack=settings.cpu_repack,
    )
    try:
        policy = loader.load(settings.policy)
        verifier = loader.load_verifier(settings.verifier, settings.verifier_kind)
        if concurrent:
            loader.enable_batching()
    except BaseException:
        loader.close()
        raise
    return Session(
        config=config, strategy=settings.strategy, policy=policy, verifier=verifier,
        prompts=prompt_set("math", settings.system_prompt), loader=loader,
        verifier_ref=settings.verifier, verifier_kind=settings.verifier_kind, options=settings.strategy_options(),
    )


MAX_LOCAL_WORKERS = 16
PROMPT_ALLOWANCE = 256  # KV cells a problem's prompt takes, about (question + system prompt)


def check_workers(env: Environment, settings: Any, config: Any, workers: Optional[int]) -> int:
    """How many problems ``tts solve`` runs at once. Server models: ``--workers`` concurrent
    requests (default 1). Local models: the problems' samples share the engine's decode batch
    (continuous batching, engine/scheduler.py); by default as many problems as the KV cache
    (``--ctx``) holds at ``-n`` samples of ``--max-tokens`` each, at most 16."""
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {workers})")
    if workers is not None:
        return workers
    loader = ModelLoader(env, settings.models_file)
    if loader.is_server(settings.policy):
        return 1
    return default_local_workers(settings.ctx, samples_per_problem(settings.strategy, config), config.max_tokens)


def samples_per_problem(strategy: str, config: Any) -> int:
    """Sequences a problem keeps alive at once (its share of the batch)."""
    from tts_cli.strategies import get_strategy

    info = get_strategy(strategy)
    return 1 if info.deterministic else max(1, config.n)


def default_local_workers(ctx: int, samples: int, max_tokens: int) -> int:
    per_problem = PROMPT_ALLOWANCE + samples * max_tokens
    return max(1, min(MAX_LOCAL_WORKERS, ctx // per_problem))
