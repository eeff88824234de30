"""Errors that cross layers: each carries the HTTP status and the machine-readable code it maps to."""


class AppError(Exception):
    """Base error: `code` and `message` are what an API caller sees."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
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
