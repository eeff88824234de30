"""A no-show on fakes: the salesperson writes `/faltou` (in a note on the lead, or in its chat) after the client
missed the meeting, the meeting is marked no-show and the client is offered new slots of the same salesperson,
once; nothing more for a second `/faltou` or a replayed one; no offer to a client who opted out or while a
salesperson has the chat (tests/integration/test_no_show.py drives the same through the handlers on moto)."""

from __future__ import annotations

from datetime import datetime

import pytest

from sales_assistant.errors import Conflict
from sales_assistant.models.appointment import BookingRequest, RescheduleRequest
from sales_assistant.models.bot_state import ChangeReason
from sales_assistant.models.kommo_webhook import Author, ChatMessage, LeadNote
from sales_assistant.services.leases import ConversationDoor
from sales_assistant.services.no_show import NoShows
from sales_assistant.services.takeover import Actor, TakeoverService
from tests.unit.flows import (
    LEASE_SECONDS,
    MIN_GAP_SECONDS,
    REPLY_FIELD,
    SAO_PAULO,
    TEMPLATE_NAME_FIELD,
    TEMPLATE_SALESBOT,
    Fakes,
    consent,
    delivery,
    scheduling,
    takeover,
)

MARIANA_LEAD, MARIANA, ANA = 27754599, 93589657, 8401234
DATE_FIELD, HOUR_FIELD = 900011, 900012
MISSED = "❌ Falta registrada por Ana Souza: reunião de 03/03/2026 às 10:00 com Ana Souza."


@pytest.fixture
def fakes() -> Fakes:
    """Monday: Mariana, who wrote an hour ago, books Tuesday 10:00 with Ana; it is now Tuesday 11:00."""
    fakes = Fakes(datetime(2026, 3, 2, 9, 0, tzinfo=SAO_PAULO))
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA)
    start = datetime(2026, 3, 3, 10, 0, tzinfo=SAO_PAULO)
    scheduling(fakes).book(BookingRequest(vendor_id=ANA, lead_id=MARIANA_LEAD, start=start))
    fakes.clock.now = datetime(2026, 3, 3, 11, 0, tzinfo=SAO_PAULO).timestamp()
    mariana_wrote(fakes)
    return fakes


def mariana_wrote(fakes: Fakes) -> None:
    """Mariana wrote an hour ago: the 24-hour window is open."""
    message = fakes.client_message("m-1", "ok", lead_id=MARIANA_LEAD, contact_id=MARIANA)
    fakes.conversations.append(message.model_copy(update={"created_at": int(fakes.clock()) - 3600}), int(fakes.clock()))


def commands(fakes: Fakes, template: str = "") -> TakeoverService:
    """The takeover service with /faltou wired to the no-show service (composition.takeover_service); templates
    fill the lead fields of `nome`, `data` and `hora`."""
    no_shows = NoShows(
        agenda=fakes.agenda,
        scheduling=scheduling(fakes),
        salespeople=fakes.salespeople,
        kommo=fakes.kommo,
        consent=consent(fakes),
        takeover=takeover(fakes),
        conversations=fakes.conversations,
        door=ConversationDoor(fakes.conversations, fakes.queue, lambda: LEASE_SECONDS, MIN_GAP_SECONDS, fakes.clock),
        delivery=delivery(fakes, {"nome": TEMPLATE_NAME_FIELD, "data": DATE_FIELD, "hora": HOUR_FIELD}),
        notes=fakes.kommo,
        once=fakes.once,
        funnel=fakes.funnel,
        texts=fakes.texts,
        template=template,
        clock=fakes.clock,
    )
    return takeover(fakes, no_shows)


def ana_notes(fakes: Fakes, text: str, note_id: int = 501, *, template: str = "") -> str:
    """Ana writes a note on Mariana's lead (Kommo's note_lead webhook, as the commands queue gets it)."""
    note = LeadNote(id=note_id, element_id=MARIANA_LEAD, text=text, created_by=ANA, created_at=int(fakes.clock()))
    return commands(fakes, template).handle_salesperson_note(note, "Ana Souza")


def sent_to_mariana(fakes: Fakes) -> list[str]:
    return fakes.kommo.texts_sent(MARIANA_LEAD, REPLY_FIELD)


def appointment_status(fakes: Fakes) -> str:
    [appointment] = fakes.agenda.appointments.values()
    return appointment.status


def last_note(fakes: Fakes) -> str:
    return fakes.kommo.notes_on(MARIANA_LEAD)[-1]


def test_faltou_marks_the_meeting_and_offers_the_first_slot_of_anas_next_open_days(fakes: Fakes) -> None:
    assert ana_notes(fakes, "/faltou") == "no_show_marked"

    assert appointment_status(fakes) == "no_show"
    [offer] = sent_to_mariana(fakes)
    slots = "• hoje às 13h\n• amanhã às 9h\n• quinta-feira às 9h"  # two hours' notice: today from 13:00
    assert offer == (
        "Oi, Mariana! Sentimos sua falta na reunião de 03/03/2026 às 10:00 com Ana Souza. Quer remarcar?"
        f" Tenho estes horários:\n{slots}\nÉ só responder com o melhor para você. 📅"
    )
    assert last_note(fakes) == f"{MISSED}\nO assistente ofereceu novos horários ao cliente:\n{slots}"


def test_a_second_faltou_and_a_replayed_one_send_nothing_more(fakes: Fakes) -> None:
    ana_notes(fakes, f"/faltou {MARIANA_LEAD}", note_id=501)
    notes = fakes.kommo.notes_on(MARIANA_LEAD)

    assert ana_notes(fakes, f"/faltou {MARIANA_LEAD}", note_id=501) == "no_show_already_marked"  # the webhook again
    assert fakes.kommo.notes_on(MARIANA_LEAD) == notes
    assert ana_notes(fakes, "/faltou", note_id=502) == "no_show_already_marked"

    assert len(sent_to_mariana(fakes)) == 1
    assert last_note(fakes) == (
        "A falta na reunião de 03/03/2026 às 10:00 já estava registrada: nada foi enviado ao cliente de novo."
    )


def test_a_retry_after_the_offer_went_out_records_the_no_show_without_a_second_offer(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command failed after the offer was sent (the agenda did not answer): the queue retries it."""

    def no_answer(*_: object) -> None:
        raise TimeoutError("DynamoDB did not answer")

    with monkeypatch.context() as patch:
        patch.setattr(fakes.agenda, "cancel", no_answer)
        with pytest.raises(TimeoutError):
            ana_notes(fakes, "/faltou")

    assert ana_notes(fakes, "/faltou") == "no_show_marked"
    assert appointment_status(fakes) == "no_show" and len(sent_to_mariana(fakes)) == 1


def test_without_a_past_meeting_ana_is_told_and_nothing_changes(fakes: Fakes) -> None:
    fakes.clock.now = datetime(2026, 3, 3, 9, 30, tzinfo=SAO_PAULO).timestamp()  # the meeting is still to come

    assert ana_notes(fakes, "/faltou") == "no_past_meeting"

    assert appointment_status(fakes) == "booked" and sent_to_mariana(fakes) == []
    assert last_note(fakes) == "Não encontrei reunião já iniciada deste lead para marcar como falta. Nada foi alterado."


def test_a_client_who_opted_out_gets_no_offer_and_ana_is_told(fakes: Fakes) -> None:
    opt_out = fakes.client_message("m-2", "pare", lead_id=MARIANA_LEAD, contact_id=MARIANA)
    consent(fakes).hear(MARIANA, MARIANA_LEAD, [opt_out])

    assert ana_notes(fakes, "/faltou") == "no_show_marked"

    assert appointment_status(fakes) == "no_show" and sent_to_mariana(fakes) == []
    assert last_note(fakes) == (
        f"{MISSED}\nO assistente não ofereceu novos horários: o cliente pediu para não receber mensagens do"
        " assistente. Fale com o cliente."
    )


def test_while_a_salesperson_has_the_chat_the_assistant_does_not_talk_over_them(fakes: Fakes) -> None:
    takeover(fakes).pause(MARIANA, Actor(ANA, "Ana Souza"), ChangeReason.COMMAND, "m-9", MARIANA_LEAD)

    ana_notes(fakes, "/faltou")

    assert appointment_status(fakes) == "no_show" and sent_to_mariana(fakes) == []
    assert "não ofereceu novos horários: um vendedor assumiu a conversa" in last_note(fakes)


def test_outside_the_window_without_a_template_ana_is_told_to_write_herself(fakes: Fakes) -> None:
    fakes.clock.now += 86400  # Wednesday 11:00: Mariana wrote 25 hours ago

    assert ana_notes(fakes, "/faltou") == "no_show_marked"

    assert fakes.kommo.runs == [] and "não há modelo configurado (NO_SHOW_TEMPLATE)" in last_note(fakes)


def test_outside_the_window_the_configured_template_asks_mariana_to_rebook(fakes: Fakes) -> None:
    fakes.clock.now += 86400

    ana_notes(fakes, "/faltou", template="remarcar_reuniao")

    [run] = fakes.kommo.runs
    assert run.bot_id == TEMPLATE_SALESBOT
    assert run.fields == {TEMPLATE_NAME_FIELD: "Mariana", DATE_FIELD: "03/03/2026", HOUR_FIELD: "10:00"}
    assert last_note(fakes).endswith('o assistente enviou o modelo "remarcar_reuniao" para remarcar.')


def test_faltou_typed_in_the_chat_is_about_the_chats_lead(fakes: Fakes) -> None:
    typed = ChatMessage(
        id="s-1",
        chat_id=f"chat-{MARIANA}",
        contact_id=MARIANA,
        text="/Faltou",
        created_at=int(fakes.clock()),
        entity_type="lead",
        entity_id=MARIANA_LEAD,
        type="outgoing",
        author=Author(id="a", type="internal", name="Ana Souza", user_id=ANA),
    )

    assert commands(fakes).handle_salesperson_message(typed) == "no_show_marked"
    assert appointment_status(fakes) == "no_show" and len(sent_to_mariana(fakes)) == 1


def test_after_a_no_show_mariana_books_a_new_slot_the_missed_meeting_stays_as_it_was(fakes: Fakes) -> None:
    ana_notes(fakes, "/faltou")
    [missed] = fakes.agenda.appointments.values()
    service = scheduling(fakes)
    tomorrow_9 = datetime(2026, 3, 4, 9, 0, tzinfo=SAO_PAULO)  # the second slot offered

    with pytest.raises(Conflict) as refused:
        service.reschedule(missed.appointment_id, RescheduleRequest(start=tomorrow_9))
    assert refused.value.code == "no_show"
    assert service.cancel(missed.appointment_id).status == "no_show"  # nothing to free any more

    booked = service.book(BookingRequest(vendor_id=ANA, lead_id=MARIANA_LEAD, start=tomorrow_9))
    assert booked.status == "booked" and service.get(missed.appointment_id).status == "no_show"
