"""The benchmark's conversation priced with the service's price table: the split docs/benchmarks.md shows."""

from __future__ import annotations

from datetime import date

import pytest

from bench.conversation_cost import BENCHMARK, DOC, WITH_TRIGGER, split, with_table
from sales_assistant.models.prices import PriceTable


def test_the_benchmarks_conversation_is_ten_service_replies_ten_answers_and_its_aws_share() -> None:
    cost = split(BENCHMARK, date(2026, 12, 3))

    assert cost["whatsapp"] == pytest.approx(10 * 0.0068)  # Brazil's rate for a reply inside the window
    assert cost["llm"] == pytest.approx(10 * (2500 * 0.40 + 125 * 1.60) / 1e6)  # gpt-4.1-mini per million tokens
    assert cost["aws"] == pytest.approx(0.54 / 1000)  # the benchmark's $0.54 per 1,000 conversations (2026-12-03)


def test_a_trigger_adds_a_marketing_template_and_one_more_answer() -> None:
    benchmark, with_trigger = split(BENCHMARK, date(2026, 12, 3)), split(WITH_TRIGGER, date(2026, 12, 3))

    assert with_trigger["whatsapp"] - benchmark["whatsapp"] == pytest.approx(0.0625)
    assert with_trigger["llm"] == pytest.approx(benchmark["llm"] * 11 / 10)


def test_whatsapp_bills_replies_inside_the_window_from_october_2026_at_the_utility_rate() -> None:
    prices = PriceTable.shipped()
    service = [prices.whatsapp_usd("BR", "service", day) for day in (date(2026, 9, 30), date(2026, 10, 1))]

    assert service == [0.0, prices.whatsapp_usd("BR", "utility", date(2026, 10, 1))]


def test_the_doc_shows_the_split_the_price_table_gives() -> None:
    doc = DOC.read_text()
    assert with_table(doc) == doc, "run python -m bench.conversation_cost --write-doc"
    assert "| **$0.0805** | $80.54 |" in doc
