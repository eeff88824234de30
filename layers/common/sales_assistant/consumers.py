"""What the SQS consumers do with one queue item (the handlers add Powertools Batch around them)."""

from __future__ import annotations

import time
from functools import partial

from sales_assistant.composition import conversation_repository, lead_notes, reactive_conversations, takeover_service
from sales_assistant.config import get_settings
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import Turn
from sales_assistant.models.queue import (
    ClientMessageReceived,
    ConversationFlushDue,
    FollowUpDue,
    LeadChanged,
    LeadNoteDue,
    SalespersonMessageReceived,
    SalespersonNoteAdded,
    TriggerDue,
    UnsortedLeadAdded,
    parse_queue_item,
)
from sales_assistant.observability import count, follow, logger


class UnexpectedItem(ValueError):
    """An item on the wrong queue: it fails and ends in the DLQ, where someone can look at it."""


def conversation_item(body: str, sqs_message_id: str) -> str:
    """Conversations queue: a client message is buffered; a flush job answers the buffer."""
    item = parse_queue_item(body)
    flow = reactive_conversations(get_settings())
    follow(conversation=item.group_id)  # on every line of this record ("follow one lead" query)
    if isinstance(item, ClientMessageReceived):
        flow.receive(item.message)
        return "buffered"
    if isinstance(item, ConversationFlushDue):
        outcome = flow.flush(item.conversation_id, item.seq, job_id=sqs_message_id)
        logger.info("flush done", extra={"conversation": item.conversation_id, "outcome": outcome})
        return outcome
    raise UnexpectedItem(f"{item.kind} does not belong on the conversations queue")


def lead_event_item(body: str) -> str:
    """Lead events queue: new leads that match a trigger rule, and triggers, get their first message; a lead that
    moved stops its follow-ups if its status takes none; a due follow-up is sent."""
    from sales_assistant.composition import follow_up_ladders, follow_up_messages, proactive_outreach

    item = parse_queue_item(body)
    follow(conversation=item.group_id)  # "lead:<id>" or "unsorted:<uid>"
    flow = proactive_outreach(get_settings())
    if isinstance(item, TriggerDue):
        outcome = flow.handle(item)
    elif isinstance(item, LeadChanged) and item.change.kind == "add":
        outcome = flow.from_new_lead(item.change.id, source="", lead_created_at=item.change.created_at)
    elif isinstance(item, UnsortedLeadAdded) and item.lead.lead_id:
        outcome = flow.from_new_lead(item.lead.lead_id, source=item.lead.source, lead_created_at=item.lead.created_at)
    elif isinstance(item, LeadChanged):  # a status or responsible change: the conversation reads the lead again
        conversation_repository(get_settings()).forget_kommo(f"lead:{item.change.id}", int(time.time()))
        follow_up_ladders(get_settings()).lead_changed(item.change)
        outcome = "lead_refreshed"
    elif isinstance(item, FollowUpDue):
        outcome = follow_up_messages(get_settings()).send(item)
    elif isinstance(item, UnsortedLeadAdded):
        outcome = "ignored"  # an unsorted lead without a lead yet
    else:
        raise UnexpectedItem(f"{item.kind} does not belong on the lead events queue")
    logger.info("lead event handled", extra={"kind": item.kind, "outcome": outcome})
    return outcome


def scheduling_item(body: str) -> str:
    """Scheduling queue: an appointment's follow-ups, its reminders when their schedule fires, and whether the
    meeting was held once its no-show grace period is over."""
    from sales_assistant.composition import appointment_followups, meetings_held
    from sales_assistant.models.queue import AppointmentChanged, AppointmentOverDue, AppointmentReminderDue

    item = parse_queue_item(body)
    if isinstance(item, AppointmentChanged):
        outcome = appointment_followups(get_settings()).changed(item)
    elif isinstance(item, AppointmentReminderDue):
        outcome = appointment_followups(get_settings()).remind(item)
    elif isinstance(item, AppointmentOverDue):
        outcome = meetings_held(get_settings()).over(item)
    else:
        raise UnexpectedItem(f"{item.kind} does not belong on the scheduling queue")
    logger.info("scheduling item handled", extra={"kind": item.kind, "outcome": outcome})
    return outcome


def command_item(body: str) -> str:
    """Commands queue: a salesperson's chat message is a command or a manual reply (auto-takeover); a command
    written in a note on a lead is applied too (the client never saw it: it is no turn of the conversation)."""
    item = parse_queue_item(body)
    follow(conversation=item.group_id)
    if isinstance(item, LeadNoteDue):  # a command's note Kommo could not take then
        lead_notes(get_settings()).note(item.key, item.lead_id, item.text, service=item.service)
        return "note_written"
    takeover = takeover_service(get_settings(), notes_later=True)
    if isinstance(item, SalespersonMessageReceived):
        _record_salesperson_turn(item.message)
        outcome = takeover.handle_salesperson_message(item.message, item.author)
    elif isinstance(item, SalespersonNoteAdded):
        outcome = takeover.handle_salesperson_note(item.note, _kommo_user_name(item.note.created_by))
    else:
        raise UnexpectedItem(f"{item.kind} does not belong on the commands queue")
    count("SalespersonMessages", outcome=outcome)
    logger.info("salesperson message handled", extra={"outcome": outcome})
    return outcome


def _record_salesperson_turn(message: ChatMessage) -> None:
    """The salesperson's words go into the conversation's history (once per message), for n8n's context."""
    from sales_assistant.adapters.once import run_once

    settings = get_settings()
    turn = Turn(role="salesperson", text=message.text, at=message.created_at)
    add = partial(_add_turn, message.conversation_id, turn)
    run_once(
        "salesperson-turn",
        message.id,
        add,
        table_name=settings.idempotency_table,
        ttl_seconds=settings.dedup_ttl_seconds,
        raise_in_progress=True,
    )


def _add_turn(conversation_id: str, turn: Turn) -> dict[str, bool]:
    conversation_repository(get_settings()).add_turns(conversation_id, [turn], int(time.time()))
    return {"recorded": True}


def _kommo_user_name(user_id: int | None) -> str:
    """The name of the Kommo user who wrote a note ("" when Kommo does not know them: a user deleted since)."""
    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.errors import NotFound

    if user_id is None:
        return ""
    try:
        return kommo_client(get_settings()).user(user_id).name
    except NotFound:
        return ""
