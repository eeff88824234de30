"""`POST /messages` (operator token): a text to a lead's WhatsApp chat through Kommo (no shipped n8n workflow
sends one: a workflow of your own that does needs the operator token)."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from sales_assistant.api.http import OPERATOR_ONLY, bearer_route, parsed_body
from sales_assistant.composition import messages_to_clients
from sales_assistant.config import get_settings
from sales_assistant.models.message import MessageRequest

router = Router()


@router.post(
    "/messages",
    summary="Send a text to a lead's WhatsApp chat",
    description='Body: {"lead_id": 123, "text": "...", "idempotency_key": "optional"}. 201 once delivered '
    "(the same key, or the same text without a key, answers 201 again and sends nothing); 409 opted_out (the "
    "contact asked for no more messages: opted_out_at says when; nothing sent until they opt back in), "
    "salesperson_has_chat, busy (retry in seconds), outgoing_stopped or in_progress; 422 window_closed "
    "(24 h since the client wrote: only templates go out), no_contact or idempotency_key_reused (the key came "
    "with another text: nothing sent); 404 unknown_lead.",
    **bearer_route("messages", 404, 409, 502, scopes=OPERATOR_ONLY, success=201),
)
def post_message() -> Response[dict[str, object]]:
    """Deliver n8n's text through the shared delivery path, noted on the lead."""
    request = parsed_body(MessageRequest, router.current_event.body)
    sent = messages_to_clients(get_settings()).send(request)
    delivered_at = datetime.fromtimestamp(int(sent["delivered_at"]), UTC).isoformat()
    return Response(
        201, content_types.APPLICATION_JSON, {"message_key": sent["message_key"], "delivered_at": delivered_at}
    )
