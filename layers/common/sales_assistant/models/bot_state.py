"""The bot's state for one contact: active, or paused by a person (or the AI) until resumed."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict

from sales_assistant.models import Model

RECENT_CHANGES = 50


class BotStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class ChangeReason(StrEnum):
    """Why the state last changed."""

    COMMAND = "command"
    MANUAL_REPLY = "manual_reply"
    AI_HANDOVER = "ai_handover"
    ADMIN_API = "admin_api"
    AUTO_RESUME = "auto_resume"


class BotState(Model):
    """One item of the bot-state table. A contact without an item is active."""

    model_config = ConfigDict(frozen=True)

    contact_id: int
    status: BotStatus = BotStatus.ACTIVE
    by_user_id: int | None = None
    by_name: str = ""
    since: str = ""  # ISO 8601, UTC
    reason: ChangeReason | None = None
    resume_at: int | None = None  # unix time; None = no automatic resume
    escalate_at: int | None = None  # a handover nobody answered yet: its manager's task falls due then (unix time)
    lead_id: int | None = None  # the lead notes about this contact go to
    last_change_id: str = ""  # the command or request that made the last change
    recent_change_ids: list[str] = []  # the last RECENT_CHANGES change ids: a redelivery of any is a no-op
    version: int = 0

    def applied(self, change_id: str) -> bool:
        """True when this change (a Kommo message id, an admin request id) was applied already."""
        return change_id == self.last_change_id or change_id in self.recent_change_ids

    def paused_at(self, now: float) -> bool:
        """True while the bot must stay silent for this contact."""
        return self.status == BotStatus.PAUSED and (self.resume_at is None or self.resume_at > now)
