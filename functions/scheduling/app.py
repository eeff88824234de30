"""Scheduling: the availability, hold and appointment routes (n8n's AI agent tools), and the scheduling
queue (each appointment change's follow-ups, and reminders when their one-time schedule fires)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from sales_assistant.adapters.retry import RetrySoonProcessor
from sales_assistant.api import scheduling
from sales_assistant.api.http import build_resolver
from sales_assistant.config import get_settings
from sales_assistant.consumers import scheduling_item
from sales_assistant.observability import observed

get_settings().require("api", "n8n", "kommo")  # fails the cold start, naming what is missing
app = build_resolver(scheduling.router)


def handle_record(record: SQSRecord) -> str:
    return scheduling_item(record.body)


def route(event: dict[str, Any], context: Any) -> Any:
    """SQS batches -> follow-ups and reminders; HTTP -> the scheduling routes."""
    if "Records" in event:
        return process_partial_response(
            event=event,
            record_handler=handle_record,
            processor=RetrySoonProcessor(lambda: get_settings().scheduling_queue_url),
            context=context,
        )
    return app.resolve(event, context)


lambda_handler = observed(route)
