"""The search tree: every node a strategy explored, shared by the live display and ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

ACTIVE, PRUNED, FINISHED, CHOSEN = "active", "pruned", "finished", "chosen"

TreeListener = Callable[[str, "Node"], None]  # (event, node); events: "add", "update"


@dataclass
class Node:
    id: int
    parent: Optional[int]
    text: str
    tokens: int  # policy tokens generated for this node
    depth: int
    status: str = ACTIVE
    score: Optional[float] = None
    answer: Optional[str] = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "parent": self.parent,
            "depth": self.depth,
            "text": self.text,
            "tokens": self.tokens,
            "status": self.status,
            "score": self.score,
            "answer": self.answer,
        }
        if self.meta:
            data["meta"] = self.meta
        return data


class SearchTree:
    """Nodes by id; the root (id 0) stands for the question itself."""

    def __init__(self, question: str = "") -> None:
        self.nodes: list[Node] = [Node(id=0, parent=None, text=question, tokens=0, depth=0)]
        self._listeners: list[TreeListener] = []

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def subscribe(self, listener: TreeListener) -> None:
        self._listeners.append(listener)

    def add(self, parent: int, text: str, tokens: int, **attrs: Any) -> Node:
        node = Node(id=len(self.nodes), parent=parent, text=text, tokens=tokens, depth=self.nodes[parent].depth + 1, **attrs)
        self.nodes.append(node)
        self._emit("add", node)
        return node

    def update(self, node_id: int, **attrs: Any) -> Node:
        node = self.nodes[node_id]
        for key, value in attrs.items():
            setattr(node, key, value)
        self._emit("update", node)
        return node

    def children(self, node_id: int) -> list[Node]:
        return [n for n in self.nodes if n.parent == node_id]

    def path(self, node_id: int) -> list[Node]:
        """Nodes from the first step down to ``node_id`` (the root excluded)."""
        chain: list[Node] = []
        current: Optional[int] = node_id
        while current is not None and current != 0:
            chain.append(self.nodes[current])
            current = self.nodes[current].parent
        return list(reversed(chain))

    def mark_chosen(self, node_id: int) -> None:
        for node in self.path(node_id):
            self.update(node.id, status=CHOSEN)

    @property
    def total_tokens(self) -> int:
        return sum(n.tokens for n in self.nodes)

    def to_dict(self) -> list[dict[str, Any]]:
        return [n.to_dict() for n in self.nodes]

    def _emit(self, event: str, node: Node) -> None:
        for listener in self._listeners:
            listener(event, node)
