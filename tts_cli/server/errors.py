"""Errors as the OpenAI API reports them: an HTTP status and ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from tts_cli.errors import ContextOverflowError, SandboxUnavailableError, TTSError, UsageError

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
}


@dataclass
class ApiError(Exception):
    status: int
    message: str
    param: Optional[str] = None
    code: Optional[str] = None
    retry_after: Optional[int] = None  # seconds, for 429 and 503

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": TYPES.get(self.status, "invalid_request_error"),
                          "param": self.param, "code": self.code}}  # fmt: skip

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


def from_tts_error(error: TTSError) -> ApiError:
    """A tts error met while preparing or running a request, as the client should see it."""
    from tts_cli.engine.cancel import Cancelled
    from tts_cli.engine.scheduler import EngineClosedError

    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, ContextOverflowError):
        return ApiError(400, message, "messages", "context_length_exceeded")
    if isinstance(error, SandboxUnavailableError):
        return ApiError(422, message, "model", "sandbox_unavailable")
    if isinstance(error, UsageError):
        return ApiError(422, message, None, "invalid_value")
    if isinstance(error, (EngineClosedError, Cancelled)):
        return ApiError(503, message, None, "shutting_down", retry_after=5)
    return ApiError(500, message, None, "model_error")
