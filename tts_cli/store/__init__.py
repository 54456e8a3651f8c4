"""Model cache and downloads: ``ModelStore`` finds, fetches and verifies GGUF files."""

from __future__ import annotations

from tts_cli.store.store import ModelStore, ProgressCallback, PullProgress, hash_file

__all__ = ["ModelStore", "ProgressCallback", "PullProgress", "hash_file"]
