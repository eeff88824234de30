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
    assert body["checks"]["kommo_token"] == "long_lived"
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


def test_every_event_file_is_handled_by_its_function(world: Any) -> None:
    """events/*.json, as `sam local invoke -e` would pass them, run through the real handlers."""
    targets = {
        "api-health.json": "OpsApiFunction",
        "api-bot-pause.json": "BotCommandsFunction",
        "api-bot-paused-list.json": "BotCommandsFunction",
        "api-vendors-sync.json": "VendorSyncFunction",
        "sqs-conversations-client-message.json": "ConversationWorkerFunction",
        "sqs-conversations-flush-due.json": "ConversationWorkerFunction",
        "sqs-commands-assumir.json": "BotCommandsFunction",
        "schedule-vendor-sync.json": "VendorSyncFunction",
        "schedule-auto-resume.json": "BotCommandsFunction",
        "schedule-canary.json": "CanaryFunction",
        "api-availability.json": "SchedulingFunction",  # the dated hold and booking events expire: not here
        "sqs-scheduling-booked.json": "SchedulingFunction",
        "sqs-scheduling-reminder.json": "SchedulingFunction",
    }
    for name, function_id in targets.items():
        result = world.handler(function_id)(json.loads((EVENTS / name).read_text()))
        if "statusCode" in result:
            assert result["statusCode"] == 200, (name, result["body"])
        elif "healthy" in result:  # the canary
            assert result["failed"] == [], name
        else:
            assert result.get("batchItemFailures", []) == [], name
    for path in sorted(EVENTS.glob("webhook-*.json")):
        assert world.handler("WebhookIntakeFunction")(json.loads(path.read_text()))["statusCode"] == 200, path
