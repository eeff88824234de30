"""The funnel counted by the real handlers on moto: a posted trigger and the client's answer count their lead
once, however often the lead events queue delivers the trigger's record or Kommo posts the client's message."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from local.sqs_pump import deliver_batch, receive
from sales_assistant.adapters.funnel import DynamoFunnelCounts
from sales_assistant.services.funnel import STEPS
from tests.conftest import World
from tests.integration.test_proactive_flow import JULIANA, JULIANA_LEAD, post_trigger, proactive  # noqa: F401
from tests.integration.test_reactive_flow import client_message

CARLA = 8401236  # Juliana's salesperson


def funnel_today() -> tuple[dict[str, int], list[tuple[int, str]]]:
    """The account's counts of this month (funnel steps only) and who today's counts are for."""
    today = datetime.now(ZoneInfo("America/Sao_Paulo")).date()
    store = DynamoFunnelCounts(os.environ["FUNNEL_TABLE"])
    totals = store.month_totals(today.isoformat()[:7])
    rows = store.days(today, today)
    return {name: value for name, value in totals.items() if name in STEPS}, [
        (row.salesperson_id, row.trigger) for row in rows
    ]


def test_a_trigger_delivered_twice_and_a_reply_posted_twice_count_the_lead_once(proactive: World) -> None:  # noqa: F811
    assert post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"})[0] == 202
    queue = proactive.stack.physical_ids["LeadEventsQueue"], proactive.stack.arns["LeadEventsQueue"]
    records = receive(proactive.sqs, queue[0])
    handler = proactive.handler("ProactiveTriggerFunction")
    deliver_batch(proactive.sqs, handler, *queue, records, retry_after_seconds=0)
    deliver_batch(proactive.sqs, handler, *queue, records, retry_after_seconds=0)  # the same record again
    proactive.pump()
    answer = client_message("c-1", "Oi, tenho interesse", lead=JULIANA_LEAD, contact=JULIANA)
    proactive.post_webhook(answer)
    proactive.post_webhook(answer)  # Kommo posts it again
    proactive.pump()

    counts, rows = funnel_today()
    assert counts == {"leads_in": 1, "first_message_sent": 1, "replied": 1}
    assert rows == [(CARLA, "form")]


def test_a_reply_counts_its_funnel_and_costs_in_four_transactions(world: World, monkeypatch: Any) -> None:
    from sales_assistant.adapters import funnel as module

    table = os.environ["FUNNEL_TABLE"]
    transactions: list[list[str]] = []  # the funnel's TransactWriteItems, each as its items' tables
    real_client = module.dynamodb_client()

    class Watched:
        def get_item(self, **request: Any) -> Any:  # a repeat's marker read: no transaction
            return real_client.get_item(**request)

        def transact_write_items(self, TransactItems: list[Any]) -> Any:
            transactions.append([next(iter(item.values()))["TableName"] for item in TransactItems])
            return real_client.transact_write_items(TransactItems=TransactItems)

    monkeypatch.setattr(module, "dynamodb_client", Watched)
    usage = {"model": "gpt-4.1-mini", "input_tokens": 2500, "output_tokens": 125}
    world.n8n.respond_with(200, {"reply": "Olá, Mariana! Para qual valor de crédito?", "usage": usage})
    world.post_webhook(client_message("c-1", "Oi, quero um consórcio"))
    world.pump()

    # the lead in; the answer's tokens and LLM cost; the message's category and WhatsApp cost; the conversation
    # and its AWS share (each counter its own transaction until 2026-12: 8 transactions, 24 items)
    assert transactions == [[table] * 3] * 4
    totals = DynamoFunnelCounts(table).month_totals(datetime.now(ZoneInfo("America/Sao_Paulo")).isoformat()[:7])
    assert (totals["leads_in"], totals["messages_service"], totals["conversations"]) == (1, 1, 1)
    assert (totals["tokens_input"], totals["tokens_output"], totals["cost_llm_micro_usd"]) == (2500, 125, 1200)
