"""GET /health: whether the service answers, for anyone; what it depends on, for the operator token.

An anonymous caller (a load balancer) gets `{"status"}` only, probed at most once per
ANONYMOUS_STATUS_SECONDS per process, so a flood of anonymous calls costs no AWS call each. The details
(stage, Kommo auth mode, token lifetime, the canary's results) take the operator token: the Kommo auth
mode comes from KOMMO_CLIENT_ID, and of the OAuth2 pair only its expiry is read (the role may read no
other attribute of that item). No secret is ever in the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from sales_assistant import timing
from sales_assistant.adapters.aws import dynamodb_client, dynamodb_table, sqs_client
from sales_assistant.api.http import OPERATOR_ONLY, answers, require_scope, security_of
from sales_assistant.config import Settings, get_settings

router = Router()
ANONYMOUS_STATUS_SECONDS = 30


@dataclass
class RecentStatus:
    """The anonymous answer's health, probed again only once it is `seconds` old (the process's clock)."""

    seconds: float
    clock: Callable[[], float] = timing.monotonic
    healthy: bool = True
    probed_at: float | None = None

    def get(self, settings: Settings) -> bool:
        now = self.clock()
        if self.probed_at is None or now - self.probed_at >= self.seconds:
            self.healthy, self.probed_at = _healthy(_dependencies(settings)), now
        return self.healthy


ANONYMOUS_STATUS = RecentStatus(ANONYMOUS_STATUS_SECONDS)


@router.get(
    "/health",
    summary="Dependency status of the service",
    description=f'Without a token: {{"status"}} only (checked at most every {ANONYMOUS_STATUS_SECONDS} s). '
    "With the operator token: the stage and every check, the canary's last results included.",
    tags=["ops"],
    security=[{}, *security_of(OPERATOR_ONLY)],  # {}: anonymous callers too
    responses={
        **answers(200, 401, 403),
        503: {"description": "A table or queue does not answer (status: degraded)"},
    },
)
def health() -> Response[dict[str, Any]]:
    """200 when the tables and queues answer, 503 otherwise; never reveals a secret."""
    settings = get_settings()
    if not router.current_event.headers.get("authorization"):
        return _status(ANONYMOUS_STATUS.get(settings), {})
    require_scope(router.current_event, OPERATOR_ONLY)
    checks: dict[str, Any] = {
        **_dependencies(settings),
        "kommo_auth": "long_lived_token" if settings.uses_long_lived_token else "oauth2",
        "kommo_token": _kommo_token_status(settings),
        "n8n_configured": bool(settings.n8n_base_url),
        "canary": _last_canary_report(settings),
    }
    return _status(_healthy(checks), {"stage": settings.stage, "checks": checks})


def _status(healthy: bool, details: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(
        status_code=200 if healthy else 503,
        content_type=content_types.APPLICATION_JSON,
        body={"status": "ok" if healthy else "degraded", **details},
    )


def _dependencies(settings: Settings) -> dict[str, str]:
    """Whether the tables and the queues answer: "ok" or the error's type."""
    return {
        "dynamodb": _probe(lambda: dynamodb_client().describe_table(TableName=settings.kommo_table)),
        "queues": _probe(
            lambda: sqs_client().get_queue_attributes(
                QueueUrl=settings.conversations_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        ),
    }


def _healthy(checks: dict[str, Any]) -> bool:
    """What the status says: the tables and the queues answer (the canary does not count: a load balancer
    must not drop the API because n8n is down)."""
    return checks["dynamodb"] == "ok" and checks["queues"] == "ok"


def _kommo_token_status(settings: Settings) -> str:
    """Whether the OAuth2 pair is stored and how long it lives (its expiry only, never the token)."""
    if settings.uses_long_lived_token:
        return "long_lived"
    from sales_assistant.adapters.kommo.tokens import TOKEN_KEY

    try:
        item = (
            dynamodb_table(settings.kommo_table)
            .get_item(Key={"pk": TOKEN_KEY}, ProjectionExpression="expires_at_unix")
            .get("Item")
        )
    except Exception as error:  # reported, not raised
        return f"error: {type(error).__name__}"
    if not item:
        return "missing: authorise the integration (scripts/kommo_authorize.py)"
    hours = (int(item["expires_at_unix"]) - time.time()) / 3600
    return f"valid for {hours:.1f} h (refreshed automatically)" if hours > 0 else "expired (refreshed on next call)"


def _last_canary_report(settings: Settings) -> dict[str, Any] | str:
    """The canary's last results (each check's name, outcome and reason; no secret is ever in them).
    The HTTP status does not depend on them: a load balancer must not drop the API because n8n is down."""
    from sales_assistant.adapters.health import DynamoHealthStore

    try:
        report = DynamoHealthStore(settings.kommo_table).load()
    except Exception as error:  # reported, not raised
        return f"error: {type(error).__name__}"
    if report is None:
        return "not run yet"
    return {
        "healthy": report.healthy,
        "checked_at": report.checked_at,
        "age_seconds": max(int(time.time()) - report.checked_at, 0),
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in report.checks},
        "missed_messages": report.missed_messages,
        "bots_paused": report.bots_paused,
    }


def _probe(call: Any) -> str:
    try:
        call()
    except Exception as error:  # any failure of a dependency is reported, not raised
        return f"error: {type(error).__name__}"
    return "ok"
