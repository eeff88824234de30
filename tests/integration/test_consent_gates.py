"""The opt-out's gates on the paths that write to a client without being asked: `POST /messages` refuses a
contact who opted out (409 with the date, nothing sent, nothing kept, so the same message goes once they opt
back in); an appointment's reminders are not sent to them (the salesperson gets one note per meeting, not one per
reminder), while the confirmation of the meeting they asked for still goes."""

from __future__ import annotations

from datetime import datetime

import boto3

from local.one_time_schedules import fire_due
from tests.conftest import World
from tests.integration.test_messages import MARIANA_LEAD, client_wrote, post_message
from tests.integration.test_reactive_flow import client_message
from tests.integration.test_scheduling import agenda, at, book, working_day

__all__ = ["agenda"]  # the fixture, shared with test_scheduling


def mariana_writes(world: World, message_id: str, text: str) -> None:
    """Mariana writes in the chat, the assistant answers (her confirmation), and that is out of the way."""
    world.post_webhook(client_message(message_id, text))
    world.pump()
    world.kommo.reset()


def notes_on_mariana(world: World) -> list[str]:
    return [note["params"]["text"] for note in world.kommo.notes if note["lead_id"] == MARIANA_LEAD]


def test_a_message_to_a_contact_who_opted_out_is_refused_with_the_date_and_nothing_is_sent(world: World) -> None:
    client_wrote(world)
    mariana_writes(world, "stop-1", "pare")
    body = {"lead_id": MARIANA_LEAD, "text": "Mariana, sua proposta vence amanhã!", "idempotency_key": "offer-1"}

    status, answer = post_message(world, body)

    assert (status, answer["error"]) == (409, "opted_out")
    opted_out_at = datetime.fromisoformat(answer["opted_out_at"])
    assert opted_out_at.isoformat() in answer["message"]
    assert world.kommo.salesbot_runs == [] and notes_on_mariana(world) == []

    mariana_writes(world, "back-1", "voltar")
    assert post_message(world, body)[0] == 201  # the key was not used up by the refusal
    assert len(world.kommo.salesbot_runs) == 1 and world.reply_field() == "Mariana, sua proposta vence amanhã!"


def test_reminders_are_not_sent_to_a_client_who_opted_out_and_the_salesperson_is_told_once(agenda: World) -> None:
    client_wrote(agenda)
    day = working_day()
    assert book(agenda, at(day, "15:00"))[0] == 201
    agenda.pump()
    mariana_writes(agenda, "stop-1", "pare")

    one_hour_before = datetime.fromisoformat(at(day, "14:00")).timestamp()
    assert len(fire_due(agenda.stack, boto3.client("scheduler"), agenda.sqs, now=one_hour_before)) == 2  # 24 h, 1 h
    agenda.pump()

    assert agenda.kommo.salesbot_runs == []
    assert notes_on_mariana(agenda) == [
        f"O cliente pediu para não receber mensagens do assistente: ele não recebe os lembretes da reunião de"
        f" {day:%d/%m/%Y} às 15:00. Se quiser, confirme a reunião com ele."
    ]


def test_the_confirmation_of_a_meeting_still_goes_to_a_client_who_opted_out(agenda: World) -> None:
    """She asked for the meeting herself: the confirmation answers her, it is no message written first."""
    client_wrote(agenda)
    mariana_writes(agenda, "stop-1", "pare")

    book(agenda, at(working_day(), "10:00"))
    agenda.pump()

    assert len(agenda.kommo.salesbot_runs) == 1 and agenda.reply_field().startswith("Tudo certo, Mariana!")
