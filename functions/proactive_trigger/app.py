"""Proactive flow: the lead events queue (new leads, triggers), POST/GET /triggers, and the sweep that
sends deferred first messages when their salesperson's hours open. Each kind of event imports its own
machinery on its first use (the routes, or Powertools Batch)."""

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

get_settings().require("api", "n8n", "kommo")  # fails the cold start, naming what is missing


@cache
def http_app() -> APIGatewayHttpResolver:
    """The /triggers, /messages and /contacts routes."""
    from sales_assistant.api import contacts, messages, triggers
    from sales_assistant.api.http import build_resolver

    return build_resolver(triggers.router, messages.router, contacts.router)


def batch_processor() -> RetrySoonProcessor:
    """The lead events queue's batch processor (records at once, failures retried soon)."""
    from sales_assistant.adapters.retry import RetrySoonProcessor

    return RetrySoonProcessor(lambda: get_settings().lead_events_queue_url)


def handle_record(record: SQSRecord) -> str:
    from sales_assistant.consumers import lead_event_item

    adopt_correlation_id(record.raw_event.get("messageAttributes"))
    return lead_event_item(record.body)


def fire_due() -> dict[str, Any]:
    """The schedule's job: send the deferred first messages that are due."""
    from sales_assistant.composition import proactive_outreach

    return {"fired": proactive_outreach(get_settings()).fire_due()}


route = EventSources(records=SqsBatch(batch_processor, handle_record), http=http_app, schedule=fire_due)
lambda_handler = observed(route)
