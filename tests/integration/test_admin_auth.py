"""Bearer routes: the operator token and the n8n token, each route taking its scopes (401 for no token or a
wrong one, 403 for a token of another scope, before validation); tokens rotated without downtime; the n8n
token acting only for the lead n8n is answering; bounded ids; errors that never echo a field."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from local.lambda_events import LambdaContext, http_api_event
from local.stack import ROOT
from tests.conftest import API_TOKEN, N8N_API_TOKEN, World, handler_of, reset_caches
from tests.integration.test_reactive_flow import client_message
from tests.integration.test_scheduling import ANA, JULIANA_LEAD, MARIANA_LEAD, agenda, at, working_day  # noqa: F401

BEARER = {"authorization": f"Bearer {API_TOKEN}", "content-type": "application/json"}  # the operator token
N8N = {"authorization": f"Bearer {N8N_API_TOKEN}", "content-type": "application/json"}
LONG_NAME = "x" * 300
# The n8n token takes what the shipped workflows' agent does (the scheduling tools), nothing else.
AGENT_TOOLS = {
    "GET /vendors/{vendor_id}/availability",
    "POST /holds",
    "POST /appointments",
    "GET /appointments/{appointment_id}",
    "DELETE /appointments/{appointment_id}",
    "POST /appointments/{appointment_id}/reschedule",
}


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
    """(method, path template, operation) of every route the OpenAPI document says needs a bearer token (GET
    /health takes one only for its details)."""
    _, document = call(stack, "GET", "/openapi.json")
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security") and {} not in operation["security"]
    ]


def scopes_of(operation: dict[str, Any]) -> set[str]:
    """The security schemes (tokens) a documented operation takes."""
    return {scheme for requirement in operation.get("security", []) for scheme in requirement}


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


def test_the_n8n_token_gets_a_403_with_the_reason_on_every_operator_route(aws: Any) -> None:
    """A stolen n8n token cannot pause bots, message leads, post or list triggers, list salespeople or run
    syncs: each answers 403 naming the token it takes, before looking at the path or body."""
    operator_routes = [(m, t, o) for m, t, o in bearer_operations(aws) if "n8nToken" not in scopes_of(o)]
    assert len(operator_routes) >= 10
    for method, template, operation in operator_routes:
        path, query = malformed(template, operation)
        status, body = call(aws, method, path, headers=N8N, query=query, body="{not json")
        assert (status, body["error"]) == (403, "forbidden"), (method, template)
        assert body["message"] == "this route takes the operator token, not the n8n token", (method, template)
        assert "403" in operation["responses"], (method, template)


def test_each_route_names_its_tokens_and_the_n8n_token_takes_only_the_agents_tools(aws: Any) -> None:
    _, document = call(aws, "GET", "/openapi.json")
    schemes = document["components"]["securitySchemes"]
    assert {name: (scheme["type"], scheme["scheme"]) for name, scheme in schemes.items()} == {
        "operatorToken": ("http", "bearer"),
        "n8nToken": ("http", "bearer"),
    }
    operations = {f"{method} {path}": operation for method, path, operation in bearer_operations(aws)}
    assert {route for route, operation in operations.items() if "n8nToken" in scopes_of(operation)} == AGENT_TOOLS
    assert all("operatorToken" in scopes_of(operation) for operation in operations.values())
    assert document["paths"]["/health"]["get"]["security"] == [{}, {"operatorToken": []}]


def test_the_shipped_workflows_call_only_routes_the_n8n_token_takes() -> None:
    """What n8n's agent calls (its HTTP tools, with the service API credential) is all the n8n token may do."""
    called = set()
    for workflow in sorted((ROOT / "n8n" / "workflows").glob("*.json")):
        for node in json.loads(workflow.read_text())["nodes"]:
            if node["type"] == "n8n-nodes-base.httpRequestTool":
                path = node["parameters"]["url"].split(".api_url }}", 1)[1]
                route = re.sub(
                    r"\{\{.*?\}\}", lambda m: "{appointment_id}" if "appointment_id" in m[0] else "{vendor_id}", path
                )
                called.add(f"{node['parameters']['method']} {route}")
                assert node["credentials"] == {
                    "httpBearerAuth": {"id": "kommoServiceApi1", "name": "Kommo assistant: service API"}
                }
    assert called == {
        "GET /vendors/{vendor_id}/availability",
        "POST /holds",
        "POST /appointments",
        "POST /appointments/{appointment_id}/reschedule",
        "DELETE /appointments/{appointment_id}",
    }
    assert called <= AGENT_TOOLS


@pytest.fixture
def rotating(aws: Any) -> Iterator[Any]:
    """Put values in the stack's token secrets as an operator rotating them would; the stack's own after."""
    import boto3

    secrets = boto3.client("secretsmanager")
    names = {"API_TOKEN": aws.environment()["API_SECRET_ARN"], "N8N_API_TOKEN": aws.environment()["N8N_API_SECRET_ARN"]}
    before = {token: secrets.get_secret_value(SecretId=arn)["SecretString"] for token, arn in names.items()}

    def put(token: str, values: dict[str, str]) -> None:
        secrets.put_secret_value(SecretId=names[token], SecretString=json.dumps(values))
        reset_caches()  # the functions read a secret again within 5 minutes: here at once

    yield put
    for token, value in before.items():
        secrets.put_secret_value(SecretId=names[token], SecretString=value)
    reset_caches()


@pytest.mark.parametrize(
    ("token", "old", "path"),
    [
        ("API_TOKEN", API_TOKEN, "/vendors/8401299"),
        ("N8N_API_TOKEN", N8N_API_TOKEN, f"/appointments/apt-{ANA}-0123456789ab"),
    ],
)
def test_a_token_is_rotated_without_downtime(aws: Any, rotating: Any, token: str, old: str, path: str) -> None:
    """The new value goes in with the old one as previous: clients using either are served while they move
    to the new one; once the previous value is removed, the old one is a 401. (Served: a 404 for what does
    not exist, past the token.)"""
    new = f"new-{token.lower()}-0123456789"

    def answer(value: str) -> int:
        return int(call(aws, "GET", path, headers={"authorization": f"Bearer {value}"})[0])

    rotating(token, {token: new, f"{token}_PREVIOUS": old})
    assert (answer(new), answer(old)) == (404, 404)
    rotating(token, {token: new})
    assert (answer(new), answer(old)) == (404, 401)


def test_the_two_tokens_must_differ() -> None:
    """The same value for both would give n8n the operator's power: the start is refused, naming them."""
    from local.defaults import EXAMPLE_SETTINGS
    from sales_assistant.config import SettingsError, load_settings

    with pytest.raises(SettingsError, match=r"N8N_API_TOKEN .* must differ from API_TOKEN"):
        load_settings({**EXAMPLE_SETTINGS, "N8N_API_TOKEN": EXAMPLE_SETTINGS["API_TOKEN"]})
    with pytest.raises(SettingsError, match=r"N8N_API_TOKEN .* must differ from API_TOKEN"):
        load_settings({**EXAMPLE_SETTINGS, "API_TOKEN_PREVIOUS": EXAMPLE_SETTINGS["N8N_API_TOKEN"]})


def test_the_n8n_token_acts_only_for_the_lead_n8n_is_answering_and_its_salesperson(
    agenda: World,  # noqa: F811 - the imported fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While n8n thinks about Mariana's messages its agent may hold and book with Mariana's salesperson
    (Ana), and read, move or cancel Mariana's appointment; not for Juliana, whose conversation it is not
    answering, nor with another salesperson, nor once the answer is out. The operator token acts for any lead."""
    monkeypatch.setenv("N8N_TIMEOUT_SECONDS", "30")  # n8n thinks until the test lets it answer
    reset_caches()
    day = working_day()

    def scheduling(method: str, path: str, body: Any = None, token: str = N8N_API_TOKEN) -> tuple[int, Any]:
        return agenda.api("SchedulingFunction", method, path, body, token=token)

    def hold(lead: int, salesperson: int = ANA, token: str = N8N_API_TOKEN) -> tuple[int, Any]:
        return scheduling(
            "POST", "/holds", {"vendor_id": salesperson, "lead_id": lead, "start": at(day, "10:00")}, token
        )

    assert hold(MARIANA_LEAD)[0] == 403  # no conversation is being answered
    agenda.n8n.holds["lead:27754599"] = threading.Event()
    agenda.post_webhook(client_message("c-1", "oi, sou a Mariana"))
    thinking = threading.Thread(target=agenda.pump)
    thinking.start()
    try:
        for _ in range(200):
            if agenda.n8n.requests:
                break
            threading.Event().wait(0.05)
        status, held = hold(MARIANA_LEAD)
        assert status == 201 and held["lead_id"] == MARIANA_LEAD
        status, booked = scheduling(
            "POST",
            "/appointments",
            {"vendor_id": ANA, "lead_id": MARIANA_LEAD, "start": at(day, "10:00"), "hold_id": held["hold_id"]},
        )
        assert status == 201 and booked["status"] == "booked"
        assert scheduling("GET", f"/appointments/{booked['id']}")[0] == 200
        moved = scheduling("POST", f"/appointments/{booked['id']}/reschedule", {"start": at(day, "15:00")})
        assert moved[0] == 200 and moved[1]["start"] == at(day, "15:00")

        status, refused = hold(JULIANA_LEAD)
        assert (status, refused["error"]) == (403, "forbidden")
        assert (
            refused["message"] == f"the n8n token acts only for the lead n8n is answering now, not lead {JULIANA_LEAD}"
        )
        status, refused = hold(MARIANA_LEAD, salesperson=8401235)  # Bruno is not Mariana's salesperson
        assert (status, refused["message"]) == (
            403,
            f"the n8n token books only with lead {MARIANA_LEAD}'s own salesperson, not 8401235",
        )
        assert hold(JULIANA_LEAD, token=API_TOKEN)[0] == 201  # the operator books for any lead
    finally:
        agenda.n8n.holds["lead:27754599"].set()
        thinking.join(timeout=60)
    answered = agenda.conversation()  # the answer went out: n8n is no longer answering Mariana
    assert answered.lease_owner is None
    assert any(turn.role == "assistant" and turn.text.startswith("Olá, Mariana!") for turn in answered.turns)
    status, refused = scheduling("DELETE", f"/appointments/{booked['id']}")
    assert (status, refused["error"]) == (403, "forbidden")
    assert scheduling("DELETE", f"/appointments/{booked['id']}", token=API_TOKEN)[1]["status"] == "cancelled"


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
