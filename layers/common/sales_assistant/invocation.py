"""The running Lambda invocation: its context, and how much time it has left.

`observability.observed` sets the context at the start of every invocation. Code that must not
start something it cannot finish (a token refresh, a lease) asks `remaining_seconds()`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_context: ContextVar[Any] = ContextVar("lambda_context", default=None)


def set_invocation_context(lambda_context: Any) -> None:
    """Remember the Lambda context of the running invocation."""
    _context.set(lambda_context)


def invocation_context() -> Any:
    """The running invocation's Lambda context (None outside an invocation: tests, scripts)."""
    return _context.get()


def remaining_seconds() -> float | None:
    """Seconds the running invocation has left, or None when there is no invocation to ask."""
    context = _context.get()
    if context is None:
        return None
    try:
        return float(context.get_remaining_time_in_millis()) / 1000
    except (AttributeError, TypeError, ValueError):
        return None
