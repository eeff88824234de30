"""The one Kommo client of the system: auth, shared rate limit, retries, pagination, typed calls."""

from sales_assistant.adapters.kommo.client import KommoClient, kommo_client
from sales_assistant.adapters.kommo.errors import (
    KommoError,
    KommoForbidden,
    KommoNotFound,
    KommoReauthorizationRequired,
    KommoUnavailable,
    KommoValidationError,
)

__all__ = [
    "KommoClient",
    "KommoError",
    "KommoForbidden",
    "KommoNotFound",
    "KommoReauthorizationRequired",
    "KommoUnavailable",
    "KommoValidationError",
    "kommo_client",
]
