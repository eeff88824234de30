"""The canary end to end (moto + Kommo sandbox + n8n stand-in): each check passes, and fails when its
dependency does; the watchdog reports a message Kommo has and the service never got, once; GET /health
shows the last results; the correlation id of a webhook reaches the worker's logs and n8n."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from local.lambda_events import LambdaContext, http_api_event, schedule_event
from local.stack import ROOT
from sales_assistant.services.health import HealthReport
from tests.conftest import API_TOKEN, World, handler_of
from tests.integration.test_reactive_flow import client_message

LEAD, CONTACT = 27754599, 93589657


def run_canary(world: World, at: float | None = None) -> HealthReport:
    """One canary run through its handler (the real adapters), at a given time if `at` is set."""
    from sales_assistant import composition
    from sales_assistant.config import get_settings

    handler = world.handler("CanaryFunction")  # imports the function as Lambda would (cold start)
    if at is None:
        handler(schedule_event("canary"))
    else:
        canary = composition.health_canary(get_settings())
        dataclasses.replace(canary, clock=lambda: at).run()
    return stored_report()


def stored_report() -> HealthReport:
    from sales_assistant.adapters.health import DynamoHealthStore
    from sales_assistant.config import get_settings

    report = DynamoHealthStore(get_settings().kommo_table).load()
    assert report is not None
    return report


def check(report: HealthReport, name: str) -> Any:
    return next(result for result in report.checks if result.name == name)


def failed(report: HealthReport) -> list[str]:
    return [result.name for result in report.checks if not result.ok]


def test_a_healthy_service_passes_every_check_and_health_shows_it(world: World) -> None:
    report = run_canary(world)
    assert failed(report) == [] and report.healthy

    operator = {"authorization": f"Bearer {API_TOKEN}"}  # the canary's results are details: the operator's
    response = handler_of(world.stack, "OpsApiFunction")(
        http_api_event("GET", "/health", headers=operator), LambdaContext()
    )
    canary = json.loads(response["body"])["checks"]["canary"]
    assert canary["healthy"] is True
    assert set(canary["checks"]) == {"breakers", "kommo_token", "n8n", "kommo_webhook", "queues", "message_watchdog"}
    assert "local-long-lived-token" not in response["body"] and "signing-secret" not in response["body"]


def test_the_n8n_ping_is_what_the_shipped_health_workflow_expects(world: World) -> None:
    run_canary(world)
    workflow = json.loads((ROOT / "n8n" / "workflows" / "kommo-health.json").read_text())
    webhook = next(node for node in workflow["nodes"] if node["type"] == "n8n-nodes-base.webhook")
    [ping] = world.n8n.requests
    assert ping["path"] == f"/webhook/{webhook['parameters']['path']}"
    assert ping["body"] == json.loads((ROOT / "n8n" / "examples" / "request-health.json").read_text())


@pytest.mark.parametrize(
    ("name", "break_it", "reason"),
    [
        ("kommo_token", lambda w: w.kommo.fail_next("/api/v4/account", 401), "kommo_reauthorization_required"),
        ("n8n", lambda w: [w.n8n.respond_with(503) for _ in range(2)], "http_503"),
        ("n8n", lambda w: w.n8n.respond_with(200, {"reply": "not a health answer"}), "invalid_response"),
        ("n8n", lambda w: w.n8n.respond_with(200, {"ok": True}, signature="missing"), "invalid_signature"),
        ("kommo_webhook", lambda w: w.kommo.webhooks[0].update(disabled=True), "disabled"),
        ("kommo_webhook", lambda w: w.kommo.webhooks.clear(), "no Kommo webhook"),
        ("message_watchdog", lambda w: w.kommo.fail_next("/api/v4/events", 500, times=4), "kommo_unavailable"),
    ],
)
def test_each_check_fails_alone_when_its_dependency_does(
    world: World, name: str, break_it: Callable[[World], Any], reason: str
) -> None:
    break_it(world)
    report = run_canary(world)
    assert failed(report) == [name]
    assert reason in check(report, name).detail


def test_the_queue_check_fails_when_a_queue_keeps_messages_waiting(world: World) -> None:
    import boto3

    url = world.stack.physical_ids["CommandsQueue"]
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d")
    start = time.time()
    assert check(run_canary(world, at=start), "queues").ok  # first seen waiting
    assert check(run_canary(world, at=start + 300), "queues").ok
    late = check(run_canary(world, at=start + 601), "queues")
    assert not late.ok and "commands" in late.detail

    world.pump_commands()  # the consumer takes it: the queue is empty again, and so is its history
    assert check(run_canary(world, at=start + 700), "queues").ok
    assert stored_report().backlog_since == {}


def test_the_watchdog_reports_a_message_the_service_never_received_once(world: World) -> None:
    now = time.time()
    world.post_webhook(client_message("got-1", "oi"))  # delivered: the intake marked it
    world.kommo.add_chat_message(CONTACT, "got-1", int(now) - 300)
    world.kommo.add_chat_message(CONTACT, "lost-1", int(now) - 300)  # its webhook never came
    world.kommo.add_chat_message(CONTACT, "fresh-1", int(now) - 30)  # too new to judge

    first = run_canary(world, at=now)
    assert first.missed_messages == 1
    assert [note["params"]["text"] for note in world.kommo.notes if note["lead_id"] == LEAD] == [
        world_text("note_message_missed", int(now) - 300)
    ]
    [task] = world.kommo.tasks
    assert task["entity_id"] == LEAD and "não chegou ao assistente" in task["text"]

    second = run_canary(world, at=now + 300)  # "fresh-1" is judged now, and was never received either
    assert second.missed_messages == 1
    third = run_canary(world, at=now + 600)
    assert third.missed_messages == 0
    assert len(world.kommo.tasks) == 2 and len(world.kommo.notes) == 2  # one each per missed message


def test_a_failed_watchdog_run_judges_the_same_span_next_time(world: World) -> None:
    now = time.time()
    world.kommo.add_chat_message(CONTACT, "lost-2", int(now) - 300)
    world.kommo.fail_next("/api/v4/events", 500, times=4)  # the first try and its 3 retries
    assert run_canary(world, at=now).missed_messages == 0
    assert run_canary(world, at=now + 300).missed_messages == 1


def test_the_correlation_id_of_a_webhook_reaches_the_worker_logs_and_n8n(world: World, service_logs: Any) -> None:
    world.post_webhook(client_message("c-1", "quero saber do consórcio"))  # X-Amocrm-Requestid: 4b9f3c2a1e
    world.pump()
    [asked] = world.n8n.requests
    assert asked["headers"]["x-correlation-id"] == "4b9f3c2a1e"
    lines = [json.loads(line) for line in service_logs.getvalue().splitlines()]
    worker = [line for line in lines if line.get("function_name") == "ConversationWorkerFunction"]
    n8n_calls = [line for line in worker if line["message"] == "n8n call"]
    assert n8n_calls and all(line["correlation_id"] == "4b9f3c2a1e" for line in n8n_calls)
    assert {line["message"] for line in worker} >= {"n8n call", "flush done"}
    assert all(line.get("correlation_id") == "4b9f3c2a1e" for line in worker)


def world_text(name: str, created_at: int) -> str:
    from datetime import datetime

    from sales_assistant.config import get_settings
    from sales_assistant.services.health import NOTES_ZONE

    when = datetime.fromtimestamp(created_at, NOTES_ZONE).strftime("%d/%m/%Y %H:%M")
    return get_settings().texts.render(name, when=when)
