"""The service's own records (DynamoDB in AWS; adapters/ implements every one, tests/unit/fakes.py in memory)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from sales_assistant.models.appointment import Appointment, BookingKey, Hold, LeadAppointments
    from sales_assistant.models.bot_state import BotState, BotStatus
    from sales_assistant.models.consent import ConsentRecord
    from sales_assistant.models.conversation import Conversation, KommoSnapshot
    from sales_assistant.models.follow_up import FollowUp
    from sales_assistant.models.funnel import FunnelEvent, FunnelRow
    from sales_assistant.models.kommo import KommoUser
    from sales_assistant.models.kommo_webhook import ChatMessage
    from sales_assistant.models.n8n import Turn
    from sales_assistant.models.queue import TriggerDue
    from sales_assistant.models.salesperson import ProfileSource, Salesperson, SalespersonProfile
    from sales_assistant.models.trigger import Trigger, TriggerStatus
    from sales_assistant.services.delivery import DeliveryRecord
    from sales_assistant.services.health import HealthReport

Once = Callable[[str, str, Callable[[], dict[str, Any]]], dict[str, Any]]
"""run_once(scope, key, effect): the effect's result, the effect run at most once per scope and key."""


class StateConflict(Exception):
    """Another writer changed the bot state first: re-read and try again."""


class LeaseStore(Protocol):
    """A conversation's lease fields: what a job needs to keep holding it (`delivery.Lease`)."""

    def reclaim(self, conversation_id: str, owner: str, lease_until_ms: int) -> object | None: ...

    def mark_sending(self, conversation_id: str, owner: str, message_ids: list[str], lease_until_ms: int) -> bool: ...


class Conversations(LeaseStore, Protocol):
    """One item per conversation: the buffer of client messages, the turns, the lease, the kept lead."""

    def reclaim(self, conversation_id: str, owner: str, lease_until_ms: int) -> Conversation | None: ...

    def get(self, conversation_id: str) -> Conversation | None: ...

    def append(self, message: ChatMessage, now: int) -> int: ...

    def claim(
        self, conversation_id: str, seq: int, owner: str, lease_until_ms: int, now_ms: int
    ) -> Conversation | None: ...

    def acquire(
        self, conversation_id: str, lead_id: int, contact_id: int, owner: str, lease_until_ms: int, free_after: int
    ) -> Conversation | None: ...

    def finish(
        self, conversation_id: str, owner: str, turns: list[Turn], delivered_at: int | None, now: int
    ) -> Conversation | None: ...

    def add_turns(self, conversation_id: str, turns: list[Turn], now: int) -> None: ...

    def set_context(self, conversation_id: str, context: dict[str, Any], now: int) -> None: ...

    def remember_kommo(self, conversation_id: str, snapshot: KommoSnapshot) -> None: ...

    def forget_kommo(self, conversation_id: str, now: int) -> None: ...


class Salespeople(Protocol):
    """The salespeople cache: Kommo's users with their local profiles; leavers kept inactive."""

    def get(self, vendor_id: int) -> Salesperson | None: ...

    def all(self) -> list[Salesperson]: ...

    def save_from_kommo(self, user: KommoUser, synced_at: int) -> None: ...

    def save_profile(self, vendor_id: int, profile: SalespersonProfile, source: ProfileSource = "config") -> bool: ...

    def mark_left(self, vendor_id: int, left_at: int) -> None: ...


class SentSalespeople(Protocol):
    """The fingerprint of the last salesperson list n8n stored ("" before the first)."""

    def last(self) -> str: ...

    def remember(self, fingerprint: str) -> None: ...


class RoundRobin(Protocol):
    def turn(self, pool: str) -> int:
        """The next turn number (1, 2, 3...) of a pool, atomically across Lambdas."""
        ...


class BotStates(Protocol):
    """Whether the bot answers each contact; `save` raises StateConflict when another writer came first."""

    def get(self, contact_id: int) -> BotState | None: ...

    def save(self, state: BotState, expected_version: int) -> None: ...

    def with_status(self, status: BotStatus) -> list[BotState]: ...


class Triggers(Protocol):
    """One record per lead and trigger kind: sent, deferred or skipped."""

    def register(self, request: TriggerDue, now: int) -> tuple[Trigger, bool]: ...

    def update(self, trigger_id: str, status: TriggerStatus, **changes: Any) -> None: ...

    def with_status(self, status: TriggerStatus, due_before: int | None = None) -> list[Trigger]: ...


class FunnelCounts(Protocol):
    """The sales funnel's daily aggregates (per day, salesperson and trigger kind) and each month's totals."""

    def count(self, event: FunnelEvent) -> bool:
        """Add the event to its day and month at once; False (nothing added) when its once_key was counted."""
        ...

    def days(self, first: date, last: date) -> list[FunnelRow]:
        """The day rows from `first` to `last`, both included, read by key (never a scan)."""
        ...

    def month_totals(self, month: str) -> dict[str, int]:
        """Every counter's account-wide total of a month ("YYYY-MM"), in one read."""
        ...


class FollowUpRecords(Protocol):
    """One follow-up record per lead; `save` writes only over the version read (0: none stored yet) and
    answers False when another writer came first."""

    def get(self, lead_id: int) -> FollowUp | None: ...

    def save(self, record: FollowUp, expected_version: int) -> bool: ...

    def due(self, now: int) -> list[FollowUp]: ...


class Agenda(Protocol):
    """Holds and appointments; raises SlotTaken, KeyUsed and ChangedMeanwhile (services/booking_conflicts.py)."""

    def busy(self, vendor_id: int, start: int, end: int, now: int, lead_id: int | None = None) -> set[int]: ...

    def get(self, appointment_id: str) -> Appointment | None: ...

    def hold(self, hold_id: str) -> Hold | None: ...

    def lead_hold(self, lead_id: int) -> Hold | None: ...

    def lead_appointments(self, lead_id: int) -> LeadAppointments: ...

    def booked_with(self, key: str) -> BookingKey | None: ...

    def meeting_task(self, appointment_id: str) -> int | None: ...

    def keep_meeting_task(self, appointment_id: str, task_id: int) -> None: ...

    def add_hold(self, hold: Hold, now: int, previous: Hold | None = None) -> None: ...

    def book(
        self,
        appointment: Appointment,
        now: int,
        replacing: str | None = None,
        lead: LeadAppointments | None = None,
        hold_booked: bool = False,
    ) -> None: ...

    def cancel(self, appointment: Appointment, cancelled: Appointment) -> None: ...

    def move(self, appointment: Appointment, moved: Appointment, now: int) -> None: ...


class Reminders(Protocol):
    """An appointment's reminders, one-time schedules (EventBridge Scheduler in AWS)."""

    def set(self, appointment: Appointment, now: int) -> list[int]: ...

    def remove(self, appointment_id: str) -> None: ...


class DeliveryLog(Protocol):
    """What is known of each delivery, per key: attempted, delivered or unconfirmed."""

    def get(self, key: str) -> DeliveryRecord | None: ...

    def start_run(self, key: str, at: int) -> bool:
        """Record the attempt before the run; False when one was recorded already."""
        ...

    def forget_run(self, key: str) -> None: ...

    def finish(self, key: str, state: Literal["delivered", "unconfirmed"], at: int) -> None: ...


class EchoMemory(Protocol):
    """Where echo keys are remembered (DynamoDB in AWS, a dict in unit tests)."""

    def remember(self, keys: Iterable[str]) -> None:
        """Expect these echoes; forget that they came back before (a run is confirmed only by its own echo)."""
        ...

    def known(self, keys: Iterable[str]) -> set[str]: ...

    def mark_seen(self, keys: Iterable[str]) -> None: ...

    def seen(self, key: str) -> bool: ...


class Switches(Protocol):
    def stops(self, vendor_id: int | None) -> str | None:
        """Why a message to a lead of this salesperson must not go out now (None: it may)."""
        ...


class LiveBudget(Protocol):
    def monthly_budget_usd(self) -> float | None:
        """The monthly budget an operator set without a deploy (None: the MONTHLY_BUDGET_USD setting holds)."""
        ...


class HealthReports(Protocol):
    """The canary's last report."""

    def load(self) -> HealthReport | None: ...

    def save(self, report: HealthReport) -> None: ...


class ReceivedMessages(Protocol):
    """Which client messages the intake received (the canary compares Kommo's events with them)."""

    def missing(self, message_ids: Iterable[str]) -> set[str]: ...

    def mark(self, message_ids: Iterable[str], *, missed: bool = False) -> None: ...


class ConsentRecords(Protocol):
    """Each contact's last word on being contacted: an opt-out, or an opt-in after one."""

    def get(self, contact_id: int) -> ConsentRecord | None: ...

    def save(self, record: ConsentRecord, replacing: ConsentRecord | None) -> bool:
        """Write `record` unless the contact's record changed since `replacing` was read (False then)."""
        ...

    def delete(self, contact_id: int) -> None: ...


class ContactData(Protocol):
    """What the service keeps about one contact besides their consent, found and erased table by table."""

    def conversations_of(self, contact_id: int, lead_ids: Iterable[int]) -> list[Conversation]:
        """The contact's own chat (`contact:<id>`), the chats of these leads and every chat they wrote in last."""
        ...

    def delete_conversation(self, conversation_id: str) -> None: ...

    def delete_triggers(self, lead_id: int) -> list[str]:
        """Delete the lead's first-message triggers (their data is what the lead sent); their ids."""
        ...

    def delete_follow_ups(self, lead_id: int) -> bool:
        """Delete the lead's follow-up ladder; True if there was one."""
        ...

    def delete_bot_state(self, contact_id: int) -> bool: ...

    def delete_cached(self, is_theirs: Callable[[dict[str, Any]], bool]) -> int:
        """Delete the cached results (idempotency records) that `is_theirs`; how many."""
        ...
