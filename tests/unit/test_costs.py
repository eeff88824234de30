"""What the assistant costs, counted as it goes: each delivered message priced as WhatsApp bills it (marketing
template, utility template, free text inside the window), each n8n answer's tokens priced by its chat model,
each conversation's share of the AWS bill; a replayed answer or message never counts twice."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from sales_assistant.models.conversation import batch_id
from sales_assistant.models.n8n import N8nResponse, Usage
from sales_assistant.models.prices import PriceTable
from sales_assistant.models.queue import TriggerDue
from sales_assistant.services.costs import Costs
from sales_assistant.services.delivery import Outgoing, Template
from tests.unit.flows import QUIET_SECONDS, SAO_PAULO, Fakes, proactive, reactive, run_flushes

MARIANA_LEAD, MARIANA, ANA = 27754599, 93589657, 8401234
DECEMBER_MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=SAO_PAULO)
GPT_MINI_ANSWER = Usage(model="gpt-4.1-mini-2025-04-14", input_tokens=2000, output_tokens=100)


def counting(fakes: Fakes) -> Fakes:
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA)
    fakes.costs = Costs(
        fakes.funnel_counts, PriceTable.shipped(), country="BR", timezone="America/Sao_Paulo", clock=fakes.clock
    )
    return fakes


@pytest.fixture
def fakes() -> Fakes:
    return counting(Fakes(DECEMBER_MONDAY))


def month_costs(fakes: Fakes, month: str = "2026-12") -> dict[str, int]:
    """The month's cost counters (the funnel's own steps left out)."""
    totals = fakes.funnel_counts.month_totals(month)
    counted = ("cost_", "messages_", "tokens_", "conversations")
    return {name: value for name, value in totals.items() if name.startswith(counted)}


def mariana_is_answered(fakes: Fakes, answer: N8nResponse) -> None:
    """Mariana writes, n8n answers `answer`, and the reply goes out."""
    flow = reactive(fakes)
    fakes.n8n.answers.append(answer)
    flow.receive(fakes.client_message("m-1", "Oi, quero um consórcio", lead_id=MARIANA_LEAD, contact_id=MARIANA))
    fakes.clock.now += QUIET_SECONDS
    assert run_flushes(fakes, flow) == ["answered"]


def test_n8n_may_say_what_its_chat_model_used_and_an_answer_without_it_stays_valid() -> None:
    with_usage = N8nResponse.model_validate_json(
        '{"reply": "Oi!", "usage": {"model": "gpt-4.1-mini", "input_tokens": 1830, "output_tokens": 96}}'
    )
    assert with_usage.usage == Usage(model="gpt-4.1-mini", input_tokens=1830, output_tokens=96)
    assert N8nResponse.model_validate_json('{"reply": "Oi!"}').usage is None  # an answer of before usage

    # a usage out of bounds loses its cost, never the client's answer
    for usage in ({"model": "gpt-4.1-mini", "input_tokens": -1, "output_tokens": 5}, {"model": "", "input_tokens": 1}):
        answer = N8nResponse.model_validate({"reply": "Oi!", "usage": usage})
        assert (answer.reply, answer.usage) == ("Oi!", None)


def test_a_reply_inside_the_window_is_a_service_message_and_its_tokens_are_priced_by_the_chat_model(
    fakes: Fakes,
) -> None:
    mariana_is_answered(fakes, N8nResponse(reply="Claro! Para qual valor de crédito?", usage=GPT_MINI_ANSWER))

    # December 2026: free text inside the window is billed at Brazil's utility rate since 2026-10-01
    assert month_costs(fakes) == {
        "messages_service": 1,
        "cost_whatsapp_micro_usd": 6_800,
        "tokens_input": 2000,
        "tokens_output": 100,
        "cost_llm_micro_usd": 2000 * 0.40 + 100 * 1.60,  # a dated snapshot is priced as gpt-4.1-mini
        "cost_aws_micro_usd": 540,  # the benchmark's $0.54 per 1,000 conversations (2026-12-03)
        "conversations": 1,  # what the report's cost per conversation divides by
    }
    # on Ana's row, as a conversation the client began
    assert set(fakes.funnel_counts.day_counters) == {(date(2026, 12, 7), ANA, "inbound")}


def test_before_october_2026_whatsapp_billed_nothing_for_a_reply_inside_the_window() -> None:
    fakes = counting(Fakes(datetime(2026, 9, 28, 10, 0, tzinfo=SAO_PAULO)))
    mariana_is_answered(fakes, N8nResponse(reply="Claro! Para qual valor de crédito?"))

    september = month_costs(fakes, "2026-09")
    assert september["messages_service"] == 1
    assert "cost_whatsapp_micro_usd" not in september and "cost_llm_micro_usd" not in september  # nor any usage


def test_a_first_message_outside_the_window_is_a_marketing_template_on_the_triggers_row(fakes: Fakes) -> None:
    assert proactive(fakes).handle(TriggerDue(lead_id=MARIANA_LEAD, trigger="form", source="api")) == "sent"

    [(day, salesperson, trigger)] = fakes.funnel_counts.day_counters
    assert (day, salesperson, trigger) == (date(2026, 12, 7), ANA, "form")
    counters = fakes.funnel_counts.day_counters[(day, salesperson, trigger)]
    assert counters["messages_marketing"] == 1 and counters["cost_whatsapp_micro_usd"] == 62_500


def test_an_appointment_reminder_outside_the_window_is_billed_as_a_utility_template(fakes: Fakes) -> None:
    assert fakes.costs is not None
    reminder = Template("lembrete_reuniao", {"nome": "Mariana", "data": "08/12", "hora": "10:00"}, category="utility")
    fakes.costs.delivered(
        Outgoing(
            "appointment-reminder:apt-1:1:60", f"lead:{MARIANA_LEAD}", MARIANA_LEAD, MARIANA, ANA, template=reminder
        )
    )

    december = month_costs(fakes)
    assert (december["messages_utility"], december["cost_whatsapp_micro_usd"]) == (1, 6_800)


def test_a_model_the_table_does_not_price_counts_its_tokens_and_no_cost(fakes: Fakes) -> None:
    mariana_is_answered(
        fakes, N8nResponse(reply="Oi!", usage=Usage(model="llama-3-70b", input_tokens=900, output_tokens=40))
    )

    december = month_costs(fakes)
    assert (december["tokens_input"], december["tokens_output"]) == (900, 40)
    assert "cost_llm_micro_usd" not in december


def test_a_replayed_webhook_job_answer_or_delivery_counts_no_cost_twice(fakes: Fakes) -> None:
    flow = reactive(fakes)
    fakes.n8n.answers.append(N8nResponse(reply="Claro!", usage=GPT_MINI_ANSWER))
    message = fakes.client_message("m-1", "Oi", lead_id=MARIANA_LEAD, contact_id=MARIANA)
    flow.receive(message)
    fakes.clock.now += QUIET_SECONDS
    jobs = list(fakes.queue.flushes)
    assert run_flushes(fakes, flow) == ["answered"]
    counted = month_costs(fakes)
    assert counted["cost_llm_micro_usd"] and counted["cost_whatsapp_micro_usd"]

    flow.receive(message)  # Kommo's webhook again
    assert [flow.flush(job.conversation_id, job.seq, job.job_id) for job in jobs] == ["nothing"]  # the queue again
    assert fakes.costs is not None
    [(_, request)] = fakes.n8n.requests
    fakes.costs.answered(batch_id([message]), request, GPT_MINI_ANSWER)  # the same answer counted again
    reply = Outgoing(batch_id([message]), f"lead:{MARIANA_LEAD}", MARIANA_LEAD, MARIANA, ANA, text="Claro!")
    fakes.costs.delivered(reply)  # the same delivery counted again, as a redriven record would

    assert month_costs(fakes) == counted


def test_a_reply_is_counted_in_four_writes_what_is_spent_together_counted_together(fakes: Fakes) -> None:
    mariana_is_answered(fakes, N8nResponse(reply="Claro! Para qual valor de crédito?", usage=GPT_MINI_ANSWER))

    # the lead in; the answer's tokens and LLM cost; the message's category and WhatsApp cost; the conversation
    # and its AWS share (each counter its own write until 2026-12: 8 writes, 24 DynamoDB items)
    assert fakes.funnel_counts.writes == 4
    assert len(month_costs(fakes)) == 7
