"""Honest handovers on fakes: a client who asks for a person is told when one answers, the salesperson's task is
due then, and the manager is tasked once when nobody answers within 2 working hours
(tests/integration/test_reactive_flow.py drives the same through the handlers)."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError

from sales_assistant.models.bot_state import ChangeReason
from sales_assistant.models.kommo_webhook import ChatMessage
from sales_assistant.models.n8n import Action, N8nResponse
from sales_assistant.models.salesperson import SalespersonProfile
from sales_assistant.services.handover import when_in_words
from sales_assistant.services.takeover import Actor
from sales_assistant.services.working_hours import after_open_time
from sales_assistant.texts import Texts
from tests.unit.flows import (
    QUIET_SECONDS,
    REPLY_FIELD,
    SAO_PAULO,
    WEEKDAYS_9_TO_18,
    Fakes,
    handovers,
    reactive,
    takeover,
)

MARIANA_LEAD, MARIANA, ANA, BRUNO = 27754599, 93589657, 8401234, 8409999  # Bruno manages Ana
HUMAN_PLEASE = N8nResponse(
    reply="Claro, Mariana! Vou chamar a Ana.", actions=[Action(type="handover", reason="quer falar com uma pessoa")]
)


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SAO_PAULO)


def world_at(now: datetime, *, holidays: str = "") -> Fakes:
    """Ana at work on weekdays 9-18 (with the national holidays of `holidays`), managed by Bruno; Mariana's lead."""
    fakes = Fakes(now)
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    profile = SalespersonProfile(working_hours=WEEKDAYS_9_TO_18, holidays_country=holidays, manager_id=BRUNO)
    fakes.salespeople.salespeople[ANA] = fakes.salespeople.salespeople[ANA].model_copy(update={"profile": profile})
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA)
    return fakes


def mariana_asks_for_a_person(fakes: Fakes) -> None:
    flow = reactive(fakes)
    fakes.n8n.answers.append(HUMAN_PLEASE)
    flow.receive(fakes.client_message("m-1", "quero falar com uma pessoa", lead_id=MARIANA_LEAD, contact_id=MARIANA))
    fakes.clock.now += QUIET_SECONDS
    [job] = fakes.queue.flushes
    assert flow.flush(job.conversation_id, job.seq, job.job_id) == "answered"


def told_to_mariana(fakes: Fakes) -> str:
    [reply] = fakes.kommo.texts_sent(MARIANA_LEAD, REPLY_FIELD)
    return reply


def tasks_of(fakes: Fakes, user_id: int) -> list[tuple[str, int | None]]:
    return [(task.text, task.due_at) for task in fakes.kommo.tasks if task.responsible_user_id == user_id]


def ana_answers(fakes: Fakes) -> None:
    message = ChatMessage.model_validate(
        {
            "id": "ana-1",
            "chat_id": f"chat-{MARIANA}",
            "contact_id": MARIANA,
            "text": "Oi, Mariana! Aqui é a Ana.",
            "created_at": int(fakes.clock()),
            "entity_type": "lead",
            "entity_id": MARIANA_LEAD,
            "type": "outgoing",
            "author": {"id": "u-ana", "type": "internal", "name": "Ana Souza", "user_id": ANA},
        }
    )
    assert takeover(fakes).handle_salesperson_message(message) == "still_paused"


# ---------------------------------------------------------------------- the client is told when


def test_inside_the_salespersons_hours_the_client_hears_a_person_answers_in_a_moment_and_the_task_is_due_now() -> None:
    fakes = world_at(at(2026, 3, 2, 10))  # a Monday
    mariana_asks_for_a_person(fakes)

    assert told_to_mariana(fakes) == (
        "Claro, Mariana! Vou chamar a Ana.\n\nJá chamei nosso time: uma pessoa vai te responder em instantes. 🙂"
    )
    assert tasks_of(fakes, ANA) == [
        ("O cliente precisa de atendimento humano: quer falar com uma pessoa", fakes.clock())
    ]
    assert takeover(fakes).is_paused(MARIANA)


def test_on_friday_at_19h_the_client_hears_monday_at_9h_and_the_task_is_due_then() -> None:
    fakes = world_at(at(2026, 3, 6, 19))  # a Friday, after hours
    mariana_asks_for_a_person(fakes)

    assert told_to_mariana(fakes).endswith(
        "fora do horário de atendimento: uma pessoa te responde segunda-feira às 9h."
    )
    [(_, due)] = tasks_of(fakes, ANA)
    assert due == at(2026, 3, 9, 9).timestamp()


def test_a_holiday_is_skipped_the_client_hears_the_next_working_day() -> None:
    fakes = world_at(at(2026, 4, 20, 19), holidays="BR")  # Monday 19:00; Tuesday 21 is Tiradentes
    mariana_asks_for_a_person(fakes)

    assert told_to_mariana(fakes).endswith("uma pessoa te responde quarta-feira às 9h.")
    [(_, due)] = tasks_of(fakes, ANA)
    assert due == at(2026, 4, 22, 9).timestamp()


def test_the_words_say_today_tomorrow_a_weekday_or_a_date() -> None:
    texts = Texts()
    monday = at(2026, 3, 2, 8)
    assert when_in_words(at(2026, 3, 2, 14), monday, texts) == "hoje às 14h"
    assert when_in_words(at(2026, 3, 3, 9), monday, texts) == "amanhã às 9h"
    assert when_in_words(at(2026, 3, 6, 9, 30), monday, texts) == "sexta-feira às 9h30"
    assert when_in_words(at(2026, 3, 9, 9), at(2026, 3, 6, 19), texts) == "segunda-feira às 9h"
    assert when_in_words(at(2026, 3, 12, 9), monday, texts) == "no dia 12/03 às 9h"


def test_the_words_are_configurable_texts() -> None:
    texts = Texts(day_tomorrow="amanhã cedo", when_at="{day}, a partir das {hour}")
    assert when_in_words(at(2026, 3, 3, 9), at(2026, 3, 2, 20), texts) == "amanhã cedo, a partir das 9h"


# ---------------------------------------------------------------------- nobody answers: the manager


def test_nobody_answering_within_2_working_hours_tasks_the_manager_once() -> None:
    fakes = world_at(at(2026, 3, 6, 17))  # Friday 17:00: one working hour today, the second on Monday
    mariana_asks_for_a_person(fakes)
    desk = handovers(fakes)

    fakes.clock.now = at(2026, 3, 9, 9, 59).timestamp()
    assert desk.escalate_overdue() == []
    fakes.clock.now = at(2026, 3, 9, 10, 1).timestamp()
    assert desk.escalate_overdue() == [MARIANA]
    fakes.clock.now += 3600
    assert desk.escalate_overdue() == []

    assert tasks_of(fakes, BRUNO) == [
        (
            "O cliente pediu atendimento humano e ninguém respondeu em 2 h de expediente de Ana Souza."
            " Confira o chat ou passe o lead a outra pessoa.",
            at(2026, 3, 9, 10, 1).timestamp(),
        )
    ]
    assert takeover(fakes).is_paused(MARIANA)  # still waiting for a person, never resumed by itself


def test_the_salesperson_answering_in_time_means_no_manager_task() -> None:
    fakes = world_at(at(2026, 3, 2, 10))
    mariana_asks_for_a_person(fakes)
    fakes.clock.now = at(2026, 3, 2, 11).timestamp()
    ana_answers(fakes)

    fakes.clock.now = at(2026, 3, 2, 15).timestamp()
    assert handovers(fakes).escalate_overdue() == []
    assert tasks_of(fakes, BRUNO) == []
    assert takeover(fakes).is_paused(MARIANA)  # Ana has the chat: her pause resumes after the usual idle time


def test_the_handover_pause_waits_for_a_person_where_an_idle_pause_would_resume() -> None:
    fakes = world_at(at(2026, 3, 6, 19))
    mariana_asks_for_a_person(fakes)
    fakes.clock.now = at(2026, 3, 9, 8).timestamp()  # 61 hours later, past the 12-hour auto-resume

    assert takeover(fakes).resume_overdue() == []
    assert takeover(fakes).is_paused(MARIANA)


def test_the_salesperson_answering_after_the_manager_was_tasked_gets_the_usual_idle_resume() -> None:
    fakes = world_at(at(2026, 3, 2, 10))
    mariana_asks_for_a_person(fakes)
    fakes.clock.now = at(2026, 3, 2, 12, 30).timestamp()
    assert handovers(fakes).escalate_overdue() == [MARIANA]  # nobody answered in 2 working hours: Bruno tasked
    fakes.clock.now = at(2026, 3, 2, 15).timestamp()
    ana_answers(fakes)

    fakes.clock.now = at(2026, 3, 3, 2, 59).timestamp()  # 11:59 after Ana's answer
    assert takeover(fakes).resume_overdue() == []
    fakes.clock.now = at(2026, 3, 3, 3, 1).timestamp()  # 12 h of quiet: the bot answers Mariana again
    assert takeover(fakes).resume_overdue() == [MARIANA]
    assert not takeover(fakes).is_paused(MARIANA)


def test_liberar_before_the_deadline_means_no_manager_task() -> None:
    fakes = world_at(at(2026, 3, 2, 10))
    mariana_asks_for_a_person(fakes)
    takeover(fakes).resume(MARIANA, Actor(ANA, "Ana Souza"), ChangeReason.COMMAND, "liberar-1", MARIANA_LEAD)
    fakes.clock.now = at(2026, 3, 2, 15).timestamp()
    assert handovers(fakes).escalate_overdue() == []
    assert tasks_of(fakes, BRUNO) == []


# ---------------------------------------------------------------------- working hours and the profile


def test_two_working_hours_from_friday_at_19h_end_on_monday_at_11h() -> None:
    profile = SalespersonProfile(working_hours=WEEKDAYS_9_TO_18, holidays_country="")
    assert after_open_time(profile, at(2026, 3, 6, 19).timestamp(), 2 * 3600) == at(2026, 3, 9, 11).timestamp()
    assert after_open_time(profile, at(2026, 3, 2, 10).timestamp(), 2 * 3600) == at(2026, 3, 2, 12).timestamp()


@pytest.mark.parametrize("manager_id", [0, -5, "Bruno"])
def test_a_manager_is_a_kommo_user_id(manager_id: object) -> None:
    with pytest.raises(ValidationError, match="manager_id"):
        SalespersonProfile.model_validate({"manager_id": manager_id})
