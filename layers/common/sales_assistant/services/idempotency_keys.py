"""The idempotency keys callers send (`POST /appointments`, `POST /messages`): a key seen before gets its
first answer again only with a request it was used for; with another request it is refused, never
answered as if that request had been done."""

from __future__ import annotations

from sales_assistant.errors import Unprocessable


def ensure_same_request(asked: object, *answered: object) -> None:
    """Raise 422 `idempotency_key_reused` unless `asked` is one of the requests the key `answered`."""
    if asked not in answered:
        raise Unprocessable("the idempotency key was used for another request", code="idempotency_key_reused")
