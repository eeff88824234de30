"""Proactive flow: the lead events queue (new leads, triggers), POST/GET /triggers, and the sweep that
sends deferred first messages when their salesperson's hours open."""

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from sales_assistant.adapters.retry import RetrySoonProcessor
from sales_assistant.api import messages, triggers
from sales_assistant.api.http import build_resolver
from sales_assistant.composition import proactive_outreach
from sales_assistant.config import get_settings
from sales_assistant.consumers import lead_event_item
from sales_assistant.observability import adopt_correlation_id, observed

get_settings().require("api", "n8n", "kommo")  # fails the cold start, naming what is missing
app = build_resolver(triggers.router, messages.router)


def handle_record(record: SQSRecord) -> str:
    adopt_correlation_id(record.raw_event.get("messageAttributes"))
    return lead_event_item(record.body)


def route(event: dict[str, Any], context: Any) -> Any:
    """SQS batches -> triggers; HTTP -> /triggers and /messages; the schedule -> deferred triggers that are due."""
    if "Records" in event:
        return process_partial_response(
            event=event,
            record_handler=handle_record,
            processor=RetrySoonProcessor(lambda: get_settings().lead_events_queue_url),
            context=context,
        )
    if "requestContext" in event:
        return app.resolve(event, context)
    return {"fired": proactive_outreach(get_settings()).fire_due()}


lambda_handler = observed(route)
