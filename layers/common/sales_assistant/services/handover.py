"""Honest handovers: the client who asks for a person (n8n's `handover`) is told when one answers, and someone does.

Inside the salesperson's hours the client is told a person answers in a moment and the salesperson's task is due
now; outside them, the client is told when the salesperson next opens, in words ("amanhã às 9h"), and the task is
due then. The service writes those words itself (`HandoverWords`, added to n8n's reply), because only it knows
the salesperson's hours, zone and holidays. The bot stays paused until a person answers in the chat or `/liberar`;
a handover nobody answered within HANDOVER_ANSWER_HOURS of the salesperson's open hours gives the salesperson's
manager (the profile's `manager_id`) a task, once: the takeover schedule's sweep (`escalate_overdue`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from sales_assistant import timing
from sales_assistant.errors import NotFound
from sales_assistant.models.bot_state import BotState, ChangeReason
from sales_assistant.models.kommo import KommoLead
from sales_assistant.models.n8n import N8nRequest, N8nResponse
from sales_assistant.models.salesperson import SalespersonProfile
from sales_assistant.observability import logger
from sales_assistant.services.funnel import Funnel
from sales_assistant.services.ports.kommo import KommoLeads, LeadNotes
from sales_assistant.services.ports.n8n import AiWriter
from sales_assistant.services.ports.storage import Salespeople
from sales_assistant.services.takeover import Actor, TakeoverService
from sales_assistant.services.working_hours import after_open_time, next_opening
from sales_assistant.texts import Texts

_WEEKDAYS = ("day_monday", "day_tuesday", "day_wednesday", "day_thursday", "day_friday", "day_saturday", "day_sunday")


def when_in_words(opening: datetime, now: datetime, texts: Texts) -> str:
    """When the salesperson opens, as the client is told: "hoje às 14h", "amanhã às 9h", "segunda-feira às 9h30",
    past a week "no dia 02/01 às 9h". Both instants in the salesperson's zone."""
    hour = f"{opening.hour}h{opening.minute:02d}" if opening.minute else f"{opening.hour}h"
    days = (opening.date() - now.date()).days
    if days == 0:
        day = texts.render("day_today")
    elif days == 1:
        day = texts.render("day_tomorrow")
    elif days < 7:
        day = texts.render(_WEEKDAYS[opening.weekday()])
    else:
        day = texts.render("day_date", date=opening.strftime("%d/%m"))
    return texts.render("when_at", day=day, hour=hour)


class Handovers:
    """A client handed over to a person: what they are told, the salesperson's task, the manager's if nobody answers."""

    def __init__(
        self,
        *,
        takeover: TakeoverService,
        kommo: KommoLeads,
        salespeople: Salespeople,
        notes: LeadNotes,
        texts: Texts,
        answer_hours: float,
        funnel: Funnel,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._funnel = funnel
        self._takeover = takeover
        self._kommo = kommo
        self._salespeople = salespeople
        self._notes = notes
        self._texts = texts
        self._answer_hours = answer_hours
        self._clock = clock

    def told(self, vendor_id: int | None) -> str:
        """What the client is told: a person answers in a moment, or when the salesperson next opens."""
        now = self._clock()
        opening = next_opening(self._profile(vendor_id), now)
        if opening is None:
            return self._texts.render("handover_now")
        when = when_in_words(opening, datetime.fromtimestamp(now, opening.tzinfo), self._texts)
        return self._texts.render("handover_later", when=when)

    def hand_over(self, lead: KommoLead, contact_id: int, key: str, reason: str) -> None:
        """The bot paused for the contact until a person answers, the salesperson's task due now inside their
        hours (else when they next open), and the manager's task set to fall due after the answer time."""
        profile = self._profile(lead.responsible_user_id)
        now = self._clock()
        opening = next_opening(profile, now)
        change_id = f"handover:{key}"
        self._takeover.pause(contact_id, Actor(None, "assistente"), ChangeReason.AI_HANDOVER, change_id, lead.id)
        escalate_at = int(after_open_time(profile, now, self._answer_hours * 3600))
        self._takeover.change(contact_id, f"awaiting:{key}", partial(_awaiting, change_id, escalate_at))
        task = self._texts.render("task_handover", reason=reason)
        due = int(opening.timestamp()) if opening else int(now)
        self._notes.task(change_id, lead.id, lead.responsible_user_id or 0, task, due_at=due)
        self._funnel.handed_over(lead)

    def escalate_overdue(self) -> list[int]:
        """Task the manager of each handover nobody answered in time (the schedule's sweep); the contacts' ids."""
        now = self._clock()
        escalated = []
        for seen in self._takeover.paused():
            if seen.escalate_at is not None and seen.escalate_at <= now:
                self._escalate(seen, seen.escalate_at)
                escalated.append(seen.contact_id)
        return escalated

    def _escalate(self, state: BotState, escalate_at: int) -> None:
        """The manager's task (the salesperson's own, without a manager), then the handover marked escalated."""
        lead = self._lead(state.lead_id)
        if lead is not None and lead.responsible_user_id:
            salesperson = self._salespeople.get(lead.responsible_user_id)
            manager = salesperson.profile.manager_id if salesperson else None
            task = self._texts.render(
                "task_handover_unanswered",
                hours=f"{self._answer_hours:g}",
                vendedor=salesperson.name if salesperson and salesperson.name else lead.responsible_user_id,
            )
            key = f"handover-unanswered:{state.contact_id}:{escalate_at}"
            self._notes.task(key, lead.id, manager or lead.responsible_user_id, task, due_at=int(self._clock()))
        else:
            logger.warning("handover unanswered on no lead: nobody tasked", extra={"contact_id": state.contact_id})
        self._takeover.change(
            state.contact_id, f"escalated:{state.contact_id}:{escalate_at}", partial(_escalated, escalate_at)
        )

    def _lead(self, lead_id: int | None) -> KommoLead | None:
        if lead_id is None:
            return None
        try:
            return self._kommo.lead(lead_id)
        except NotFound:
            return None

    def _profile(self, vendor_id: int | None) -> SalespersonProfile:
        salesperson = self._salespeople.get(vendor_id) if vendor_id else None
        return salesperson.profile if salesperson else SalespersonProfile()


def _awaiting(handover_id: str, escalate_at: int, current: BotState) -> BotState | None:
    """The handover's pause waits for a person (no auto-resume) until `escalate_at`, unless one answered already."""
    if current.last_change_id != handover_id:
        return None
    return current.model_copy(update={"resume_at": None, "escalate_at": escalate_at})


def _escalated(escalate_at: int, current: BotState) -> BotState | None:
    """The handover's manager tasked: it stays paused for a person, nobody is tasked again."""
    if current.escalate_at != escalate_at:
        return None
    return current.model_copy(update={"escalate_at": None})


class HandoverWords:
    """n8n as the flows ask it, with the handover's words added by the service: an answer that hands the client
    over tells them when a person answers (n8n's reply first, when it wrote one). Only inside the 24-hour
    window: outside it WhatsApp takes a template, whose words are its own."""

    def __init__(self, ai: AiWriter, handovers: Handovers) -> None:
        self._ai = ai
        self._handovers = handovers

    def ask(self, path: str, request: N8nRequest) -> N8nResponse:
        response = self._ai.ask(path, request)
        if not request.window_open or all(action.type != "handover" for action in response.actions):
            return response
        told = self._handovers.told(request.vendor.id if request.vendor else None)
        written = (response.reply or "").strip()
        return response.model_copy(update={"reply": f"{written}\n\n{told}" if written else told})
