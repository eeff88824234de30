"""The local runner delivers SQS batches as the event source does: a failed record comes back when the
handler's retry delay says, not sooner (a 31-second outage must not use up a record's receives)."""

from __future__ import annotations

from typing import Any

from local.sqs_pump import deliver_batch


class Queue:
    """SQS as the pump uses it: what it deletes and which visibility it changes."""

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.visibility: dict[str, int] = {}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)

    def change_message_visibility(self, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int) -> None:
        self.visibility[ReceiptHandle] = VisibilityTimeout


MESSAGES = [{"MessageId": f"m-{n}", "ReceiptHandle": f"r-{n}", "Body": "{}", "Attributes": {}} for n in (1, 2)]


def handler_that_fails_the_first_record_for_80_seconds(queue: Queue) -> Any:
    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        queue.change_message_visibility(QueueUrl="q", ReceiptHandle="r-1", VisibilityTimeout=80)  # its retry delay
        return {"batchItemFailures": [{"itemIdentifier": "m-1"}]}

    return invoke


def test_a_failed_record_keeps_the_retry_delay_its_handler_set() -> None:
    queue = Queue()
    failed = deliver_batch(queue, handler_that_fails_the_first_record_for_80_seconds(queue), "q", "arn", MESSAGES)
    assert failed == {"m-1"} and queue.deleted == ["r-2"]
    assert queue.visibility == {"r-1": 80}


def test_tests_can_bring_a_failure_back_at_once() -> None:
    queue = Queue()
    deliver_batch(queue, handler_that_fails_the_first_record_for_80_seconds(queue), "q", "arn", MESSAGES, 0)
    assert queue.visibility == {"r-1": 0}
