"""The sales funnel: one counted event (a lead in, a first message, a reply, a booking...) and the daily
aggregates the report reads, per day, salesperson and trigger kind."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from sales_assistant.models import Model

CounterName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,79}$")]
# what opened the conversation: a trigger kind, or "inbound" when the client wrote first
FunnelTrigger = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class FunnelEvent(Model):
    """One moment of one lead, counted at most once per `once_key` (e.g. f"replied:{lead_id}"): all its counters
    together or none (a delivered message is its category's count and what WhatsApp bills for it)."""

    day: date  # the day in the account's time zone (ACCOUNT_TIMEZONE)
    salesperson_id: int = Field(0, ge=0)  # 0: none
    trigger: FunnelTrigger = "inbound"
    # name: amount (negative: a count taken back, a meeting counted held then marked missed)
    counters: dict[CounterName, int] = Field(min_length=1, max_length=20)
    lead_id: int = Field(ge=0)
    once_key: str = Field(min_length=1, max_length=200)


class FunnelRow(Model):
    """A day's counters of one salesperson and trigger kind."""

    day: date
    salesperson_id: int = 0
    trigger: str = "inbound"
    counters: dict[str, int] = Field(default_factory=dict)
