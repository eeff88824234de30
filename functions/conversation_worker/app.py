"""Reactive flow: client messages and flush jobs from the conversations queue (partial batch failures,
retried after a short growing delay)."""

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from sales_assistant.adapters.retry import RetrySoonProcessor
from sales_assistant.config import get_settings
from sales_assistant.consumers import conversation_item
from sales_assistant.event_sources import EventSources, SqsBatch
from sales_assistant.observability import adopt_correlation_id, observed

get_settings().require("n8n", "kommo")  # fails the cold start, naming what is missing


def handle_record(record: SQSRecord) -> str:
    adopt_correlation_id(record.raw_event.get("messageAttributes"))
    return conversation_item(record.body, record.message_id)


def batch_processor() -> RetrySoonProcessor:
    return RetrySoonProcessor(lambda: get_settings().conversations_queue_url)


consume = EventSources(records=SqsBatch(batch_processor, handle_record))
lambda_handler = observed(consume)
