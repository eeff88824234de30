"""Opt-out and opt-in on fakes: a client who writes "pare" gets one confirmation and is never written to first
again (no first message, no follow-up) until they write VOLTAR; what counts as an opt-out, and what does not
(tests/integration/test_consent.py drives the same through the handlers, and erases a contact's data)."""

from __future__ import annotations

from datetime import datetime

import pytest

from sales_assistant.models.bot_state import ChangeReason
from sales_assistant.models.queue import TriggerDue
from sales_assistant.services.consent import Heard
from sales_assistant.services.conversation import ReactiveConversations
from sales_assistant.services.takeover import Actor
from tests.unit.flows import (
    QUIET_SECONDS,
    REPLY_FIELD,
    SAO_PAULO,
    Fakes,
    consent,
    proactive,
    reactive,
    run_flushes,
    takeover,
)

MARIANA_LEAD, MARIANA, ANA = 27754599, 93589657, 8401234
MONDAY_10AM = datetime(2026, 3, 2, 10, 0, tzinfo=SAO_PAULO)
CONFIRMATION = "Pronto, não vamos mais te enviar mensagens por aqui."


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes(MONDAY_10AM)
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA)
    return fakes


@pytest.fixture
def flow(fakes: Fakes) -> ReactiveConversations:
    return reactive(fakes)


def mariana_writes(fakes: Fakes, flow: ReactiveConversations, message_id: str, text: str) -> list[str]:
    """Mariana writes one message and the quiet window passes: the outcomes of the flush jobs."""
    flow.receive(fakes.client_message(message_id, text, lead_id=MARIANA_LEAD, contact_id=MARIANA))
    fakes.clock.now += QUIET_SECONDS
    return run_flushes(fakes, flow)


def replies_to_mariana(fakes: Fakes) -> list[str]:
    return fakes.kommo.texts_sent(MARIANA_LEAD, REPLY_FIELD)


def first_message_for_mariana(fakes: Fakes) -> str:
    return proactive(fakes).handle(TriggerDue(lead_id=MARIANA_LEAD, trigger="form", source="api"))


@pytest.mark.parametrize(
    "text",
    [
        "pare",
        "PARE!!",
        "Pare.",
        "pare 🙏",
        "Sair",
        "  quero   sair ",
        "Não quero mais receber",
        "nao quero mais receber",
    ],
)
def test_a_whole_message_of_an_opt_out_phrase_is_an_opt_out_whatever_its_case_accents_or_punctuation(
    fakes: Fakes, flow: ReactiveConversations, text: str
) -> None:
    assert mariana_writes(fakes, flow, "m-1", text) == ["answered"]
    assert replies_to_mariana(fakes)[0].startswith(CONFIRMATION)
    assert fakes.n8n.requests == []


@pytest.mark.parametrize(
    "text",
    ["não pare de me mandar ofertas", "parece ótimo!", "pare de brincadeira, quanto custa?", "sair hoje?", "voltar"],
)
def test_a_message_that_only_contains_an_opt_out_word_is_answered_by_n8n(
    fakes: Fakes, flow: ReactiveConversations, text: str
) -> None:
    assert mariana_writes(fakes, flow, "m-1", text) == ["answered"]
    assert len(fakes.n8n.requests) == 1 and replies_to_mariana(fakes) == ["Oi! Posso te ajudar com o que precisar."]
    assert fakes.consent_records.records == {}


def test_an_opt_out_gets_one_confirmation_is_recorded_with_its_time_and_words_and_noted_on_the_lead(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    assert mariana_writes(fakes, flow, "m-1", "Pare!") == ["answered"]

    assert fakes.n8n.requests == []  # the service confirms it itself
    [confirmation] = replies_to_mariana(fakes)
    assert confirmation.startswith(CONFIRMATION) and "VOLTAR" in confirmation
    record = fakes.consent_records.records[MARIANA]
    assert (record.status, record.words, record.at) == ("opted_out", "Pare!", int(MONDAY_10AM.timestamp()))
    [opt_out_note, exchange] = fakes.kommo.notes_on(MARIANA_LEAD)
    assert opt_out_note.startswith('🚫 O cliente pediu para não receber mais mensagens ("Pare!", 02/03/2026 10:00)')
    assert exchange.startswith("💬 Cliente:\nPare!")


def test_after_an_opt_out_the_next_first_message_is_skipped_and_no_follow_up_may_go(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    assert consent(fakes).may_contact(MARIANA)
    mariana_writes(fakes, flow, "m-1", "não quero mais receber")

    assert not consent(fakes).may_contact(MARIANA)  # what the follow-ups ask before each one
    assert first_message_for_mariana(fakes) == "skipped:opted_out"
    assert fakes.n8n.requests == [] and len(fakes.kommo.runs) == 1  # the confirmation only
    assert fakes.kommo.notes_on(MARIANA_LEAD)[-1] == (
        "Primeira mensagem não enviada (formulário preenchido):"
        " o cliente pediu para não receber mensagens do assistente."
    )


def test_an_opt_out_written_again_is_not_confirmed_again_and_the_salesperson_is_told(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    mariana_writes(fakes, flow, "m-1", "pare")
    fakes.clock.now += 3600

    assert mariana_writes(fakes, flow, "m-2", "SAIR") == ["opted_out"]

    assert len(replies_to_mariana(fakes)) == 1 and fakes.n8n.requests == []
    assert fakes.consent_records.records[MARIANA].words == "pare"  # the first opt-out stays on record
    assert fakes.kommo.notes_on(MARIANA_LEAD)[-1] == (
        "Mensagem do cliente sem resposta do assistente: o cliente pediu para não receber mensagens do assistente."
        " Responda pelo chat."
    )


def test_the_same_opt_out_heard_again_by_a_retried_job_is_confirmed_and_noted_once(fakes: Fakes) -> None:
    message = fakes.client_message("m-1", "pare", lead_id=MARIANA_LEAD, contact_id=MARIANA)
    service = consent(fakes)

    assert service.hear(MARIANA, MARIANA_LEAD, [message]) == Heard.OPTED_OUT
    assert service.hear(MARIANA, MARIANA_LEAD, [message]) == Heard.OPTED_OUT  # the retry sends its cached reply

    assert len(fakes.kommo.notes_on(MARIANA_LEAD)) == 1


def test_one_opt_out_in_a_burst_is_enough(fakes: Fakes, flow: ReactiveConversations) -> None:
    flow.receive(fakes.client_message("m-1", "pare", lead_id=MARIANA_LEAD, contact_id=MARIANA))
    flow.receive(fakes.client_message("m-2", "obrigada", lead_id=MARIANA_LEAD, contact_id=MARIANA))
    fakes.clock.now += QUIET_SECONDS

    assert run_flushes(fakes, flow) == ["superseded", "answered"]
    assert replies_to_mariana(fakes)[0].startswith(CONFIRMATION) and fakes.n8n.requests == []
    assert not consent(fakes).may_contact(MARIANA)


def test_a_client_who_opted_out_and_writes_again_is_answered_but_still_not_written_to_first(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    mariana_writes(fakes, flow, "m-1", "pare")
    fakes.clock.now += 86400

    assert mariana_writes(fakes, flow, "m-2", "Oi, quanto custa o seguro?") == ["answered"]

    assert replies_to_mariana(fakes)[-1] == "Oi! Posso te ajudar com o que precisar."  # her message is her request
    assert not consent(fakes).may_contact(MARIANA)  # only VOLTAR lifts the opt-out
    assert first_message_for_mariana(fakes) == "skipped:opted_out"


def test_voltar_after_an_opt_out_opts_back_in_with_its_own_confirmation(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    mariana_writes(fakes, flow, "m-1", "pare")
    fakes.clock.now += 86400

    assert mariana_writes(fakes, flow, "m-2", "Voltar") == ["answered"]

    assert replies_to_mariana(fakes)[-1] == "Combinado! Você voltará a receber nossas mensagens por aqui. 😊"
    assert fakes.n8n.requests == []
    assert consent(fakes).may_contact(MARIANA)
    record = fakes.consent_records.records[MARIANA]
    assert (record.status, record.words) == ("opted_in", "Voltar")
    assert fakes.kommo.notes_on(MARIANA_LEAD)[-2].startswith(
        '✅ O cliente pediu para voltar a receber mensagens ("Voltar"'
    )


def test_an_opt_out_while_a_salesperson_has_the_chat_is_recorded_without_a_confirmation(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    takeover(fakes).pause(MARIANA, Actor(ANA, "Ana Souza"), ChangeReason.COMMAND, "m-ana", MARIANA_LEAD)

    assert mariana_writes(fakes, flow, "m-1", "pare") == ["paused"]

    assert fakes.kommo.runs == []  # the assistant never writes over a salesperson
    assert not consent(fakes).may_contact(MARIANA)
    assert any(note.startswith("🚫 O cliente pediu") for note in fakes.kommo.notes_on(MARIANA_LEAD))
