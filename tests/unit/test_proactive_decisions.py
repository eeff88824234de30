"""The proactive flow's decisions on fakes: who writes a new lead's first message, when, and when no one
does and why (tests/integration/test_proactive_flow.py drives the same flow through the handlers, the
queues and Kommo's HTTP API)."""

from __future__ import annotations

from datetime import datetime

import pytest

from sales_assistant.models.queue import TriggerDue
from sales_assistant.models.trigger import LOST
from sales_assistant.services.ports.n8n import AiFailure
from sales_assistant.services.proactive import ProactiveOutreach
from tests.unit.fakes import SalesbotRun, Task
from tests.unit.flows import SAO_PAULO, TEMPLATE_NAME_FIELD, TEMPLATE_SALESBOT, Fakes, proactive

MARIANA_LEAD, MARIANA = 27754599, 93589657  # area Auto
LUCAS_LEAD, LUCAS = 27754602, 93589660  # area Auto
ANA, DIEGO, BRUNO = 8401234, 8401237, 8401235  # Ana and Diego serve Auto, Bruno Imóveis
MONDAY_10AM = datetime(2026, 3, 2, 10, 0, tzinfo=SAO_PAULO)


@pytest.fixture
def fakes() -> Fakes:
    fakes = Fakes(MONDAY_10AM)
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_salesperson(BRUNO, "Bruno Oliveira", "Imóveis")
    fakes.add_salesperson(DIEGO, "Diego Ferreira", "Auto")
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA)
    return fakes


@pytest.fixture
def flow(fakes: Fakes) -> ProactiveOutreach:
    return proactive(fakes)


def form_filled(lead_id: int, **data: str) -> TriggerDue:
    return TriggerDue(lead_id=lead_id, trigger="form", data=data, source="api")


def writer_of(fakes: Fakes, lead_id: int) -> tuple[int, str]:
    """The salesperson n8n was asked to write the lead's first message for, and why them."""
    [request] = [request for _, request in fakes.n8n.requests if request.lead.id == lead_id]
    assert request.vendor is not None and request.trigger is not None
    return request.vendor.id, request.trigger.routing


def test_the_responsible_salesperson_who_serves_the_leads_area_writes(fakes: Fakes, flow: ProactiveOutreach) -> None:
    assert flow.handle(form_filled(MARIANA_LEAD)) == "sent"

    assert writer_of(fakes, MARIANA_LEAD) == (ANA, "responsible")
    assert fakes.round_robin.turns == {}
    # a new lead never wrote: the window is closed, so the first message is the template, with her name
    assert fakes.kommo.runs == [SalesbotRun(TEMPLATE_SALESBOT, MARIANA_LEAD, {TEMPLATE_NAME_FIELD: "Mariana"})]
    [note] = fakes.kommo.notes_on(MARIANA_LEAD)
    assert "Primeira mensagem enviada" in note and "Ana Souza (responsável pelo lead)" in note
    assert fakes.triggers.triggers[f"{MARIANA_LEAD}-form"].status == "sent"


def test_a_lead_whose_responsible_serves_another_area_goes_to_the_next_salesperson_of_its_area_in_turn(
    fakes: Fakes, flow: ProactiveOutreach
) -> None:
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=BRUNO)
    fakes.add_lead(LUCAS_LEAD, LUCAS, "Lucas Barbosa", area="Auto", responsible=BRUNO)

    assert flow.handle(form_filled(MARIANA_LEAD)) == "sent"
    assert flow.handle(form_filled(LUCAS_LEAD)) == "sent"

    assert writer_of(fakes, MARIANA_LEAD) == (ANA, "area_mismatch")
    assert writer_of(fakes, LUCAS_LEAD) == (DIEGO, "area_mismatch")
    assert fakes.round_robin.turns == {"Auto|real": 2}
    assert "o responsável não atende a área do lead" in fakes.kommo.notes_on(LUCAS_LEAD)[0]


def test_outside_the_salespersons_hours_the_trigger_waits_for_their_next_opening(fakes: Fakes) -> None:
    fakes.clock.now = datetime(2026, 3, 7, 10, 0, tzinfo=SAO_PAULO).timestamp()  # a Saturday
    flow = proactive(fakes)
    monday_9am = datetime(2026, 3, 9, 9, 0, tzinfo=SAO_PAULO).timestamp()

    assert flow.handle(form_filled(MARIANA_LEAD)) == "deferred"
    trigger = fakes.triggers.triggers[f"{MARIANA_LEAD}-form"]
    assert (trigger.status, trigger.due_at, trigger.vendor_id) == ("deferred", monday_9am, ANA)
    assert fakes.n8n.requests == [] and fakes.kommo.runs == []
    assert flow.fire_due() == 0  # still Saturday

    fakes.clock.now = monday_9am
    assert flow.fire_due() == 1
    [due] = fakes.queue.published
    assert isinstance(due, TriggerDue) and due.source == "sweep"
    assert flow.handle(due) == "sent"
    assert len(fakes.kommo.runs) == 1 and writer_of(fakes, MARIANA_LEAD) == (ANA, "responsible")


def test_a_repeated_trigger_sends_nothing_more_and_its_data_reaches_the_conversation(
    fakes: Fakes, flow: ProactiveOutreach
) -> None:
    assert flow.handle(form_filled(MARIANA_LEAD, origem="site")) == "sent"
    assert flow.handle(form_filled(MARIANA_LEAD, origem="site")) == "repeated"
    assert flow.handle(form_filled(MARIANA_LEAD, pagina="/seguro-auto")) == "repeated"

    assert len(fakes.kommo.runs) == 1 and len(fakes.n8n.requests) == 1
    assert len(fakes.kommo.notes_on(MARIANA_LEAD)) == 1
    conversation = fakes.conversations.get(f"lead:{MARIANA_LEAD}")
    assert conversation is not None and conversation.proactive is not None
    assert conversation.proactive["data"] == {"origem": "site", "pagina": "/seguro-auto"}


@pytest.mark.parametrize(
    "status_id, phone, reason, why",
    [
        (LOST, "+55 11 98765-4321", "lead_closed", "o lead já está ganho ou perdido"),
        (None, "", "no_phone", "o contato não tem telefone nem chat de WhatsApp"),
    ],
    ids=["closed-lead", "no-phone"],
)
def test_a_lead_that_cannot_be_written_to_gets_nothing_and_a_note_saying_why(
    fakes: Fakes, flow: ProactiveOutreach, status_id: int | None, phone: str, reason: str, why: str
) -> None:
    fakes.add_lead(
        MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA, phone=phone, status_id=status_id
    )

    assert flow.handle(form_filled(MARIANA_LEAD)) == f"skipped:{reason}"
    assert fakes.n8n.requests == [] and fakes.kommo.runs == []
    assert fakes.kommo.notes_on(MARIANA_LEAD) == [f"Primeira mensagem não enviada (formulário preenchido): {why}."]
    assert fakes.triggers.triggers[f"{MARIANA_LEAD}-form"].status == "skipped"


def test_without_a_fallback_template_outside_the_window_the_salesperson_gets_a_task(fakes: Fakes) -> None:
    flow = proactive(fakes, fallback_template="")
    fakes.n8n.answers.append(AiFailure("timeout"))

    assert flow.handle(form_filled(MARIANA_LEAD)) == "skipped:template_not_configured"
    assert fakes.kommo.runs == []
    [task] = fakes.kommo.tasks
    assert task == Task(
        task.key, MARIANA_LEAD, ANA, 'A janela de 24 h do WhatsApp está fechada: envie o modelo "-" ao cliente.'
    )
    [note] = fakes.kommo.notes_on(MARIANA_LEAD)
    assert "a janela de 24 h está fechada e não há modelo configurado" in note
