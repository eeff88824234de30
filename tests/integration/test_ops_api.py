"""GET /health and GET /openapi.json, and unknown routes (the events/ files: test_event_files.py)."""

from __future__ import annotations

import json
from typing import Any

from local.lambda_events import LambdaContext, http_api_event
from local.stack import load_template
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


ANSWERS = {  # what each route can answer besides API Gateway's 429 (request validation's 422 is on every route)
    "POST /webhooks/kommo/{token}": {200, 400, 403, 404, 413, 415, 422},  # 404: a wrong token, as no route
    "GET /health": {200, 422, 503},
    "GET /vendors": {200, 401, 422},
    "GET /vendors/{vendor_id}": {200, 401, 404, 422},
    "POST /vendors/sync": {200, 401, 422, 502},  # 502: Kommo failed after its retries
    "GET /bot": {200, 401, 422},
    "GET /bot/{contact_id}": {200, 401, 422},
    "POST /bot/{contact_id}/pause": {200, 400, 401, 422, 502},  # 400: a body that is not a change request
    "POST /bot/{contact_id}/resume": {200, 400, 401, 422, 502},
    "POST /triggers": {202, 401, 404, 422, 502},
    "GET /triggers": {200, 401, 422},
    "POST /messages": {201, 401, 404, 409, 422, 502},
    "GET /vendors/{vendor_id}/availability": {200, 401, 404, 422},
    "POST /holds": {201, 401, 404, 409, 422},
    "POST /appointments": {201, 401, 404, 409, 422, 502},
    "GET /appointments/{appointment_id}": {200, 401, 404, 422},
    "DELETE /appointments/{appointment_id}": {200, 401, 404, 409, 422},
    "POST /appointments/{appointment_id}/reschedule": {200, 401, 404, 409, 422},
}


def test_the_document_lists_what_each_route_can_answer(aws: Any) -> None:
    """A caller (n8n's tools, a site form) reads there which statuses to handle: each route's success, its
    errors with the API's one error body, and API Gateway's 429 when the stage throttles."""
    _, document = call(aws, "GET", "/openapi.json")
    throttled = load_template()["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert throttled["ThrottlingRateLimit"] > 0  # so every route can answer 429
    documented = {
        f"{method.upper()} {path}": operation["responses"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert {route: {int(status) for status in answers} for route, answers in documented.items()} == {
        route: answers | {429} for route, answers in ANSWERS.items()
    }
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"] and set(error["properties"]) == {"error", "message"}
    for route, answers in documented.items():
        for status, answer in answers.items():
            schema = answer["content"]["application/json"]["schema"]
            if status not in ("200", "201", "202", "429", "503"):
                assert schema == {"$ref": "#/components/schemas/Error"}, (route, status)
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])


def test_an_unknown_route_is_a_json_404(aws: Any) -> None:
    status, body = call(aws, "GET", "/nothing-here")
    assert status == 404 and body["error"] == "not_found"
