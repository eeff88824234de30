"""Proactive triggers (operator token): POST /triggers from site forms and your own integrations,
GET /triggers?status=deferred."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from sales_assistant.api.http import OPERATOR_ONLY, bearer_route, parsed_body
from sales_assistant.composition import proactive_outreach
from sales_assistant.config import get_settings
from sales_assistant.errors import NotFound
from sales_assistant.models.trigger import Trigger, TriggerRequest

router = Router()
MAX_FIELDS_SHOWN = 40


class TriggerStatusFilter(StrEnum):
    """What GET /triggers?status= lists: the triggers waiting for their salesperson's hours (the only listing)."""

    DEFERRED = "deferred"


@router.post(
    "/triggers",
    summary="A lead should get its first message",
    description='Body: {"lead_id": 123, "trigger": "form|material|meeting_request", "data": {...}}. '
    "202 with the trigger id; the message goes out within the salesperson's hours, once per lead and trigger.",
    **bearer_route("triggers", 404, 502, scopes=OPERATOR_ONLY, success=202),
)
def post_trigger() -> Response[dict[str, str]]:
    """Queue a trigger; 404 for a lead Kommo does not know, 422 for a bad body."""
    request = parsed_body(TriggerRequest, router.current_event.body)
    try:
        trigger_id = proactive_outreach(get_settings()).accept(request)
    except NotFound:
        raise NotFound(f"lead {request.lead_id} does not exist in Kommo", code="unknown_lead") from None
    return Response(202, content_types.APPLICATION_JSON, {"trigger_id": trigger_id, "status": "accepted"})


@router.get(
    "/triggers",
    summary="Triggers waiting for their salesperson's hours",
    **bearer_route("triggers", scopes=OPERATOR_ONLY),
)
def list_triggers(status: Annotated[TriggerStatusFilter, Query()] = TriggerStatusFilter.DEFERRED) -> dict[str, Any]:
    """Deferred triggers, soonest first (their data stays out: it may hold personal data)."""
    return {"status": status, "triggers": [_view(trigger) for trigger in proactive_outreach(get_settings()).deferred()]}


def _view(trigger: Trigger) -> dict[str, Any]:
    return {
        "trigger_id": trigger.trigger_id,
        "lead_id": trigger.lead_id,
        "trigger": trigger.kind,
        "vendor_id": trigger.vendor_id,
        "routing": trigger.routing,
        "reason": trigger.reason,  # outside_hours, or kill_switch / salesperson_paused while the switch holds it
        "due_at": datetime.fromtimestamp(trigger.due_at, UTC).isoformat(),
        "sources": trigger.sources,
        "data_fields": sorted(trigger.data)[:MAX_FIELDS_SHOWN],
    }
