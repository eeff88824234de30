"""A no-show end to end on moto: Mariana missed her meeting with Ana, Ana writes `/faltou` in a note on the lead
(Kommo's note_lead webhook), the meeting is recorded no-show in the agenda and Mariana is offered new slots once;
a second `/faltou` and the same webhook again send nothing more; a lead without a past meeting, or a client who
opted out, gets nothing and Ana is told on the lead."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from local.kommo_webhooks import note_body
from sales_assistant.models.appointment import Appointment, BookingRequest
from tests.conftest import World
from tests.integration.test_reactive_flow import client_message
from tests.integration.test_scheduling import ANA, MARIANA_LEAD, SAO_PAULO, agenda, at, scheduling_at
from tests.integration.test_scheduling_followups import open_window

__all__ = ["agenda"]  # the fixture, shared with test_scheduling


def last_working_day() -> date:
    """The last Monday-to-Friday before today that is not a Brazilian holiday."""
    import holidays

    day = datetime.now(SAO_PAULO).date() - timedelta(days=1)
    while day.weekday() >= 5 or day in holidays.country_holidays("BR", years=day.year):
        day -= timedelta(days=1)
    return day


def mariana_missed_a_meeting(world: World) -> Appointment:
    """Mariana booked 10:00 of the last working day with Ana (three days before it) and did not come."""
    start = datetime.fromisoformat(at(last_working_day(), "10:00"))
    booked_then = scheduling_at(lambda: start.timestamp() - 3 * 86400)
    appointment = booked_then.book(BookingRequest(vendor_id=ANA, lead_id=MARIANA_LEAD, start=start))
    world.pump()  # its follow-ups (n8n, the meeting task, the confirmation)
    world.kommo.reset()
    return appointment


def ana_notes(world: World, note_id: int, text: str = "/faltou") -> str:
    """Ana writes a note on Mariana's lead; Kommo posts it to the service (the body, to post it again)."""
    body = note_body(note_id, text, lead=MARIANA_LEAD, created_by=ANA)
    world.post_webhook(body)
    world.pump()
    return body


def stored(appointment: Appointment) -> Appointment:
    from sales_assistant.adapters.agenda import DynamoAgenda
    from sales_assistant.config import get_settings

    found = DynamoAgenda(get_settings().appointments_table).get(appointment.appointment_id)
    assert found is not None
    return found


def notes_on_mariana(world: World) -> list[str]:
    return [note["params"]["text"] for note in world.kommo.notes if note["lead_id"] == MARIANA_LEAD]


def test_faltou_records_the_no_show_and_offers_mariana_new_slots_once(agenda: World) -> None:
    open_window(agenda)
    appointment = mariana_missed_a_meeting(agenda)

    first = ana_notes(agenda, 80001)

    assert stored(appointment).status == "no_show"
    assert len(agenda.kommo.salesbot_runs) == 1
    offer = agenda.reply_field()
    assert offer.startswith("Oi, Mariana! Sentimos sua falta na reunião de") and "\n• " in offer
    assert "O assistente ofereceu novos horários ao cliente" in notes_on_mariana(agenda)[-1]

    agenda.post_webhook(first)  # Kommo sends the same note again
    agenda.pump()
    ana_notes(agenda, 80002)  # and Ana writes /faltou once more

    assert len(agenda.kommo.salesbot_runs) == 1 and stored(appointment).status == "no_show"
    assert notes_on_mariana(agenda)[-1].endswith("já estava registrada: nada foi enviado ao cliente de novo.")


def test_without_a_past_meeting_ana_is_told_and_nothing_is_sent(agenda: World) -> None:
    ana_notes(agenda, 80003)

    assert agenda.kommo.salesbot_runs == []
    assert notes_on_mariana(agenda)[-1] == (
        "Não encontrei reunião já iniciada deste lead para marcar como falta. Nada foi alterado."
    )


def test_a_client_who_opted_out_is_offered_nothing_and_ana_is_told(agenda: World) -> None:
    agenda.post_webhook(client_message("stop-1", "pare"))
    agenda.pump()
    appointment = mariana_missed_a_meeting(agenda)

    ana_notes(agenda, 80004)

    assert stored(appointment).status == "no_show" and agenda.kommo.salesbot_runs == []
    assert "o cliente pediu para não receber mensagens do assistente" in notes_on_mariana(agenda)[-1]
