"""Intake of Kommo webhooks: check the account, tell who wrote each message, drop echoes, route each
event to its flow's queue. A salesperson's command may come as a chat message or as a note on the lead."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sales_assistant.errors import Forbidden
from sales_assistant.models.kommo_webhook import Account, ChatMessage, KommoWebhook, LeadNote
from sales_assistant.models.queue import (
    ClientMessageReceived,
    LeadChanged,
    QueueItem,
    SalespersonMessageReceived,
    SalespersonNoteAdded,
    UnsortedLeadAdded,
)
from sales_assistant.services.commands import parse_command
from sales_assistant.services.echoes import lead_echo_key, note_echo_key, outgoing_echo_keys
from sales_assistant.services.ports.storage import EchoMemory

AuthorKind = Literal["client", "salesperson", "automation", "unattributed"]


@dataclass(frozen=True)
class AuthorRules:
    """Who counts as an automation, and what an outgoing message nobody in Kommo wrote means.

    `automation_authors`: names or Kommo user ids of Salesbots and integrations (their messages never
    pause the bot). `pause_on_unattributed`: an outgoing message with no Kommo user, no bot author
    and no echo of ours is a person answering from the WhatsApp Business phone app (coexistence);
    it pauses the bot like a salesperson's reply unless this is off."""

    automation_names: frozenset[str] = frozenset()
    automation_user_ids: frozenset[int] = frozenset()
    pause_on_unattributed: bool = True

    @classmethod
    def from_settings(cls, automation_authors: str, unattributed_outgoing: str) -> AuthorRules:
        """Rules from AUTOMATION_AUTHORS (comma-separated) and UNATTRIBUTED_OUTGOING (pause | ignore)."""
        entries = [entry.strip() for entry in automation_authors.split(",") if entry.strip()]
        return cls(
            automation_names=frozenset(entry.casefold() for entry in entries if not entry.isdigit()),
            automation_user_ids=frozenset(int(entry) for entry in entries if entry.isascii() and entry.isdigit()),
            pause_on_unattributed=unattributed_outgoing == "pause",
        )


def classify_author(message: ChatMessage, rules: AuthorRules) -> AuthorKind:
    """Who wrote a chat message: the client, a salesperson (a Kommo user), an automation, or nobody Kommo
    names (`author[user_id]` 0 or absent, not a bot)."""
    if message.type == "incoming":
        return "client"
    author = message.author
    if author.type == "bot" or author.name.strip().casefold() in rules.automation_names:
        return "automation"
    if author.user_id is not None:
        return "automation" if author.user_id in rules.automation_user_ids else "salesperson"
    return "unattributed"


@dataclass
class RoutedWebhook:
    """The queue items a webhook yields, and what was left out (echoes, automations, ignored events)
    with the echo keys that came back (they confirm deliveries)."""

    items: list[QueueItem] = field(default_factory=list)
    echoes: int = 0
    automations: int = 0
    ignored: int = 0
    echo_keys_seen: set[str] = field(default_factory=set)


def check_account(account: Account, *, subdomain: str, account_id: int | None) -> None:
    """Refuse webhooks of another Kommo account (Forbidden). The subdomain must be present and match."""
    if account_id is not None and account.id != account_id:
        raise Forbidden("the webhook belongs to another Kommo account", code="foreign_account")
    if account.subdomain.lower() != subdomain.lower():
        raise Forbidden("the webhook belongs to another Kommo account", code="foreign_account")


def route_webhook(webhook: KommoWebhook, echoes: EchoMemory, rules: AuthorRules) -> RoutedWebhook:
    """Turn a parsed webhook into queue items, one per event, without the service's own echoes."""
    routed = RoutedWebhook(ignored=len(webhook.ignored_events))
    candidates: list[tuple[list[str], QueueItem | None]] = []
    for message in webhook.client_messages:
        candidates.append(([], ClientMessageReceived(message=message)))
    for message in webhook.outgoing_messages:
        kind = classify_author(message, rules)
        keys = outgoing_echo_keys(message, attributed=kind == "salesperson")
        if kind == "automation" or (kind == "unattributed" and not rules.pause_on_unattributed):
            candidates.append((keys, None))  # never a command or a takeover, but its echo still confirms
            continue
        author: Literal["salesperson", "phone_app"] = "salesperson" if kind == "salesperson" else "phone_app"
        candidates.append((keys, SalespersonMessageReceived(message=message, author=author)))
    for change in webhook.lead_changes:
        key = lead_echo_key(change)
        candidates.append(([key] if key else [], LeadChanged(change=change)))
    for unsorted in webhook.unsorted_leads:
        candidates.append(([], UnsortedLeadAdded(lead=unsorted)))
    for note in webhook.lead_notes:
        if not _is_command(note):
            routed.ignored += 1  # the team's own notes: not the bot's business
            continue
        by_automation = note.created_by is None or note.created_by in rules.automation_user_ids
        candidates.append(
            ([note_echo_key(note.lead_id, note.text)], None if by_automation else SalespersonNoteAdded(note=note))
        )

    remembered = echoes.known(key for keys, _ in candidates for key in keys)
    for keys, item in candidates:
        matched = remembered.intersection(keys)
        routed.echo_keys_seen |= matched
        if matched:
            routed.echoes += 1
        elif item is None:
            routed.automations += 1
        else:
            routed.items.append(item)
    return routed


def _is_command(note: LeadNote) -> bool:
    """True for a note a person typed (type common) that starts with a command (`/assumir`...)."""
    return note.is_common and parse_command(note.text) is not None
