"""Kommo errors as typed exceptions (Kommo answers problem JSON: title, detail, validation-errors)."""

from __future__ import annotations

from typing import Any

from sales_assistant.errors import DependencyError, NotFound


class KommoError(DependencyError):
    """A Kommo call failed; `status` is Kommo's HTTP status (0 for a network failure)."""

    code = "kommo_error"

    def __init__(self, message: str, *, kommo_status: int = 0, problem: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kommo_status = kommo_status
        self.problem = problem or {}

    @property
    def validation_errors(self) -> list[Any]:
        return list(self.problem.get("validation-errors", []))


class KommoValidationError(KommoError):
    code = "kommo_validation_error"


class KommoNotFound(KommoError, NotFound):
    """404: also a domain NotFound, so that services catch it without knowing Kommo's client."""

    code = "kommo_not_found"


class KommoForbidden(KommoError):
    """403: missing rights or the account/IP blocked for excess; never retried."""

    code = "kommo_forbidden"


class KommoUnavailable(KommoError):
    """5xx, 429 or a network failure after the retries: try again later (the queue retries)."""

    code = "kommo_unavailable"


class KommoReauthorizationRequired(KommoError):
    """The refresh token was refused (invalid_grant): a person must re-authorise the integration."""

    code = "kommo_reauthorization_required"


def error_for(status: int, problem: dict[str, Any], what: str) -> KommoError:
    """The typed error for a Kommo answer."""
    detail = problem.get("detail") or problem.get("title") or f"HTTP {status}"
    message = f"Kommo {what}: {status} {detail}"
    kind: type[KommoError] = KommoError
    if status == 400:
        kind = KommoValidationError
    elif status == 404:
        kind = KommoNotFound
    elif status in (402, 403):
        kind = KommoForbidden
    elif status == 429 or status >= 500:
        kind = KommoUnavailable
    return kind(message, kommo_status=status, problem=problem)
