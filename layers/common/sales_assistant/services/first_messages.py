"""A lead's first message: what n8n writes for it, or the configured fallback (a text inside the 24-hour
window, a template outside it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sales_assistant import timing
from sales_assistant.models.conversation import Conversation
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.n8n import ContactInfo, LeadInfo, N8nRequest, SalespersonInfo, TriggerInfo
from sales_assistant.models.salesperson import Salesperson
from sales_assistant.models.trigger import Trigger
from sales_assistant.observability import count
from sales_assistant.services.answers import Answer, AnswerWriter
from sales_assistant.services.delivery import Outgoing, Template
from sales_assistant.services.leases import Lease
from sales_assistant.services.ports.storage import Once
from sales_assistant.texts import Texts


@dataclass(frozen=True)
class FirstMessageConfig:
    n8n_path: str
    reply_field_id: int  # the Salesbot relay's field: never sent to n8n as lead data
    fallback_template: str = ""  # the template sent outside the window when n8n gives no usable one


@dataclass(frozen=True)
class Addressee:
    """Who the first message is for and from: the lead, its contact, the salesperson and why they write."""

    lead: KommoLead
    contact: KommoContact
    salesperson: Salesperson
    routing: str
    area: str


class FirstMessageComposer:
    """Writes a trigger's first message, once per trigger (a retry reuses n8n's answer)."""

    def __init__(
        self,
        writer: AnswerWriter,
        once: Once,
        texts: Texts,
        config: FirstMessageConfig,
        clock: Callable[[], float] = timing.now,
    ) -> None:
        self._writer = writer
        self._once = once
        self._texts = texts
        self._config = config
        self._clock = clock

    def compose(
        self, trigger: Trigger, to: Addressee, conversation: Conversation | None, lease: Lease
    ) -> tuple[Answer, Outgoing | None]:
        """n8n's answer and the message to send (n8n's, else the fallback); None when nothing can be sent: no
        fallback template outside the window."""
        window_open = conversation is not None and conversation.window_open(int(self._clock()))
        answer = Answer.model_validate(
            self._once(
                "proactive-answer",
                trigger.trigger_id,
                lambda: self._ask(trigger, to, conversation, window_open, lease).model_dump(mode="json"),
            )
        )
        outgoing = answer.outgoing(trigger.trigger_id, f"lead:{to.lead.id}", to.lead, to.contact.id, trigger.kind)
        if outgoing is None or (outgoing.template is None and not window_open):
            outgoing = self._fallback(trigger, to, window_open)
        return answer, outgoing

    def _ask(
        self, trigger: Trigger, to: Addressee, conversation: Conversation | None, window_open: bool, lease: Lease
    ) -> Answer:
        salesperson, contact = to.salesperson, to.contact
        request = N8nRequest(
            kind="proactive",
            conversation_id=f"lead:{to.lead.id}",
            lead=LeadInfo.of(to.lead, area=to.area, hidden_field_ids={self._config.reply_field_id}),
            contact=ContactInfo(id=contact.id, name=contact.name, phone=contact.phone),
            vendor=SalespersonInfo(id=salesperson.vendor_id, name=salesperson.name, areas=salesperson.profile.areas),
            history=conversation.turns[-20:] if conversation else [],
            trigger=TriggerInfo(kind=trigger.kind, data=trigger.data, routing=to.routing),
            window_open=window_open,
        )
        return self._writer.ask(self._config.n8n_path, request, lease, None, trigger.trigger_id)

    def _fallback(self, trigger: Trigger, to: Addressee, window_open: bool) -> Outgoing | None:
        """The configured first message when n8n gave none that can be sent."""
        first_name = to.contact.name.split(" ")[0] if to.contact.name else ""
        lead = to.lead
        key, conversation_id = trigger.trigger_id, f"lead:{lead.id}"
        count("ProactiveFallbacks")
        if window_open:
            text = self._texts.render("proactive_fallback", nome=first_name)
            return Outgoing(
                key, conversation_id, lead.id, to.contact.id, lead.responsible_user_id, text=text, trigger=trigger.kind
            )
        if self._config.fallback_template:
            template = Template(self._config.fallback_template, {"nome": first_name} if first_name else {})
            return Outgoing(
                key,
                conversation_id,
                lead.id,
                to.contact.id,
                lead.responsible_user_id,
                template=template,
                trigger=trigger.kind,
            )
        return None
