"""POST /webhooks/kommo/{token}: Kommo's account webhooks in, queue items out, 200 at once.

No call to Kommo or n8n on this path: authenticate, parse, validate, classify, enqueue, answer.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from sales_assistant import composition
from sales_assistant.api.http import answers, tokens_match
from sales_assistant.config import Settings, get_settings
from sales_assistant.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from sales_assistant.models.kommo_webhook import KommoWebhook, WebhookError, parse_kommo_webhook
from sales_assistant.models.queue import QueueItem
from sales_assistant.observability import count, logger
from sales_assistant.services.intake import AuthorRules, check_account, route_webhook

router = Router()

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@router.post(
    "/webhooks/kommo/<token>",
    summary="Receive a Kommo account webhook",
    description="Form-urlencoded Kommo webhook; the token in the path is the secret WEBHOOK_TOKEN.",
    tags=["webhooks"],
    responses=answers(200, 400, 403, 404, 409, 413, 415),
)
def receive_kommo_webhook(token: str) -> dict[str, Any]:
    """Authenticate, parse and route a webhook; answers what became of its events: {"accepted", "echoes",
    "automations", "ignored", "parked"}. A body of the right account with a known event is 200, unless another
    request (Kommo sending it again) is still enqueuing one of its events: 409, so Kommo sends it again later."""
    settings = get_settings()
    count("WebhooksReceived")
    webhook, request_id = _authentic_webhook(token, cast(APIGatewayProxyEventV2, router.current_event), settings)
    if webhook.parked:  # the rest of the body goes on: one odd entity must not make Kommo retry them all
        composition.parked_entities(settings).park(webhook.parked, request_id=request_id)
        count("WebhookEntitiesParked", len(webhook.parked))
        logger.warning("webhook entities parked", extra={"parked": [entity.reason for entity in webhook.parked]})
    echoes = composition.echo_memory(settings)
    routed = route_webhook(
        webhook, echoes, AuthorRules.from_settings(settings.automation_authors, settings.unattributed_outgoing)
    )
    if routed.echo_keys_seen:
        echoes.mark_seen(routed.echo_keys_seen)
    _enqueue_all(routed.items, settings)
    if webhook.client_messages:  # the canary's watchdog looks for these (services/health.py)
        composition.received_messages(settings).mark(message.id for message in webhook.client_messages)
    count("WebhooksAccepted")
    answer = {
        "accepted": len(routed.items),
        "echoes": routed.echoes,
        "automations": routed.automations,
        "ignored": routed.ignored,
        "parked": len(webhook.parked),
    }
    logger.info("webhook accepted", extra=answer)
    return answer


def _authentic_webhook(token: str, event: APIGatewayProxyEventV2, settings: Settings) -> tuple[KommoWebhook, str]:
    """The webhook and Kommo's request id, once the token, the media type, the size, the body and the account
    are right; each refusal is counted with its reason and answered with its 4xx."""
    if not tokens_match(token, settings.webhook_token.get_secret_value()):
        _reject("wrong_token")
        raise NotFound("no such route")
    request_id = (event.headers.get("x-amocrm-requestid") or event.request_context.request_id)[:128]
    logger.set_correlation_id(request_id)
    content_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        _reject("unsupported_media_type")
        raise UnsupportedMediaType(f"expected {FORM_CONTENT_TYPE}, got {content_type or 'nothing'}")
    if len(event.body or "") > settings.max_webhook_bytes * 4 // 3 + 4:
        _reject("payload_too_large")
        raise PayloadTooLarge(f"the body is over {settings.max_webhook_bytes} bytes")
    try:
        webhook = parse_kommo_webhook(_decoded_body(event, settings.max_webhook_bytes))
    except WebhookError as error:
        _reject(error.code)
        raise (Unprocessable if error.code == "unknown_event" else BadRequest)(error.message, code=error.code) from None
    try:
        check_account(webhook.account, subdomain=settings.kommo_subdomain, account_id=settings.kommo_account_id)
    except Forbidden:
        _reject("foreign_account")
        raise
    return webhook, request_id


def _enqueue_all(items: list[QueueItem], settings: Settings) -> None:
    """Each event into its queue, once per event; raises Conflict (409) when another request (the same webhook,
    sent again) is still enqueuing one of them: acknowledged only once enqueued, on Kommo's next try it was, or
    (that request failed) it is."""
    publisher, once = composition.queue_publisher(settings), composition.once_or_in_progress(settings)
    still_enqueuing = 0
    for item in items:
        enqueued = once("intake", item.dedup_key, partial(_enqueue, publisher, item))
        if enqueued.get("in_progress"):
            still_enqueuing += 1
            continue
        count("WebhookEventsAccepted", kind=item.kind)
    if still_enqueuing:
        _reject("event_in_progress")
        raise Conflict(
            f"{still_enqueuing} event(s) of this webhook are being enqueued by another request: send it again",
            code="event_in_progress",
        )


def _enqueue(publisher: Any, item: QueueItem) -> dict[str, str]:
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
