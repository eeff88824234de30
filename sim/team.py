"""The sales team and the clients of a simulated world, drawn from the seed: salespeople with profiles
(areas, working hours in two time zones, one with DST, national and regional holidays) and leads, each
with its contact (some without a phone)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
AREAS = ("Auto", "Imóveis", "Serviços")
SALESPEOPLE: dict[int, dict[str, Any]] = {  # Kommo user id -> profile (the sandbox's seeded users)
    8401234: {
        "areas": ["Auto"],
        "timezone": "America/Sao_Paulo",
        "holidays_subdivision": "SP",
        "hours": ["09:00-12:00", "13:00-18:00"],
    },
    8401235: {"areas": ["Imóveis"], "timezone": "America/Sao_Paulo", "hours": ["08:00-17:00"]},
    8401236: {
        "areas": ["Imóveis", "Auto"],
        "timezone": "Europe/Lisbon",
        "holidays_country": "PT",
        "hours": ["09:00-18:00"],
    },
    8401237: {"areas": ["Serviços"], "timezone": "America/Sao_Paulo", "hours": ["10:00-16:00"], "saturday": True},
}
FIRST_LEAD, FIRST_CONTACT = 40_000_001, 90_000_001


@dataclass(frozen=True)
class SimLead:
    """A lead of the world and its contact."""

    lead_id: int
    contact_id: int
    name: str
    area: str
    responsible: int
    phone: str


@dataclass
class SimTeam:
    """The salespeople (Kommo user id -> profile) and the leads (by index)."""

    profiles: dict[int, dict[str, Any]]
    leads: list[SimLead] = field(default_factory=list)

    @classmethod
    def draw(cls, rng: random.Random, lead_count: int = 10) -> SimTeam:
        """A team of four and `lead_count` leads, some with no phone, some given to someone outside their area."""
        profiles = {user_id: _profile(spec) for user_id, spec in SALESPEOPLE.items()}
        leads = []
        for index in range(lead_count):
            area = rng.choice(AREAS)
            phone = "" if rng.random() < 0.1 else f"+55 11 9{rng.randrange(10_000_000, 99_999_999)}"
            leads.append(
                SimLead(
                    FIRST_LEAD + index,
                    FIRST_CONTACT + index,
                    f"Cliente {index} Silva",
                    area,
                    rng.choice(list(SALESPEOPLE)),
                    phone,
                )
            )
        return cls(profiles, leads)

    def at_work(self, vendor_id: int, moment: float) -> bool:
        """Whether the salesperson works at `moment`: within their hours, in their time zone, not on a holiday."""
        import holidays

        profile = self.profiles.get(vendor_id)
        if profile is None:
            return True  # not one of the team: the invariant has nothing to say
        local = datetime.fromtimestamp(moment, ZoneInfo(profile["timezone"]))
        country = holidays.country_holidays(
            profile["holidays_country"], subdiv=profile["holidays_subdivision"] or None, years=local.year
        )
        spans = profile["working_hours"].get(local.strftime("%a").lower(), [])
        clock = local.strftime("%H:%M")
        return local.date() not in country and any(span[:5] <= clock < span[6:] for span in spans)

    def install(self, kommo: Any, stack: Any) -> None:
        """Put the leads and contacts in the Kommo sandbox and the profiles in their SSM parameter."""
        import boto3

        from local.kommo_seed import new_contact, new_lead

        for lead in self.leads:
            kommo.contacts[lead.contact_id] = new_contact(lead.contact_id, lead.name, lead.phone or "x")
            if not lead.phone:
                kommo.contacts[lead.contact_id]["custom_fields_values"] = []
            kommo.leads[lead.lead_id] = new_lead(lead.lead_id, lead.contact_id, lead.name, lead.area, lead.responsible)
        boto3.client("ssm").put_parameter(
            Name=stack.environment()["VENDOR_PROFILES_PARAMETER"],
            Type="String",
            Value=json.dumps({"vendors": {str(user_id): profile for user_id, profile in self.profiles.items()}}),
            Overwrite=True,
        )


def _profile(spec: dict[str, Any]) -> dict[str, Any]:
    days = WEEKDAYS + (("sat",) if spec.get("saturday") else ())
    return {
        "areas": spec["areas"],
        "timezone": spec["timezone"],
        "working_hours": {day: spec["hours"] for day in days},
        "meeting_minutes": 30,
        "holidays_country": spec.get("holidays_country", "BR"),
        "holidays_subdivision": spec.get("holidays_subdivision", ""),
    }
