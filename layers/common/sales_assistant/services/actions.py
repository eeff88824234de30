"""What n8n's answer asks besides its text (its `actions`), and the service's own changes to a lead.

Every path that asks n8n for an answer (a reply to a client, a first message) runs the answer's actions
the same way, once per answer: a handover pauses the bot for the contact until a person answers and gives the
salesperson a task, due when they next open (handover.py), `schedule` books the slot. The answer's lead changes
go to Kommo in one PATCH: `move_status` (only to a status the assistant may set, ASSISTANT_STATUS_IDS: never won,
lost or another pipeline unless configured), `set_fields` (only fields of QUALIFICATION_FIELDS, each value
checked against its field's type: qualification.py) and `add_tags`; one note on the lead says what changed and
what was not written, and why.
Anything else, and a move to another status, becomes a task saying what was asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from sales_assistant import timing
from sales_assistant.errors import AppError, DependencyError
from sales_assistant.models.appointment import BookingRequest
from sales_assistant.models.kommo import FieldValue, KommoLead
from sales_assistant.models.n8n import Action, QualificationField
from sales_assistant.observability import count
from sales_assistant.services.echoes import lead_update_echo_keys
from sales_assistant.services.funnel import Funnel
from sales_assistant.services.handover import Handovers
from sales_assistant.services.ports.flows import Booking
from sales_assistant.services.ports.kommo import LeadNotes, LeadPatcher
from sales_assistant.services.ports.storage import Conversations, EchoMemory
from sales_assistant.services.qualification import Qualification
from sales_assistant.texts import Texts

# every other action type is counted as "other"
RUN_AS_THEMSELVES = ("handover", "move_status", "schedule", "set_fields", "add_tags")


class LeadChanges:
    """The service's own changes to a lead in Kommo. The change's echo is remembered first (the webhook Kommo
    fires back is dropped as ours), and what the conversation kept of the lead is forgotten at once, so the
    next reply, the kill-switch check and bookings see the lead as it is now, not as it was."""

    def __init__(
        self, kommo: LeadPatcher, echoes: EchoMemory, cache: Conversations, clock: Callable[[], float] = timing.now
    ) -> None:
        self._kommo = kommo
        self._echoes = echoes
        self._cache = cache
        self._clock = clock

    def change(
        self,
        lead_id: int,
        *,
        status_id: int | None = None,
        responsible_user_id: int | None = None,
        fields: dict[int, list[FieldValue]] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Move the lead to another status and/or salesperson, fill custom fields, add tags: one PATCH."""
        self._echoes.remember(
            lead_update_echo_keys(lead_id, status_id=status_id, responsible_user_id=responsible_user_id)
        )
        self._kommo.patch_lead(
            lead_id, status_id=status_id, responsible_user_id=responsible_user_id, custom_fields=fields, tags=tags
        )
        self._cache.forget_kommo(f"lead:{lead_id}", int(self._clock()))


@dataclass
class _LeadUpdate:
    """An answer's changes to its lead, gathered from its actions for one PATCH, and the note's lines."""

    status_id: int | None = None
    fields: dict[int, list[FieldValue]] = field(default_factory=dict)
    field_lines: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def changes(self) -> bool:
        return self.status_id is not None or bool(self.fields) or bool(self.tags)


class AnswerActions:
    """Runs n8n's actions through the flow that owns each; every effect is once per key."""

    def __init__(
        self,
        *,
        handovers: Handovers,
        lead_changes: LeadChanges,
        qualification: Qualification,
        notes: LeadNotes,
        texts: Texts,
        funnel: Funnel,
        scheduling: Booking | None = None,
        status_ids: frozenset[int] = frozenset(),
    ) -> None:
        self._funnel = funnel
        self._handovers = handovers
        self._lead_changes = lead_changes
        self._qualification = qualification
        self._notes = notes
        self._texts = texts
        self._scheduling = scheduling
        self._status_ids = status_ids

    def qualification_fields(self) -> list[QualificationField]:
        """The lead fields n8n may fill with `set_fields`, for its request."""
        return self._qualification.offered()

    def run(self, actions: list[Action], lead: KommoLead, contact_id: int, key: str) -> None:
        """Run each action of the answer `key` (a batch id, a trigger id) for this lead and contact."""
        update = _LeadUpdate()
        for index, action in enumerate(actions):
            action_key = f"{key}:{index}"
            if action.type == "handover":
                self._handovers.hand_over(lead, contact_id, action_key, action.reason or "-")
            elif action.type == "move_status" and action.status_id in self._status_ids:
                update.status_id = action.status_id
            elif action.type == "set_fields":
                checked = self._qualification.check(action.fields or {})
                update.fields |= checked.values
                update.field_lines += checked.lines
            elif action.type == "add_tags":
                update.tags += [tag for tag in action.tags or [] if tag not in update.tags]
            elif action.type == "schedule" and self._scheduling is not None and action.slot:
                self._book(self._scheduling, action, lead, action_key)
            else:  # a schedule without a slot, a move to a status not allowed, any action without a flow: a task
                self.task(lead, f"action:{action_key}", "task_action", action=action.type, details=action.details())
            count("ActionsRun", action=action.type if action.type in RUN_AS_THEMSELVES else "other")
        self._update(lead, update, key)

    def _update(self, lead: KommoLead, update: _LeadUpdate, key: str) -> None:
        """The answer's lead changes in one PATCH, then one note saying what changed and what was not written."""
        if update.changes():
            try:
                self._lead_changes.change(
                    lead.id, status_id=update.status_id, fields=update.fields or None, tags=update.tags or None
                )
            except DependencyError:
                self._qualification.forget()  # a field changed in Kommo meanwhile: the retry checks against it
                raise
            if update.fields:
                self._funnel.qualified(lead)
        lines = [self._texts.render("change_status", status=update.status_id)] if update.status_id else []
        lines += update.field_lines
        lines += [self._texts.render("change_tags", tags=", ".join(update.tags))] if update.tags else []
        if lines:
            note = self._texts.render("note_lead_changes", changes="\n".join(lines))
            self._notes.note(f"changes:{key}", lead.id, note, service=True)

    def task(self, lead: KommoLead, key: str, text_name: str, **values: object) -> None:
        """A task for the lead's responsible salesperson, once per key."""
        self._notes.task(key, lead.id, lead.responsible_user_id or 0, self._texts.render(text_name, **values))

    def _book(self, scheduling: Booking, action: Action, lead: KommoLead, key: str) -> None:
        """Book the slot a `schedule` action names with the lead's salesperson (the confirmation and the rest
        follow from the scheduling queue); a slot that cannot be booked becomes a task saying why."""
        try:
            request = BookingRequest.model_validate(
                {
                    "vendor_id": lead.responsible_user_id,
                    "lead_id": lead.id,
                    "start": action.slot,
                    "idempotency_key": f"action:{key}",
                }
            )
            scheduling.book(request)
        except (ValidationError, AppError) as refused:
            count("SchedulingActionsRefused")
            details = f"{action.details()}; {_refusal(refused)}"
            self.task(lead, f"action:{key}", "task_action", action=action.type, details=details)


def _refusal(error: Exception) -> str:
    """Why a booking was refused, for the salesperson's task (never the input itself)."""
    if isinstance(error, AppError):
        return f"{error.code}: {error.message}"
    return "pedido inválido (horário sem fuso ou lead sem responsável)"
