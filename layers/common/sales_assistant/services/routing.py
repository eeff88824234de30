"""Who writes a lead's first message: the lead's responsible salesperson when they serve the lead's area,
otherwise the next active salesperson of the area, in turn (a round-robin pointer shared by every Lambda;
test salespeople only take test leads). The choice is made once per lead and kept on its trigger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sales_assistant import timing
from sales_assistant.errors import NotFound
from sales_assistant.models.kommo import KommoLead
from sales_assistant.models.salesperson import Salesperson
from sales_assistant.models.trigger import Trigger
from sales_assistant.observability import count
from sales_assistant.services.actions import LeadChanges
from sales_assistant.services.ports.kommo import KommoUsers
from sales_assistant.services.ports.storage import Once, RoundRobin, Salespeople, Triggers


class NoSalesperson(Exception):
    """No active salesperson serves the lead's area, and its responsible one cannot write either."""


@dataclass(frozen=True)
class RoutingConfig:
    area_field_id: int | None = None  # the lead field naming its area (None: every salesperson serves all)
    reassign: bool = False  # make the chosen salesperson the lead's responsible one in Kommo
    test_lead_tag: str = "teste"


class SalespersonRouter:
    """Chooses the salesperson who writes to a lead, once per lead."""

    def __init__(
        self,
        *,
        salespeople: Salespeople,
        users: KommoUsers,
        round_robin: RoundRobin,
        triggers: Triggers,
        lead_changes: LeadChanges,
        once: Once,
        config: RoutingConfig,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._salespeople = salespeople
        self._users = users
        self._round_robin = round_robin
        self._triggers = triggers
        self._lead_changes = lead_changes
        self._once = once
        self._config = config
        self._clock = clock

    def route(self, trigger: Trigger, lead: KommoLead) -> tuple[Salesperson, str]:
        """The salesperson who writes and why (responsible, area_mismatch, ...), decided once per lead: the one
        stored on the trigger (routed before it was deferred or retried) while still active, else one routing
        for the lead whichever of Kommo's events for it (`leads[add]`, `unsorted[add]`, a POST /triggers)
        comes first; a second one running at the same moment waits for the first (the queue retries it).
        Raises NoSalesperson."""
        if trigger.vendor_id is not None:
            stored = self._salesperson(trigger.vendor_id)
            if stored is not None and stored.active:
                return stored, trigger.routing or "responsible"
        decision = self._once("route", f"{lead.id}:{lead.responsible_user_id or 0}", lambda: self._decision(lead))
        salesperson, routing = self._salesperson(int(decision["vendor_id"])), str(decision["routing"])
        if salesperson is None or not salesperson.active:  # the one chosen earlier has left since: choose again
            salesperson, routing = self._choose(lead)
        self._triggers.update(trigger.trigger_id, trigger.status, vendor_id=salesperson.vendor_id, routing=routing)
        return salesperson, routing

    def area(self, lead: KommoLead) -> str:
        """The lead's area, from its area field ('' when none is configured or set)."""
        if self._config.area_field_id is None:
            return ""
        return next(
            (
                field.first_value()
                for field in lead.custom_fields_values or []
                if field.field_id == self._config.area_field_id
            ),
            "",
        )

    def _decision(self, lead: KommoLead) -> dict[str, Any]:
        """The routing as the once-store keeps it."""
        salesperson, routing = self._choose(lead)
        return {"vendor_id": salesperson.vendor_id, "routing": routing}

    def _choose(self, lead: KommoLead) -> tuple[Salesperson, str]:
        """The salesperson who writes, and why: the responsible one, or the next of the area in turn."""
        area = self.area(lead)
        test_lead = self._config.test_lead_tag.casefold() in {tag.name.casefold() for tag in lead.embedded.tags}
        responsible = self._salesperson(lead.responsible_user_id)
        problem = _why_not(responsible, area, test_lead)
        if responsible is not None and problem is None:
            return responsible, "responsible"
        candidates = sorted(
            (
                salesperson
                for salesperson in self._salespeople.all()
                if salesperson.active and salesperson.profile.is_test == test_lead and _serves(salesperson, area)
            ),
            key=lambda salesperson: salesperson.vendor_id,
        )
        if not candidates:
            if responsible is not None and responsible.active:
                return responsible, "no_one_in_area"
            raise NoSalesperson(area)
        chosen = candidates[
            (self._round_robin.turn(f"{area or '*'}|{'test' if test_lead else 'real'}") - 1) % len(candidates)
        ]
        if self._config.reassign and chosen.vendor_id != lead.responsible_user_id:
            self._lead_changes.change(lead.id, responsible_user_id=chosen.vendor_id)
            count("LeadsReassigned", reason=problem or "no_one_in_area")
        return chosen, problem or "no_one_in_area"

    def _salesperson(self, vendor_id: int | None) -> Salesperson | None:
        """The cached salesperson; on a miss, that one user is fetched from Kommo and cached."""
        if not vendor_id:
            return None
        salesperson = self._salespeople.get(vendor_id)
        if salesperson is None:
            try:
                self._salespeople.save_from_kommo(self._users.user(vendor_id), int(self._clock()))
            except NotFound:
                return None
            salesperson = self._salespeople.get(vendor_id)
        return salesperson


def _why_not(salesperson: Salesperson | None, area: str, test_lead: bool) -> str | None:
    """Why the lead's responsible salesperson does not write (None: they do)."""
    if salesperson is None:
        return "responsible_unknown"
    if not salesperson.active:
        return "responsible_inactive"
    if salesperson.profile.is_test and not test_lead:
        return "test_user_for_real_lead"
    if not _serves(salesperson, area):
        return "area_mismatch"
    return None


def _serves(salesperson: Salesperson, area: str) -> bool:
    return not area or area.casefold() in {served.casefold() for served in salesperson.profile.areas}
