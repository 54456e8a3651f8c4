"""A Typer group whose commands are imported only when one of them runs or shows its own help.

Building every command at start-up imports every strategy (their flags are generated), the model
store and Rich's progress bars, which made `tts --help` take half a second. ``LazyGroup`` knows its
commands from a static table (``CommandEntry``: name, module, first paragraph of its help); the
command list of `tts --help` and of shell completion is made from that table, and a command's
module is imported when the command is resolved (to run it, or for `tts COMMAND --help`).
``tests/test_cli_help.py`` checks the table against the real commands.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, MutableMapping, Optional

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from typer._click import Command, Context


@dataclass(frozen=True)
class CommandEntry:
    """A command of the app: ``module.register(app)`` adds it to a Typer app under ``name``."""

    name: str
    module: str
    summary: str  # the first paragraph of the command's help, as `tts --help` shows it

    def register(self, app: typer.Typer) -> None:
        register: Callable[[typer.Typer], None] = importlib.import_module(self.module).register
        register(app)


class _CommandTable(MutableMapping[str, "Command"]):
    """The group's ``commands``: every entry's name, in the table's order; a command is built on
    first lookup. Commands added by ``add_command`` are kept as they are."""

    def __init__(self, entries: tuple[CommandEntry, ...], build: Callable[[CommandEntry], "Command"]) -> None:
        self._entries = {entry.name: entry for entry in entries}
        self._build = build
        self._built: dict[str, Command] = {}

    def is_built(self, name: str) -> bool:
        return name in self._built or name not in self._entries

    def __getitem__(self, name: str) -> "Command":
        if name not in self._built:
            if name not in self._entries:
                raise KeyError(name)
            self._built[name] = self._build(self._entries[name])
        return self._built[name]

    def __setitem__(self, name: str, command: "Command") -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._entries and name not in self._built:
            raise KeyError(name)
        self._entries.pop(name, None)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._entries
        yield from (name for name in self._built if name not in self._entries)

    def __len__(self) -> int:
        return len(self._entries) + sum(1 for name in self._built if name not in self._entries)


class LazyGroup(TyperGroup):
    """A ``TyperGroup`` over ``entries`` (set by a subclass, since Typer instantiates ``cls``
    itself): ``typer.Typer(cls=Subclass)`` with a callback, so that Typer makes a group of it."""

    entries: ClassVar[tuple[CommandEntry, ...]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        table = _CommandTable(self.entries, self._build)
        for name, command in self.commands.items():
            table[name] = command
        self.commands = table
        self._listing = False

    def list_commands(self, ctx: "Context") -> list[str]:
        return list(self.commands)  # TyperGroup's reads .items(): it would build every command

    def get_command(self, ctx: "Context", cmd_name: str) -> Optional["Command"]:
        table = self.commands
        if self._listing and isinstance(table, _CommandTable) and not table.is_built(cmd_name):
            return self._summary(cmd_name)
        return table.get(cmd_name)

    def format_help(self, ctx: "Context", formatter: Any) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: "Context", incomplete: str) -> list[Any]:
        with self._listing_only():
            return super().shell_complete(ctx, incomplete)

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        """While the commands are only listed, each unbuilt one is a stand-in with its summary."""
        listing, self._listing = self._listing, True
        try:
            yield
        finally:
            self._listing = listing

    def _summary(self, name: str) -> "Command":
        entry = next(e for e in self.entries if e.name == name)
        return TyperCommand(name, help=entry.summary, rich_markup_mode=self.rich_markup_mode)

    def _build(self, entry: CommandEntry) -> "Command":
        """The real command: registered on an app of its own, with this group's Typer settings."""
        app = typer.Typer(rich_markup_mode=self.rich_markup_mode, suggest_commands=self.suggest_commands)
        entry.register(app)
        return typer.main.get_group(app).commands[entry.name]
