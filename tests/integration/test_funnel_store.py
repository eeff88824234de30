"""The funnel's store on moto: a count is one transaction, a replayed once key adds nothing, reports read by key."""

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
        name=name,
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
                name="cost_llm_millicents",
                lead_id=lead_id,
                once_key=f"llm:{lead_id}",
                amount=cents,
            )
        )

    assert funnel.month_totals("2026-12") == {"cost_llm_millicents": 75}
    assert [row.counters for row in funnel.days(date(2026, 12, 2), date(2026, 12, 2))] == [{"cost_llm_millicents": 75}]


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
