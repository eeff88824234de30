"""A lead's follow-up ladder: the messages that go out when the assistant spoke last and the client went quiet."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from sales_assistant.models import Model

FollowUpStatus = Literal["scheduled", "stopped", "finished"]
LadderKind = Literal["default", "reply", "form", "material", "meeting_request"]  # what opened the conversation
Duration = Annotated[str, Field(pattern=r"^\d{1,4}[smhd]$")]  # 90m, 2h, 1d...
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_STEPS = 10


def seconds(duration: str) -> int:
    """A duration of FOLLOW_UP_OFFSETS (`2h`, `1d`, `45m`, `30s`) in seconds."""
    return int(duration[:-1]) * UNIT_SECONDS[duration[-1]]


class Ladders(Model):
    """FOLLOW_UP_OFFSETS: per ladder kind (`reply` for a conversation the client began, else the trigger that
    opened it; `default` for any kind not given), when each follow-up is due after the assistant's unanswered
    message, in increasing order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ladders: dict[LadderKind, Annotated[list[Duration], Field(max_length=MAX_STEPS)]]

    @field_validator("ladders")
    @classmethod
    def _increasing(cls, ladders: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, offsets in ladders.items():
            steps = [seconds(offset) for offset in offsets]
            if steps != sorted(set(steps)):
                raise ValueError(f"{kind}: each follow-up must come later than the one before")
        return ladders

    @classmethod
    def parse(cls, text: str) -> dict[str, tuple[int, ...]]:
        """Ladder kind -> seconds after the assistant's message, from FOLLOW_UP_OFFSETS (raises ValueError)."""
        parsed = cls.model_validate({"ladders": json.loads(text)})
        return {kind: tuple(seconds(offset) for offset in offsets) for kind, offsets in parsed.ladders.items()}


class SentFollowUp(Model):
    attempt: int
    at: int


class FollowUp(Model):
    """The one follow-up record of a lead: the ladder scheduled now, or how the last one ended."""

    model_config = ConfigDict(extra="ignore")

    lead_id: int
    contact_id: int = 0  # the contact the assistant wrote to
    kind: str = "reply"  # the ladder's kind (LadderKind)
    status: FollowUpStatus
    attempt: int = 0  # scheduled: the follow-up due next (1 = the first); otherwise the last one due
    offsets: list[int] = []  # seconds after `anchor_at` at which each follow-up is due (fixed at the start)
    anchor_at: int = 0  # when the assistant's message the client has not answered went out
    due_at: int = 0  # scheduled: when the next follow-up goes out (moved to the salesperson's next opening)
    reason: str = ""  # stopped or finished: why; scheduled: why `due_at` moved (outside_hours)
    changed_at: int = 0
    sent: list[SentFollowUp] = []  # this ladder's follow-ups that went out
    sent_total: int = 0  # every follow-up the lead got, whatever the ladder (at most FOLLOW_UP_MAX_PER_LEAD)
    version: int = 0

    @property
    def key(self) -> str:
        """What makes the follow-up due now once-only: the lead, its ladder and the attempt."""
        return f"follow-up:{self.lead_id}:{self.anchor_at}:{self.attempt}"

    def is_due(self, anchor_at: int, attempt: int, now: float) -> bool:
        """This ladder's follow-up `attempt` is still the one scheduled, and its time came."""
        return (
            self.status == "scheduled"
            and (self.anchor_at, self.attempt) == (anchor_at, attempt)
            and (self.due_at <= now)
        )
