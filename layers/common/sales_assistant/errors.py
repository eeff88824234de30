"""Errors that cross layers: each carries the HTTP status and the machine-readable code it maps to."""

from typing import Any


class AppError(Exception):
    """Base error: `code` and `message` are what an API caller sees."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}  # more fields of the error body (e.g. nearest_free slots)
        if code:
            self.code = code


class BadRequest(AppError):
    status = 400
    code = "bad_request"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"


class Unprocessable(AppError):
    status = 422
    code = "unprocessable"


class DependencyError(AppError):
    """An external system (Kommo, n8n) failed after its retries: the caller may retry later."""

    status = 502
    code = "dependency_failed"


class DependencyDown(DependencyError):
    """A dependency's circuit breaker is open (adapters/breaker.py): nothing was sent; try again at
    `retry_at` (unix s)."""

    status = 503
    code = "dependency_down"

    def __init__(self, dependency: str, retry_at: float) -> None:
        super().__init__(f"{dependency} is down: calls wait for its breaker", details={"retry_at": int(retry_at)})
        self.dependency = dependency
        self.retry_at = retry_at
