"""POST /webhooks/kommo/{token}: Kommo's account webhooks in, queue items out, 200 at once.

No call to Kommo or n8n on this path: authenticate, parse, validate, classify, enqueue, answer.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from sales_assistant.adapters.echo_memory import DynamoEchoMemory
from sales_assistant.adapters.once import run_once
from sales_assistant.adapters.queues import QueuePublisher
from sales_assistant.api.http import tokens_match
from sales_assistant.config import get_settings
from sales_assistant.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from sales_assistant.models.kommo_webhook import WebhookError, parse_kommo_webhook
from sales_assistant.models.queue import QueueItem
from sales_assistant.observability import count, logger
from sales_assistant.services.intake import check_account, route_webhook

router = Router()

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@router.post(
    "/webhooks/kommo/<token>",
    summary="Receive a Kommo account webhook",
    description="Form-urlencoded Kommo webhook; the token in the path is the secret WEBHOOK_TOKEN.",
    tags=["webhooks"],
)
def receive_kommo_webhook(token: str) -> dict[str, Any]:
    """Authenticate, parse and route a webhook; answers {"accepted", "echoes", "ignored"}."""
    settings = get_settings()
    event = cast(APIGatewayProxyEventV2, router.current_event)
    count("WebhooksReceived")
    if not tokens_match(token, settings.webhook_token.get_secret_value()):
        _reject("wrong_token")
        raise NotFound("no such route")
    logger.set_correlation_id(event.headers.get("x-amocrm-requestid") or event.request_context.request_id)
    content_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        _reject("unsupported_media_type")
        raise UnsupportedMediaType(f"expected {FORM_CONTENT_TYPE}, got {content_type or 'nothing'}")
    if len(event.body or "") > settings.max_webhook_bytes * 4 // 3 + 4:
        _reject("payload_too_large")
        raise PayloadTooLarge(f"the body is over {settings.max_webhook_bytes} bytes")
    body = _decoded_body(event, settings.max_webhook_bytes)
    try:
        webhook = parse_kommo_webhook(body)
    except WebhookError as error:
        _reject(error.code)
        raise (Unprocessable if error.code in ("unknown_event", "invalid_event") else BadRequest)(
            error.message, code=error.code
        ) from None
    try:
        check_account(webhook.account, subdomain=settings.kommo_subdomain, account_id=settings.kommo_account_id)
    except Forbidden:
        _reject("foreign_account")
        raise

    routed = route_webhook(webhook, DynamoEchoMemory(settings.kommo_table, settings.echo_ttl_seconds))
    publisher = QueuePublisher.from_settings(settings)
    for item in routed.items:
        run_once(
            "intake",
            item.dedup_key,
            partial(_enqueue, publisher, item),
            table_name=settings.idempotency_table,
            ttl_seconds=settings.dedup_ttl_seconds,
        )
        count("WebhookEventsAccepted", kind=item.kind)
    count("WebhooksAccepted")
    logger.info(
        "webhook accepted", extra={"accepted": len(routed.items), "echoes": routed.echoes, "ignored": routed.ignored}
    )
    return {"accepted": len(routed.items), "echoes": routed.echoes, "ignored": routed.ignored}


def _enqueue(publisher: QueuePublisher, item: QueueItem) -> dict[str, str]:
    return {"sqs_message_id": publisher.publish(item)}


def _decoded_body(event: APIGatewayProxyEventV2, limit: int) -> str:
    try:
        body = event.decoded_body
    except (ValueError, UnicodeDecodeError):
        _reject("malformed_body")
        raise BadRequest("the body is not valid base64/UTF-8", code="malformed_body") from None
    if not body:
        _reject("empty_body")
        raise BadRequest("the body is empty", code="empty_body")
    if len(body.encode()) > limit:
        _reject("payload_too_large")
        raise PayloadTooLarge(f"the body is over {limit} bytes")
    return body


def _reject(reason: str) -> None:
    count("WebhooksRejected", reason=reason)
