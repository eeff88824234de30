"""GET /health and GET /openapi.json, unknown routes, and the events/ files for sam local invoke."""

from __future__ import annotations

import json
from typing import Any

from local.lambda_events import LambdaContext, http_api_event
from local.sam_events import EVENTS, render_events
from tests.conftest import API_TOKEN, WEBHOOK_TOKEN, handler_of


def call(aws: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = handler_of(aws, "OpsApiFunction")(http_api_event(method, path, **kwargs), LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_health_reports_dependencies_without_secrets(aws: Any) -> None:
    status, body = call(aws, "GET", "/health")
    assert status == 200
    assert body["status"] == "ok" and body["checks"]["dynamodb"] == "ok" and body["checks"]["queues"] == "ok"
    text = json.dumps(body)
    assert WEBHOOK_TOKEN not in text and API_TOKEN not in text


def test_openapi_lists_the_routes_of_the_service(aws: Any) -> None:
    status, document = call(aws, "GET", "/openapi.json")
    assert status == 200
    assert "/webhooks/kommo/{token}" in document["paths"] and "/health" in document["paths"]
    assert "bearerAuth" in document["components"]["securitySchemes"]


def test_an_unknown_route_is_a_json_404(aws: Any) -> None:
    status, body = call(aws, "GET", "/nothing-here")
    assert status == 404 and body["error"] == "not_found"


def test_events_for_sam_local_invoke_are_up_to_date() -> None:
    for name, event in render_events().items():
        assert json.loads((EVENTS / name).read_text()) == event, f"run python -m local.sam_events ({name})"
