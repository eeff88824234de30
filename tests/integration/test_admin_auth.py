"""Admin and n8n routes: authentication before validation, bounded ids, errors that never echo a field."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.lambda_events import LambdaContext, http_api_event
from tests.conftest import API_TOKEN, handler_of

BEARER = {"authorization": f"Bearer {API_TOKEN}", "content-type": "application/json"}
LONG_NAME = "x" * 300


def call(stack: Any, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """One HTTP request through the template's route to its function; returns (status, body)."""
    for function in stack.functions():
        for route in function.http_routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                event = http_api_event(
                    method,
                    path,
                    route_key=f"{method} {route.path}",
                    path_parameters=match.groupdict(),
                    headers=headers or {},
                    **kwargs,
                )
                response = handler_of(stack, function.logical_id)(event, LambdaContext())
                return response["statusCode"], json.loads(response["body"])
    raise AssertionError(f"no route {method} {path}")


def bearer_operations(stack: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation) of every route the OpenAPI document marks as bearer."""
    _, document = call(stack, "GET", "/openapi.json")
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    ]


def malformed(path: str, operation: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The path with every parameter malformed, and every query parameter malformed."""
    query = {p["name"]: "nonsense" for p in operation.get("parameters", []) if p["in"] == "query"}
    return re.sub(r"\{\w+\}", "not-a-number", path), query


def test_every_bearer_route_answers_401_before_validating(aws: Any) -> None:
    operations = bearer_operations(aws)
    assert len(operations) >= 9
    for method, template, operation in operations:
        path, query = malformed(template, operation)
        for headers in ({}, {"authorization": "Bearer wrong-token-0123456789"}, {"authorization": "Basic x"}):
            status, body = call(aws, method, path, headers=headers, query=query, body="{not json")
            assert (status, body["error"]) == (401, "unauthorized"), (method, template, headers)
        assert "401" in operation["responses"], (method, template)
        if path != template or query:  # with the token, what was malformed is refused, as documented
            status, _ = call(aws, method, path, headers=BEARER, query=query, body="{not json")
            assert 400 <= status < 500, (method, template)
            assert str(status) in operation["responses"], (method, template, status)


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/bot/{id}"),
        ("POST", "/bot/{id}/pause"),
        ("POST", "/bot/{id}/resume"),
        ("GET", "/vendors/{id}"),
    ],
)
@pytest.mark.parametrize(
    "bad_id",
    ["9" * 45, str(10**15), "0", "-5", "\u0661\u0662\u0663", "\uff11\uff12", "12.5", "1e3"],  # Arabic, fullwidth
)
def test_an_id_out_of_range_or_not_ascii_digits_is_a_4xx(aws: Any, method: str, path: str, bad_id: str) -> None:
    status, body = call(aws, method, path.replace("{id}", bad_id), headers=BEARER)
    assert status == 422 and body["error"] == "invalid_request", body
    assert bad_id not in body["message"] or len(bad_id) <= 40


def test_the_largest_id_is_taken(aws: Any) -> None:
    status, body = call(aws, "GET", f"/vendors/{10**15 - 1}", headers=BEARER)
    assert status == 404 and body["error"] == "vendor_not_found"


def test_a_malformed_field_is_never_echoed_in_full(aws: Any) -> None:
    status, body = call(
        aws, "POST", "/bot/93589657/pause", headers=BEARER, body=json.dumps({LONG_NAME: 1, "lead_id": "9" * 45})
    )
    assert status == 400 and body["error"] == "invalid_body"
    assert LONG_NAME[:41] not in body["message"] and "9" * 41 not in body["message"]
    assert "lead_id" in body["message"]


def test_a_body_that_is_not_utf8_is_a_400(aws: Any) -> None:
    status, body = call(
        aws,
        "POST",
        "/bot/93589657/pause",
        headers=BEARER | {"content-type": "application/octet-stream"},
        body=b"\xff\xfe",
        base64_body=True,
    )
    assert status == 400 and body["error"] == "invalid_body"


@pytest.mark.parametrize(("path", "listed"), [("/bot", "paused"), ("/triggers", "deferred")])
def test_a_listing_asked_for_a_status_it_does_not_list_is_refused_with_the_reason(
    aws: Any, path: str, listed: str
) -> None:
    """GET /bot lists the paused contacts, GET /triggers the deferred triggers: any other status (an
    empty one too) is a 422 naming the one the listing takes, and the document offers only that one."""
    assert call(aws, "GET", path, headers=BEARER, query={"status": listed})[0] == 200
    for asked in ("", "active", "PAUSED", "sent", "paused,deferred"):
        if asked == listed:
            continue
        status, body = call(aws, "GET", path, headers=BEARER, query={"status": asked})
        assert (status, body["error"]) == (422, "invalid_request"), (path, asked)
        assert body["message"] == f"query.status: Input should be '{listed}'", body
    _, document = call(aws, "GET", "/openapi.json")
    [parameter] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "status"]
    offered = document["components"]["schemas"][parameter["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert offered["enum"] == [listed]
