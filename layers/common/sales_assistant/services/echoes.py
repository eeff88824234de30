"""Keys that recognise the service's own effects when Kommo reports them back as webhooks.

Every change the service makes in Kommo (a reply sent through the Salesbot, a lead moved to another
status or salesperson) fires a webhook back at it. Before making the change the service remembers
its echo key for a short while; intake drops any event whose key is remembered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from sales_assistant.models.kommo_webhook import LeadChange
from sales_assistant.observability import fingerprint


class EchoMemory(Protocol):
    """Where echo keys are remembered (DynamoDB in AWS, a dict in unit tests)."""

    def remember(self, keys: Iterable[str]) -> None: ...

    def known(self, keys: Iterable[str]) -> set[str]: ...


def message_echo_key(conversation_id: str, text: str) -> str:
    """Key of a message the service sent into a conversation."""
    return f"echo:msg:{conversation_id}:{fingerprint(text.strip())}"


def lead_echo_key(change: LeadChange) -> str | None:
    """Key of a lead change, or None for a change the service never makes (a new lead)."""
    if change.kind == "status":
        return f"echo:lead:{change.id}:status:{change.status_id}"
    if change.kind == "responsible":
        return f"echo:lead:{change.id}:responsible:{change.responsible_user_id}"
    return None


def lead_update_echo_keys(
    lead_id: int, *, status_id: int | None = None, responsible_user_id: int | None = None
) -> list[str]:
    """Keys to remember before the service moves a lead (must match `lead_echo_key` of the webhook)."""
    keys = []
    if status_id is not None:
        keys.append(f"echo:lead:{lead_id}:status:{status_id}")
    if responsible_user_id is not None:
        keys.append(f"echo:lead:{lead_id}:responsible:{responsible_user_id}")
    return keys
