"""Exit statuses and the exceptions that map onto them.

Every error a user can cause or meet is a ``TTSError`` subclass; the CLI turns it into a one-line
message on stderr and its ``exit_status``. Anything else is a bug and exits with ``ERROR``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1  # runtime failure
    USAGE = 2  # bad usage, bad input or bad configuration
    MODEL = 3  # model missing, corrupt or unloadable
    PARTIAL = 4  # some lines of a batch failed
    INTERRUPTED = 130  # Ctrl-C / SIGINT


class TTSError(Exception):
    """An error with a message fit for a user and an exit status."""

    exit_status: ExitStatus = ExitStatus.ERROR


class UsageError(TTSError):
    exit_status = ExitStatus.USAGE


class ConfigError(TTSError):
    """A malformed models.toml or an unknown model name."""

    exit_status = ExitStatus.USAGE


class InputError(TTSError):
    """A question or input file that cannot be used (empty, binary, malformed)."""

    exit_status = ExitStatus.USAGE


class OutputError(TTSError):
    """Results, a summary or a cache that cannot be written (no such directory, no permission,
    disk full): a runtime failure, not a usage error."""

    exit_status = ExitStatus.ERROR


class ModelError(TTSError):
    """A model file that is missing, corrupt, fails verification or cannot be loaded."""

    exit_status = ExitStatus.MODEL


class DownloadError(ModelError):
    pass


class ServerError(ModelError):
    """An inference server (``backend = "openai"``) that cannot be reached, keeps failing after
    retries, or refuses the request (bad URL, model name or API key)."""


class SandboxUnavailableError(TTSError):
    """A strategy or verifier that runs model-written programs, where no sandbox can contain them
    (bubblewrap missing, unusable, or ``TTS_SANDBOX=off``): refused before anything is loaded."""

    exit_status = ExitStatus.USAGE


class ContextOverflowError(TTSError):
    """The prompt (plus what must be generated) does not fit in the model's context."""

    exit_status = ExitStatus.USAGE
