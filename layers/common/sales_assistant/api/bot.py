"""Bot state routes (operator token): GET /bot/{contact_id}, POST /bot/{contact_id}/pause|resume,
GET /bot?status=paused."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, cast

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from pydantic import ConfigDict, Field, ValidationError

from sales_assistant.api.http import OPERATOR_ONLY, PathId, bearer_route, describe_problems
from sales_assistant.composition import takeover_service
from sales_assistant.config import get_settings
from sales_assistant.errors import BadRequest
from sales_assistant.models import KommoId, Model
from sales_assistant.models.bot_state import BotState, ChangeReason
from sales_assistant.services.takeover import Actor

router = Router()


class BotStatusFilter(StrEnum):
    """What GET /bot?status= lists: the contacts whose bot is paused now (the only listing)."""

    PAUSED = "paused"


class ChangeRequest(Model):
    """Optional body of pause/resume: who asks, and the lead to note the change on."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field("admin", min_length=1, max_length=80)
    lead_id: KommoId | None = None


@router.get("/bot/<contact_id>", summary="The bot state of a contact", **bearer_route("bot", scopes=OPERATOR_ONLY))
def get_state(contact_id: PathId) -> dict[str, Any]:
    """Active, or paused (by whom, since, why, until when)."""
    service = takeover_service(get_settings())
    return _view(service.state(contact_id))


@router.post(
    "/bot/<contact_id>/pause",
    summary="Pause the bot for a contact",
    **bearer_route("bot", 400, 502, scopes=OPERATOR_ONLY),
)
def pause(contact_id: PathId) -> dict[str, Any]:
    """Pause the bot (a note goes on the lead when one is known)."""
    return _change(contact_id, takeover_service(get_settings()).pause)


@router.post(
    "/bot/<contact_id>/resume",
    summary="Resume the bot for a contact",
    **bearer_route("bot", 400, 502, scopes=OPERATOR_ONLY),
)
def resume(contact_id: PathId) -> dict[str, Any]:
    """Resume the bot (a note goes on the lead when one is known)."""
    return _change(contact_id, takeover_service(get_settings()).resume)


def _change(contact_id: int, change: Callable[..., BotState]) -> dict[str, Any]:
    request = _change_request()
    event = cast(APIGatewayProxyEventV2, router.current_event)
    change_id = f"admin:{event.request_context.request_id}"
    return _view(change(contact_id, Actor(None, request.by), ChangeReason.ADMIN_API, change_id, request.lead_id))


@router.get("/bot", summary="Contacts with the bot paused", **bearer_route("bot", scopes=OPERATOR_ONLY))
def list_paused(status: Annotated[BotStatusFilter, Query()] = BotStatusFilter.PAUSED) -> dict[str, Any]:
    """Every contact for which the bot is paused now."""
    return {"status": status, "contacts": [_view(state) for state in takeover_service(get_settings()).paused()]}


def _view(state: BotState) -> dict[str, Any]:
    service = takeover_service(get_settings())
    return {
        **state.model_dump(mode="json", exclude={"last_change_id", "version"}),
        "description": service.describe(state),
    }


def _change_request() -> ChangeRequest:
    try:
        body = router.current_event.decoded_body
    except ValueError:  # not base64, or not UTF-8
        raise BadRequest("the body is not valid base64/UTF-8", code="invalid_body") from None
    if not body:
        return ChangeRequest()
    try:
        return ChangeRequest.model_validate_json(body)
    except ValidationError as error:
        raise BadRequest(describe_problems(error.errors(include_input=False)), code="invalid_body") from None
