"""In-memory fakes of the ports (sales_assistant/services/ports/): the unit tests run the flows on them.

Each fake keeps what its adapter keeps, in dicts and lists a test can read, and where the adapter's write
is conditional (a lease, a version, a free grain of the agenda) the fake checks the same condition.
tests/unit/flows.py wires the flows on them as composition.py wires them on the adapters.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sales_assistant.adapters.switches import KillSwitch
from sales_assistant.errors import NotFound
from sales_assistant.models.appointment import Appointment, BookingKey, Hold, LeadAppointments
from sales_assistant.models.bot_state import BotState, BotStatus
from sales_assistant.models.consent import ConsentRecord
from sales_assistant.models.conversation import Conversation, KommoSnapshot
from sales_assistant.models.follow_up import FollowUp
from sales_assistant.models.funnel import FunnelEvent, FunnelRow
from sales_assistant.models.kommo import FieldValue, KommoContact, KommoEvent, KommoLead, KommoUser, LeadField
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import N8nRequest, N8nResponse, SalespeopleRequest, Turn
from sales_assistant.models.queue import AppointmentChanged, FollowUpDue, TriggerDue
from sales_assistant.models.salesperson import ProfileSource, Salesperson, SalespersonProfile
from sales_assistant.models.trigger import Trigger, TriggerStatus, capped_data, trigger_id
from sales_assistant.services.availability import grains
from sales_assistant.services.booking_conflicts import ChangedMeanwhile, KeyUsed, SlotTaken
from sales_assistant.services.delivery import DeliveryRecord
from sales_assistant.services.health import HealthReport
from sales_assistant.services.ports.n8n import AiFailure
from sales_assistant.services.ports.storage import StateConflict


class Clock:
    """A test's one clock: the services read it, the test moves it."""

    def __init__(self, now: float = 1_795_521_600.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------- Kommo


@dataclass(frozen=True)
class Note:
    key: str
    lead_id: int
    text: str
    service: bool = False


@dataclass(frozen=True)
class Task:
    key: str
    lead_id: int
    responsible_user_id: int
    text: str
    due_at: int | None = None  # None: in an hour


@dataclass(frozen=True)
class SalesbotRun:
    """A Salesbot started on a lead, with the lead's text fields as they were then (what the bot sends)."""

    bot_id: int
    lead_id: int
    fields: dict[int, str]


class FakeKommo:
    """Kommo: leads, contacts and users to read (NotFound when absent); every lead change and Salesbot run
    recorded, a change applied to the lead; notes and tasks once per key (ports.kommo.LeadNotes); the
    account as the canary sees it."""

    def __init__(self) -> None:
        self.leads: dict[int, KommoLead] = {}
        self.contacts: dict[int, KommoContact] = {}
        self.users: dict[int, KommoUser] = {}
        self.patches: list[tuple[int, dict[str, object]]] = []
        self.lead_field_list: list[LeadField] = []  # the account's lead fields (ports.kommo.LeadFieldList)
        self.fields: dict[int, dict[int, str]] = {}  # lead -> the text fields the service wrote, as they are now
        self.runs: list[SalesbotRun] = []
        self.run_errors: list[Exception] = []  # each raised by the next run, after it is recorded
        self.notes: list[Note] = []
        self.tasks: list[Task] = []
        self.webhook_list: list[dict[str, object]] = []
        self.events: list[KommoEvent] = []
        self.asked_from: list[int] = []

    def lead(self, lead_id: int) -> KommoLead:
        if lead_id not in self.leads:
            raise NotFound(f"no lead {lead_id}")
        return self.leads[lead_id]

    def contact(self, contact_id: int) -> KommoContact:
        if contact_id not in self.contacts:
            raise NotFound(f"no contact {contact_id}")
        return self.contacts[contact_id]

    def user(self, user_id: int) -> KommoUser:
        if user_id not in self.users:
            raise NotFound(f"no user {user_id}")
        return self.users[user_id]

    def patch_lead(
        self,
        lead_id: int,
        *,
        status_id: int | None = None,
        responsible_user_id: int | None = None,
        text_fields: dict[int, str] | None = None,
        custom_fields: dict[int, list[FieldValue]] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        moved = {
            name: value
            for name, value in (("status_id", status_id), ("responsible_user_id", responsible_user_id))
            if value is not None
        }
        written = {
            name: value
            for name, value in (("text_fields", text_fields), ("custom_fields", custom_fields), ("tags", tags))
            if value
        }
        self.patches.append((lead_id, {**moved, **written}))
        self.fields.setdefault(lead_id, {}).update(text_fields or {})
        if moved and lead_id in self.leads:
            self.leads[lead_id] = self.leads[lead_id].model_copy(update=moved)

    def lead_fields(self) -> list[LeadField]:
        return self.lead_field_list

    def run_salesbot(self, bot_id: int, lead_id: int) -> None:
        self.runs.append(SalesbotRun(bot_id, lead_id, dict(self.fields.get(lead_id, {}))))
        if self.run_errors:
            raise self.run_errors.pop(0)

    def texts_sent(self, lead_id: int, field_id: int) -> list[str]:
        """What each Salesbot run on the lead sent from the field, in order."""
        return [run.fields[field_id] for run in self.runs if run.lead_id == lead_id and field_id in run.fields]

    def note(self, key: str, lead_id: int, text: str, *, service: bool = False) -> None:
        if all(note.key != key for note in self.notes):
            self.notes.append(Note(key, lead_id, text, service))

    def task(self, key: str, lead_id: int, responsible_user_id: int, text: str, *, due_at: int | None = None) -> None:
        if all(task.key != key for task in self.tasks):
            self.tasks.append(Task(key, lead_id, responsible_user_id, text, due_at))

    def notes_on(self, lead_id: int) -> list[str]:
        return [note.text for note in self.notes if note.lead_id == lead_id]

    def account(self) -> dict[str, object]:
        return {"id": 1}

    def webhooks(self) -> list[dict[str, object]]:
        return self.webhook_list

    def events_since(self, created_from: int) -> list[KommoEvent]:
        self.asked_from.append(created_from)
        return [event for event in self.events if event.created_at >= created_from]

    def contact_lead_ids(self, contact_id: int) -> list[int]:
        return [lead.id for lead in self.leads.values() if contact_id in {c.id for c in lead.embedded.contacts}]


# ---------------------------------------------------------------------- n8n


class FakeN8n:
    """n8n: each `ask` gets the next scripted answer (an N8nResponse, or an AiFailure it raises), else a reply
    of `reply`; `while_asked` runs during the call (what happens while n8n thinks); `down` fails every call."""

    def __init__(self, down: AiFailure | None = None) -> None:
        self.answers: list[N8nResponse | AiFailure] = []
        self.reply = "Oi! Posso te ajudar com o que precisar."
        self.requests: list[tuple[str, N8nRequest]] = []
        self.while_asked: Callable[[], None] | None = None
        self.down = down
        self.delivered: list[tuple[str, SalespeopleRequest]] = []

    def ask(self, path: str, request: N8nRequest) -> N8nResponse:
        self.requests.append((path, request))
        if self.while_asked:
            self.while_asked()
        answer = self.answers.pop(0) if self.answers else self.down or N8nResponse(reply=self.reply)
        if isinstance(answer, AiFailure):
            raise answer
        return answer

    def ping(self, path: str) -> None:
        if self.down:
            raise self.down

    def deliver(self, path: str, request: SalespeopleRequest) -> None:
        """n8n storing the salesperson list (kept in `delivered`), or `down`."""
        if self.down:
            raise self.down
        self.delivered.append((path, request))


# ---------------------------------------------------------------------- storage


class InMemorySalespeople:
    """The salespeople cache (ports.storage.Salespeople) in a dict."""

    def __init__(self) -> None:
        self.salespeople: dict[int, Salesperson] = {}

    def get(self, vendor_id: int) -> Salesperson | None:
        return self.salespeople.get(vendor_id)

    def all(self) -> list[Salesperson]:
        return list(self.salespeople.values())

    def save_from_kommo(self, user: KommoUser, synced_at: int) -> None:
        known = self.salespeople.get(user.id, Salesperson(vendor_id=user.id))
        self.salespeople[user.id] = known.model_copy(
            update={
                "name": user.name,
                "email": user.email,
                "active": user.rights.is_active,
                "synced_at": synced_at,
                "left_at": None,
            }
        )

    def save_profile(self, vendor_id: int, profile: SalespersonProfile, source: ProfileSource = "config") -> bool:
        known = self.salespeople.get(vendor_id)
        if known is None or (source == "config" and known.profile_source == "api"):
            return False
        self.salespeople[vendor_id] = known.model_copy(update={"profile": profile, "profile_source": source})
        return True

    def mark_left(self, vendor_id: int, left_at: int) -> None:
        self.salespeople[vendor_id] = self.salespeople[vendor_id].model_copy(
            update={"active": False, "left_at": left_at}
        )


@dataclass
class InMemorySentSalespeople:
    """The fingerprint of the salesperson list n8n last stored (ports.storage.SentSalespeople)."""

    fingerprint: str = ""

    def last(self) -> str:
        return self.fingerprint

    def remember(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint


class InMemoryBotStates:
    """Bot states (ports.storage.BotStates) with their version check; `conflicts_to_inject` makes the next
    saves fail as if another writer came first."""

    def __init__(self) -> None:
        self.states: dict[int, BotState] = {}
        self.conflicts_to_inject = 0

    def get(self, contact_id: int) -> BotState | None:
        return self.states.get(contact_id)

    def save(self, state: BotState, expected_version: int) -> None:
        current = self.states.get(state.contact_id)
        if self.conflicts_to_inject or (current and current.version != expected_version):
            self.conflicts_to_inject = max(self.conflicts_to_inject - 1, 0)
            raise StateConflict("changed")
        self.states[state.contact_id] = state

    def with_status(self, status: BotStatus) -> list[BotState]:
        return [state for state in self.states.values() if state.status == status]


class InMemoryConversations:
    """Conversations (ports.storage.Conversations) as adapters/conversations.py keeps them: a claim needs the
    latest seq, a buffer and no live lease; every write under a lease needs its owner (None or False
    otherwise); the other writes create the conversation. Turns are not trimmed."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.items: dict[str, Conversation] = {}
        self._clock = clock

    def get(self, conversation_id: str) -> Conversation | None:
        item = self.items.get(conversation_id)
        return item.model_copy(deep=True) if item else None

    def append(self, message: ChatMessage, now: int) -> int:
        current = self._item(message.conversation_id)
        self._set(
            current,
            buffer=[*current.buffer, message],
            lead_id=message.lead_id,
            contact_id=message.contact_id,
            seq=current.seq + 1,
            last_client_message_at=max(current.last_client_message_at, min(message.created_at, now)),
        )
        return current.seq + 1

    def claim(
        self, conversation_id: str, seq: int, owner: str, lease_until_ms: int, now_ms: int
    ) -> Conversation | None:
        current = self.items.get(conversation_id)
        if current is None or current.seq != seq or not current.buffer or not _lease_free(current, now_ms):
            return None
        return self._set(
            current,
            in_flight=[*current.in_flight, *current.buffer],
            buffer=[],
            lease_owner=owner,
            lease_until_ms=lease_until_ms,
        )

    def reclaim(self, conversation_id: str, owner: str, lease_until_ms: int) -> Conversation | None:
        current = self._owned(conversation_id, owner)
        return self._set(current, lease_until_ms=lease_until_ms) if current else None

    def acquire(
        self, conversation_id: str, lead_id: int, contact_id: int, owner: str, lease_until_ms: int, free_after: int
    ) -> Conversation | None:
        current = self._item(conversation_id)
        if not _lease_free(current, int(self._clock()) * 1000) or current.last_delivery_at > free_after:
            return None
        return self._set(
            current,
            lease_owner=owner,
            lease_until_ms=lease_until_ms,
            lead_id=current.lead_id or lead_id,
            contact_id=current.contact_id or contact_id,
        )

    def mark_sending(self, conversation_id: str, owner: str, message_ids: list[str], lease_until_ms: int) -> bool:
        current = self._owned(conversation_id, owner)
        if current is None:
            return False
        self._set(current, lease_until_ms=lease_until_ms, answered_ids=message_ids)
        return True

    def finish(
        self, conversation_id: str, owner: str, turns: list[Turn], delivered_at: int | None, now: int
    ) -> Conversation | None:
        current = self._owned(conversation_id, owner)
        if current is None:
            return None
        return self._set(
            current,
            in_flight=[],
            turns=[*current.turns, *turns],
            last_delivery_at=current.last_delivery_at if delivered_at is None else delivered_at,
            lease_owner=None,
            lease_until_ms=0,
            answered_ids=[],
        )

    def add_turns(self, conversation_id: str, turns: list[Turn], now: int) -> None:
        current = self._item(conversation_id)
        self._set(current, turns=[*current.turns, *turns])

    def set_context(self, conversation_id: str, context: dict[str, Any], now: int) -> None:
        current = self._item(conversation_id)
        context = {**context, "data": capped_data(context.get("data") or {})[0]}
        self._set(current, proactive=context, proactive_at=context.get("sent_at") or current.proactive_at)

    def remember_kommo(self, conversation_id: str, snapshot: KommoSnapshot) -> None:
        if conversation_id in self.items:
            self._set(self.items[conversation_id], kommo_snapshot=snapshot.model_dump_json(by_alias=True))

    def forget_kommo(self, conversation_id: str, now: int) -> None:
        if conversation_id in self.items:
            self._set(self.items[conversation_id], kommo_stale_before=now)

    def hand_lease(self, conversation_id: str, owner: str, lease_until_ms: int) -> None:
        """Test setup: `owner` holds the conversation's lease now (it took it, or took it over)."""
        self._set(self._item(conversation_id), lease_owner=owner, lease_until_ms=lease_until_ms)

    def _item(self, conversation_id: str) -> Conversation:
        return self.items.get(conversation_id) or Conversation(conversation_id=conversation_id)

    def _owned(self, conversation_id: str, owner: str) -> Conversation | None:
        current = self.items.get(conversation_id)
        return current if current is not None and current.lease_owner == owner else None

    def _set(self, current: Conversation, **changes: Any) -> Conversation:
        self.items[current.conversation_id] = current.model_copy(update=changes)
        return self.items[current.conversation_id].model_copy(deep=True)


def _lease_free(conversation: Conversation, now_ms: int) -> bool:
    return conversation.lease_owner is None or conversation.lease_until_ms < now_ms


class InMemoryTriggers:
    """Triggers (ports.storage.Triggers): one per lead and kind; a repeat adds its data and source."""

    def __init__(self) -> None:
        self.triggers: dict[str, Trigger] = {}

    def register(self, request: TriggerDue, now: int) -> tuple[Trigger, bool]:
        key = trigger_id(request.lead_id, request.trigger)
        current = self.triggers.get(key)
        if current is None:
            self.triggers[key] = Trigger(
                trigger_id=key,
                lead_id=request.lead_id,
                kind=request.trigger,
                data=request.data,
                sources=[request.source],
                created_at=now,
                lead_created_at=request.lead_created_at or now,
            )
            return self.triggers[key], True
        data, _ = capped_data(current.data, request.data)
        if request.source in current.sources and data == current.data:
            return current, False
        self.triggers[key] = current.model_copy(
            update={"data": data, "sources": sorted({*current.sources, request.source}), "version": current.version + 1}
        )
        return self.triggers[key], False

    def update(self, trigger_id: str, status: TriggerStatus, **changes: Any) -> None:
        current = self.triggers[trigger_id]
        self.triggers[trigger_id] = current.model_copy(
            update={"status": status, **changes, "version": current.version + 1}
        )

    def with_status(self, status: TriggerStatus, due_before: int | None = None) -> list[Trigger]:
        found = [
            trigger
            for trigger in self.triggers.values()
            if trigger.status == status and (due_before is None or trigger.due_at <= due_before)
        ]
        return sorted(found, key=lambda trigger: trigger.due_at)


class InMemoryFollowUps:
    """Follow-up records (ports.storage.FollowUpRecords), one per lead, saved only over the version read."""

    def __init__(self) -> None:
        self.records: dict[int, FollowUp] = {}

    def get(self, lead_id: int) -> FollowUp | None:
        return self.records.get(lead_id)

    def save(self, record: FollowUp, expected_version: int) -> bool:
        current = self.records.get(record.lead_id)
        if (current.version if current else 0) != expected_version:
            return False
        self.records[record.lead_id] = record
        return True

    def due(self, now: int) -> list[FollowUp]:
        due = [record for record in self.records.values() if record.status == "scheduled" and record.due_at <= now]
        return sorted(due, key=lambda record: record.due_at)


@dataclass(frozen=True)
class Grain:
    """One occupied grain of a salesperson's agenda."""

    owner: str  # an appointment or hold id
    kind: Literal["appointment", "hold"]
    lead_id: int
    expires_at: int = 0  # a hold's

    def gives_way(self, lead_id: int | None, now: int) -> bool:
        """A lapsed hold, or the lead's own hold, does not keep the grain from the lead."""
        return self.kind == "hold" and (self.expires_at < now or self.lead_id == lead_id)


class InMemoryAgenda:
    """The agenda (ports.storage.Agenda) as adapters/agenda.py keeps it: each change writes everything or
    nothing, raising SlotTaken (a grain is held by another), ChangedMeanwhile (the appointment or the lead's
    records changed since read) or KeyUsed (the idempotency key booked another appointment)."""

    def __init__(self) -> None:
        self.grains: dict[tuple[int, int], Grain] = {}  # (salesperson, grain start)
        self.appointments: dict[str, Appointment] = {}
        self.holds: dict[str, Hold] = {}
        self.lead_holds: dict[int, Hold] = {}
        self.lead_records: dict[int, LeadAppointments] = {}
        self.keys: dict[str, BookingKey] = {}
        self.meeting_tasks: dict[str, int] = {}

    def busy(self, vendor_id: int, start: int, end: int, now: int, lead_id: int | None = None) -> set[int]:
        return {
            at
            for (salesperson, at), grain in self.grains.items()
            if salesperson == vendor_id and start <= at <= end and not grain.gives_way(lead_id, now)
        }

    def get(self, appointment_id: str) -> Appointment | None:
        return self.appointments.get(appointment_id)

    def hold(self, hold_id: str) -> Hold | None:
        return self.holds.get(hold_id)

    def lead_hold(self, lead_id: int) -> Hold | None:
        return self.lead_holds.get(lead_id)

    def lead_appointments(self, lead_id: int) -> LeadAppointments:
        return self.lead_records.get(lead_id) or LeadAppointments(lead_id=lead_id)

    def booked_with(self, key: str) -> BookingKey | None:
        return self.keys.get(key)

    def meeting_task(self, appointment_id: str) -> int | None:
        return self.meeting_tasks.get(appointment_id)

    def keep_meeting_task(self, appointment_id: str, task_id: int) -> None:
        self.meeting_tasks[appointment_id] = task_id

    def add_hold(self, hold: Hold, now: int, previous: Hold | None = None) -> None:
        latest = self.lead_holds.get(hold.lead_id)
        if (latest.hold_id if latest else None) != (previous.hold_id if previous else None):
            raise ChangedMeanwhile()
        starts = grains(hold.start, hold.occupied_until)
        if self._taken(hold.vendor_id, starts, hold.lead_id, now):
            raise SlotTaken()
        self._occupy(hold.vendor_id, starts, Grain(hold.hold_id, "hold", hold.lead_id, hold.expires_at))
        self.holds[hold.hold_id] = self.lead_holds[hold.lead_id] = hold

    def book(
        self,
        appointment: Appointment,
        now: int,
        replacing: str | None = None,
        lead: LeadAppointments | None = None,
        hold_booked: bool = False,
    ) -> None:
        lead = lead or LeadAppointments(lead_id=appointment.lead_id)
        starts = grains(appointment.start, appointment.occupied_until)
        key = appointment.idempotency_key
        used = self.keys.get(key) if key else None
        key_free = key is None or (used.appointment_id == replacing if used else replacing is None)
        records_unchanged = (
            self.lead_appointments(appointment.lead_id).version == lead.version
            and appointment.appointment_id not in self.appointments
        )
        slot_free = not self._taken(appointment.vendor_id, starts, appointment.lead_id, now)
        if not (key_free and records_unchanged and slot_free):
            if used and used.appointment_id != replacing:
                raise KeyUsed(used)
            raise SlotTaken() if records_unchanged else ChangedMeanwhile()
        self._occupy(appointment.vendor_id, starts, Grain(appointment.appointment_id, "appointment", lead.lead_id))
        self.appointments[appointment.appointment_id] = appointment
        self.lead_records[lead.lead_id] = LeadAppointments(
            lead_id=lead.lead_id,
            appointment_ids=[*lead.appointment_ids, appointment.appointment_id],
            version=lead.version + 1,
        )
        if hold_booked:
            self.lead_holds.pop(lead.lead_id, None)
        if key:
            self.keys[key] = BookingKey(appointment_id=appointment.appointment_id, start=appointment.start)

    def cancel(self, appointment: Appointment, cancelled: Appointment) -> None:
        starts = grains(appointment.start, appointment.occupied_until)
        if not (self._unchanged(appointment) and self._owns(appointment, starts)):
            raise ChangedMeanwhile()
        for at in starts:
            del self.grains[(appointment.vendor_id, at)]
        self.appointments[appointment.appointment_id] = cancelled

    def move(self, appointment: Appointment, moved: Appointment, now: int) -> None:
        old = set(grains(appointment.start, appointment.occupied_until))
        new = set(grains(moved.start, moved.occupied_until))
        if not self._unchanged(appointment):
            raise ChangedMeanwhile()
        if self._taken(moved.vendor_id, new - old, moved.lead_id, now) or not self._owns(appointment, old - new):
            raise SlotTaken()
        for at in old - new:
            del self.grains[(appointment.vendor_id, at)]
        self._occupy(moved.vendor_id, new - old, Grain(moved.appointment_id, "appointment", moved.lead_id))
        self.appointments[moved.appointment_id] = moved

    def _taken(self, vendor_id: int, starts: Iterable[int], lead_id: int, now: int) -> bool:
        return any(
            (vendor_id, at) in self.grains and not self.grains[(vendor_id, at)].gives_way(lead_id, now) for at in starts
        )

    def _owns(self, appointment: Appointment, starts: Iterable[int]) -> bool:
        return all(
            (grain := self.grains.get((appointment.vendor_id, at))) is not None
            and grain.owner == appointment.appointment_id
            for at in starts
        )

    def _unchanged(self, appointment: Appointment) -> bool:
        stored = self.appointments.get(appointment.appointment_id)
        return stored is not None and stored.version == appointment.version and stored.status == "booked"

    def _occupy(self, vendor_id: int, starts: Iterable[int], grain: Grain) -> None:
        for at in starts:
            self.grains[(vendor_id, at)] = grain


class InMemoryDeliveryLog:
    """What is known of each delivery (ports.storage.DeliveryLog), per key."""

    def __init__(self) -> None:
        self.records: dict[str, DeliveryRecord] = {}

    def get(self, key: str) -> DeliveryRecord | None:
        return self.records.get(key)

    def start_run(self, key: str, at: int) -> bool:
        if key in self.records:
            return False
        self.records[key] = DeliveryRecord(state="run_attempted", at=at)
        return True

    def forget_run(self, key: str) -> None:
        self.records.pop(key, None)

    def finish(self, key: str, state: Literal["delivered", "unconfirmed"], at: int) -> None:
        self.records[key] = DeliveryRecord(state=state, at=at)


class InMemoryEchoMemory:
    """Echo keys (ports.storage.EchoMemory): those remembered, and those Kommo reported back since."""

    def __init__(self) -> None:
        self.remembered: set[str] = set()
        self.came_back: set[str] = set()

    def remember(self, keys: Iterable[str]) -> None:
        self.remembered |= set(keys)
        self.came_back -= set(keys)

    def known(self, keys: Iterable[str]) -> set[str]:
        return self.remembered & set(keys)

    def mark_seen(self, keys: Iterable[str]) -> None:
        self.came_back |= set(keys)

    def seen(self, key: str) -> bool:
        return key in self.came_back


class OnceStore:
    """run_once (ports.storage.Once) in a dict: each effect's result kept per scope and key; an effect that
    raises keeps nothing, so a retry runs it."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}

    def __call__(self, scope: str, key: str, effect: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        name = f"{scope}:{key}"
        if name not in self.results:
            self.results[name] = effect()
        return self.results[name]


class FakeRoundRobin:
    """Round-robin turns (ports.storage.RoundRobin): 1, 2, 3... per pool."""

    def __init__(self) -> None:
        self.turns: dict[str, int] = {}

    def turn(self, pool: str) -> int:
        self.turns[pool] = self.turns.get(pool, 0) + 1
        return self.turns[pool]


class FakeSwitches:
    """The kill switch (ports.storage.Switches), off until a test sets it."""

    def __init__(self) -> None:
        self.kill_switch = KillSwitch()

    def stops(self, vendor_id: int | None) -> str | None:
        return self.kill_switch.stops(vendor_id)

    def monthly_budget_usd(self) -> float | None:
        """ports.storage.LiveBudget: the budget an operator sets in the kill-switch parameter."""
        return self.kill_switch.monthly_budget_usd


class InMemoryHealthReports:
    """The canary's last report (ports.storage.HealthReports)."""

    def __init__(self) -> None:
        self.report: HealthReport | None = None

    def load(self) -> HealthReport | None:
        return self.report

    def save(self, report: HealthReport) -> None:
        self.report = report


class InMemoryReceivedMessages:
    """The client messages the intake received (ports.storage.ReceivedMessages)."""

    def __init__(self, *received: str) -> None:
        self.received = set(received)

    def missing(self, message_ids: Iterable[str]) -> set[str]:
        return set(message_ids) - self.received

    def mark(self, message_ids: Iterable[str], *, missed: bool = False) -> None:
        self.received |= set(message_ids)


class InMemoryConsentRecords:
    """Each contact's last word on being contacted (ports.storage.ConsentRecords); a save over a record changed
    since it was read is refused, as the adapter's conditional put."""

    def __init__(self) -> None:
        self.records: dict[int, ConsentRecord] = {}

    def get(self, contact_id: int) -> ConsentRecord | None:
        return self.records.get(contact_id)

    def save(self, record: ConsentRecord, replacing: ConsentRecord | None) -> bool:
        current = self.records.get(record.contact_id)
        if (current and current.message_id) != (replacing and replacing.message_id):
            return False
        self.records[record.contact_id] = record
        return True

    def delete(self, contact_id: int) -> None:
        self.records.pop(contact_id, None)


# ---------------------------------------------------------------------- queues


@dataclass(frozen=True)
class FlushJob:
    conversation_id: str
    seq: int
    delay_seconds: int
    job_id: str


class RecordingQueue:
    """The queues: flush jobs (ports.queues.FlushScheduler) and published items (TriggerQueue,
    AppointmentEvents), kept in order for the test to run or read."""

    def __init__(self) -> None:
        self.flushes: list[FlushJob] = []
        self.published: list[TriggerDue | AppointmentChanged | FollowUpDue] = []
        self._job_ids = itertools.count(1)

    def flush_later(self, conversation_id: str, seq: int, delay_seconds: int) -> None:
        self.flushes.append(FlushJob(conversation_id, seq, delay_seconds, f"flush-{next(self._job_ids)}"))

    def publish(self, item: TriggerDue | AppointmentChanged | FollowUpDue) -> str:
        self.published.append(item)
        return f"message-{len(self.published)}"


class InMemoryFunnel:
    """The funnel's aggregates (ports.storage.FunnelCounts): each once_key counted once, days and months summed."""

    def __init__(self) -> None:
        self.once_keys: set[str] = set()
        self.day_counters: dict[tuple[date, int, str], dict[str, int]] = {}
        self.month_counters: dict[str, dict[str, int]] = {}
        self.failing = False  # True: every count raises, as a DynamoDB outage would
        self.writes = 0  # counts tried, each one write (a transaction) in DynamoDB

    def count(self, event: FunnelEvent) -> bool:
        self.writes += 1
        if self.failing:
            raise ConnectionError("the funnel table does not answer")
        if event.once_key in self.once_keys:
            return False
        self.once_keys.add(event.once_key)
        for counters in (
            self.day_counters.setdefault((event.day, event.salesperson_id, event.trigger), {}),
            self.month_counters.setdefault(event.day.isoformat()[:7], {}),
        ):
            for name, amount in event.counters.items():
                counters[name] = counters.get(name, 0) + amount
        return True

    def days(self, first: date, last: date) -> list[FunnelRow]:
        return [
            FunnelRow(day=day, salesperson_id=salesperson_id, trigger=trigger, counters=dict(counters))
            for (day, salesperson_id, trigger), counters in sorted(self.day_counters.items())
            if first <= day <= last
        ]

    def month_totals(self, month: str) -> dict[str, int]:
        return dict(self.month_counters.get(month, {}))
