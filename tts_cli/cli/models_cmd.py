"""`tts models`: list, download and locate GGUF models (server models are listed, nothing to fetch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Dict, Optional

import typer
from rich.table import Table

from tts_cli.cli.common import ModelsFileOption, pull_with_progress
from tts_cli.config import ModelSpec, Registry, load_registry, resolve_model_ref
from tts_cli.env import Environment
from tts_cli.errors import ModelError, UsageError
from tts_cli.gguf import read_gguf_param_count
from tts_cli.store import ModelStore
from tts_cli.units import human_bytes, human_params

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="Model name from `tts models list`.")]


@app.command("list")
def list_models(
    invocation: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
    models: ModelsFileOption = None,
) -> None:
    """List the registry's models and whether they are downloaded."""
    env = invocation.ensure_object(Environment)
    registry = load_registry(models)
    store = ModelStore()
    rows = [_describe(spec, registry, store) for spec in registry.models.values()]
    if as_json:
        env.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    env.out.print(_table(rows, store))


@app.command("pull")
def pull(
    invocation: typer.Context,
    name: NameArgument,
    force: Annotated[bool, typer.Option("--force", help="Download again even if present.")] = False,
    models: ModelsFileOption = None,
) -> None:
    """Download a model (trying its sources in order) and print its path."""
    env = invocation.ensure_object(Environment)
    spec = load_registry(models).get(name)
    _require_local(spec)
    store = ModelStore()
    if store.is_downloaded(spec) and not force:
        env.err.print(f"tts: {spec.name} is already downloaded (use --force to fetch it again)", markup=False)
        path = store.path_for(spec)
    else:
        path = pull_with_progress(env, store, spec)
    env.stdout.write(f"{path}\n")


@app.command("path")
def path(invocation: typer.Context, name: NameArgument, models: ModelsFileOption = None) -> None:
    """Print the path of a downloaded model (exit 3 if it is not downloaded)."""
    env = invocation.ensure_object(Environment)
    spec = resolve_model_ref(name, load_registry(models))
    _require_local(spec)
    store = ModelStore()
    if not store.is_downloaded(spec):
        raise ModelError(f"model {spec.name} is not downloaded; run `tts models pull {spec.name}`")
    env.stdout.write(f"{store.path_for(spec)}\n")


# ---------------------------------------------------------------------------------------------


def _require_local(spec: ModelSpec) -> None:
    if spec.server is not None:
        raise UsageError(f"{spec.name} is served by {spec.server.base_url} (backend = \"openai\"): there is no file to pull or locate")


def _describe(spec: ModelSpec, registry: Registry, store: ModelStore) -> Dict[str, Any]:
    if spec.server is not None:
        return {
            "name": spec.name,
            "default": spec.name == registry.default_policy,
            "params": spec.params,
            "size": None,
            "downloaded": None,
            "verified": None,
            "path": None,
            "file": None,
            "context": spec.context,
            "sources": [],
            "description": spec.description,
            "backend": spec.backend,
            "base_url": spec.server.base_url,
            "model": spec.server.model,
        }
    status = store.status(spec)
    path = store.path_for(spec)
    size = path.stat().st_size if status != "no" else None
    return {
        "name": spec.name,
        "default": spec.name == registry.default_policy,
        "params": spec.params if spec.params is not None else _params_from_file(path, status),
        "size": size,
        "downloaded": status != "no",
        "verified": status == "verified",
        "path": str(path),
        "file": spec.file,
        "context": spec.context,
        "sources": [source.kind for source in spec.sources],
        "description": spec.description,
        "backend": spec.backend,
    }


def _params_from_file(path: Path, status: str) -> Optional[int]:
    if status == "no":
        return None
    try:
        return read_gguf_param_count(path)
    except ModelError:
        return None


def _table(rows: list, store: ModelStore) -> Table:
    table = Table(caption=f"* default policy; cache: {store.root}", caption_justify="left")
    table.add_column("name", overflow="fold")
    table.add_column("params", justify="right")
    table.add_column("size", justify="right")
    table.add_column("downloaded")
    table.add_column("description", overflow="fold")
    for row in rows:
        table.add_row(
            row["name"] + (" *" if row["default"] else ""),
            human_params(row["params"]),
            human_bytes(row["size"]),
            _availability(row),
            row["description"],
        )
    return table


def _availability(row: Dict[str, Any]) -> str:
    if row["backend"] == "openai":
        return f"server {row['base_url']}"
    return "verified" if row["verified"] else ("yes" if row["downloaded"] else "no")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="models", help="List, download and locate GGUF models.")
