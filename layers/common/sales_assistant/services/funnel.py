"""The sales funnel: what the flows count, per day (the account's), salesperson and trigger kind (FunnelCounts).

Each step is counted once: a lead in, its first message (sent, deferred, skipped by reason), how fast it went
out (speed to lead, as histogram buckets so percentiles come from the daily sums), the lead's reply, its
qualification, its handover, its opt-out and a reply after a follow-up once per lead; each follow-up once per
ladder step; each meeting change once per appointment. A replayed webhook or queue record counts nothing (the
store's once keys). Counting never breaks a flow: a count that fails is logged (the counter's name, no personal
data) and metered (FunnelCountsFailed), and the flow goes on. Each step counted also goes out as the
`FunnelSteps` metric by step and salesperson, for the Sales dashboard."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Concatenate, ParamSpec
from zoneinfo import ZoneInfo

from sales_assistant import timing
from sales_assistant.models.funnel import FunnelEvent
from sales_assistant.observability import count, logger

if TYPE_CHECKING:
    from sales_assistant.models.appointment import Appointment
    from sales_assistant.models.conversation import Conversation
    from sales_assistant.models.follow_up import FollowUp
    from sales_assistant.models.kommo import KommoLead
    from sales_assistant.models.queue import AppointmentChanged
    from sales_assistant.models.trigger import Trigger
    from sales_assistant.services.ports.queues import AppointmentEvents
    from sales_assistant.services.ports.storage import Conversations, FollowUpRecords, FunnelCounts

INBOUND = "inbound"  # the trigger kind of a conversation the client began
# speed to lead: a first message's delay after the lead's creation falls in one bucket (upper bounds, seconds)
SPEED_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 86400)
SPEED_OVER = f"speed_to_lead_gt_{SPEED_BUCKETS[-1]}s"
# the funnel's steps in order (the report's columns; skipped first messages follow by reason)
STEPS = (
    "leads_in",
    "first_message_sent",
    "first_message_deferred",
    "replied",
    "qualified",
    "meeting_booked",
    "meeting_rescheduled",
    "meeting_cancelled",
    "meeting_held",
    "meeting_no_show",
    "handover",
    "follow_up_sent",
    "follow_up_replied",
    "opted_out",
)
SKIPPED = "first_message_skipped_"
Hook = ParamSpec("Hook")


def never_breaks(hook: Callable[Concatenate[Funnel, Hook], None]) -> Callable[Concatenate[Funnel, Hook], None]:
    """A hook of the flows: whatever fails in it (a read of the lead's trigger kind, a count) is logged and
    metered, and the flow goes on."""

    @functools.wraps(hook)
    def safely(funnel: Funnel, *args: Hook.args, **kwargs: Hook.kwargs) -> None:
        try:
            hook(funnel, *args, **kwargs)
        except Exception as error:  # counting never breaks the flow that counts
            logger.warning("funnel count failed", extra={"hook": hook.__name__, "error": type(error).__name__})
            count("FunnelCountsFailed")

    return safely


def speed_bucket(seconds: int) -> str:
    """The counter of a speed to lead: `speed_to_lead_le_300s` for 61 to 300 s, `speed_to_lead_gt_86400s` past a day."""
    bound = next((bound for bound in SPEED_BUCKETS if seconds <= bound), None)
    return f"speed_to_lead_le_{bound}s" if bound else SPEED_OVER


def speed_percentile(counters: Mapping[str, int], share: float) -> int | None:
    """The bucket bound (seconds) under which `share` of the first messages went out; -1 past the last bound,
    None with no first message timed."""
    buckets = [(bound, counters.get(f"speed_to_lead_le_{bound}s", 0)) for bound in SPEED_BUCKETS]
    buckets.append((-1, counters.get(SPEED_OVER, 0)))
    total, seen = sum(number for _, number in buckets), 0
    for bound, number in buckets:
        seen += number
        if total and seen >= share * total:
            return bound
    return None


class Funnel:
    """The funnel's steps, each a one-line hook in the flow that sees it; `counts` None: nothing is counted."""

    def __init__(
        self,
        counts: FunnelCounts | None,
        timezone: str,
        *,
        conversations: Conversations | None = None,
        follow_ups: FollowUpRecords | None = None,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        """`conversations`: where a lead's trigger kind is read when the flow does not know it (None: inbound);
        `follow_ups`: where the reactive flow learns a reply came after a follow-up (None: not counted)."""
        self._counts = counts
        self._zone = ZoneInfo(timezone)
        self._conversations = conversations
        self._follow_ups = follow_ups
        self._clock = clock

    # ------------------------------------------------------------------ proactive outreach
    @never_breaks
    def first_message(self, trigger: Trigger, outcome: str, salesperson_id: int | None, at: int = 0) -> None:
        """A trigger's outcome (sent, deferred, skipped:<reason>): the lead is in, its first message counted."""
        lead_id, kind = trigger.lead_id, trigger.kind
        self.add("leads_in", lead_id, salesperson_id, kind)
        name = SKIPPED + outcome.partition(":")[2] if outcome.startswith("skipped:") else f"first_message_{outcome}"
        first = self.add(name, lead_id, salesperson_id, kind)
        if first and outcome == "sent" and trigger.lead_created_at:  # the lead's first message only
            self.add(speed_bucket(max(at - trigger.lead_created_at, 0)), lead_id, salesperson_id, kind)

    # ------------------------------------------------------------------ the reactive flow
    @never_breaks
    def client_wrote(self, lead: KommoLead, conversation: Conversation, heard: str) -> None:
        """A batch of the client's messages: the lead is in (inbound when the client began), it replied when the
        assistant had written, it replied after a follow-up, it opted out."""
        kind, salesperson_id = conversation.trigger_kind, lead.responsible_user_id
        self.add("leads_in", lead.id, salesperson_id, kind)
        if conversation.proactive or any(turn.role == "assistant" and turn.delivered for turn in conversation.turns):
            self.add("replied", lead.id, salesperson_id, kind)
        if heard == "opted_out":
            self.add("opted_out", lead.id, salesperson_id, kind)
        ladder = self._follow_ups.get(lead.id) if self._follow_ups else None
        if ladder is not None and ladder.sent and conversation.last_client_message_at > ladder.sent[-1].at:
            self.add("follow_up_replied", lead.id, salesperson_id, kind)

    @never_breaks
    def qualified(self, lead: KommoLead) -> None:
        """n8n's `set_fields` wrote at least one qualification field on the lead."""
        self.add("qualified", lead.id, lead.responsible_user_id, self._trigger_of(lead.id))

    @never_breaks
    def handed_over(self, lead: KommoLead) -> None:
        self.add("handover", lead.id, lead.responsible_user_id, self._trigger_of(lead.id))

    @never_breaks
    def follow_up_sent(self, ladder: FollowUp, lead: KommoLead) -> None:
        """One follow-up out (once per ladder step: ladder.key)."""
        self.add("follow_up_sent", lead.id, lead.responsible_user_id, self._trigger_of(lead.id), once=ladder.key)

    # ------------------------------------------------------------------ meetings
    @never_breaks
    def meeting(self, name: str, appointment: Appointment) -> None:
        """meeting_booked, meeting_rescheduled, meeting_cancelled, meeting_held or meeting_no_show, once per
        appointment."""
        lead_id = appointment.lead_id
        self.add(name, lead_id, appointment.vendor_id, self._trigger_of(lead_id), once=appointment.appointment_id)

    @never_breaks
    def meeting_not_held(self, appointment: Appointment) -> None:
        """A meeting counted held, then marked missed (`/faltou`): meeting_held taken back (-1), once per
        appointment."""
        lead_id, once = appointment.lead_id, f"{appointment.appointment_id}:taken_back"
        self.add("meeting_held", lead_id, appointment.vendor_id, self._trigger_of(lead_id), once=once, amount=-1)

    # ------------------------------------------------------------------ counting
    def _trigger_of(self, lead_id: int) -> str | None:
        """The kind of the trigger that opened the lead's conversation (None: the client began)."""
        conversation = self._conversations.get(f"lead:{lead_id}") if self._conversations else None
        return conversation.trigger_kind if conversation else None

    def today(self) -> date:
        """The account's day, the one counts go to."""
        return datetime.fromtimestamp(self._clock(), self._zone).date()

    def add(
        self,
        name: str,
        lead_id: int,
        salesperson_id: int | None,
        trigger: str | None,
        once: str = "",
        amount: int = 1,
        *,
        also: Mapping[str, int] | None = None,
    ) -> bool:
        """Count `name` (`amount`) for the lead today, once per name, lead and `once`; True when counted now.
        `also`: more counters of the same moment, counted with it in one count (one write), under its once key;
        a counter of 0 is left out."""
        counters = {counter: number for counter, number in {name: amount, **(also or {})}.items() if number}
        if self._counts is None or not counters:
            return False
        try:
            event = FunnelEvent(
                day=self.today(),
                salesperson_id=salesperson_id or 0,
                trigger=trigger or INBOUND,
                counters=counters,
                lead_id=lead_id,
                once_key=":".join(part for part in (name, str(lead_id), once) if part),
            )
            counted = self._counts.count(event)
        except Exception as error:  # counting never breaks the flow that counts
            logger.warning("funnel count failed", extra={"counter": name, "error": type(error).__name__})
            count("FunnelCountsFailed")
            return False
        if counted and (name in STEPS or name.startswith(SKIPPED)):
            count("FunnelSteps", amount, step=name, salesperson=str(event.salesperson_id))
        return counted


class CountedMeetings:
    """The scheduling service's appointment events (ports.queues.AppointmentEvents), each booking, move and
    cancellation also counted in the funnel (meeting_booked, meeting_rescheduled, meeting_cancelled) once per
    appointment: a repeated booking publishes again and counts nothing."""

    def __init__(self, events: AppointmentEvents, funnel: Funnel) -> None:
        self._events = events
        self._funnel = funnel

    def publish(self, item: AppointmentChanged) -> str:
        published = self._events.publish(item)
        self._funnel.meeting(f"meeting_{item.change}", item.appointment)
        return published
