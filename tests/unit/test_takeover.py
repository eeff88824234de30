"""Human takeover as pure logic: pauses, resumes, idle auto-resume with an injected clock, concurrency."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sales_assistant.adapters.kommo.errors import KommoUnavailable
from sales_assistant.models.bot_state import BotStatus, ChangeReason
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.kommo_webhook import Author, ChatMessage
from sales_assistant.services.follow_ups import FollowUpLadders, LadderConfig
from sales_assistant.services.takeover import Actor, TakeoverService
from sales_assistant.texts import Texts
from tests.unit.fakes import Clock, FakeKommo, InMemoryBotStates, InMemoryFollowUps

ANA = Actor(8401234, "Ana Souza")
HOUR = 3600


def note_texts(kommo: FakeKommo) -> list[str]:
    return [note.text for note in kommo.notes]


def no_follow_ups(clock: Clock) -> FollowUpLadders:
    """Follow-ups switched off (tests/unit/test_follow_up_decisions.py has what a takeover does to them)."""
    return FollowUpLadders(InMemoryFollowUps(), LadderConfig({}), clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def kommo() -> Iterator[FakeKommo]:
    """Lead 27754599 with its main contact 93589657, and contact 93589658."""
    kommo = FakeKommo()
    kommo.leads[27754599] = KommoLead.model_validate(
        {"id": 27754599, "_embedded": {"contacts": [{"id": 93589657, "is_main": True}]}}
    )
    kommo.contacts = {93589657: KommoContact(id=93589657), 93589658: KommoContact(id=93589658)}
    yield kommo
    assert kommo.patches == [] and kommo.runs == [], "takeover never patches leads nor sends messages"
    assert kommo.tasks == [], "no task expected"


@pytest.fixture
def states() -> InMemoryBotStates:
    return InMemoryBotStates()


@pytest.fixture
def takeover(states: InMemoryBotStates, kommo: FakeKommo, clock: Clock) -> TakeoverService:
    return TakeoverService(
        states,
        kommo,
        kommo,
        Texts(),
        auto_resume_hours=12,
        pause_on_manual_reply=True,
        follow_ups=no_follow_ups(clock),
        clock=clock,
    )


def salesperson_says(text: str, message_id: str = "m-1", *, user_id: int | None = 8401234) -> ChatMessage:
    return ChatMessage(
        id=message_id,
        chat_id="chat-1",
        contact_id=93589657,
        text=text,
        created_at=1,
        entity_type="lead",
        entity_id=27754599,
        type="outgoing",
        author=Author(id="a", type="internal", name="Ana Souza", user_id=user_id),
    )


def test_assumir_with_a_lead_id_pauses_its_main_contact(takeover: TakeoverService, kommo: FakeKommo) -> None:
    assert takeover.handle_salesperson_message(salesperson_says("/assumir 27754599")) == "paused"
    state = takeover.state(93589657)
    assert state.status == BotStatus.PAUSED and state.by_name == "Ana Souza" and state.reason == ChangeReason.COMMAND
    assert note_texts(kommo) == ["Bot pausado por Ana Souza (comando /assumir)."]


def test_assumir_without_id_pauses_the_chats_contact(takeover: TakeoverService) -> None:
    takeover.handle_salesperson_message(salesperson_says("/assumir"))
    assert takeover.is_paused(93589657)


def test_assumir_with_a_contact_id_pauses_that_contact(takeover: TakeoverService) -> None:
    takeover.handle_salesperson_message(salesperson_says("/assumir 93589658"))
    assert takeover.is_paused(93589658) and not takeover.is_paused(93589657)


def test_liberar_resumes(takeover: TakeoverService, kommo: FakeKommo) -> None:
    takeover.handle_salesperson_message(salesperson_says("/assumir", "m-1"))
    assert takeover.handle_salesperson_message(salesperson_says("/liberar", "m-2")) == "resumed"
    assert not takeover.is_paused(93589657)
    assert note_texts(kommo)[-1] == "Bot reativado por Ana Souza (comando /liberar)."


def test_liberar_waits_for_kommo_to_take_its_note_while_assumir_never_does(
    takeover: TakeoverService, kommo: FakeKommo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kommo refusing notes: /liberar fails (its queue record retried) and the bot stays quiet, so a salesperson
    who writes by hand meanwhile is never talked over; /assumir pauses even then."""
    refused = KommoUnavailable("Kommo answered 500")

    def kommo_down(*args: object, **kwargs: object) -> None:
        raise refused

    takeover.handle_salesperson_message(salesperson_says("/assumir", "m-1"))
    with monkeypatch.context() as outage:
        outage.setattr(kommo, "note", kommo_down)
        with pytest.raises(KommoUnavailable):
            takeover.handle_salesperson_message(salesperson_says("/liberar", "m-2"))
        assert takeover.is_paused(93589657)
        with pytest.raises(KommoUnavailable):
            takeover.handle_salesperson_message(salesperson_says("/assumir 93589658", "m-3"))
        assert takeover.is_paused(93589658)  # the pause is stored before its note is tried

    assert takeover.handle_salesperson_message(salesperson_says("/liberar", "m-2")) == "resumed"  # retried
    assert not takeover.is_paused(93589657)
    assert note_texts(kommo).count("Bot reativado por Ana Souza (comando /liberar).") == 1


@pytest.mark.parametrize("typed", ["/assumir 27754599", "/assumir 93589657"])  # the chat's lead, its contact
def test_a_command_naming_the_chats_own_lead_or_contact_needs_no_kommo_read(
    typed: str, takeover: TakeoverService, kommo: FakeKommo, monkeypatch: pytest.MonkeyPatch
) -> None:
    def kommo_down(*args: object) -> None:
        raise KommoUnavailable("Kommo answered 503")

    monkeypatch.setattr(kommo, "lead", kommo_down)
    monkeypatch.setattr(kommo, "contact", kommo_down)
    assert takeover.handle_salesperson_message(salesperson_says(typed)) == "paused"
    assert takeover.is_paused(93589657)


def test_a_manual_reply_pauses_and_later_ones_push_the_auto_resume_back(
    takeover: TakeoverService, clock: Clock
) -> None:
    assert takeover.handle_salesperson_message(salesperson_says("Oi Mariana, aqui é a Ana!", "m-1")) == "paused"
    first_resume = takeover.state(93589657).resume_at
    clock.now += HOUR
    assert takeover.handle_salesperson_message(salesperson_says("Te mando a proposta já", "m-2")) == "still_paused"
    assert takeover.state(93589657).resume_at == first_resume + HOUR  # type: ignore[operator]


def test_the_bot_resumes_by_itself_after_the_idle_time(
    takeover: TakeoverService, clock: Clock, kommo: FakeKommo
) -> None:
    takeover.handle_salesperson_message(salesperson_says("/assumir"))
    clock.now += 11 * HOUR
    assert takeover.is_paused(93589657) and takeover.resume_overdue() == []
    clock.now += 2 * HOUR
    assert not takeover.is_paused(93589657)  # the worker honours resume_at before the sweep runs
    assert takeover.resume_overdue() == [93589657]
    assert takeover.state(93589657).status == BotStatus.ACTIVE
    assert "reativado automaticamente após 12 h" in note_texts(kommo)[-1]
    assert takeover.resume_overdue() == []


def test_auto_resume_zero_means_never(states: InMemoryBotStates, kommo: FakeKommo, clock: Clock) -> None:
    takeover = TakeoverService(
        states,
        kommo,
        kommo,
        Texts(),
        auto_resume_hours=0,
        pause_on_manual_reply=True,
        follow_ups=no_follow_ups(clock),
        clock=clock,
    )
    takeover.handle_salesperson_message(salesperson_says("/assumir"))
    clock.now += 1000 * HOUR
    assert takeover.is_paused(93589657) and takeover.resume_overdue() == []


def test_manual_replies_can_be_told_not_to_pause(states: InMemoryBotStates, kommo: FakeKommo, clock: Clock) -> None:
    takeover = TakeoverService(
        states,
        kommo,
        kommo,
        Texts(),
        auto_resume_hours=12,
        pause_on_manual_reply=False,
        follow_ups=no_follow_ups(clock),
        clock=clock,
    )
    assert takeover.handle_salesperson_message(salesperson_says("Oi!")) == "manual_reply_ignored"
    assert not takeover.is_paused(93589657)


@pytest.mark.parametrize(
    "text, expected", [("/assumir 999", "unknown_id"), ("/assumir abc", "unknown_id"), ("/pausar", "unknown_command")]
)
def test_an_unknown_command_or_id_changes_nothing_and_is_noted(
    takeover: TakeoverService, kommo: FakeKommo, text: str, expected: str
) -> None:
    assert takeover.handle_salesperson_message(salesperson_says(text)) == expected
    assert not takeover.is_paused(93589657)
    [note] = kommo.notes
    assert note.lead_id == 27754599 and ("Não encontrei" in note.text or "não reconhecido" in note.text)


def test_status_reports_on_the_lead(takeover: TakeoverService, kommo: FakeKommo) -> None:
    takeover.handle_salesperson_message(salesperson_says("/assumir", "m-1"))
    assert takeover.handle_salesperson_message(salesperson_says("/status", "m-2")) == "status"
    assert "pausado por Ana Souza" in note_texts(kommo)[-1]


def test_the_same_command_delivered_twice_changes_the_state_once(takeover: TakeoverService, kommo: FakeKommo) -> None:
    takeover.handle_salesperson_message(salesperson_says("/assumir", "m-1"))
    takeover.handle_salesperson_message(salesperson_says("/assumir", "m-1"))
    assert takeover.state(93589657).version == 1 and len(kommo.notes) == 1


def test_a_concurrent_writer_is_retried_into_a_defined_state(
    takeover: TakeoverService, states: InMemoryBotStates
) -> None:
    states.conflicts_to_inject = 2
    takeover.pause(93589657, ANA, ChangeReason.ADMIN_API, "admin-1", 27754599)
    assert takeover.state(93589657).status == BotStatus.PAUSED


def test_liberar_on_an_active_bot_changes_nothing_and_says_so(takeover: TakeoverService, kommo: FakeKommo) -> None:
    assert takeover.handle_salesperson_message(salesperson_says("/liberar")) == "resumed"
    assert takeover.state(93589657).version == 0
    assert note_texts(kommo) == ["O bot já estava ativo para este contato: nada foi alterado."]


def test_the_sweep_never_resumes_a_pause_renewed_after_it_looked(
    takeover: TakeoverService, states: InMemoryBotStates, clock: Clock
) -> None:
    takeover.handle_salesperson_message(salesperson_says("Oi, aqui é a Ana", "m-1"))
    clock.now += 13 * HOUR
    stale = states.with_status(BotStatus.PAUSED)  # what the sweep read...
    takeover.pause(93589657, ANA, ChangeReason.COMMAND, "m-2", 27754599)  # ...before Ana typed /assumir again
    states.with_status = lambda status: stale  # type: ignore[method-assign]
    assert takeover.resume_overdue() == []
    assert takeover.is_paused(93589657)
