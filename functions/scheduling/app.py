"""Scheduling: the availability, hold and appointment routes (n8n's AI agent tools), and the scheduling
queue (each appointment change's follow-ups, and reminders when their one-time schedule fires). Each
kind of event imports its own machinery on its first use (the routes, or Powertools Batch)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sales_assistant.config import get_settings
from sales_assistant.event_sources import EventSources, SqsBatch
from sales_assistant.observability import observed

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from sales_assistant.adapters.retry import RetrySoonProcessor

get_settings().require("api", "n8n", "kommo")  # fails the cold start, naming what is missing


@cache
def http_app() -> APIGatewayHttpResolver:
    """The availability, hold and appointment routes."""
    from sales_assistant.api import scheduling
    from sales_assistant.api.http import build_resolver

    return build_resolver(scheduling.router)


def batch_processor() -> RetrySoonProcessor:
    """The scheduling queue's batch processor (records at once, failures retried soon)."""
    from sales_assistant.adapters.retry import RetrySoonProcessor

    return RetrySoonProcessor(lambda: get_settings().scheduling_queue_url)


def handle_record(record: SQSRecord) -> str:
    from sales_assistant.consumers import scheduling_item

    return scheduling_item(record.body)


route = EventSources(records=SqsBatch(batch_processor, handle_record), http=http_app)
lambda_handler = observed(route)
