"""A contact's consent and the erasure of their data (operator token): GET /contacts/{contact_id}/consent,
DELETE /contacts/{contact_id}/data (LGPD art. 18)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from sales_assistant.api.http import OPERATOR_ONLY, PathId, bearer_route
from sales_assistant.composition import consent_service, contact_erasure
from sales_assistant.config import get_settings
from sales_assistant.models.consent import no_record_view

router = Router()


@router.get(
    "/contacts/<contact_id>/consent",
    summary="Whether the assistant may write first to a contact",
    description="The contact's last word: `opted_out` (no first message, no follow-up; replies to their own "
    "messages go on), `opted_in` (they wrote VOLTAR after an opt-out) or `none`; when (`at`, UTC) and their words. "
    "After an erasure an opt-out is kept without the words (`erased_at`).",
    **bearer_route("contacts", scopes=OPERATOR_ONLY),
)
def get_consent(contact_id: PathId) -> dict[str, Any]:
    record = consent_service(get_settings()).record(contact_id)
    return record.view() if record else no_record_view(contact_id)


@router.delete(
    "/contacts/<contact_id>/data",
    summary="Erase what the service keeps about a contact (LGPD)",
    description="Deletes the contact's conversations (turns, buffer, the lead and contact kept from Kommo), their "
    "leads' first-message triggers, their bot state and the cached answers holding their conversations' texts, "
    "and asks n8n (kind `erase`, signed) to delete its chat memory of their conversations; answers what was "
    "erased where. An opt-out is kept, reduced to the contact id and its time. n8n failing erases nothing (502: "
    "try again). Kommo's own records are not touched.",
    **bearer_route("contacts", 502, scopes=OPERATOR_ONLY),
)
def erase_data(contact_id: PathId) -> dict[str, Any]:
    return contact_erasure(get_settings()).erase(contact_id).model_dump(mode="json")
