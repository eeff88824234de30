"""Partial batch failures that come back soon: a failed SQS message is retried after 10 s, 20 s, 40 s...
(its visibility changed) instead of after the queue's whole visibility timeout, so a client waits
seconds, not minutes, for a reply delayed by a passing failure. The redrive policy still moves a
message that keeps failing to the DLQ."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from sales_assistant.adapters.aws import sqs_client
from sales_assistant.observability import logger

RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 300


def retry_delay(receive_count: int) -> int:
    """Seconds before the next try of a message received `receive_count` times (10, 20, 40 ... 300)."""
    return min(RETRY_BASE_SECONDS * 2 ** max(receive_count - 1, 0), RETRY_MAX_SECONDS)


class RetrySoonProcessor(BatchProcessor):
    """Powertools' SQS batch processor, with a short growing backoff for each failed message."""

    def __init__(self, queue_url: Callable[[], str]) -> None:
        super().__init__(event_type=EventType.SQS)
        self._queue_url = queue_url

    def failure_handler(self, record: Any, exception: Any) -> Any:
        entry = super().failure_handler(record, exception)
        try:
            receive_count = int(record.attributes.approximate_receive_count or 1)
            sqs_client().change_message_visibility(
                QueueUrl=self._queue_url(),
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=retry_delay(receive_count),
            )
        except Exception as error:  # the queue's own visibility timeout still brings it back
            logger.warning("could not shorten the retry delay", extra={"error": type(error).__name__})
        return entry
