"""Proactive triggers: a lead filled a form, downloaded material or asked for a meeting."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, field_validator

from sales_assistant.models import KommoId, Model

if TYPE_CHECKING:
    from sales_assistant.models.kommo import KommoLead

TriggerKind = Literal["form", "material", "meeting_request"]
TriggerStatus = Literal["pending", "deferred", "sent", "skipped"]
MAX_DATA_BYTES = 8 * 1024
WON, LOST = 142, 143


def _size(data: dict[str, Any]) -> int:
    return len(json.dumps(data, ensure_ascii=False, default=str).encode())


def _bounded(data: dict[str, Any]) -> dict[str, Any]:
    if _size(data) > MAX_DATA_BYTES:
        raise ValueError(f"data is over {MAX_DATA_BYTES} bytes")
    return data


def capped_data(*parts: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The keys of `parts` in order (a later value replacing an earlier one) while the whole stays within
    MAX_DATA_BYTES: what a lead sent first is never pushed out. Returns the data and how many keys or
    new values did not fit. (A dict's JSON is the sum of its one-key dicts' JSON: braces and ", " even out.)"""
    data: dict[str, Any] = {}
    sizes: dict[str, int] = {}
    total = dropped = 0
    for key, value in (item for part in parts for item in part.items()):
        size = _size({key: value})
        grown = total - sizes.get(key, 0) + size
        if grown > MAX_DATA_BYTES:
            dropped += 1
            continue
        data[key], sizes[key], total = value, size, grown
    return data, dropped


class TriggerRequest(Model):
    """`POST /triggers`: a site form or n8n says a lead should get its first message."""

    model_config = ConfigDict(extra="forbid")

    lead_id: KommoId
    trigger: TriggerKind
    data: dict[str, Any] = Field(default_factory=dict, description="what the lead sent (form fields, material)")

    @field_validator("data")
    @classmethod
    def _data_is_small(cls, data: dict[str, Any]) -> dict[str, Any]:
        return _bounded(data)


class TriggerRule(Model):
    """One TRIGGER_RULES entry: a new Kommo lead matching every given condition is a trigger of `kind`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TriggerKind
    pipeline_id: int | None = None
    status_id: int | None = None
    tag: str | None = None
    source: str | None = None  # an unsorted lead's source (e.g. a site form's name)
    field_id: int | None = None
    field_value: str | None = None

    def matches(self, lead: KommoLead, source: str = "") -> bool:
        """True when the lead meets every condition this rule sets."""
        values = {
            str(value.value)
            for field in lead.custom_fields_values or []
            if field.field_id == self.field_id
            for value in field.values
        }
        return (
            (self.pipeline_id is None or lead.pipeline_id == self.pipeline_id)
            and (self.status_id is None or lead.status_id == self.status_id)
            and (self.tag is None or self.tag.casefold() in {tag.name.casefold() for tag in lead.embedded.tags})
            and (self.source is None or self.source.casefold() == source.casefold())
            and (self.field_id is None or self.field_value is None or self.field_value in values)
        )


def trigger_kind(rules: list[TriggerRule], lead: KommoLead, source: str = "") -> TriggerKind | None:
    """The kind of the first rule the lead matches (None: the lead is not a trigger)."""
    return next((rule.kind for rule in rules if rule.matches(lead, source)), None)


class Trigger(Model):
    """The stored trigger: one per lead and kind (a repeat adds its data, never a second message)."""

    model_config = ConfigDict(extra="ignore")

    trigger_id: str
    lead_id: int
    kind: TriggerKind
    data: dict[str, Any] = {}
    sources: list[str] = []
    status: TriggerStatus = "pending"
    reason: str = ""
    vendor_id: int | None = None  # the salesperson chosen for the first message (decided once)
    routing: str = ""  # why them: responsible, area_mismatch, ... (the note on the lead says it)
    due_at: int = 0  # deferred: when the salesperson's hours open (or now, while the kill switch holds it)
    created_at: int
    lead_created_at: int | None = None
    sent_at: int | None = None
    version: int = 0


def trigger_id(lead_id: int, kind: str) -> str:
    """The one id of a lead's trigger of a kind."""
    return f"{lead_id}-{kind}"
