"""The salespeople cache (`vendor` in the routes, the tables and the n8n contract): what Kommo says of a
user, plus the local profile Kommo lacks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from sales_assistant.models import KommoId, Model

_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$")  # within one day
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_BOOKED_MINUTES = 240  # a meeting plus its buffer: 48 five-minute grains, so a reschedule fits one transaction


class SalespersonProfile(Model):
    """Fields that do not come from Kommo: set through PUT /vendors/{id}/profile (`make import-profiles` puts
    config/vendor-profiles.json), or from the profile config in SSM (VENDOR_PROFILES_PARAMETER)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    areas: list[str] = []
    timezone: str = "America/Sao_Paulo"
    working_hours: dict[str, list[str]] = Field(default_factory=dict, description='e.g. {"mon": ["09:00-12:00"]}')
    meeting_minutes: int = Field(default=30, ge=5, le=MAX_BOOKED_MINUTES)
    buffer_minutes: int = Field(default=0, ge=0, le=120, description="kept free after each meeting")
    min_notice_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60, description="earliest booking from now")
    horizon_days: int = Field(default=30, ge=1, le=365, description="latest booking from now")
    holidays_country: str = Field(default="BR", pattern=r"^([A-Z]{2})?$", description="no meetings on its holidays")
    holidays_subdivision: str = Field(default="", max_length=8, description='regional holidays too, e.g. "SP"')
    manager_id: KommoId | None = Field(default=None, description="the Kommo user tasked when a handover waits too long")
    agenda_table: str = ""
    is_test: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, timezone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {timezone[:40]!r} (an IANA name, e.g. America/Sao_Paulo)") from None
        return timezone

    @field_validator("working_hours")
    @classmethod
    def _valid_hours(cls, hours: dict[str, list[str]]) -> dict[str, list[str]]:
        """Each problem at its own place (`working_hours.<day>`, `working_hours.<day>.<n>`): a 422 names it."""
        problems = [
            InitErrorDetails(
                type=PydanticCustomError("working_hours", "{problem}", {"problem": problem}), loc=loc, input=value
            )
            for loc, value, problem in _hours_problems(hours)
        ]
        if problems:
            raise ValidationError.from_exception_data("working_hours", problems)
        return hours

    @model_validator(mode="after")
    def _meeting_fits(self) -> SalespersonProfile:
        if self.meeting_minutes + self.buffer_minutes > MAX_BOOKED_MINUTES:
            raise ValueError(f"meeting_minutes + buffer_minutes must be at most {MAX_BOOKED_MINUTES}")
        return self


def _hours_problems(hours: dict[str, list[str]]) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """(where, what was given, what is wrong) of each unknown weekday and each span not within its day."""
    for day, ranges in hours.items():
        if day not in WEEKDAYS:
            yield (day,), day, f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})"
            continue
        for index, hour_range in enumerate(ranges):
            problem = _span_problem(day, hour_range)
            if problem:
                yield (day, index), hour_range, problem


def _span_problem(day: str, hour_range: str) -> str:
    """What is wrong with one span of `day` ("" when it is within the day)."""
    if not _HOURS.match(hour_range):
        return f"{day}: {hour_range!r} is not HH:MM-HH:MM within the day (00:00 to 24:00)"
    start, end = hour_range.split("-")
    if end <= start:  # zero-padded HH:MM sort as text
        return f"{day}: {hour_range!r} does not end after it starts; {_split_hint(day, start, end)}"
    return ""


def _split_hint(day: str, start: str, end: str) -> str:
    """How to write a span past midnight: up to 24:00 on its day, the rest from 00:00 on the next."""
    next_day = WEEKDAYS[(WEEKDAYS.index(day) + 1) % len(WEEKDAYS)]
    rest = f' and {next_day}: ["00:00-{end}"]' if end != "00:00" else ""
    return f'a span past midnight goes on two days: {day}: ["{start}-24:00"]{rest}'


class SalespersonProfiles(Model):
    """The profile config: Kommo user id -> profile."""

    model_config = ConfigDict(extra="forbid")

    vendors: dict[int, SalespersonProfile] = {}  # the profiles file's key (config/vendor-profiles.json)


ProfileSource = Literal["config", "api"]
"""Where a stored profile comes from: `api` once set through PUT /vendors/{id}/profile, which the profile
config never overwrites; `config` otherwise (the profile config, VENDOR_PROFILES_PARAMETER, or the defaults)."""


class Salesperson(Model):
    """A cached salesperson. `active` is False for users who left Kommo (their history is kept)."""

    model_config = ConfigDict(extra="ignore")

    vendor_id: int
    name: str = ""
    email: str = ""
    active: bool = True
    is_admin: bool = False
    group_id: int | None = None
    role_id: int | None = None
    synced_at: int | None = None
    left_at: int | None = None
    profile: SalespersonProfile = SalespersonProfile()
    profile_source: ProfileSource = "config"
