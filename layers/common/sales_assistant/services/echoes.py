"""Keys that recognise the service's own effects when Kommo reports them back as webhooks.

Every change the service makes in Kommo (a reply sent through the Salesbot, a lead moved to another
status or salesperson) fires a webhook back at it. Before making the change the service remembers
its echo keys (for hours: Kommo retries a webhook for about 1.5 h); intake drops any event whose key
is remembered, and marks the key as seen, which confirms that a message really reached the chat.

A note the service writes on a lead comes back as Kommo's `note_lead` webhook: remembered by its lead
and text (whitespace-insensitive), it is never read as a salesperson's command, even when it quotes one.

A sent message has two keys, by conversation and by contact, because Kommo may report the bot's
message without its lead. A template message's text is Meta's, not ours, so its run is remembered
per contact instead: an unattributed outgoing message on that contact soon after is our template.
"""

from __future__ import annotations

from sales_assistant.models.kommo_webhook import ChatMessage, LeadChange
from sales_assistant.observability import fingerprint


def sent_message_echo_keys(conversation_id: str, contact_id: int, text: str) -> list[str]:
    """Keys to remember before the service sends `text` to a contact's chat."""
    digest = fingerprint(text.strip())
    return [f"echo:msg:{conversation_id}:{digest}", f"echo:msg:contact:{contact_id}:{digest}"]


def template_echo_key(contact_id: int) -> str:
    """Key to remember before the service sends a template (its text is not known here)."""
    return f"echo:template:contact:{contact_id}"


def outgoing_echo_keys(message: ChatMessage, *, attributed: bool) -> list[str]:
    """Keys under which an outgoing message reported by Kommo may be the service's own. A message a
    Kommo user wrote is never taken for our template."""
    digest = fingerprint(message.text.strip())
    keys = [f"echo:msg:{message.conversation_id}:{digest}", f"echo:msg:contact:{message.contact_id}:{digest}"]
    return keys if attributed else [*keys, template_echo_key(message.contact_id)]


def note_echo_key(lead_id: int, text: str) -> str:
    """Key of a note on a lead: remembered before the service writes it, looked up when Kommo reports a note."""
    return f"echo:note:lead:{lead_id}:{fingerprint(' '.join(text.split()))}"


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
