"""Proactive flow: the lead events queue (new leads, triggers, follow-ups), POST/GET /triggers, GET /follow-ups,
and the sweep that sends deferred first messages when their salesperson's hours open and queues the follow-ups
whose time came. Each kind of event imports its own machinery on its first use (the routes, or Powertools
Batch)."""

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
    """The /triggers, /messages, /contacts and /follow-ups routes."""
    from sales_assistant.api import contacts, follow_ups, messages, triggers
    from sales_assistant.api.http import build_resolver

    return build_resolver(triggers.router, messages.router, contacts.router, follow_ups.router)


def batch_processor() -> RetrySoonProcessor:
    """The lead events queue's batch processor (records at once, failures retried soon)."""
    from sales_assistant.adapters.retry import RetrySoonProcessor

    return RetrySoonProcessor(lambda: get_settings().lead_events_queue_url)


def handle_record(record: SQSRecord) -> str:
    from sales_assistant.consumers import lead_event_item

    adopt_correlation_id(record.raw_event.get("messageAttributes"))
    return lead_event_item(record.body)


def fire_due() -> dict[str, Any]:
    """The schedule's job: send the deferred first messages that are due, queue the follow-ups that are due."""
    from sales_assistant.composition import follow_up_messages, proactive_outreach

    settings = get_settings()
    return {"fired": proactive_outreach(settings).fire_due(), "follow_ups": follow_up_messages(settings).fire_due()}


route = EventSources(records=SqsBatch(batch_processor, handle_record), http=http_app, schedule=fire_due)
lambda_handler = observed(route)
