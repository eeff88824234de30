"""The funnel's store on moto: a count (one counter or several) is one transaction, a replayed once key adds
nothing, reports read by key."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from sales_assistant.adapters.funnel import DynamoFunnelCounts
from sales_assistant.models.funnel import FunnelEvent


def store() -> DynamoFunnelCounts:
    return DynamoFunnelCounts(os.environ["FUNNEL_TABLE"])


def event(name: str, lead_id: int, day: date, salesperson_id: int = 7, trigger: str = "form") -> FunnelEvent:
    return FunnelEvent(
        day=day,
        salesperson_id=salesperson_id,
        trigger=trigger,
        counters={name: 1},
        lead_id=lead_id,
        once_key=f"{name}:{lead_id}",
    )


def test_a_lead_counted_twice_counts_once_in_its_day_and_month(aws: Any) -> None:
    funnel = store()

    assert funnel.count(event("leads_in", 101, date(2026, 11, 30)))
    assert not funnel.count(event("leads_in", 101, date(2026, 11, 30)))  # the webhook replayed
    assert funnel.count(event("leads_in", 102, date(2026, 11, 30), salesperson_id=8, trigger="inbound"))
    assert funnel.count(event("replied", 101, date(2026, 12, 1)))

    rows = {
        (row.day, row.salesperson_id, row.trigger): row.counters
        for row in funnel.days(date(2026, 11, 30), date(2026, 12, 1))
    }
    assert rows == {
        (date(2026, 11, 30), 7, "form"): {"leads_in": 1},
        (date(2026, 11, 30), 8, "inbound"): {"leads_in": 1},
        (date(2026, 12, 1), 7, "form"): {"replied": 1},
    }
    assert funnel.month_totals("2026-11") == {"leads_in": 2}
    assert funnel.month_totals("2026-12") == {"replied": 1}
    assert funnel.month_totals("2026-10") == {}


def test_an_amount_adds_up_across_leads(aws: Any) -> None:
    funnel = store()
    for lead_id, cents in ((1, 30), (2, 45)):
        funnel.count(
            FunnelEvent(
                day=date(2026, 12, 2),
                counters={"cost_llm_millicents": cents},
                lead_id=lead_id,
                once_key=f"llm:{lead_id}",
            )
        )

    assert funnel.month_totals("2026-12") == {"cost_llm_millicents": 75}
    assert [row.counters for row in funnel.days(date(2026, 12, 2), date(2026, 12, 2))] == [{"cost_llm_millicents": 75}]


def answer(lead_id: int, once_key: str) -> FunnelEvent:
    """An n8n answer's tokens and cost, one moment of the lead."""
    return FunnelEvent(
        day=date(2026, 12, 2),
        salesperson_id=7,
        counters={"tokens_input": 2000, "tokens_output": 100, "cost_llm_micro_usd": 960},
        lead_id=lead_id,
        once_key=once_key,
    )


def test_an_answers_tokens_and_cost_are_one_transaction_counted_all_or_nothing(aws: Any, monkeypatch: Any) -> None:
    from sales_assistant.adapters import funnel as module

    funnel = store()
    transactions: list[int] = []  # the items of each TransactWriteItems
    real_client = module.dynamodb_client()

    class Watched:
        def get_item(self, **request: Any) -> Any:
            return real_client.get_item(**request)

        def transact_write_items(self, TransactItems: list[Any]) -> Any:
            transactions.append(len(TransactItems))
            return real_client.transact_write_items(TransactItems=TransactItems)

    monkeypatch.setattr(module, "dynamodb_client", Watched)

    assert funnel.count(answer(1, "tokens_input:1:answer-1"))
    assert not funnel.count(answer(1, "tokens_input:1:answer-1"))  # the answer redriven
    assert funnel.count(answer(2, "tokens_input:2:answer-2"))

    # a once marker, the day's ADD and the month's ADD, however many counters; the redriven answer stops at its marker
    assert transactions == [3, 3]
    totals = {"tokens_input": 4000, "tokens_output": 200, "cost_llm_micro_usd": 1920}
    assert funnel.month_totals("2026-12") == totals
    assert [row.counters for row in funnel.days(date(2026, 12, 2), date(2026, 12, 2))] == [totals]


def test_counters_named_as_dynamodb_words_are_counted(aws: Any) -> None:
    funnel = store()
    words = {"size": 1, "name": 2, "count": 3, "values": 4}  # reserved words of DynamoDB's expressions

    assert funnel.count(FunnelEvent(day=date(2026, 12, 2), counters=words, lead_id=1, once_key="words:1"))
    assert funnel.month_totals("2026-12") == words


def test_the_report_reads_one_query_per_day_and_never_scans(aws: Any, monkeypatch: Any) -> None:
    from sales_assistant.adapters import funnel as module

    funnel = store()
    funnel.count(event("leads_in", 5, date(2026, 12, 2)))
    calls: list[str] = []
    real_table = module.dynamodb_table

    class Watched:
        def __init__(self, table: Any) -> None:
            self._table = table

        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(self._table, name)

    monkeypatch.setattr(module, "dynamodb_table", lambda name: Watched(real_table(name)))
    funnel.days(date(2026, 12, 1), date(2026, 12, 3))

    assert calls == ["query", "query", "query"]


def test_a_repeat_is_stopped_by_reading_its_marker_without_a_transaction(aws: Any, monkeypatch: Any) -> None:
    """Most of a conversation's counts are repeats (the lead in, the lead replied): a read, a fifth of a
    write's price, tells them apart before any transaction is billed."""
    from sales_assistant.adapters import funnel as module

    funnel = store()
    assert funnel.count(event("replied", 101, date(2026, 12, 2)))
    calls: list[str] = []
    real_client = module.dynamodb_client()

    class Watched:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(real_client, name)

    monkeypatch.setattr(module, "dynamodb_client", Watched)

    for _ in range(3):  # the client's next messages, each answered
        assert not funnel.count(event("replied", 101, date(2026, 12, 2)))

    assert calls == ["get_item"] * 3
    assert funnel.month_totals("2026-12") == {"replied": 1}


def test_two_counts_on_the_months_total_at_once_are_both_counted(aws: Any, monkeypatch: Any) -> None:
    """DynamoDB cancels one of two transactions on the same item at the same moment (TransactionConflict): the
    cancelled count is tried again, not lost."""
    from botocore.exceptions import ClientError

    from sales_assistant.adapters import funnel as module

    funnel = store()
    real_client = module.dynamodb_client()
    conflicts = [1, 1]  # the next two transactions collide with another writer's

    class Colliding:
        def get_item(self, **request: Any) -> Any:
            return real_client.get_item(**request)

        def transact_write_items(self, TransactItems: list[Any]) -> Any:
            if conflicts:
                conflicts.pop()
                reasons = [{"Code": "None"}, {"Code": "None"}, {"Code": "TransactionConflict"}]
                error = {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons}
                raise ClientError(error, "TransactWriteItems")  # type: ignore[arg-type]
            return real_client.transact_write_items(TransactItems=TransactItems)

    monkeypatch.setattr(module, "dynamodb_client", Colliding)
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)

    assert funnel.count(event("leads_in", 7, date(2026, 12, 2)))
    assert funnel.month_totals("2026-12") == {"leads_in": 1}
    assert conflicts == []
