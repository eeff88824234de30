"""A function fed by several event sources: which handler an event goes to, by the event's shape.

    lambda_handler = observed(EventSources(records=SqsBatch(batch_processor, handle_record), http=http_app))

- records: an SQS batch -> Powertools `process_partial_response`, with a processor built for the batch
  (a processor holds one batch's state) and the record handler; returns the partial batch failures.
- http: an API Gateway request -> the function's resolver (built on first use); returns its response.
- schedule: an EventBridge scheduled event -> the job; returns what the job reports.

Each source's machinery is imported on its first use only: a cold start fed by the queue never loads
the routes, one for a route never loads Powertools Batch. An event from a source the function is not
wired to, or of no known shape, is refused with an `UnexpectedEvent` naming it (never its content).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.batch import BasePartialBatchProcessor
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

Source = Literal["records", "http", "schedule"]
DESCRIPTIONS: dict[Source, str] = {"records": "SQS batches", "http": "HTTP requests", "schedule": "scheduled events"}


class UnexpectedEvent(ValueError):
    """An event the function is not wired to take."""


def source_of(event: dict[str, Any]) -> Source | None:
    """The source an event comes from, by its shape (None: no known shape)."""
    if "Records" in event:
        return "records"
    if "requestContext" in event:
        return "http"
    if event.get("detail-type") == "Scheduled Event":
        return "schedule"
    return None


@dataclass(frozen=True)
class SqsBatch:
    """A queue's batches: `processor()` builds the batch's processor, `record_handler` handles each record."""

    processor: Callable[[], BasePartialBatchProcessor]
    record_handler: Callable[[SQSRecord], Any]

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        from aws_lambda_powertools.utilities.batch import process_partial_response

        processor = self.processor()
        return process_partial_response(
            event=event, record_handler=self.record_handler, processor=processor, context=context
        )


@dataclass(frozen=True)
class EventSources:
    """The handler of each source a function is wired to (None: not wired to it)."""

    records: SqsBatch | None = None
    http: Callable[[], APIGatewayHttpResolver] | None = None  # gives the resolver (asked per request: @cache it)
    schedule: Callable[[], Any] | None = None  # the job

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        source = source_of(event)
        if source == "records" and self.records is not None:
            return self.records(event, context)
        if source == "http" and self.http is not None:
            return self.http().resolve(event, context)
        if source == "schedule" and self.schedule is not None:
            return self.schedule()
        wired = ", ".join(DESCRIPTIONS[name] for name in DESCRIPTIONS if getattr(self, name) is not None)
        if source is None:
            keys = ", ".join(sorted(map(str, event)))
            raise UnexpectedEvent(f"an event of unknown shape (keys: {keys}): this function takes {wired}")
        raise UnexpectedEvent(f"this function is not wired to {DESCRIPTIONS[source]} (it takes {wired})")
