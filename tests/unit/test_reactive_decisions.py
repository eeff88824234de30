"""The reactive flow's decisions on fakes: which client messages get one reply, when the assistant keeps
quiet and who learns about it (tests/integration/test_reactive_flow.py drives the same flow through the
handlers, the queues and Kommo's HTTP API)."""

from __future__ import annotations

from datetime import datetime

import pytest

from sales_assistant.adapters.switches import KillSwitch
from sales_assistant.models.bot_state import ChangeReason
from sales_assistant.models.n8n import N8nResponse
from sales_assistant.services.conversation import ReactiveConversations
from sales_assistant.services.ports.n8n import AiFailure
from sales_assistant.services.takeover import Actor
from tests.unit.fakes import FlushJob, Task
from tests.unit.flows import (
    LEASE_SECONDS,
    MIN_GAP_SECONDS,
    QUIET_SECONDS,
    REPLY_FIELD,
    SALESBOT,
    SAO_PAULO,
    Fakes,
    reactive,
    run_flushes,
    takeover,
)

MARIANA_LEAD, MARIANA, ANA = 27754599, 93589657, 8401234
CONVERSATION = f"lead:{MARIANA_LEAD}"
ANA_TAKES_OVER = Actor(ANA, "Ana Souza")


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes(datetime(2026, 3, 2, 10, 0, tzinfo=SAO_PAULO))
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA)
    return fakes


@pytest.fixture
def flow(fakes: Fakes) -> ReactiveConversations:
    return reactive(fakes)


def mariana_writes(fakes: Fakes, flow: ReactiveConversations, message_id: str, text: str) -> int:
    return flow.receive(fakes.client_message(message_id, text, lead_id=MARIANA_LEAD, contact_id=MARIANA))


def replies_to_mariana(fakes: Fakes) -> list[str]:
    return fakes.kommo.texts_sent(MARIANA_LEAD, REPLY_FIELD)


def history(fakes: Fakes) -> list[tuple[str, str, bool]]:
    conversation = fakes.conversations.get(CONVERSATION)
    assert conversation is not None
    return [(turn.role, turn.text, turn.delivered) for turn in conversation.turns]


def test_a_batch_is_answered_once_and_noted_on_the_lead(fakes: Fakes, flow: ReactiveConversations) -> None:
    fakes.n8n.answers.append(N8nResponse(reply="Claro! Qual é o modelo do carro?"))
    mariana_writes(fakes, flow, "m-1", "Oi, quero um seguro")
    mariana_writes(fakes, flow, "m-2", "para o meu carro")
    fakes.clock.now += QUIET_SECONDS
    jobs = fakes.queue.flushes

    assert run_flushes(fakes, flow) == ["superseded", "answered"]
    assert [flow.flush(job.conversation_id, job.seq, job.job_id) for job in jobs] == ["superseded", "nothing"]

    [(_, request)] = fakes.n8n.requests  # the two messages went to n8n as one batch, once
    assert [message.text for message in request.messages] == ["Oi, quero um seguro", "para o meu carro"]
    assert request.vendor is not None and request.vendor.name == "Ana Souza"
    assert [run.bot_id for run in fakes.kommo.runs] == [SALESBOT]
    assert replies_to_mariana(fakes) == ["Claro! Qual é o modelo do carro?"]
    assert fakes.kommo.notes_on(MARIANA_LEAD) == [
        "💬 Cliente:\nOi, quero um seguro\npara o meu carro\n\n🤖 Assistente:\nClaro! Qual é o modelo do carro?"
    ]
    assert history(fakes) == [
        ("client", "Oi, quero um seguro", True),
        ("client", "para o meu carro", True),
        ("assistant", "Claro! Qual é o modelo do carro?", True),
    ]


def test_a_paused_contact_gets_no_reply_and_the_message_stays_in_the_history(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    takeover(fakes).pause(MARIANA, ANA_TAKES_OVER, ChangeReason.COMMAND, "m-ana", MARIANA_LEAD)
    mariana_writes(fakes, flow, "m-1", "Oi, ainda está aí?")
    fakes.clock.now += QUIET_SECONDS

    assert run_flushes(fakes, flow) == ["paused"]
    assert fakes.n8n.requests == [] and fakes.kommo.runs == []
    assert history(fakes) == [("client", "Oi, ainda está aí?", True)]
    assert fakes.kommo.notes_on(MARIANA_LEAD) == ["Bot pausado por Ana Souza (comando /assumir)."]


def test_a_takeover_while_n8n_writes_drops_the_reply_and_says_so_on_the_lead(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    fakes.n8n.answers.append(N8nResponse(reply="Posso te passar uma cotação agora!"))

    def ana_takes_over() -> None:
        takeover(fakes).pause(MARIANA, ANA_TAKES_OVER, ChangeReason.COMMAND, "m-ana", MARIANA_LEAD)

    fakes.n8n.while_asked = ana_takes_over
    mariana_writes(fakes, flow, "m-1", "Quanto custa?")
    fakes.clock.now += QUIET_SECONDS

    assert run_flushes(fakes, flow) == ["dropped_takeover"]
    assert fakes.kommo.runs == []
    assert (
        "Resposta do assistente descartada porque o bot foi pausado durante a conversa:\n"
        "Posso te passar uma cotação agora!"
    ) in fakes.kommo.notes_on(MARIANA_LEAD)
    assert history(fakes) == [
        ("client", "Quanto custa?", True),
        ("assistant", "Posso te passar uma cotação agora!", False),
    ]


def test_the_kill_switch_leaves_the_batch_unanswered_and_tells_the_salesperson(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    fakes.switches.kill_switch = KillSwitch(stop_all=True)
    mariana_writes(fakes, flow, "m-1", "Oi, tudo bem?")
    fakes.clock.now += QUIET_SECONDS

    assert run_flushes(fakes, flow) == ["kill_switch"]
    assert fakes.n8n.requests == [] and fakes.kommo.runs == []
    assert fakes.kommo.notes_on(MARIANA_LEAD) == [
        "Mensagem do cliente sem resposta do assistente: o assistente está desligado (chave geral). Responda pelo chat."
    ]
    assert history(fakes) == [("client", "Oi, tudo bem?", True)]


def test_n8n_failing_sends_the_fallback_and_gives_the_salesperson_a_task(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    fakes.n8n.answers.append(AiFailure("timeout"))
    mariana_writes(fakes, flow, "m-1", "Vocês abrem sábado?")
    fakes.clock.now += QUIET_SECONDS

    assert run_flushes(fakes, flow) == ["fallback"]
    assert replies_to_mariana(fakes) == [fakes.texts.fallback_reply]
    [task] = fakes.kommo.tasks
    assert task == Task(
        task.key,
        MARIANA_LEAD,
        ANA,
        "O assistente não conseguiu responder ao cliente (timeout). Enviamos a mensagem padrão: confira a conversa.",
    )


def test_a_newer_message_supersedes_the_older_flush_job_and_one_reply_answers_both(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    first = mariana_writes(fakes, flow, "m-1", "Oi")
    fakes.clock.now += 2
    second = mariana_writes(fakes, flow, "m-2", "queria falar sobre o financiamento")
    fakes.clock.now += QUIET_SECONDS

    assert [job.seq for job in fakes.queue.flushes] == [first, second]
    assert run_flushes(fakes, flow) == ["superseded", "answered"]
    [(_, request)] = fakes.n8n.requests
    assert [message.id for message in request.messages] == ["m-1", "m-2"]
    assert len(replies_to_mariana(fakes)) == 1


def test_a_message_arriving_while_a_batch_is_answered_waits_for_the_lease_and_gets_its_own_reply(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    fakes.n8n.answers += [N8nResponse(reply="Temos sim!"), N8nResponse(reply="Pode ser às 15h.")]
    mariana_writes(fakes, flow, "m-1", "Vocês têm test drive?")
    fakes.clock.now += QUIET_SECONDS
    first_job = fakes.queue.flushes.pop()
    outcomes: list[str] = []

    def mariana_writes_again() -> None:  # while n8n answers m-1, m-2 arrives and its flush job runs
        fakes.n8n.while_asked = None
        seq = mariana_writes(fakes, flow, "m-2", "Amanhã à tarde dá?")
        job = fakes.queue.flushes.pop()
        outcomes.append(flow.flush(job.conversation_id, seq, job.job_id))

    fakes.n8n.while_asked = mariana_writes_again
    assert flow.flush(first_job.conversation_id, first_job.seq, first_job.job_id) == "answered"

    assert outcomes == ["busy"]
    looks_again, next_batch = fakes.queue.flushes  # when the lease ends, and the next batch after the reply
    assert looks_again == FlushJob(CONVERSATION, 2, LEASE_SECONDS + 1, looks_again.job_id)
    assert (next_batch.seq, next_batch.delay_seconds) == (2, MIN_GAP_SECONDS)
    fakes.clock.now += MIN_GAP_SECONDS
    assert run_flushes(fakes, flow) == ["answered", "nothing"]
    assert replies_to_mariana(fakes) == ["Temos sim!", "Pode ser às 15h."]
