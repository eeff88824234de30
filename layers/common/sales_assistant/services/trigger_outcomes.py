"""How a trigger ends, recorded: sent, deferred or skipped, on the trigger, in the metrics and in a pt-BR note on
the lead (the salesperson learns why a new lead was or was not contacted)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sales_assistant import timing
from sales_assistant.models.kommo import KommoLead
from sales_assistant.models.salesperson import Salesperson
from sales_assistant.models.trigger import Trigger, TriggerKind
from sales_assistant.observability import count, logger, measure
from sales_assistant.services.actions import AnswerActions
from sales_assistant.services.answers import Answer
from sales_assistant.services.delivery import Outgoing
from sales_assistant.services.first_messages import Addressee
from sales_assistant.services.funnel import Funnel
from sales_assistant.services.ports.flows import FollowUpLadder
from sales_assistant.services.ports.kommo import LeadNotes
from sales_assistant.services.ports.storage import Conversations, Triggers
from sales_assistant.texts import Texts


class TriggerOutcomes:
    """Records each trigger's outcome; every note is once per trigger."""

    def __init__(
        self,
        *,
        triggers: Triggers,
        conversations: Conversations,
        notes: LeadNotes,
        actions: AnswerActions,
        follow_ups: FollowUpLadder,
        funnel: Funnel,
        texts: Texts,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._funnel = funnel
        self._follow_ups = follow_ups
        self._triggers = triggers
        self._conversations = conversations
        self._notes = notes
        self._actions = actions
        self._texts = texts
        self._clock = clock

    def repeated(self, trigger: Trigger, with_data: bool) -> str:
        """A trigger already sent or skipped came again: its data goes to the conversation n8n sees."""
        if with_data:
            self._conversations.set_context(f"lead:{trigger.lead_id}", _context(trigger), int(self._clock()))
        count("TriggersRepeated")
        return "repeated"

    def sent(self, trigger: Trigger, to: Addressee, answer: Answer, outgoing: Outgoing, at: int) -> str:
        """The trigger marked sent, the conversation given its context, the lead noted, n8n's actions run."""
        self._conversations.set_context(f"lead:{to.lead.id}", _context(trigger, to.routing, at), int(self._clock()))
        self._triggers.update(trigger.trigger_id, "sent", sent_at=at, vendor_id=to.salesperson.vendor_id)
        self._notes.note(
            f"proactive:{trigger.trigger_id}",
            to.lead.id,
            self._texts.render(
                "note_proactive_sent",
                trigger=self._name(trigger.kind),
                salesperson=to.salesperson.name or str(to.salesperson.vendor_id),
                routing=self._texts.render(f"route_{to.routing}"),
                message=outgoing.described,
            ),
            service=True,
        )
        self._follow_ups.start(to.lead, to.contact.id, at, trigger.kind)
        self._actions.run(answer.actions, to.lead, to.contact.id, trigger.trigger_id)
        count("ProactiveMessagesSent", kind=trigger.kind)
        self._funnel.first_message(trigger, "sent", to.salesperson.vendor_id, at)
        if trigger.lead_created_at:
            measure("SpeedToLead", max(at - trigger.lead_created_at, 0))
        return "sent"

    def deferred(self, trigger: Trigger, salesperson: Salesperson, routing: str, due_at: int, reason: str) -> str:
        """Keep the trigger, with its salesperson, for the sweep: outside the salesperson's hours until they
        open, under the kill switch until it is turned off (a deferred trigger is never dropped)."""
        self._triggers.update(
            trigger.trigger_id,
            "deferred",
            due_at=due_at,
            vendor_id=salesperson.vendor_id,
            routing=routing,
            reason=reason,
        )
        count("ProactiveDeferred", reason=reason)
        self._funnel.first_message(trigger, "deferred", salesperson.vendor_id)
        logger.info("first message deferred", extra={"lead_id": trigger.lead_id, "due_at": due_at, "reason": reason})
        if reason != "outside_hours":  # the salesperson learns why a new lead has not been contacted yet
            self._notes.note(
                f"proactive-held:{trigger.trigger_id}",
                trigger.lead_id,
                self._texts.render(
                    "note_proactive_held", trigger=self._name(trigger.kind), reason=self._texts.render(f"skip_{reason}")
                ),
                service=True,
            )
        return "deferred"

    def skipped(self, trigger: Trigger, reason: str, lead: KommoLead | None) -> str:
        """The trigger ends without a first message; the salesperson is told why on the lead (if it exists)."""
        self._triggers.update(trigger.trigger_id, "skipped", reason=reason)
        count("ProactiveSkipped", reason=reason)
        self._funnel.first_message(trigger, f"skipped:{reason}", lead.responsible_user_id if lead else None)
        logger.info("first message not sent", extra={"lead_id": trigger.lead_id, "reason": reason})
        if lead is not None:
            self._notes.note(
                f"proactive-skipped:{trigger.trigger_id}",
                lead.id,
                self._texts.render(
                    "note_proactive_skipped",
                    trigger=self._name(trigger.kind),
                    reason=self._texts.render(f"skip_{reason}"),
                ),
                service=True,
            )
        return f"skipped:{reason}"

    def _name(self, kind: TriggerKind) -> str:
        return self._texts.render(f"trigger_{kind}")


def _context(trigger: Trigger, routing: str = "", sent_at: int | None = None) -> dict[str, Any]:
    """What the conversation keeps of its trigger, for n8n when the client answers."""
    context: dict[str, Any] = {"kind": trigger.kind, "data": trigger.data}
    if routing:
        context["routing"] = routing
    if sent_at:
        context["sent_at"] = sent_at
    return context
