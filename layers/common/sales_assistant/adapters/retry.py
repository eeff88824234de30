"""How the SQS consumers work through a batch.

- At once: the records of a batch are handled concurrently, one thread per message group (a FIFO
  queue's group; on a standard queue each record is its own), so flows waiting on n8n or on Kommo's
  rate limit overlap, and their Kommo calls share bulk requests (adapters/kommo/bulk.py). Within a
  group records go in order, and after a failure the group's later records fail unprocessed, so a FIFO
  group's order holds; except when the failed record was on its last receive (it goes to the DLQ), so
  the records behind it are not sent to the DLQ unprocessed with it. Each group runs in its own copy of
  the context: its log keys (conversation, correlation id) stay its own.
- Partial batch failures that come back soon: a failed SQS message is retried after 10 s, 20 s, 40 s...
  up to 15 minutes (its visibility changed) instead of after the queue's whole visibility timeout, so a
  client waits seconds, not minutes, for a reply delayed by a passing failure. A record that names when
  to try again (a dependency whose breaker is open, a Salesbot run waiting for its echo) waits until
  then, if that is later.
- An outage budget, not a count: the receive limit of every consumed queue (its redrive
  maxReceiveCount) is derived from one setting, `OUTAGE_BUDGET_MINUTES` (template parameter
  `OutageBudgetMinutes`), so that the delays between a record's receives add up to at least that long:
  a Kommo or n8n outage shorter than the budget sends nothing to a DLQ; only a record that keeps
  failing for its own reason (poison) gets there, once the budget is spent.
- No record started that the invocation cannot finish: a group's next record starts only while the
  invocation has a worst-case record's time left (a group's first record always starts: each
  consumer's timeout covers one, a test checks template.yaml). A timed-out invocation would report
  nothing, and its whole batch would come back a receive closer to the DLQ. The records left
  untouched are reported failed and given back at once (visibility 0), so their group's order holds.
  SQS counts that receive (it counts every one), so a record left untouched on its last receive is
  queued anew instead, its receives starting over behind its group's queued records (as a DLQ redrive
  would put it): a record never reaches the DLQ without having been tried.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from sales_assistant.adapters.aws import sqs_client
from sales_assistant.invocation import remaining_seconds
from sales_assistant.observability import logger

RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 900  # a dependency back from an outage is tried again within 15 minutes
MAX_GROUPS_AT_ONCE = 10  # an SQS batch holds at most 10 records
MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's limit
RECORD_WORST_CASE_SECONDS = 90  # 3 Kommo calls, each waiting up to 20 s for the shared rate limit + a 10 s read


class EarlierRecordFailed(Exception):
    """A record of the same message group failed before this one: it waits for that one's retry."""


class NoTimeLeft(Exception):
    """The invocation has no time left for another record: this one is given back untouched."""


def retry_delay(receive_count: int) -> int:
    """Seconds before the next try of a message received `receive_count` times (10, 20, 40 ... 900)."""
    return min(RETRY_BASE_SECONDS * 2 ** max(receive_count - 1, 0), RETRY_MAX_SECONDS)


def receives_for(budget_minutes: int) -> int:
    """The receive limit whose retry delays add up to at least `budget_minutes`: a queue's redrive
    maxReceiveCount (template.yaml's OutageBudget mapping holds it for each allowed budget; a test checks)."""
    waited, receives = 0, 1
    while waited < budget_minutes * 60:
        waited += retry_delay(receives)
        receives += 1
    return receives


def max_receives() -> int:
    """This deployment's receive limit, from its `OUTAGE_BUDGET_MINUTES`."""
    from sales_assistant.config import get_settings

    return receives_for(get_settings().outage_budget_minutes)


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
            if outcomes and not _time_for_a_record():
                outcomes.append(self._give_back(record))
            elif outcomes and outcomes[-1][0] == "fail" and _receives(previous) < max_receives():
                outcomes.append(
                    self._unprocessed(record, EarlierRecordFailed("a record of its group failed before it"))
                )
            else:
                outcomes.append(self._process_record(record))
        return outcomes

    def _give_back(self, record: dict[str, Any]) -> tuple[Any, ...]:
        """A record the invocation has no time left for: back at once, or, on its last receive, queued anew."""
        if _receives(record) >= max_receives() and self._queue_anew(record):
            return self.success_handler(self._to_batch_type(record, self.event_type), "queued anew")
        return self._unprocessed(record, NoTimeLeft("no time left in this invocation for another record"))

    def _unprocessed(self, record: dict[str, Any], reason: Exception) -> tuple[Any, ...]:
        return self.failure_handler(self._to_batch_type(record, self.event_type), (type(reason), reason, None))

    def _queue_anew(self, record: dict[str, Any]) -> bool:
        """Send a copy of `record` (its body, attributes and message group); False if it could not be sent."""
        group = (record.get("attributes") or {}).get("MessageGroupId")
        fifo = {"MessageGroupId": group, "MessageDeduplicationId": record["messageId"]} if group else {}
        attributes = {
            name: {"DataType": value["dataType"], "StringValue": value["stringValue"]}
            for name, value in (record.get("messageAttributes") or {}).items()
            if value.get("stringValue") is not None
        }
        try:
            sqs_client().send_message(
                QueueUrl=self._queue_url(), MessageBody=record["body"], MessageAttributes=attributes, **fifo
            )
        except Exception as error:  # given back instead: the redrive policy moves it to the DLQ
            logger.warning("could not queue a record anew", extra={"error": type(error).__name__})
            return False
        logger.warning("record queued anew: no time left on its last receive", extra={"receives": _receives(record)})
        return True

    def failure_handler(self, record: Any, exception: Any) -> Any:
        entry = super().failure_handler(record, exception)
        receive_count = int(record.attributes.approximate_receive_count or 1)
        untouched = isinstance(exception[1], NoTimeLeft)
        delay = 0 if untouched else _delay(exception[1], receive_count)
        logger.warning(
            "record given back untouched: no time left" if untouched else "record failed: retried soon",
            extra={"error": type(exception[1]).__name__, "receives": receive_count, "retry_in": delay},
        )
        try:
            sqs_client().change_message_visibility(
                QueueUrl=self._queue_url(), ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
            )
        except Exception as error:  # the queue's own visibility timeout still brings it back
            logger.warning("could not shorten the retry delay", extra={"error": type(error).__name__})
        return entry


def _delay(error: BaseException, receive_count: int) -> int:
    """When a failed record is tried again: by the schedule, or later when it names a time (`retry_at`,
    unix s); never sooner than the schedule, so the receive limit still covers the outage budget."""
    scheduled = retry_delay(receive_count)
    retry_at = getattr(error, "retry_at", None)
    if retry_at is None:
        return scheduled
    return min(max(int(retry_at - time.time()) + 1, scheduled), MAX_VISIBILITY_SECONDS)


def _time_for_a_record() -> bool:
    """Whether the running invocation (if any) has a worst-case record's time left."""
    remaining = remaining_seconds()
    return remaining is None or remaining >= RECORD_WORST_CASE_SECONDS


def _receives(record: dict[str, Any] | None) -> int:
    """How many times SQS has delivered this record (1 the first time)."""
    return int(((record or {}).get("attributes") or {}).get("ApproximateReceiveCount") or 1)
