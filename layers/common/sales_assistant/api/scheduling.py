"""Scheduling routes (bearer), the n8n AI agent's tools: availability, holds, appointments. Both tokens take them:
the operator token for any lead, the n8n token only for the lead n8n is answering now (services/n8n_token.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import AwareDatetime

from sales_assistant.api.http import AGENT_TOOLS, Body, PathId, Scope, bearer_route, parsed_body, token_scope
from sales_assistant.composition import conversation_repository, scheduling_service
from sales_assistant.config import get_settings
from sales_assistant.models import MAX_KOMMO_ID
from sales_assistant.models.appointment import BookingRequest, HoldRequest, RescheduleRequest
from sales_assistant.services.n8n_token import ConversationScope

router = Router()
AppointmentId = Annotated[str, Path(pattern=r"^apt-\d{1,15}-[0-9a-f]{12}$", description="an appointment id")]


@router.get(
    "/vendors/<vendor_id>/availability",
    summary="A salesperson's free slots",
    description="ISO 8601 with offset in and out; `from` defaults to now, `to` to a week later (31 days at most). "
    "With `lead_id`, that lead's own holds show as free.",
    **bearer_route("scheduling", 404, scopes=AGENT_TOOLS),
)
def availability(
    vendor_id: PathId,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    lead_id: Annotated[int | None, Query(gt=0, lt=MAX_KOMMO_ID)] = None,
) -> dict[str, Any]:
    """{"vendor_id", "timezone", "slots": [{"start", "end"}]}."""
    return scheduling_service(get_settings()).availability(vendor_id, start, end, lead_id)


@router.post(
    "/holds",
    summary="Keep a slot for a lead a few minutes",
    description='Body: {"vendor_id", "lead_id", "start"}. 201 with the hold (the same one when the lead asks for its '
    "held slot again); 409 with nearest_free when taken, lead_has_hold with the lead's live hold (one at a time), or "
    "lead_has_appointment with its appointments to come (LEAD_APPOINTMENTS_MAX).",
    **bearer_route("scheduling", 404, 409, scopes=AGENT_TOOLS, success=201),
)
def post_hold() -> Response[dict[str, Any]]:
    request = _body(HoldRequest)
    _n8n_in_its_conversation(request.lead_id, request.vendor_id)
    return _json(201, scheduling_service(get_settings()).hold(request))


@router.post(
    "/appointments",
    summary="Book a slot",
    description='Body: {"vendor_id", "lead_id", "start", "idempotency_key"?, "hold_id"?}. 201 with the appointment '
    "(for a repeated idempotency_key the one it booked, as it is now, or a new one if that was cancelled; a live "
    "hold_id keeps its slot until it expires, notice included); 409 with nearest_free when the slot is taken, or "
    "lead_has_appointment with the lead's appointments to come when it has LEAD_APPOINTMENTS_MAX (reschedule one); 422 "
    "with the reason (outside_hours, holiday, in_the_past, too_soon, beyond_horizon) when it cannot be booked, or "
    "idempotency_key_reused when the key booked another start.",
    **bearer_route("scheduling", 404, 409, 502, scopes=AGENT_TOOLS, success=201),
)
def post_appointment() -> Response[dict[str, Any]]:
    request = _body(BookingRequest)
    _n8n_in_its_conversation(request.lead_id, request.vendor_id)
    return _json(201, scheduling_service(get_settings()).book(request).view())


@router.get(
    "/appointments/<appointment_id>", summary="An appointment", **bearer_route("scheduling", 404, scopes=AGENT_TOOLS)
)
def get_appointment(appointment_id: AppointmentId) -> dict[str, Any]:
    appointment = scheduling_service(get_settings()).get(appointment_id)
    _n8n_in_its_conversation(appointment.lead_id)
    return appointment.view()


@router.delete(
    "/appointments/<appointment_id>",
    summary="Cancel an appointment (frees its slot)",
    **bearer_route("scheduling", 404, 409, scopes=AGENT_TOOLS),
)
def cancel_appointment(appointment_id: AppointmentId) -> dict[str, Any]:
    _n8n_in_the_appointments_conversation(appointment_id)
    return scheduling_service(get_settings()).cancel(appointment_id).view()


@router.post(
    "/appointments/<appointment_id>/reschedule",
    summary="Move an appointment",
    description='Body: {"start"}. The new slot is booked and the old one freed together, or nothing changes.',
    **bearer_route("scheduling", 404, 409, scopes=AGENT_TOOLS),
)
def reschedule_appointment(appointment_id: AppointmentId) -> dict[str, Any]:
    request = _body(RescheduleRequest)
    _n8n_in_the_appointments_conversation(appointment_id)
    return scheduling_service(get_settings()).reschedule(appointment_id, request).view()


def _n8n_in_the_appointments_conversation(appointment_id: str) -> None:
    """With the n8n token, 404 for an unknown appointment and 403 unless n8n is answering its lead now."""
    if token_scope(router.current_event) is Scope.N8N:
        _n8n_in_its_conversation(scheduling_service(get_settings()).get(appointment_id).lead_id)


def _n8n_in_its_conversation(lead_id: int, vendor_id: int | None = None) -> None:
    """With the n8n token, 403 unless n8n is answering this lead now (and `vendor_id` is its salesperson);
    the operator token acts for any lead."""
    if token_scope(router.current_event) is Scope.N8N:
        from sales_assistant.adapters.kommo import kommo_client  # the Kommo models: this path only

        settings = get_settings()
        ConversationScope(conversation_repository(settings), kommo_client(settings)).check(lead_id, vendor_id)


def _body(model: type[Body]) -> Body:
    return parsed_body(model, router.current_event.body)


def _json(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status, content_types.APPLICATION_JSON, body)
