"""How the SQS consumers work through a batch.

- At once: the records of a batch are handled concurrently, one thread per message group (a FIFO
  queue's group; on a standard queue each record is its own), so flows waiting on n8n or on Kommo's
  rate limit overlap, and their Kommo calls share bulk requests (adapters/kommo/bulk.py). Within a
  group records go in order, and after a failure the group's later records fail unprocessed, so a FIFO
  group's order holds; except when the failed record was on its last receive (it goes to the DLQ), so
  the records behind it are not sent to the DLQ unprocessed with it. Each group runs in its own copy of
  the context: its log keys (conversation, correlation id) stay its own.
- Partial batch failures that come back soon: a failed SQS message is retried after 10 s, 20 s, 40 s...
  (its visibility changed) instead of after the queue's whole visibility timeout, so a client waits
  seconds, not minutes, for a reply delayed by a passing failure. The redrive policy still moves a
  message that keeps failing to the DLQ.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from sales_assistant.adapters.aws import sqs_client
from sales_assistant.observability import logger

RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 300
MAX_GROUPS_AT_ONCE = 10  # an SQS batch holds at most 10 records
MAX_RECEIVES = 5  # every consumed queue's redrive maxReceiveCount (a test checks template.yaml)


class EarlierRecordFailed(Exception):
    """A record of the same message group failed before this one: it waits for that one's retry."""


def retry_delay(receive_count: int) -> int:
    """Seconds before the next try of a message received `receive_count` times (10, 20, 40 ... 300)."""
    return min(RETRY_BASE_SECONDS * 2 ** max(receive_count - 1, 0), RETRY_MAX_SECONDS)


class RetrySoonProcessor(BatchProcessor):
    """Powertools' SQS batch processor, with a short growing backoff for each failed message. One per
    invocation: it holds the batch's state (the local runner and the benchmarks invoke a handler from
    several threads at once, as concurrent Lambdas)."""

    def __init__(self, queue_url: Callable[[], str]) -> None:
        super().__init__(event_type=EventType.SQS)
        self._queue_url = queue_url

    def process(self) -> list[tuple[Any, ...]]:
        """Handle the batch's message groups at once, each group's records in order."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in self.records:
            group = record.get("attributes", {}).get("MessageGroupId") or record.get("messageId", "")
            groups.setdefault(group, []).append(record)
        runs = [(contextvars.copy_context(), records) for records in groups.values()]
        if len(runs) == 1:
            context, records = runs[0]
            return context.run(self._process_group, records)
        with ThreadPoolExecutor(max_workers=min(len(runs), MAX_GROUPS_AT_ONCE)) as pool:
            done = [pool.submit(context.run, self._process_group, records) for context, records in runs]
            return [outcome for future in done for outcome in future.result()]

    def _process_group(self, records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        outcomes: list[tuple[Any, ...]] = []
        for previous, record in zip([None, *records], records, strict=False):
            if outcomes and outcomes[-1][0] == "fail" and _receives(previous) < MAX_RECEIVES:
                skipped = EarlierRecordFailed("a record of this message group failed before it")
                outcomes.append(
                    self.failure_handler(self._to_batch_type(record, self.event_type), (type(skipped), skipped, None))
                )
            else:
                outcomes.append(self._process_record(record))
        return outcomes

    def failure_handler(self, record: Any, exception: Any) -> Any:
        entry = super().failure_handler(record, exception)
        receive_count = int(record.attributes.approximate_receive_count or 1)
        logger.warning(
            "record failed: retried soon",
            extra={
                "error": type(exception[1]).__name__,
                "receives": receive_count,
                "retry_in": retry_delay(receive_count),
            },
        )
        try:
            sqs_client().change_message_visibility(
                QueueUrl=self._queue_url(),
                ReceiptHandle=record.receipt_handle,
                VisibilityTimeout=retry_delay(receive_count),
            )
        except Exception as error:  # the queue's own visibility timeout still brings it back
            logger.warning("could not shorten the retry delay", extra={"error": type(error).__name__})
        return entry


def _receives(record: dict[str, Any] | None) -> int:
    """How many times SQS has delivered this record (1 the first time)."""
    return int(((record or {}).get("attributes") or {}).get("ApproximateReceiveCount") or 1)
