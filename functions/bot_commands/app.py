"""Human takeover: salesperson messages from the commands queue (FIFO), the /bot admin routes, and the
auto-resume sweep on its schedule. Each kind of event imports its own machinery on its first use: a
cold start fed by the queue never loads the HTTP routes, one for a route never loads Powertools Batch."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from sales_assistant.config import get_settings
from sales_assistant.event_sources import EventSources, SqsBatch
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


def resume_overdue() -> dict[str, Any]:
    """The schedule's job: resume the bots whose pause is over, task the managers of handovers nobody answered."""
    from sales_assistant.composition import handovers, takeover_service

    settings = get_settings()
    return {"resumed": takeover_service(settings).resume_overdue(), "escalated": handovers(settings).escalate_overdue()}


route = EventSources(records=SqsBatch(batch_processor, handle_record), http=http_app, schedule=resume_overdue)
lambda_handler = observed(route)
