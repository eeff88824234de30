"""GET /reports/funnel through the ops function on moto: the operator's token only, JSON, CSV and HTML by the
Accept header or format=, salespeople named from the cache, and a 400 with its reason for a wrong request."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import date
from typing import Any

import pytest

from local.lambda_events import LambdaContext, http_api_event
from sales_assistant.adapters.funnel import DynamoFunnelCounts
from sales_assistant.models.funnel import FunnelEvent
from tests.conftest import API_TOKEN, N8N_API_TOKEN, handler_of
from tests.integration.test_funnel_store import event

ANA, DIEGO = 8401234, 8401237
OPERATOR = {"authorization": f"Bearer {API_TOKEN}"}
WEEK = {"from": "2026-11-30", "to": "2026-12-04"}


def call(aws: Any, query: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """The status, content type and body of GET /reports/funnel."""
    event = http_api_event("GET", "/reports/funnel", query=query, headers=headers if headers is not None else OPERATOR)
    response = handler_of(aws, "OpsApiFunction")(event, LambdaContext())
    return response["statusCode"], response["headers"]["Content-Type"], response["body"]


@pytest.fixture
def week(aws: Any) -> Any:
    """Ana's and Diego's leads of a week in the funnel table, and both in the salespeople cache."""
    import boto3

    vendors = boto3.resource("dynamodb").Table(os.environ["VENDORS_TABLE"])
    for vendor_id, name in ((ANA, "Ana Souza"), (DIEGO, "Diego Ferreira")):
        vendors.put_item(Item={"vendor_id": vendor_id, "name": name, "active": True})
    funnel = DynamoFunnelCounts(os.environ["FUNNEL_TABLE"])
    steps = {  # lead -> (salesperson, trigger, day, steps)
        1: (ANA, "form", date(2026, 11, 30), ("leads_in", "first_message_sent", "replied", "meeting_booked")),
        2: (ANA, "form", date(2026, 12, 1), ("leads_in", "first_message_sent")),
        3: (DIEGO, "inbound", date(2026, 12, 4), ("leads_in", "replied", "opted_out")),
        4: (DIEGO, "material", date(2026, 12, 5), ("leads_in",)),  # the day after the range
    }
    for lead_id, (salesperson, trigger, day, names) in steps.items():
        for name in names:
            funnel.count(event(name, lead_id, day, salesperson, trigger))
    funnel.count(
        FunnelEvent(
            day=date(2026, 11, 30),
            salesperson_id=ANA,
            trigger="form",
            counters={"cost_llm_micro_usd": 12_000},
            lead_id=1,
            once_key="answer-1",
        )
    )
    return aws


def test_the_operator_gets_the_week_per_salesperson_as_json(week: Any) -> None:
    status, content_type, body = call(week, WEEK)
    report = json.loads(body)

    assert (status, content_type) == (200, "application/json")
    assert [(line["name"], line["leads_in"], line["replied"]) for line in report["lines"]] == [
        ("Ana Souza", 2, 1),
        ("Diego Ferreira", 1, 1),
    ]
    total = report["total"]
    assert (total["leads_in"], total["first_message_sent"], total["meeting_booked"], total["opted_out"]) == (3, 2, 1, 1)
    assert total["cost_llm_micro_usd"] == 12_000
    assert total["cost_per_conversation_usd"] == 0.004  # 0.012 US$ over 3 leads in


def test_by_trigger_names_each_kind_in_portuguese(week: Any) -> None:
    _, _, body = call(week, {**WEEK, "by": "trigger"})
    assert [(line["key"], line["name"]) for line in json.loads(body)["lines"]] == [
        ("form", "formulário preenchido"),
        ("inbound", "cliente escreveu primeiro"),
    ]


@pytest.mark.parametrize(
    ("query", "headers"), [(WEEK, {**OPERATOR, "accept": "text/csv"}), ({**WEEK, "format": "csv"}, OPERATOR)]
)
def test_csv_by_the_accept_header_or_format(week: Any, query: dict[str, str], headers: dict[str, str]) -> None:
    status, content_type, body = call(week, query, headers)
    lines = list(csv.DictReader(io.StringIO(body)))

    assert (status, content_type) == (200, "text/csv; charset=utf-8")
    assert [(line["name"], line["leads_in"]) for line in lines] == [
        ("Ana Souza", "2"),
        ("Diego Ferreira", "1"),
        ("Total", "3"),
    ]


def test_html_is_one_page_with_no_outside_script(week: Any) -> None:
    status, content_type, body = call(week, WEEK, {**OPERATOR, "accept": "text/html,application/xhtml+xml"})

    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "<script" not in body and "default-src 'none'" in body
    assert 'data-step="leads_in">Leads recebidos: 3</text>' in body
    assert "de 30/11/2026 a 04/12/2026" in body and "Custo por conversa" in body


@pytest.mark.parametrize(
    ("query", "code", "reason"),
    [
        ({"from": "2026-13-01"}, "bad_date", "from: a day as YYYY-MM-DD"),
        ({"to": "ontem"}, "bad_date", "to: a day as YYYY-MM-DD"),
        ({"from": "2026-12-04", "to": "2026-11-30"}, "from_after_to", "from (2026-12-04) is after to (2026-11-30)"),
        ({"from": "2026-01-01", "to": "2026-12-01"}, "range_too_long", "at most 92 days"),
        ({**WEEK, "by": "manager"}, "unknown_grouping", "by: salesperson or trigger"),
        ({**WEEK, "format": "xlsx"}, "unknown_format", "format: json, csv or html"),
    ],
)
def test_a_wrong_request_is_a_400_saying_why(week: Any, query: dict[str, str], code: str, reason: str) -> None:
    status, _, body = call(week, query)
    answer = json.loads(body)
    assert (status, answer["error"]) == (400, code)
    assert answer["message"].startswith(reason)


def test_a_quarter_is_the_longest_range(week: Any) -> None:
    status, _, _ = call(week, {"from": "2026-09-04", "to": "2026-12-04"})  # 92 days
    assert status == 200


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"authorization": f"Bearer {N8N_API_TOKEN}"}, 403)])
def test_only_the_operator_reads_the_report(week: Any, headers: dict[str, str], status: int) -> None:
    assert call(week, WEEK, headers)[0] == status
