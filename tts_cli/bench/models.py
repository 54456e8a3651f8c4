"""The bench's models through a model loader: each GGUF loaded once, only when a run needs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol


class Loader(Protocol):
    """What the bench needs of ``cli.runtime.ModelLoader``."""

    def spec(self, ref: Optional[str]) -> Any: ...

    def load(self, ref: Optional[str]) -> Any: ...

    def load_verifier(self, ref: Optional[str], kind: Optional[str]) -> Any: ...


@dataclass
class LoaderModels:
    """The bench's models through ModelLoader: each GGUF loaded once, only when a run needs it."""

    loader: Loader
    verifier_ref: Optional[str] = None
    verifier_kind: Optional[str] = None
    _verifier: Any = field(default=None, repr=False)

    def identity(self, ref: Optional[str]) -> dict[str, Any]:
        spec = self.loader.spec(ref)
        return {"name": spec.name, "file": spec.file, "sha256": spec.sha256}

    def name(self, ref: Optional[str]) -> str:
        return str(self.loader.spec(ref).name)

    def policy(self, ref: Optional[str]) -> Any:
        return self.loader.load(ref)

    def verifier(self) -> Any:
        if self._verifier is None and (self.verifier_ref is not None or self.verifier_kind is not None):
            self._verifier = self.loader.load_verifier(self.verifier_ref, self.verifier_kind)
        return self._verifier

    def new_verifier(self) -> Any:
        """A verifier of its own (own cost counters) on the shared engine, for concurrent runs."""
        if self.verifier_ref is None and self.verifier_kind is None:
            return None
        return self.loader.load_verifier(self.verifier_ref, self.verifier_kind)
