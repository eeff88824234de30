"""The follow-up ladder's decisions on fakes: when a client who went quiet gets a follow-up, in whose hours,
written by whom, and everything that stops the ladder for good (tests/integration/test_follow_ups.py drives
the same flow through the handlers, the queues, the sweep and Kommo's HTTP API)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from sales_assistant.adapters.switches import KillSwitch
from sales_assistant.models.follow_up import FollowUp
from sales_assistant.models.kommo_webhook import ChatMessage, LeadChange
from sales_assistant.models.n8n import FollowUpRequest, N8nResponse
from sales_assistant.models.queue import FollowUpDue, TriggerDue
from sales_assistant.models.trigger import LOST, WON
from sales_assistant.services.follow_ups import LadderConfig
from sales_assistant.services.ports.n8n import AiFailure
from tests.unit.fakes import SalesbotRun
from tests.unit.flows import (
    DAY,
    HOUR,
    REPLY_FIELD,
    SAO_PAULO,
    TEMPLATE_NAME_FIELD,
    TEMPLATE_SALESBOT,
    Fakes,
    follow_ups,
    ladders,
    proactive,
    reactive,
    run_flushes,
    takeover,
)

MARIANA_LEAD, MARIANA, ANA = 27754599, 93589657, 8401234
LUCAS_LEAD, LUCAS = 27754602, 93589660
MONDAY_10AM = datetime(2026, 3, 2, 10, 0, tzinfo=SAO_PAULO)
FIRST_CONTACT, PROPOSAL = 61234567, 61234569  # two open statuses of the pipeline


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes(MONDAY_10AM)
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA, status_id=FIRST_CONTACT)
    return fakes


def at(fakes: Fakes, when: datetime) -> None:
    fakes.clock.now = when.timestamp()


def mariana_writes(fakes: Fakes, message_id: str, text: str) -> None:
    """Mariana's message reaches the assistant (its answer comes with `the_assistant_answers`)."""
    reactive(fakes).receive(fakes.client_message(message_id, text, lead_id=MARIANA_LEAD, contact_id=MARIANA))


def the_assistant_answers(fakes: Fakes) -> None:
    assert "answered" in run_flushes(fakes, reactive(fakes))


def mariana_writes_and_is_answered(fakes: Fakes, message_id: str = "m-1", text: str = "Oi, quanto custa?") -> None:
    mariana_writes(fakes, message_id, text)
    the_assistant_answers(fakes)


def sweep(fakes: Fakes) -> list[str]:
    """The proactive schedule's sweep at the clock's time, then the lead events queue delivering what it queued."""
    flow = follow_ups(fakes)
    flow.fire_due()
    due = [item for item in fakes.queue.published if isinstance(item, FollowUpDue)]
    fakes.queue.published = [item for item in fakes.queue.published if not isinstance(item, FollowUpDue)]
    return [flow.send(item) for item in due]


def ladder(fakes: Fakes, lead_id: int = MARIANA_LEAD) -> FollowUp:
    return fakes.follow_ups.records[lead_id]


def follow_up_requests(fakes: Fakes) -> list[FollowUpRequest]:
    return [request for _, request in fakes.n8n.requests if isinstance(request, FollowUpRequest)]


def sent_to_mariana(fakes: Fakes) -> list[SalesbotRun]:
    return [run for run in fakes.kommo.runs if run.lead_id == MARIANA_LEAD]


def templates_sent(fakes: Fakes) -> list[tuple[int, str]]:
    """The template runs on Mariana's lead: the template's Salesbot and the name it greets her with."""
    return [
        (run.bot_id, run.fields[TEMPLATE_NAME_FIELD])
        for run in sent_to_mariana(fakes)
        if run.bot_id == TEMPLATE_SALESBOT
    ]


def follow_up_notes(fakes: Fakes, lead_id: int = MARIANA_LEAD) -> list[str]:
    return [note for note in fakes.kommo.notes_on(lead_id) if note.startswith("🔁 Follow-up")]


def test_a_client_who_goes_quiet_gets_follow_ups_2_hours_a_day_and_3_days_after_the_assistant_spoke(
    fakes: Fakes,
) -> None:
    mariana_writes_and_is_answered(fakes)
    assert (ladder(fakes).status, ladder(fakes).due_at) == ("scheduled", MONDAY_10AM.timestamp() + 2 * HOUR)

    at(fakes, MONDAY_10AM + timedelta(hours=1, minutes=59))
    assert sweep(fakes) == []
    at(fakes, MONDAY_10AM + timedelta(hours=2))
    fakes.n8n.answers.append(N8nResponse(reply="Mariana, conseguiu ver os valores que te passei?"))
    assert sweep(fakes) == ["sent"]

    [request] = follow_up_requests(fakes)  # inside the 24-hour window n8n writes it
    assert request.kind == "follow_up" and (request.follow_up.attempt, request.follow_up.of) == (1, 3)
    assert request.follow_up.last_message_at == MONDAY_10AM.timestamp()
    assert request.history[-1].role == "assistant" and request.window_open
    assert fakes.kommo.texts_sent(MARIANA_LEAD, REPLY_FIELD)[-1] == "Mariana, conseguiu ver os valores que te passei?"
    [note] = follow_up_notes(fakes)
    assert "Follow-up 1 de 3" in note and "conseguiu ver os valores" in note

    at(fakes, MONDAY_10AM + timedelta(days=1))  # her window closed: the configured template, n8n not asked
    assert sweep(fakes) == ["sent"]
    at(fakes, MONDAY_10AM + timedelta(days=3))
    assert sweep(fakes) == ["sent"]
    assert len(follow_up_requests(fakes)) == 1
    assert templates_sent(fakes)[-2:] == [(TEMPLATE_SALESBOT, "Mariana")] * 2
    assert [note.split(" enviado")[0] for note in follow_up_notes(fakes)] == [
        "🔁 Follow-up 1 de 3",
        "🔁 Follow-up 2 de 3",
        "🔁 Follow-up 3 de 3",
    ]
    assert (ladder(fakes).status, ladder(fakes).reason, ladder(fakes).sent_total) == ("finished", "ladder_done", 3)
    at(fakes, MONDAY_10AM + timedelta(days=10))
    assert sweep(fakes) == []


@pytest.mark.parametrize(
    "wrote, opens",
    [
        (datetime(2026, 3, 6, 17, 0, tzinfo=SAO_PAULO), datetime(2026, 3, 9, 9, 0, tzinfo=SAO_PAULO)),
        (datetime(2026, 4, 20, 17, 0, tzinfo=SAO_PAULO), datetime(2026, 4, 22, 9, 0, tzinfo=SAO_PAULO)),
    ],
    ids=["friday-to-monday", "over-tiradentes-holiday"],
)
def test_a_follow_up_due_at_19h_goes_out_at_9h_on_the_salespersons_next_working_day(
    fakes: Fakes, wrote: datetime, opens: datetime
) -> None:
    ana = fakes.salespeople.salespeople[ANA]
    profile = ana.profile.model_copy(update={"holidays_country": "BR"})  # Tuesday 21 April 2026: Tiradentes
    fakes.salespeople.salespeople[ANA] = ana.model_copy(update={"profile": profile})
    at(fakes, wrote)
    mariana_writes_and_is_answered(fakes)

    at(fakes, wrote + timedelta(hours=2))  # 19:00: Ana has gone home
    assert sweep(fakes) == ["deferred"]
    assert (ladder(fakes).status, ladder(fakes).reason, ladder(fakes).due_at) == (
        "scheduled",
        "outside_hours",
        opens.timestamp(),
    )
    assert sent_to_mariana(fakes) == sent_to_mariana(fakes)[:1] and follow_up_requests(fakes) == []

    at(fakes, opens - timedelta(minutes=1))
    assert sweep(fakes) == []
    at(fakes, opens)
    assert sweep(fakes) == ["sent"]
    assert len(sent_to_mariana(fakes)) == 2 and len(follow_up_notes(fakes)) == 1


def mariana_writes_again(fakes: Fakes) -> None:
    mariana_writes(fakes, "m-2", "Vou ver com meu marido e te falo")


def ana_writes_in_the_chat(fakes: Fakes) -> None:
    takeover(fakes).handle_salesperson_message(salesperson_message("Oi Mariana, aqui é a Ana!", contact=MARIANA))


def ana_takes_the_lead_over_from_another_chat(fakes: Fakes) -> None:
    fakes.add_lead(LUCAS_LEAD, LUCAS, "Lucas Barbosa", area="Auto", responsible=ANA)
    message = salesperson_message(f"/assumir {MARIANA_LEAD}", contact=LUCAS, lead=LUCAS_LEAD)
    takeover(fakes).handle_salesperson_message(message)


def the_lead_is_won(fakes: Fakes) -> None:
    ladders(fakes).lead_changed(LeadChange(kind="status", id=MARIANA_LEAD, status_id=WON))


def the_lead_moves_out_of_the_follow_up_statuses(fakes: Fakes) -> None:
    ladders(fakes).lead_changed(LeadChange(kind="status", id=MARIANA_LEAD, status_id=PROPOSAL))


def a_meeting_is_booked(fakes: Fakes) -> None:
    ladders(fakes).stop(MARIANA_LEAD, "booked")  # what an appointment's follow-ups do (appointment_followups.py)


def salesperson_message(text: str, *, contact: int, lead: int = MARIANA_LEAD) -> ChatMessage:
    return ChatMessage(
        id=f"s-{contact}",
        chat_id=f"chat-{contact}",
        contact_id=contact,
        text=text,
        created_at=int(MONDAY_10AM.timestamp()) + 60,
        entity_type="lead",
        entity_id=lead,
        type="outgoing",
        author={"id": "a-1", "type": "internal", "user_id": ANA, "name": "Ana Souza"},
    )


@pytest.mark.parametrize(
    "what_happens, reason",
    [
        (mariana_writes_again, "client_replied"),
        (ana_writes_in_the_chat, "salesperson_message"),
        (ana_takes_the_lead_over_from_another_chat, "takeover"),
        (the_lead_is_won, "lead_closed"),
        (the_lead_moves_out_of_the_follow_up_statuses, "status_left"),
        (a_meeting_is_booked, "booked"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_the_ladder_stops_at_once_and_for_good(
    fakes: Fakes, what_happens: Callable[[Fakes], None], reason: str
) -> None:
    fakes.ladder_config = LadderConfig({"default": (2 * HOUR, DAY, 3 * DAY)}, status_ids=frozenset({FIRST_CONTACT}))
    mariana_writes_and_is_answered(fakes)
    at(fakes, MONDAY_10AM + timedelta(minutes=30))

    what_happens(fakes)

    assert (ladder(fakes).status, ladder(fakes).reason) == ("stopped", reason)
    for days in (0, 1, 3, 7):
        at(fakes, MONDAY_10AM + timedelta(days=days, hours=2))
        assert sweep(fakes) == []
    assert len(sent_to_mariana(fakes)) == 1 and follow_up_requests(fakes) == []


@pytest.mark.parametrize(
    "what_happens, reason",
    [
        (lambda fakes: setattr(fakes.switches, "kill_switch", KillSwitch(stop_all=True)), "kill_switch"),
        (
            lambda fakes: setattr(fakes.switches, "kill_switch", KillSwitch(paused_salespeople=[ANA])),
            "salesperson_paused",
        ),
        (lambda fakes: fakes.kommo.patch_lead(MARIANA_LEAD, status_id=LOST), "lead_closed"),
    ],
    ids=["kill-switch", "salesperson-paused", "lost-without-its-webhook"],
)
def test_what_no_hook_saw_stops_the_ladder_when_its_follow_up_is_due(
    fakes: Fakes, what_happens: Callable[[Fakes], None], reason: str
) -> None:
    mariana_writes_and_is_answered(fakes)
    what_happens(fakes)

    at(fakes, MONDAY_10AM + timedelta(hours=2))
    assert sweep(fakes) == [f"stopped:{reason}"]
    assert (ladder(fakes).status, ladder(fakes).reason) == ("stopped", reason)
    assert len(sent_to_mariana(fakes)) == 1 and follow_up_requests(fakes) == []


def test_a_client_who_opted_out_gets_no_follow_up(fakes: Fakes) -> None:
    mariana_writes_and_is_answered(fakes)
    at(fakes, MONDAY_10AM + timedelta(minutes=5))
    mariana_writes_and_is_answered(fakes, "m-2", "Pare!")  # confirmed once: the assistant spoke last

    at(fakes, MONDAY_10AM + timedelta(hours=2, minutes=5))
    assert sweep(fakes) == ["stopped:opted_out"]
    assert (ladder(fakes).status, ladder(fakes).reason) == ("stopped", "opted_out")
    for days in (1, 3):
        at(fakes, MONDAY_10AM + timedelta(days=days, hours=2, minutes=5))
        assert sweep(fakes) == []
    assert len(sent_to_mariana(fakes)) == 2 and follow_up_requests(fakes) == []  # the reply and the confirmation


def test_a_client_who_writes_while_the_follow_up_is_being_written_gets_an_answer_and_no_follow_up(
    fakes: Fakes,
) -> None:
    mariana_writes_and_is_answered(fakes)
    at(fakes, MONDAY_10AM + timedelta(hours=2))

    def mariana_writes_meanwhile() -> None:
        fakes.n8n.while_asked = None
        mariana_writes(fakes, "m-2", "Oi! Desculpa a demora, pode ser amanhã?")

    fakes.n8n.while_asked = mariana_writes_meanwhile
    fakes.n8n.answers += [N8nResponse(reply="Mariana, ainda tem interesse?"), N8nResponse(reply="Claro, amanhã!")]
    assert sweep(fakes) == ["stopped:client_replied"]
    the_assistant_answers(fakes)  # the door handed her message to the reactive flow

    assert fakes.kommo.texts_sent(MARIANA_LEAD, REPLY_FIELD)[1:] == ["Claro, amanhã!"]
    assert follow_up_notes(fakes) == []
    assert (ladder(fakes).status, ladder(fakes).sent) == ("scheduled", [])  # a new ladder from the new answer


def test_a_lead_gets_at_most_the_configured_number_of_follow_ups_whatever_the_ladders(fakes: Fakes) -> None:
    fakes.ladder_config = LadderConfig({"default": (2 * HOUR, DAY, 3 * DAY)}, max_per_lead=2)
    mariana_writes_and_is_answered(fakes)
    for when in (timedelta(hours=2), timedelta(days=1)):
        at(fakes, MONDAY_10AM + when)
        assert sweep(fakes) == ["sent"]
    assert (ladder(fakes).status, ladder(fakes).reason) == ("finished", "max_reached")

    at(fakes, MONDAY_10AM + timedelta(days=2))
    mariana_writes_and_is_answered(fakes, "m-2", "Oi de novo")  # a new silence after a new answer
    for days in (2, 3, 6):
        at(fakes, MONDAY_10AM + timedelta(days=days, hours=2))
        assert sweep(fakes) == []
    assert len(follow_up_notes(fakes)) == 2 and ladder(fakes).sent_total == 2


def test_a_first_message_left_unanswered_follows_the_ladder_of_its_trigger_with_the_template(fakes: Fakes) -> None:
    fakes.ladder_config = LadderConfig({"default": (2 * HOUR,), "form": (HOUR, DAY)})
    assert proactive(fakes).handle(TriggerDue(lead_id=MARIANA_LEAD, trigger="form", source="api")) == "sent"
    assert (ladder(fakes).kind, ladder(fakes).due_at) == ("form", MONDAY_10AM.timestamp() + HOUR)

    at(fakes, MONDAY_10AM + timedelta(hours=1))
    assert sweep(fakes) == ["sent"]  # she never wrote: outside the window, the template
    assert templates_sent(fakes) == [(TEMPLATE_SALESBOT, "Mariana")] * 2  # the first message, then the follow-up
    assert follow_up_requests(fakes) == [] and "Follow-up 1 de 2" in follow_up_notes(fakes)[0]


def test_after_the_fallback_text_a_person_answers_so_no_follow_up_is_scheduled(fakes: Fakes) -> None:
    fakes.n8n.answers.append(AiFailure("timeout"))
    mariana_writes(fakes, "m-1", "Oi, quanto custa?")
    assert run_flushes(fakes, reactive(fakes)) == ["fallback"]  # "um dos nossos consultores vai te responder"
    assert MARIANA_LEAD not in fakes.follow_ups.records
