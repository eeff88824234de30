"""Scheduling: the availability, hold and appointment routes (n8n's AI agent tools), and the scheduling
queue (each appointment change's follow-ups, and reminders when their one-time schedule fires). Each
kind of event imports its own machinery on its first use (the routes, or Powertools Batch)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from sales_assistant.config import get_settings
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


def route(event: dict[str, Any], context: Any) -> Any:
    """SQS batches -> follow-ups and reminders; HTTP -> the scheduling routes."""
    if "Records" in event:
        from aws_lambda_powertools.utilities.batch import process_partial_response

        processor = batch_processor()
        return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
    return http_app().resolve(event, context)


lambda_handler = observed(route)
