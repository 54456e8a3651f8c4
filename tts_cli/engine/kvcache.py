"""Bookkeeping of which tokens each KV-cache sequence holds (pure Python, no llama_cpp).

llama.cpp keeps one KV cache shared by up to ``n_seq_max`` sequence ids. We remember, per sequence
id ("slot"), the exact tokens whose KV state it holds, so a new prefix can start from the slot with
the longest common prefix (copied with ``llama_memory_seq_cp``, no forward pass) instead of being
evaluated again. Slots not in use by a running call stay alive as donors until evicted (LRU).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Optional, Sequence


@dataclass
class Slot:
    seq_id: int
    tokens: list[int] = field(default_factory=list)
    last_used: int = 0
    pinned: bool = False


class SlotTable:
    def __init__(self, n_slots: int) -> None:
        self._slots = [Slot(seq_id=i) for i in range(n_slots)]
        self._in_use: set[int] = set()  # slots holding KV state (donors or pinned)
        self._clock = itertools.count(1)

    def __len__(self) -> int:
        return len(self._slots)

    def get(self, seq_id: int) -> Slot:
        return self._slots[seq_id]

    def touch(self, seq_id: int) -> None:
        self._slots[seq_id].last_used = next(self._clock)

    def best_donor(self, prefix: Sequence[int], limit: int) -> tuple[Optional[int], int]:
        """The live slot sharing the longest common prefix with ``prefix`` (at most ``limit`` tokens)."""
        best_id, best_len = None, 0
        for seq_id in self._in_use:
            n = common_prefix_length(self._slots[seq_id].tokens, prefix, limit)
            if n > best_len:
                best_id, best_len = seq_id, n
        return best_id, best_len

    def free_slot(self) -> Optional[int]:
        """A slot holding nothing, if any."""
        for slot in self._slots:
            if slot.seq_id not in self._in_use:
                return slot.seq_id
        return None

    def eviction_candidate(self) -> Optional[int]:
        """The least recently used live slot that no running call holds."""
        idle = [self._slots[i] for i in self._in_use if not self._slots[i].pinned]
        if not idle:
            return None
        return min(idle, key=lambda s: s.last_used).seq_id

    def occupy(self, seq_id: int, tokens: Sequence[int]) -> None:
        slot = self._slots[seq_id]
        slot.tokens = list(tokens)
        slot.pinned = True
        self._in_use.add(seq_id)
        self.touch(seq_id)

    def release(self, seq_id: int) -> None:
        """The call is done with the slot; it stays as a donor until evicted."""
        self._slots[seq_id].pinned = False
        self.touch(seq_id)

    def clear(self, seq_id: int) -> None:
        slot = self._slots[seq_id]
        slot.tokens = []
        slot.pinned = False
        self._in_use.discard(seq_id)

    def live(self) -> list[int]:
        return sorted(self._in_use)


def common_prefix_length(a: Sequence[int], b: Sequence[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
