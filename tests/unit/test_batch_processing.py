"""The SQS consumers' batch processing: a batch's message groups at once, each group's records in order,
a failed record holds back the rest of its group only, and a record the invocation has no time left for
is given back untouched (adapters/retry.py)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response

from local.defaults import EXAMPLE_SETTINGS
from local.lambda_events import sqs_event
from local.sqs_pump import receive
from sales_assistant.adapters.retry import RECORD_WORST_CASE_SECONDS, RetrySoonProcessor, max_receives
from sales_assistant.config import reset_settings
from sales_assistant.invocation import set_invocation_context


@pytest.fixture(autouse=True)
def deployment_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The receive limit comes from the deployment's OUTAGE_BUDGET_MINUTES: these tests run with a complete set
    of settings whichever tests ran before them (alone, they used to find none)."""
    for name, value in EXAMPLE_SETTINGS.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    yield
    reset_settings()


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
        [
            sqs_record("lead-1:add", "lead:1", receives=max_receives()),
            sqs_record("lead-1:update", "lead:1", receives=5),
        ],
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


class Invocation:
    """The running Lambda invocation as the batch sees it: how much time it has left."""

    def __init__(self, seconds_left: float) -> None:
        self.seconds_left = seconds_left

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds_left * 1000)


class LeadEvents:
    """The lead events queue (FIFO, one message group per lead) on moto, with its consumer's batch processor."""

    def __init__(self, stack: Any) -> None:
        import boto3

        self.sqs = boto3.client("sqs")
        self.url, self.arn = stack.physical_ids["LeadEventsQueue"], stack.arns["LeadEventsQueue"]
        self.dlq = stack.physical_ids["LeadEventsDLQ"]
        self._taken: dict[str, str] = {}  # message id -> its latest receipt handle

    def post(self, *events: str) -> None:
        for event in events:
            lead = event.split(":")[0]
            self.sqs.send_message(
                QueueUrl=self.url,
                MessageBody=event,
                MessageGroupId=lead,
                MessageDeduplicationId=str(uuid.uuid4()),  # moto's queue outlives a test: no dedup across tests
                MessageAttributes={"correlation_id": {"DataType": "String", "StringValue": f"webhook-{event}"}},
            )

    def received(self) -> list[Any]:
        messages = receive(self.sqs, self.url)
        self._taken.update({message["MessageId"]: message["ReceiptHandle"] for message in messages})
        return messages

    def forget(self) -> None:
        """Delete what the test took (in flight, it would hold up its lead's group in the next test)."""
        for handle in self._taken.values():
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=handle)

    def give_back(self, messages: list[Any]) -> None:
        for message in messages:
            self.sqs.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def consume(self, messages: list[Any], handle: Any) -> set[str]:
        """One batch through the consumer, as the event source does it: what it does not report failed is
        deleted, what it does is left as the consumer left it. Returns the bodies reported failed."""
        response = process_partial_response(
            event=sqs_event(messages, self.arn),
            record_handler=lambda record: handle(record.body),
            processor=RetrySoonProcessor(lambda: self.url),
        )
        failed = {str(failure["itemIdentifier"]) for failure in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return {message["Body"] for message in messages if message["MessageId"] in failed}


@pytest.fixture
def lead_events(aws: Any) -> Iterator[LeadEvents]:
    queue = LeadEvents(aws)
    yield queue
    set_invocation_context(None)
    queue.forget()


def test_a_lead_event_that_eats_the_invocations_time_leaves_the_leads_later_events_untouched_and_back_at_once(
    lead_events: LeadEvents,
) -> None:
    invocation = Invocation(seconds_left=180)
    set_invocation_context(invocation)
    handled: list[str] = []

    def handle(body: str) -> None:
        handled.append(body)
        if body == "lead-1:add":  # Kommo's rate limit kept this one waiting
            invocation.seconds_left = RECORD_WORST_CASE_SECONDS - 1

    lead_events.post("lead-1:add", "lead-1:status", "lead-1:responsible", "lead-2:add")
    failed = lead_events.consume(lead_events.received(), handle)

    assert failed == {"lead-1:status", "lead-1:responsible"}  # reported failed, never started
    assert sorted(handled) == ["lead-1:add", "lead-2:add"]  # another lead's first event still ran
    back = lead_events.received()  # at once, not after a retry delay, in the lead's order
    assert [message["Body"] for message in back] == ["lead-1:status", "lead-1:responsible"]


def test_a_lead_event_left_untouched_on_its_last_receive_is_queued_anew_and_never_reaches_the_dlq_untried(
    lead_events: LeadEvents,
) -> None:
    lead_events.post("lead-1:add", "lead-1:status")
    for _ in range(max_receives() - 1):  # Kommo failed them every time but the last
        lead_events.give_back(lead_events.received())
    invocation = Invocation(seconds_left=180)
    set_invocation_context(invocation)

    def handle(body: str) -> None:
        if body == "lead-1:add":
            invocation.seconds_left = 1

    last_try = lead_events.received()
    assert {message["Attributes"]["ApproximateReceiveCount"] for message in last_try} == {str(max_receives())}
    failed = lead_events.consume(last_try, handle)

    assert failed == set()  # the untouched one is replaced, not given back for a sixth receive (the DLQ)
    anew = lead_events.received()
    assert [message["Body"] for message in anew] == ["lead-1:status"]
    assert anew[0]["Attributes"]["ApproximateReceiveCount"] == "1"  # its receives start over
    assert anew[0]["Attributes"]["MessageGroupId"] == "lead-1"
    assert anew[0]["MessageAttributes"]["correlation_id"]["StringValue"] == "webhook-lead-1:status"
    assert lead_events.sqs.receive_message(QueueUrl=lead_events.dlq).get("Messages", []) == []
