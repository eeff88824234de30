"""Human takeover: salesperson messages from the commands queue (FIFO), the /bot admin routes, and the
auto-resume sweep on its schedule. Each kind of event imports its own machinery on its first use: a
cold start fed by the queue never loads the HTTP routes, one for a route never loads Powertools Batch."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from sales_assistant.config import get_settings
from sales_assistant.observability import adopt_correlation_id, observed

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from sales_assistant.adapters.retry import RetrySoonProcessor

get_settings().require("api", "kommo")  # fails the cold start, naming what is missing


@cache
def http_app() -> APIGatewayHttpResolver:
    """The /bot routes."""
    from sales_assistant.api import bot
    from sales_assistant.api.http import build_resolver

    return build_resolver(bot.router)


def batch_processor() -> RetrySoonProcessor:
    """The commands queue's batch processor: a failed command is retried soon (10 s, 20 s, ...), not after
    the queue's visibility timeout; after a failed record, its group's later records wait."""
    from sales_assistant.adapters.retry import RetrySoonProcessor

    return RetrySoonProcessor(lambda: get_settings().commands_queue_url)


def handle_record(record: SQSRecord) -> str:
    from sales_assistant.consumers import command_item

    adopt_correlation_id(record.raw_event.get("messageAttributes"))
    return command_item(record.body)


def route(event: dict[str, Any], context: Any) -> Any:
    """SQS batches -> commands; HTTP -> /bot routes; the schedule -> resume overdue pauses."""
    if "Records" in event:
        from aws_lambda_powertools.utilities.batch import process_partial_response

        processor = batch_processor()
        return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
    if "requestContext" in event:
        return http_app().resolve(event, context)
    from sales_assistant.composition import takeover_service

    return {"resumed": takeover_service(get_settings()).resume_overdue()}


lambda_handler = observed(route)
