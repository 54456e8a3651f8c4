"""The model registry: ``models.toml`` files, merged and validated.

Files are read in this order, a later one replacing whole entries of an earlier one by model name:
the built-in ``tts_cli/models.toml``, ``config_dir()/models.toml`` (if it exists), ``$TTS_MODELS``
and the file given with ``--models``. Every problem is a one-line ``ConfigError`` naming the file,
the line when it can be found, and the key path (``models.foo.context``).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, FrozenSet, List, NoReturn, Optional, Tuple

from tts_cli.engine.types import ServerSettings
from tts_cli.errors import ConfigError, ModelError
from tts_cli.paths import config_dir
from tts_cli.prm_config import PRMConfig, prm_config_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

BUILTIN_MODELS_FILE = Path(__file__).resolve().parent / "models.toml"
DEFAULT_CONTEXT = 4096
DEFAULT_GPU_LAYERS = -1

# The schemas: allowing a new key is one line here (plus a field on the dataclass to carry it).
# ``list`` means a list of strings, except for ``sources`` (a list of tables, checked separately;
# their kinds are ``SOURCE_KINDS``).
TOP_KEYS: Dict[str, type] = {"default_policy": str, "models": dict}
MODEL_KEYS: Dict[str, type] = {
    "file": str,
    "description": str,
    "sha256": str,
    "size": int,
    "params": int,
    "context": int,
    "gpu_layers": int,
    "chat_template": str,
    "sources": list,
    "prm": dict,
    "backend": str,
    "base_url": str,
    "model": str,
    "api_key_env": str,
    "timeout": float,
    "max_retries": int,
    "concurrency": int,
    "top_logprobs": int,
}
BACKENDS = ("llama.cpp", "openai")
# Keys that only make sense for one backend; the others are shared.
BACKEND_KEYS: Dict[str, frozenset] = {
    "llama.cpp": frozenset({"file", "sha256", "size", "gpu_layers", "sources"}),
    "openai": frozenset({"base_url", "model", "api_key_env", "timeout", "max_retries", "concurrency", "top_logprobs"}),
}
REQUIRED_BACKEND_KEYS: Dict[str, Tuple[str, ...]] = {"llama.cpp": ("file",), "openai": ("base_url", "model")}

_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_PACKAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*$")
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table"}
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ModelSource:
    kind: str
    path: Optional[str] = None
    repo: Optional[str] = None
    file: Optional[str] = None
    revision: str = "main"
    url: Optional[str] = None
    packages: Tuple[str, ...] = ()
    members: Tuple[str, ...] = ()

    def describe(self) -> str:
        """A short human description, e.g. ``hf:Qwen/x-GGUF/x.gguf``."""
        kind = SOURCE_KINDS.get(self.kind)
        return kind.describe(self) if kind is not None else f"{self.kind}:?"

    @property
    def in_place(self) -> bool:
        """Whether its file is used where it is (at ``path``) instead of downloaded."""
        kind = SOURCE_KINDS.get(self.kind)
        return kind is not None and kind.in_place


@dataclass(frozen=True)
class ModelSpec:
    name: str
    file: str  # "" for a server model
    sources: Tuple[ModelSource, ...]
    sha256: Optional[str] = None
    size: Optional[int] = None
    params: Optional[int] = None
    context: int = DEFAULT_CONTEXT
    gpu_layers: int = DEFAULT_GPU_LAYERS
    chat_template: Optional[str] = None
    description: str = ""
    origin: Optional[Path] = None
    prm: Optional[PRMConfig] = None  # set when the model is a token-logit process reward model
    backend: str = "llama.cpp"
    server: Optional[ServerSettings] = None  # set when backend == "openai"


@dataclass
class Registry:
    models: Dict[str, ModelSpec] = field(default_factory=dict)
    default_policy: str = ""
    files: List[Path] = field(default_factory=list)

    def get(self, name: str) -> ModelSpec:
        spec = self.models.get(name)
        if spec is not None:
            return spec
        close = difflib.get_close_matches(name, list(self.models), n=3, cutoff=0.5)
        if close:
            hint = "did you mean " + ", ".join(close) + "?"
        else:
            hint = "known models: " + ", ".join(sorted(self.models))
        raise ConfigError(f"unknown model {name!r}; {hint} (see `tts models list`)")

    @property
    def default(self) -> ModelSpec:
        return self.get(self.default_policy)


# ---------------------------------------------------------------------------------------------
# Loading and merging


def registry_files(models_file: Optional[Path] = None) -> List[Path]:
    """The files ``load_registry`` reads, in order. Explicit files must exist."""
    files = [BUILTIN_MODELS_FILE]
    user_file = config_dir() / "models.toml"
    if user_file.is_file():
        files.append(user_file)
    env_file = os.environ.get("TTS_MODELS")
    if env_file:
        files.append(_existing(_expand_user(env_file), "$TTS_MODELS"))
    if models_file is not None:
        files.append(_existing(_expand_user(str(models_file)), "--models"))
    return files


def load_registry(models_file: Optional[Path] = None) -> Registry:
    registry = Registry()
    policy_origin: Optional[Tuple[Path, str]] = None
    for path in registry_files(models_file):
        text, data = _read_toml(path)
        policy, models = _validate_file(path, text, data)
        registry.models.update(models)
        registry.files.append(path)
        if policy is not None:
            registry.default_policy = policy
            policy_origin = (path, text)
    if registry.default_policy not in registry.models:
        _raise_bad_policy(registry, policy_origin)
    return registry


def resolve_model_ref(ref: str, registry: Registry) -> ModelSpec:
    """A registry name, or a path to a GGUF file (anything ending in .gguf or containing a
    path separator) turned into an ad-hoc spec that uses the file in place."""
    if not looks_like_path(ref):
        return registry.get(ref)
    path = _expand_user(ref)
    if not path.is_file():
        raise ModelError(f"model file not found: {ref}")
    path = path.resolve()
    return ModelSpec(
        name=path.stem,
        file=path.name,
        sources=(ModelSource(kind="path", path=str(path)),),
        description=f"local file {path}",
        origin=path,
    )


def looks_like_path(ref: str) -> bool:
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return ref.lower().endswith(".gguf") or any(sep in ref for sep in separators)


def _expand_user(value: str) -> Path:
    """``Path(value).expanduser()``, or the path as written when ``~user`` has no home."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        return Path(value)


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"models file not found: {path} (from {what})")
    return path


def _read_toml(path: Path) -> Tuple[str, Dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc).splitlines()[0] if str(exc) else "syntax error"
        line = re.search(r"line (\d+)", message)
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ConfigError(f"{where}: invalid TOML: {message}") from None


def _raise_bad_policy(registry: Registry, origin: Optional[Tuple[Path, str]]) -> None:
    where = "default_policy"
    if origin is not None:
        path, text = origin
        line = _find_line(text, (), "default_policy")
        where = f"{path}{f':{line}' if line else ''}: default_policy"
    close = difflib.get_close_matches(registry.default_policy, list(registry.models), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"{where}: unknown model {registry.default_policy!r}{hint}")


# ---------------------------------------------------------------------------------------------
# Validation


class _Checker:
    """Validates one parsed file; errors point at ``file:line: key.path``."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, table: Tuple[str, ...], key: Optional[str], message: str, index: int = 0) -> NoReturn:
        line = _find_line(self.text, table, key, index)
        parts = [_dotted_part(p) for p in table]
        if table and table[-1] == "sources":
            parts[-1] = f"sources[{index}]"
        if key is not None:
            parts.append(_dotted_part(key))
        where = f"{self.path}:{line}" if line else str(self.path)
        raise ConfigError(f"{where}: {'.'.join(parts)}: {message}")

    def check_keys(
        self, data: Dict[str, Any], schema: Dict[str, type], table: Tuple[str, ...], index: int = 0
    ) -> None:
        for key, value in data.items():
            expected = schema.get(key)
            if expected is None:
                allowed = ", ".join(schema)
                self.fail(table, key, f"unknown key (allowed: {allowed})", index)
            elif not _has_type(value, expected):
                self.fail(table, key, f"expected {_TYPE_NAMES[expected]}, got {_describe(value)}", index)
            elif expected is list and key != "sources" and not all(isinstance(v, str) for v in value):
                self.fail(table, key, "expected a list of strings", index)


def _validate_file(
    path: Path, text: str, data: Dict[str, Any]
) -> Tuple[Optional[str], Dict[str, ModelSpec]]:
    checker = _Checker(path, text)
    checker.check_keys(data, TOP_KEYS, ())
    models = {
        name: _validate_model(checker, name, entry) for name, entry in data.get("models", {}).items()
    }
    return data.get("default_policy"), models


def _validate_model(checker: _Checker, name: str, entry: Any) -> ModelSpec:
    table = ("models", name)
    if not isinstance(entry, dict):
        checker.fail(("models",), name, f"expected a table, got {_describe(entry)}")
    checker.check_keys(entry, MODEL_KEYS, table)
    backend = entry.get("backend", "llama.cpp")
    if backend not in BACKENDS:
        checker.fail(table, "backend", f"expected one of {', '.join(BACKENDS)}, got {_describe(backend)}")
    for other, keys in BACKEND_KEYS.items():
        misplaced = sorted(keys & entry.keys()) if other != backend else []
        if misplaced:
            checker.fail(
                table, misplaced[0], f"only for backend = {json.dumps(other)} (this model's backend is {json.dumps(backend)})"
            )
    for key in REQUIRED_BACKEND_KEYS[backend]:
        if key not in entry:
            checker.fail(table, None, f"missing required key {key!r}")
    for key in ("context", "size", "params"):
        if key in entry and entry[key] <= 0:
            checker.fail(table, key, f"must be positive, got {entry[key]}")
    if backend == "openai":
        return ModelSpec(
            name=name,
            file="",
            sources=(),
            params=entry.get("params"),
            context=entry.get("context", DEFAULT_CONTEXT),
            chat_template=entry.get("chat_template"),
            description=entry.get("description", ""),
            origin=checker.path,
            prm=_prm_config(checker, table, entry["prm"]) if "prm" in entry else None,
            backend=backend,
            server=_server_settings(checker, table, entry),
        )
    _check_file_name(checker, table, entry["file"])
    if "sha256" in entry and not _SHA256_RE.match(entry["sha256"]):
        checker.fail(table, "sha256", "expected 64 hexadecimal digits")
    if entry.get("gpu_layers", 0) < -1:
        checker.fail(table, "gpu_layers", "must be -1 (all) or a layer count >= 0")
    sources = tuple(
        _validate_source(checker, name, i, source) for i, source in enumerate(entry.get("sources", []))
    )
    if not sources:
        sources_key = "sources" if "sources" in entry else None
        checker.fail(table, sources_key, f"no sources: add a [[models.{_dotted_part(name)}.sources]] table")
    return ModelSpec(
        name=name,
        file=entry["file"],
        sources=sources,
        sha256=entry["sha256"].lower() if "sha256" in entry else None,
        size=entry.get("size"),
        params=entry.get("params"),
        context=entry.get("context", DEFAULT_CONTEXT),
        gpu_layers=entry.get("gpu_layers", DEFAULT_GPU_LAYERS),
        chat_template=entry.get("chat_template"),
        description=entry.get("description", ""),
        origin=checker.path,
        prm=_prm_config(checker, table, entry["prm"]) if "prm" in entry else None,
    )


def _server_settings(checker: _Checker, table: Tuple[str, ...], entry: Dict[str, Any]) -> ServerSettings:
    from urllib.parse import urlsplit

    url = entry["base_url"].strip()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        checker.fail(table, "base_url", f"not a valid URL ({exc})")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        checker.fail(table, "base_url", f"expected http(s)://host[:port]/path, e.g. http://localhost:8000/v1, got {url!r}")
    if parts.query or parts.fragment:
        checker.fail(table, "base_url", "must not have a query or fragment")
    if not entry["model"].strip():
        checker.fail(table, "model", "must not be empty (the server's name for the model)")
    env = entry.get("api_key_env")
    if env is not None and not _ENV_NAME_RE.match(env):
        checker.fail(table, "api_key_env", "expected the NAME of an environment variable holding the key, not the key itself")
    for key, low, what in (("timeout", 0, "positive"), ("max_retries", -1, ">= 0"), ("concurrency", 0, "at least 1"), ("top_logprobs", 0, "at least 1")):
        if key in entry and (not math.isfinite(entry[key]) or entry[key] <= low):
            checker.fail(table, key, f"must be {what}, got {entry[key]}")
    defaults = ServerSettings(base_url="", model="")
    return ServerSettings(
        base_url=url.rstrip("/"),
        model=entry["model"],
        api_key_env=env,
        timeout=float(entry.get("timeout", defaults.timeout)),
        max_retries=entry.get("max_retries", defaults.max_retries),
        concurrency=entry.get("concurrency", defaults.concurrency),
        top_logprobs=entry.get("top_logprobs", defaults.top_logprobs),
    )


def _prm_config(checker: _Checker, table: Tuple[str, ...], data: Dict[str, Any]) -> PRMConfig:
    try:
        return prm_config_from_dict(dict(data))
    except ValueError as exc:
        key, _, detail = str(exc).partition(": ")
        if key in data or key == "preset":
            checker.fail(table + ("prm",), key, detail)
        checker.fail(table + ("prm",), None, str(exc))


def _check_file_name(checker: _Checker, table: Tuple[str, ...], name: str) -> None:
    # The file lands in the cache directory: a path here could write anywhere.
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\x00" in name or name.startswith(".part"):
        checker.fail(table, "file", f"must be a plain file name, got {name!r}")


def _validate_source(checker: _Checker, model: str, index: int, source: Any) -> ModelSource:
    table = ("models", model, "sources")
    if not isinstance(source, dict):
        checker.fail(table, None, f"expected a table, got {_describe(source)}", index)
    kind = source.get("kind")
    if kind not in SOURCE_KINDS:
        kinds = ", ".join(SOURCE_KINDS)
        checker.fail(table, "kind", f"expected one of {kinds}, got {_describe(kind)}", index)
    spec = SOURCE_KINDS[kind]
    checker.check_keys(source, {"kind": str, **spec.keys}, table, index)
    for key in sorted(set(spec.keys) - spec.optional - source.keys()):
        checker.fail(table, None, f"source kind {kind!r} needs key {key!r}", index)
    return ModelSource(kind=kind, **spec.read(checker, table, index, source))


def _source_fields(checker: _Checker, table: Tuple[str, ...], index: int, source: Dict[str, Any]) -> Dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in source.items() if key != "kind"}


def _path_fields(checker: _Checker, table: Tuple[str, ...], index: int, source: Dict[str, Any]) -> Dict[str, Any]:
    if not source["path"] or "\x00" in source["path"]:
        checker.fail(table, "path", f"expected a file path, got {_describe(source['path'])}", index)
    return {"path": str(_resolve_relative(checker.path, source["path"]))}


def _chunk_fields(checker: _Checker, table: Tuple[str, ...], index: int, source: Dict[str, Any]) -> Dict[str, Any]:
    _check_chunks(checker, table, index, source["packages"], source["members"])
    return _source_fields(checker, table, index, source)


def _check_chunks(
    checker: _Checker, table: Tuple[str, ...], index: int, packages: List[str], members: List[str]
) -> None:
    if not packages:
        checker.fail(table, "packages", "must name at least one package", index)
    if len(packages) != len(members):
        checker.fail(
            table, "members", f"needs one member per package ({len(packages)}), got {len(members)}", index
        )
    for package in packages:
        if not _PACKAGE_RE.match(package):
            checker.fail(table, "packages", f"expected 'name==version', got {package!r}", index)


def _describe_chunks(source: ModelSource) -> str:
    more = f" +{len(source.packages) - 1} more" if len(source.packages) > 1 else ""
    return f"pypi:{source.packages[0] if source.packages else '?'}{more}"


SourceReader = Callable[[_Checker, Tuple[str, ...], int, Dict[str, Any]], Dict[str, Any]]


@dataclass(frozen=True)
class SourceKind:
    """One kind of model source: the keys of its table (``optional`` ones may be left out), how a
    source of it reads in listings, how its checked table becomes ``ModelSource`` fields (failing
    through the checker), and whether its file is used in place instead of downloaded (the
    store's ``FETCHERS`` download the others)."""

    keys: Dict[str, type]
    describe: Callable[[ModelSource], str]
    read: SourceReader = _source_fields
    optional: FrozenSet[str] = frozenset()
    in_place: bool = False


SOURCE_KINDS: Dict[str, SourceKind] = {
    "path": SourceKind({"path": str}, lambda source: f"path:{source.path}", _path_fields, in_place=True),
    "hf": SourceKind(
        {"repo": str, "file": str, "revision": str},
        lambda source: f"hf:{source.repo}/{source.file}",
        optional=frozenset({"revision"}),
    ),
    "url": SourceKind({"url": str}, lambda source: f"url:{source.url}"),
    "pypi-chunks": SourceKind({"packages": list, "members": list}, _describe_chunks, _chunk_fields),
}


def _resolve_relative(models_file: Path, value: str) -> Path:
    path = _expand_user(value)
    return path if path.is_absolute() else (models_file.parent / path).resolve()


def _has_type(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    kind = {bool: "boolean", int: "integer", float: "float", str: "string", list: "list", dict: "table"}
    name = kind.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, (list, dict)) else ""
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{name} {shown}".strip()


# ---------------------------------------------------------------------------------------------
# Finding the line of a key (best effort: tomllib does not report positions of valid values)


def _dotted_part(part: str) -> str:
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part, ensure_ascii=False)


def _header_pattern(table: Tuple[str, ...], array: bool) -> re.Pattern[str]:
    parts = [rf"(?:{re.escape(p)}|\"{re.escape(p)}\"|'{re.escape(p)}')" for p in table]
    inner = r"\s*\.\s*".join(parts)
    if array:
        return re.compile(rf"^\s*\[\[\s*{inner}\s*\]\]")
    return re.compile(rf"^\s*\[\s*{inner}\s*\](?!\])")


def _key_pattern(key: str) -> re.Pattern[str]:
    quoted = rf"(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')"
    return re.compile(rf"^\s*{quoted}\s*=")


def _find_line(text: str, table: Tuple[str, ...], key: Optional[str], index: int = 0) -> Optional[int]:
    """1-based line of ``key`` inside ``[table]`` (or the ``index``-th ``[[table]]``); the header
    line when the key is not found there; None when even the header is not found."""
    lines = text.splitlines()
    start = _find_header(lines, table, index)
    if start is None:
        return None
    if key is None:
        return start + 1 if table else None
    pattern = _key_pattern(key)
    first = start + 1 if table else 0
    for number in range(first, len(lines)):
        if re.match(r"^\s*\[", lines[number]):
            break
        if pattern.match(lines[number]):
            return number + 1
    return start + 1 if table else None


def _find_header(lines: List[str], table: Tuple[str, ...], index: int) -> Optional[int]:
    if not table:
        return 0
    if table[-1] == "sources":
        pattern = _header_pattern(table, array=True)
        hits = [n for n, line in enumerate(lines) if pattern.match(line)]
        if index < len(hits):
            return hits[index]
        table = table[:-1]  # inline sources: point at the model's table
    pattern = _header_pattern(table, array=False)
    for number, line in enumerate(lines):
        if pattern.match(line):
            return number
    return None
