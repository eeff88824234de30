"""Intake of Kommo webhooks: check the account, drop echoes, route each event to its flow's queue."""

from __future__ import annotations

from dataclasses import dataclass, field

from sales_assistant.errors import Forbidden
from sales_assistant.models.kommo_webhook import Account, ChatMessage, KommoWebhook
from sales_assistant.models.queue import (
    ClientMessageReceived,
    LeadChanged,
    QueueItem,
    SalespersonMessageReceived,
    UnsortedLeadAdded,
)
from sales_assistant.services.echoes import EchoMemory, lead_echo_key, message_echo_key


@dataclass
class RoutedWebhook:
    """The queue items a webhook yields, and what was left out (echoes, events the service ignores)."""

    items: list[QueueItem] = field(default_factory=list)
    echoes: int = 0
    ignored: int = 0


def check_account(account: Account, *, subdomain: str, account_id: int | None) -> None:
    """Refuse webhooks of another Kommo account (Forbidden)."""
    if account_id is not None and account.id != account_id:
        raise Forbidden("the webhook belongs to another Kommo account", code="foreign_account")
    if account.subdomain and account.subdomain.lower() != subdomain.lower():
        raise Forbidden("the webhook belongs to another Kommo account", code="foreign_account")


def route_webhook(webhook: KommoWebhook, echoes: EchoMemory) -> RoutedWebhook:
    """Turn a parsed webhook into queue items, one per event, without the service's own echoes."""
    routed = RoutedWebhook(ignored=len(webhook.ignored_events))
    candidates: list[tuple[str | None, QueueItem]] = []
    for message in webhook.client_messages:
        candidates.append((None, ClientMessageReceived(message=message)))
    for message in webhook.salesperson_messages:
        if _sent_by_automation(message):
            routed.echoes += 1
            continue
        candidates.append(
            (message_echo_key(message.conversation_id, message.text), SalespersonMessageReceived(message=message))
        )
    for change in webhook.lead_changes:
        candidates.append((lead_echo_key(change), LeadChanged(change=change)))
    for unsorted in webhook.unsorted_leads:
        candidates.append((None, UnsortedLeadAdded(lead=unsorted)))

    remembered = echoes.known(key for key, _ in candidates if key)
    for key, item in candidates:
        if key and key in remembered:
            routed.echoes += 1
        else:
            routed.items.append(item)
    return routed


def _sent_by_automation(message: ChatMessage) -> bool:
    """Outgoing messages without a Kommo user behind them come from a bot (ours or Kommo's), never a human."""
    return message.author.type != "internal" or message.author.user_id is None
