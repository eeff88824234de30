"""The vendor_sync function: on schedule and POST /vendors/sync, against the Kommo sandbox, one run at a
time and one on-demand run a minute; the vendor routes need the operator token and never show secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.lambda_events import LambdaContext, http_api_event, schedule_event
from tests.conftest import API_TOKEN, N8N_API_TOKEN, handler_of, reset_caches

AUTH = {"authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def vendor_sync(aws: Any, kommo_sandbox: Any, monkeypatch: Any) -> Any:
    monkeypatch.setenv("KOMMO_BASE_URL", kommo_sandbox.url)
    reset_caches()
    handler = handler_of(aws, "VendorSyncFunction")

    def invoke(event: dict[str, Any]) -> Any:
        return handler(event, LambdaContext(function_name="VendorSyncFunction"))

    yield invoke
    reset_caches()


def http(invoke: Any, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, body, _ = answered(invoke, method, path, headers)
    return status, body


def answered(invoke: Any, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    """Status, JSON body and headers of one request."""
    response = invoke(http_api_event(method, path, headers=headers if headers is not None else AUTH))
    return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}


def test_the_schedule_caches_every_kommo_user_with_local_profiles(vendor_sync: Any) -> None:
    result = vendor_sync(schedule_event())
    assert result["kommo_users"] == 12 and len(result["added"]) == 12
    status, body = http(vendor_sync, "GET", "/vendors")
    assert status == 200 and len(body["vendors"]) == 12
    ana = next(salesperson for salesperson in body["vendors"] if salesperson["vendor_id"] == 8401234)
    assert ana["name"] == "Ana Souza" and ana["profile"]["areas"] == ["Auto"]
    testers = [salesperson for salesperson in body["vendors"] if salesperson["profile"]["is_test"]]
    assert len(testers) == 3


def test_users_added_changed_and_removed_in_kommo_show_up(vendor_sync: Any, kommo_sandbox: Any) -> None:
    vendor_sync(schedule_event())
    kommo_sandbox.users = [user for user in kommo_sandbox.users if user["id"] != 8401235]  # Bruno left
    kommo_sandbox.users[0]["name"] = "Ana Souza Lima"
    kommo_sandbox.users.append(
        {"id": 8401250, "name": "Otávio Nunes", "email": "otavio@vendasdemo.com.br", "rights": {"is_active": True}}
    )
    status, report = http(vendor_sync, "POST", "/vendors/sync")
    assert status == 200
    assert (report["added"], report["updated"], report["left"]) == ([8401250], [8401234], [8401235])
    status, bruno = http(vendor_sync, "GET", "/vendors/8401235")
    assert status == 200 and bruno["active"] is False and bruno["left_at"]
    assert bruno["profile"]["areas"] == ["Imóveis"]  # the local profile survives


def test_salesperson_routes_need_the_operator_token(vendor_sync: Any) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": API_TOKEN}):
        status, body = http(vendor_sync, "GET", "/vendors", headers=headers)
        assert (status, body["error"]) == (401, "unauthorized")
    for path in ("/vendors", "/vendors/sync"):  # a stolen n8n token cannot list salespeople nor run syncs
        method = "POST" if path.endswith("sync") else "GET"
        status, body = http(vendor_sync, method, path, headers={"authorization": f"Bearer {N8N_API_TOKEN}"})
        assert (status, body["error"]) == (403, "forbidden")


def test_a_second_sync_on_demand_within_the_minute_is_refused_with_when_to_try_again(
    vendor_sync: Any, kommo_sandbox: Any
) -> None:
    """An operator (or a script in a loop) asking again at once gets 429 and Retry-After, and Kommo is not
    asked for its users again; the schedule's sync still runs."""
    assert http(vendor_sync, "POST", "/vendors/sync")[0] == 200
    users_read = len(kommo_sandbox.requests)
    status, body, headers = answered(vendor_sync, "POST", "/vendors/sync")
    assert (status, body["error"]) == (429, "sync_too_soon")
    assert 1 <= int(headers["Retry-After"]) <= 60 and body["retry_after_seconds"] == int(headers["Retry-After"])
    assert len(kommo_sandbox.requests) == users_read
    assert vendor_sync(schedule_event())["kommo_users"] == 12


def test_while_a_sync_runs_no_other_starts_on_demand_or_on_schedule(vendor_sync: Any, kommo_sandbox: Any) -> None:
    """Another Lambda is syncing: the operator's sync answers 429 sync_running, the schedule's skips; once
    that run ended, the next one runs."""
    from sales_assistant.adapters.sync_lock import DynamoSyncLock
    from sales_assistant.config import get_settings

    other_lambda = DynamoSyncLock(get_settings().kommo_table, min_interval_seconds=60)
    run = other_lambda.acquire(on_demand=False, longest_run_seconds=120)
    status, body, headers = answered(vendor_sync, "POST", "/vendors/sync")
    assert (status, body["error"]) == (429, "sync_running") and 1 <= int(headers["Retry-After"]) <= 121
    assert vendor_sync(schedule_event())["skipped"] == "sync_running"
    assert kommo_sandbox.requests == []
    other_lambda.release(run)
    assert http(vendor_sync, "POST", "/vendors/sync")[0] == 200


def test_without_a_minimum_interval_syncs_on_demand_follow_each_other(vendor_sync: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("VENDOR_SYNC_MIN_INTERVAL_SECONDS", "0")
    reset_caches()
    assert [http(vendor_sync, "POST", "/vendors/sync")[0] for _ in range(3)] == [200, 200, 200]


def test_an_unknown_or_malformed_vendor_id_is_a_4xx(vendor_sync: Any) -> None:
    assert http(vendor_sync, "GET", "/vendors/999")[0] == 404
    status, body = http(vendor_sync, "GET", "/vendors/abc")
    assert status == 422 and body["error"] == "invalid_request"


def test_a_profile_stored_before_todays_hours_rules_never_stops_the_team(vendor_sync: Any) -> None:
    """An older version accepted "22:00-06:00"; today it is refused. The stored salesperson is served with
    the default profile (the rest of the team is unaffected) until the next sync stores a valid one."""
    import boto3

    from sales_assistant.config import get_settings

    vendor_sync(schedule_event())
    boto3.resource("dynamodb").Table(get_settings().salespeople_table).update_item(
        Key={"vendor_id": 8401234},
        UpdateExpression="SET profile.working_hours = :overnight",
        ExpressionAttributeValues={":overnight": {"mon": ["22:00-06:00"]}},
    )
    status, body = http(vendor_sync, "GET", "/vendors")
    assert status == 200 and len(body["vendors"]) == 12
    ana = next(salesperson for salesperson in body["vendors"] if salesperson["vendor_id"] == 8401234)
    assert ana["profile"]["working_hours"] == {} and ana["profile"]["areas"] == []

    vendor_sync(schedule_event())  # the sync applies config/vendor-profiles.json again
    status, ana = http(vendor_sync, "GET", "/vendors/8401234")
    assert status == 200 and ana["profile"]["areas"] == ["Auto"]
