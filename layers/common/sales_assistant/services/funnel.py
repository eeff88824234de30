"""The sales funnel: what the flows count, once per lead, on the account's days (FunnelCounts).

Counting never breaks a flow: a count that fails is logged (the counter's name, no personal data) and
metered (FunnelCountsFailed), and the flow goes on."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sales_assistant import timing
from sales_assistant.models.funnel import FunnelEvent
from sales_assistant.observability import count, logger

if TYPE_CHECKING:
    from sales_assistant.services.ports.storage import FunnelCounts

INBOUND = "inbound"  # the trigger kind of a conversation the client began


class Funnel:
    """The funnel's steps, each counted once per lead (or per lead and meeting); `counts` None: nothing counted."""

    def __init__(self, counts: FunnelCounts | None, timezone: str) -> None:
        self._counts = counts
        self._zone = ZoneInfo(timezone)

    def add(
        self, name: str, lead_id: int, salesperson_id: int | None, trigger: str | None, once: str = "", amount: int = 1
    ) -> bool:
        """Count `name` for the lead today, once per `name:lead_id` (and `once`, when given); True when counted."""
        if self._counts is None:
            return False
        today = datetime.fromtimestamp(timing.now(), self._zone).date()
        try:
            event = FunnelEvent(
                day=today,
                salesperson_id=salesperson_id or 0,
                trigger=trigger or INBOUND,
                name=name,
                lead_id=lead_id,
                once_key=":".join(part for part in (name, str(lead_id), once) if part),
                amount=amount,
            )
            counted = self._counts.count(event)
        except Exception:
            logger.exception("funnel count failed", extra={"counter": name})
            count("FunnelCountsFailed")
            return False
        return counted
