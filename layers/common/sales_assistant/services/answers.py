"""What n8n writes, for a reply and for a first message alike: the request's pieces, the answer, the fallback.

Both flows ask through `AnswerWriter.ask`: the lease is renewed before the call, an n8n failure becomes the
flow's fallback (a text, or nothing), and n8n's response becomes an `Answer` the delivery can send (free text
inside the 24-hour window, a template outside it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sales_assistant.models import Model
from sales_assistant.models.kommo import KommoLead
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import Action, AttachmentInfo, ClientMessage, N8nRequest, N8nResponse, TemplateReply
from sales_assistant.observability import count, logger
from sales_assistant.services.delivery import Outgoing, Template
from sales_assistant.services.leases import Lease
from sales_assistant.services.ports.n8n import AiFailure, AiWriter

if TYPE_CHECKING:
    from sales_assistant.services.costs import Costs


class Answer(Model):
    """What the flow gets: the text or template to send (if any), the actions to run, and why it is a
    fallback."""

    reply: str | None
    actions: list[Action] = []
    fallback_reason: str | None = None
    template: TemplateReply | None = None

    def outgoing(
        self, key: str, conversation_id: str, lead: KommoLead, contact_id: int, trigger: str | None
    ) -> Outgoing | None:
        """The message to deliver (`trigger`: what opened the conversation), or None when the AI only asked for
        actions."""
        if self.reply is None and self.template is None:
            return None
        return Outgoing(
            key,
            conversation_id,
            lead.id,
            contact_id,
            lead.responsible_user_id,
            text=self.reply or "",
            template=Template(self.template.name, self.template.params)
            if self.reply is None and self.template
            else None,
            trigger=trigger,
        )


class AnswerWriter:
    """Asks n8n for an answer under a conversation's lease."""

    def __init__(self, ai: AiWriter, costs: Costs | None = None) -> None:
        self._ai = ai
        self._costs = costs

    def ask(self, path: str, request: N8nRequest, lease: Lease, fallback: str | None, key: str) -> Answer:
        """n8n's answer; when n8n gives none, the `fallback` text (None: nothing to send) with the reason. What
        the answer's chat model used is counted once per `key` (the flow's answer key)."""
        lease.renew()
        try:
            response = self._ai.ask(path, request)
        except AiFailure as failure:
            count("N8nFallbacks", reason=failure.reason)
            logger.warning("n8n failed: using the fallback", extra={"reason": failure.reason, "kind": request.kind})
            return Answer(reply=fallback, fallback_reason=failure.reason)
        if self._costs:
            self._costs.answered(key, request, response.usage)
        return answer_from(response, request.window_open)


def answer_from(response: N8nResponse, window_open: bool) -> Answer:
    """What n8n's response lets the service send: free text, or a template when the window is closed."""
    reply = response.reply.strip() if response.reply and response.reply.strip() else None
    if reply and not window_open and response.template is not None:
        reply = None  # outside the 24-hour window WhatsApp only takes a template
    template = response.template if reply is None else None
    return Answer(reply=reply, actions=response.actions, template=template)


def client_message(message: ChatMessage) -> ClientMessage:
    """A client's WhatsApp message as n8n gets it."""
    attachment = message.attachment
    return ClientMessage(
        id=message.id,
        text=message.text,
        type=message.message_type or "text",
        attachment=AttachmentInfo(type=attachment.type, link=attachment.link, file_name=attachment.file_name)
        if attachment and (attachment.link or attachment.type)
        else None,
        created_at=message.created_at,
        readable=message.has_content,
    )


def as_text(message: ChatMessage) -> str:
    """A client's message as the conversation's history and the note on the lead show it."""
    if message.text.strip():
        return message.text
    if message.attachment and message.attachment.link:
        kind = message.message_type or message.attachment.type
        return f"[{kind}] {message.attachment.file_name or message.attachment.link}"
    return f"[{message.message_type or 'mensagem'} sem conteúdo legível]"
