"""GET /health: what the service depends on, and whether it answers (no secrets)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router

from sales_assistant.adapters.aws import dynamodb_client, sqs_client
from sales_assistant.config import get_settings

router = Router()


@router.get("/health", summary="Dependency status of the service", tags=["ops"])
def health() -> Response[dict[str, Any]]:
    """200 when the tables and queues answer, 503 otherwise; never reveals a secret."""
    settings = get_settings()
    checks: dict[str, Any] = {
        "dynamodb": _probe(lambda: dynamodb_client().describe_table(TableName=settings.kommo_table)),
        "queues": _probe(
            lambda: sqs_client().get_queue_attributes(
                QueueUrl=settings.conversations_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        ),
        "kommo_auth": "long_lived_token" if settings.uses_long_lived_token else "oauth2",
        "n8n_configured": bool(settings.n8n_base_url),
    }
    healthy = checks["dynamodb"] == "ok" and checks["queues"] == "ok"
    return Response(
        status_code=200 if healthy else 503,
        content_type=content_types.APPLICATION_JSON,
        body={"status": "ok" if healthy else "degraded", "stage": settings.stage, "checks": checks},
    )


def _probe(call: Any) -> str:
    try:
        call()
    except Exception as error:  # any failure of a dependency is reported, not raised
        return f"error: {type(error).__name__}"
    return "ok"
