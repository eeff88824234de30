"""The SQS consumers' batch processing: a batch's message groups at once, each group's records in order,
and a failed record holds back the rest of its group only (adapters/retry.py)."""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response

from sales_assistant.adapters.retry import MAX_RECEIVES, RetrySoonProcessor


def sqs_record(message_id: str, group: str | None, receives: int = 1) -> dict[str, Any]:
    attributes = {"ApproximateReceiveCount": str(receives), **({"MessageGroupId": group} if group else {})}
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": message_id,
        "attributes": attributes,
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lead-events.fifo",
    }


def consume(records: list[dict[str, Any]], handle: Any) -> set[str]:
    processor = RetrySoonProcessor(lambda: "https://sqs.us-east-1.amazonaws.com/123456789012/lead-events.fifo")
    response = process_partial_response(
        event={"Records": records}, record_handler=lambda record: handle(record.body), processor=processor
    )
    return {str(failure["itemIdentifier"]) for failure in response["batchItemFailures"]}


def test_a_failed_lead_event_holds_back_that_leads_later_events_only() -> None:
    handled: list[str] = []

    def handle(body: str) -> None:
        handled.append(body)
        if body == "lead-1:add":
            raise RuntimeError("Kommo is down for this lead")

    failed = consume(
        [
            sqs_record("lead-1:add", "lead:1"),
            sqs_record("lead-2:add", "lead:2"),
            sqs_record("lead-1:update", "lead:1"),
            sqs_record("lead-2:update", "lead:2"),
        ],
        handle,
    )

    assert failed == {"lead-1:add", "lead-1:update"}  # retried together, in order
    assert "lead-1:update" not in handled
    assert [body for body in handled if body.startswith("lead-2")] == ["lead-2:add", "lead-2:update"]


def test_a_lead_event_failing_for_the_last_time_no_longer_holds_back_that_leads_later_events() -> None:
    handled: list[str] = []

    def handle(body: str) -> None:
        handled.append(body)
        if body == "lead-1:add":
            raise RuntimeError("this event can never be handled")

    failed = consume(
        [sqs_record("lead-1:add", "lead:1", receives=MAX_RECEIVES), sqs_record("lead-1:update", "lead:1", receives=5)],
        handle,
    )

    assert failed == {"lead-1:add"}  # to the DLQ, alone: the update behind it is handled
    assert handled == ["lead-1:add", "lead-1:update"]


def test_the_records_of_different_conversations_are_handled_at_once() -> None:
    other_started = threading.Event()

    def handle(body: str) -> None:
        if body == "first":  # it can finish only if the other record runs meanwhile
            assert other_started.wait(timeout=10), "the records were handled one after the other"
        else:
            other_started.set()

    assert consume([sqs_record("first", None), sqs_record("second", None)], handle) == set()


def test_a_client_reached_first_by_every_record_at_once_is_created_once() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from sales_assistant.adapters.aws import created_once

    made: list[object] = []
    start = threading.Barrier(10)

    @created_once
    def client() -> object:
        made.append(object())
        threading.Event().wait(0.05)  # boto3 takes a while to build one: others arrive meanwhile
        return made[-1]

    def first_use(_: int) -> object:
        start.wait()
        return client()

    with ThreadPoolExecutor(max_workers=10) as pool:
        clients = set(map(id, pool.map(first_use, range(10))))
    assert len(made) == 1 and len(clients) == 1
