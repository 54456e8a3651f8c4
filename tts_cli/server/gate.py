"""How many searches a server holds at once: ``parallel`` running (their samples share the decode
batch; the engine's scheduler admits their waves by KV cells) and up to ``queue`` more waiting for
a worker. A request that would pass both is refused at once (429 with Retry-After), never queued
without bound."""

from __future__ import annotations

import math
import threading


class Gate:
    def __init__(self, parallel: int, queue: int) -> None:
        self.parallel = parallel
        self.capacity = parallel + queue
        self.in_flight = 0
        self.served = 0
        self._mean_seconds = 0.0
        self._lock = threading.Lock()

    def enter(self, searches: int) -> bool:
        with self._lock:
            if self.in_flight + searches > self.capacity and self.in_flight > 0:
                return False
            self.in_flight += searches
            return True

    def leave(self, searches: int = 1, seconds: float = 0.0) -> None:
        with self._lock:
            self.in_flight -= searches
            self.served += searches
            weight = 0.2 if self._mean_seconds else 1.0
            self._mean_seconds += weight * (seconds - self._mean_seconds)

    @property
    def waiting(self) -> int:
        return max(0, self.in_flight - self.parallel)

    def retry_after(self) -> int:
        """Seconds until a worker is likely free: the searches ahead, at the recent mean duration."""
        with self._lock:
            rounds = max(1, math.ceil((self.in_flight - self.parallel + 1) / max(1, self.parallel)))
            return max(1, min(600, math.ceil(rounds * (self._mean_seconds or 1.0))))
