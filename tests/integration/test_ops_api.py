"""GET /health (its status for anyone, its details for the operator token) and GET /openapi.json, and unknown
routes (the events/ files: test_event_files.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.lambda_events import LambdaContext, http_api_event
from local.stack import load_template
from tests.conftest import API_TOKEN, N8N_API_TOKEN, WEBHOOK_TOKEN, handler_of

OPERATOR = {"authorization": f"Bearer {API_TOKEN}"}


def call(aws: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = handler_of(aws, "OpsApiFunction")(http_api_event(method, path, **kwargs), LambdaContext())
    return response["statusCode"], json.loads(response["body"])


class Clock:
    """The ops function's clock for the anonymous status, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """A fresh anonymous status (nothing probed yet) on a clock the test moves."""
    from sales_assistant.api import ops

    moved = Clock()
    monkeypatch.setattr(ops, "ANONYMOUS_STATUS", ops.RecentStatus(ops.ANONYMOUS_STATUS_SECONDS, clock=moved))
    yield moved


def test_health_reports_dependencies_without_secrets_to_the_operator(aws: Any) -> None:
    status, body = call(aws, "GET", "/health", headers=OPERATOR)
    assert status == 200
    assert body["status"] == "ok" and body["checks"]["dynamodb"] == "ok" and body["checks"]["queues"] == "ok"
    assert body["checks"]["kommo_token"] == "long_lived" and body["stage"] == "local"
    text = json.dumps(body)
    assert WEBHOOK_TOKEN not in text and API_TOKEN not in text and N8N_API_TOKEN not in text


def test_what_an_anonymous_caller_learns_from_health(aws: Any, clock: Clock) -> None:
    """A load balancer learns whether the service answers, nothing about its stage, Kommo or the canary."""
    event = http_api_event("GET", "/health", route_key="GET /health", headers={})
    response = handler_of(aws, "OpsApiFunction")(event, LambdaContext())
    body = json.loads(response["body"])
    assert response["statusCode"] == 401 or set(body) <= {"status"}, sorted(body["checks"])
    assert (response["statusCode"], body) == (200, {"status": "ok"})


def test_a_flood_of_anonymous_health_checks_probes_the_dependencies_once_per_half_minute(
    aws: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each detailed check makes 4 AWS calls; anonymous callers share one probe of the table and the queue
    per 30 s in a process, and see a failing dependency once that probe is old."""
    from sales_assistant.api import ops

    probes: list[dict[str, str]] = []
    real = ops._dependencies

    def probed(settings: Any) -> dict[str, str]:
        probes.append(real(settings))
        return probes[-1]

    monkeypatch.setattr(ops, "_dependencies", probed)
    answers = [call(aws, "GET", "/health") for _ in range(20)]
    assert answers == [(200, {"status": "ok"})] * 20 and len(probes) == 1

    monkeypatch.setattr(ops, "dynamodb_client", lambda: None)  # the table stops answering
    clock.now += 29
    assert call(aws, "GET", "/health") == (200, {"status": "ok"}) and len(probes) == 1
    clock.now += 1
    assert call(aws, "GET", "/health") == (503, {"status": "degraded"}) and len(probes) == 2
    status, body = call(aws, "GET", "/health", headers=OPERATOR)  # the operator sees which and why
    assert status == 503 and body["checks"]["dynamodb"] == "error: AttributeError" and len(probes) == 3


@pytest.mark.parametrize(
    ("headers", "answer"),
    [
        ({"authorization": f"Bearer {N8N_API_TOKEN}"}, (403, "forbidden")),
        ({"authorization": "Bearer wrong-token-0123456789"}, (401, "unauthorized")),
        ({"authorization": "Basic x"}, (401, "unauthorized")),
    ],
)
def test_the_details_of_health_take_the_operator_token(
    aws: Any, clock: Clock, headers: dict[str, str], answer: tuple[int, str]
) -> None:
    status, body = call(aws, "GET", "/health", headers=headers)
    assert (status, body["error"]) == answer and "checks" not in body


def test_openapi_lists_the_routes_of_the_service(aws: Any) -> None:
    status, document = call(aws, "GET", "/openapi.json")
    assert status == 200
    assert "/webhooks/kommo/{token}" in document["paths"] and "/health" in document["paths"]
    assert set(document["components"]["securitySchemes"]) == {"operatorToken", "n8nToken"}


ANSWERS = {  # what each route can answer besides API Gateway's 429 (request validation's 422 is on every route)
    # 404: a wrong token, as no route; 409: an event another request is still enqueuing (Kommo sends it again)
    "POST /webhooks/kommo/{token}": {200, 400, 403, 404, 409, 413, 415, 422},
    "GET /health": {200, 401, 403, 422, 503},  # 401/403: a token that is not the operator's, for the details
    "GET /vendors": {200, 401, 403, 422},  # 403: a token of another scope (every bearer route)
    "GET /vendors/{vendor_id}": {200, 401, 403, 404, 422},
    "GET /vendors/{vendor_id}/profile": {200, 401, 403, 404, 422},
    "PUT /vendors/{vendor_id}/profile": {200, 400, 401, 403, 404, 422},  # 400: no body; 422: the field named
    "POST /vendors/sync": {200, 401, 403, 422, 502},  # 502: Kommo failed after its retries; 429: a run too soon
    "GET /bot": {200, 401, 403, 422},
    "GET /bot/{contact_id}": {200, 401, 403, 422},
    "POST /bot/{contact_id}/pause": {200, 400, 401, 403, 422, 502},  # 400: a body that is not a change request
    "POST /bot/{contact_id}/resume": {200, 400, 401, 403, 422, 502},
    "POST /triggers": {202, 401, 403, 404, 422, 502},
    "GET /triggers": {200, 401, 403, 422},
    "POST /messages": {201, 401, 403, 404, 409, 422, 502},
    "GET /contacts/{contact_id}/consent": {200, 401, 403, 422},
    "GET /follow-ups": {200, 401, 403, 422},  # 422: no lead_id, or not a Kommo id
    "GET /reports/funnel": {200, 400, 401, 403, 422},  # 400: a bad day, from after to, too long a range, unknown by
    "DELETE /contacts/{contact_id}/data": {200, 401, 403, 422, 502},  # 502: n8n did not erase its memory
    "GET /vendors/{vendor_id}/availability": {200, 401, 403, 404, 422},
    "POST /holds": {201, 401, 403, 404, 409, 422},  # 403 also: the n8n token for a lead it is not answering
    "POST /appointments": {201, 401, 403, 404, 409, 422, 502},
    "GET /appointments/{appointment_id}": {200, 401, 403, 404, 422},
    "DELETE /appointments/{appointment_id}": {200, 401, 403, 404, 409, 422},
    "POST /appointments/{appointment_id}/reschedule": {200, 401, 403, 404, 409, 422},
}


def test_the_document_lists_what_each_route_can_answer(aws: Any) -> None:
    """A caller (n8n's tools, a site form) reads there which statuses to handle: each route's success, its
    errors with the API's one error body, and API Gateway's 429 when the stage throttles."""
    _, document = call(aws, "GET", "/openapi.json")
    template = load_template()
    rate = template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"]
    rate = template["Parameters"][rate["Ref"]]["Default"] if isinstance(rate, dict) else rate  # a stack parameter
    assert rate > 0  # so every route can answer 429
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
