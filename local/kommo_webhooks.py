"""Kommo's webhook bodies (form-urlencoded, as Kommo posts them), built from the sandbox's records: a
chat message (the client's or a salesperson's), a lead added, a lead's status or responsible changed, a note
added to a lead. Used by the sandbox, which posts them to the service like Kommo does, by the tests and by the
simulation."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from local.kommo_seed import ACCOUNT_ID, AREA_FIELD_ID, SUBDOMAIN

ACCOUNT = [("account[subdomain]", SUBDOMAIN), ("account[id]", str(ACCOUNT_ID))]
CLIENT_AUTHOR = {"author[id]": "client-author", "author[type]": "external", "author[name]": "Cliente"}
# `note_type` codes of the `note_lead` webhook: 4, a common note, is documented (../shared/kommo-api.md); 25, a
# system note, is assumed for the service messages the API adds
NOTE_TYPE_CODES = {"common": 4, "service_message": 25, "extended_service_message": 25}


def salesperson_author(user_id: int, name: str) -> dict[str, str]:
    """The author of a message a salesperson typed in Kommo's chat."""
    return {"author[type]": "internal", "author[user_id]": str(user_id), "author[name]": name}


def chat_body(
    message_id: str,
    text: str,
    direction: str,
    author: dict[str, str],
    *,
    lead: int,
    contact: int,
    created_at: int | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> str:
    """A `message[add]` body: `direction` incoming (the client) or outgoing (a salesperson, the bot)."""
    rows = [
        ("id", message_id),
        ("chat_id", f"chat-{lead}"),
        ("contact_id", str(contact)),
        ("text", text),
        ("created_at", str(created_at or int(time.time()))),
        ("entity_type", "lead"),
        ("entity_id", str(lead)),
        ("type", direction),
        *author.items(),
        ("origin", "waba"),
        *(extra or []),
    ]
    fields = []
    for key, value in rows:
        head = key.split("[", 1)[0]
        fields.append((f"message[add][0][{head}]{key[len(head) :]}", value))
    return urlencode(ACCOUNT + fields)


def lead_change_body(kind: str, lead: dict[str, Any], **old: int) -> str:
    """Kommo's `leads[status]` or `leads[responsible]` webhook body for a lead as it is now."""
    prefix = f"leads[{kind}][0]"
    keys = ("id", "name", "status_id", "pipeline_id", "responsible_user_id")
    rows = [(f"{prefix}[{key}]", str(lead[key])) for key in keys] + [(f"{prefix}[{k}]", str(v)) for k, v in old.items()]
    return urlencode(ACCOUNT + rows)


def lead_added_body(lead: dict[str, Any]) -> str:
    """A `leads[add]` body for a lead of the sandbox (its area as the select field Kommo sends)."""
    prefix = "leads[add][0]"
    rows = [
        (f"{prefix}[{key}]", str(lead[key]))
        for key in ("id", "name", "status_id", "pipeline_id", "responsible_user_id", "created_at")
    ]
    rows += [(f"{prefix}[account_id]", str(ACCOUNT_ID)), (f"{prefix}[created_user_id]", "0")]
    areas = [f["values"][0]["value"] for f in lead.get("custom_fields_values") or [] if f["field_id"] == AREA_FIELD_ID]
    for area in areas[:1]:
        field = f"{prefix}[custom_fields][0]"
        rows += [(f"{field}[id]", str(AREA_FIELD_ID)), (f"{field}[name]", "Área"), (f"{field}[values][0][value]", area)]
    return urlencode(ACCOUNT + rows)


def note_body(
    note_id: int, text: str, *, lead: int, created_by: int, note_type: str = "common", created_at: int | None = None
) -> str:
    """A `leads[note]` body (the `note_lead` event): a note added to a lead by a Kommo user (`created_by`; the
    API's notes are the token's user's)."""
    note = {
        "id": note_id,
        "text": text,
        "note_type": NOTE_TYPE_CODES[note_type],
        "element_id": lead,
        "element_type": 2,
        "created_by": created_by,
        "created_at": created_at or int(time.time()),
    }
    return urlencode(ACCOUNT + [(f"leads[note][0][note][{key}]", str(value)) for key, value in note.items()])
