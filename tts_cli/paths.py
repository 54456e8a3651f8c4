"""Where tts keeps downloaded models and user configuration."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir

APP_NAME = "tts"


def cache_dir() -> Path:
    """Model cache: ``$TTS_CACHE_DIR`` or the platform's user cache dir."""
    override = os.environ.get("TTS_CACHE_DIR")
    return Path(override) if override else Path(user_cache_dir(APP_NAME))


def models_dir() -> Path:
    return cache_dir() / "models"


def config_dir() -> Path:
    override = os.environ.get("TTS_CONFIG_DIR")
    return Path(override) if override else Path(user_config_dir(APP_NAME))
