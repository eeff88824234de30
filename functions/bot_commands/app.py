"""Human takeover: salesperson messages from the commands queue (FIFO), the /bot admin routes, and the
auto-resume sweep on its schedule."""

from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from sales_assistant.api import bot
from sales_assistant.api.http import build_resolver
from sales_assistant.composition import takeover_service
from sales_assistant.config import get_settings
from sales_assistant.consumers import command_item
from sales_assistant.observability import adopt_correlation_id, observed

get_settings().require("api", "kommo")  # fails the cold start, naming what is missing
app = build_resolver(bot.router)


def handle_record(record: SQSRecord) -> str:
    adopt_correlation_id(record.raw_event.get("messageAttributes"))
    return command_item(record.body)


def route(event: dict[str, Any], context: Any) -> Any:
    """SQS batches -> commands; HTTP -> /bot routes; the schedule -> resume overdue pauses."""
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=handle_record, processor=SqsFifoPartialProcessor(), context=context
        )
    if "requestContext" in event:
        return app.resolve(event, context)
    return {"resumed": takeover_service(get_settings()).resume_overdue()}


lambda_handler = observed(route)
