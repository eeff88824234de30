"""`GET /follow-ups?lead_id=` (operator token): a lead's follow-ups, what is scheduled and why they stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from sales_assistant.api.http import OPERATOR_ONLY, bearer_route
from sales_assistant.composition import follow_up_ladders
from sales_assistant.config import get_settings
from sales_assistant.models import MAX_KOMMO_ID
from sales_assistant.models.follow_up import FollowUp

router = Router()


@router.get(
    "/follow-ups",
    summary="A lead's follow-ups: what is scheduled, and why they stopped",
    description="status: none (the lead never had any), scheduled (`next` is due at `due_at`; `reason` "
    "outside_hours when it waits for the salesperson's next opening), stopped (for good: `reason` client_replied, "
    "salesperson_message, takeover, lead_closed, status_left, booked, opted_out, kill_switch, salesperson_paused, "
    "window_closed, ...) or finished (ladder_done, max_reached).",
    **bearer_route("follow-ups", scopes=OPERATOR_ONLY),
)
def get_follow_ups(lead_id: Annotated[int, Query(gt=0, lt=MAX_KOMMO_ID)]) -> dict[str, Any]:
    """The lead's follow-up record (no message text: the notes on the lead have it)."""
    settings = get_settings()
    ladder = follow_up_ladders(settings).get(lead_id)
    answer: dict[str, Any] = {"lead_id": lead_id, "max_per_lead": settings.follow_up_max_per_lead}
    return answer | (_view(ladder) if ladder else {"status": "none", "sent_total": 0})


def _view(ladder: FollowUp) -> dict[str, Any]:
    scheduled = ladder.status == "scheduled"
    return {
        "status": ladder.status,
        "reason": ladder.reason,
        "kind": ladder.kind,
        "ladder_hours": [round(offset / 3600, 2) for offset in ladder.offsets],
        "last_message_at": _iso(ladder.anchor_at),
        "next": ladder.attempt if scheduled else None,
        "due_at": _iso(ladder.due_at) if scheduled else None,
        "sent": [{"attempt": sent.attempt, "at": _iso(sent.at)} for sent in ladder.sent],
        "sent_total": ladder.sent_total,
        "changed_at": _iso(ladder.changed_at),
    }


def _iso(unix: int) -> str | None:
    return datetime.fromtimestamp(unix, UTC).isoformat() if unix else None
