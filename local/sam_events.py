"""Writes events/*.json for `sam local invoke -e` from the raw Kommo bodies in events/kommo/, and
events/env.json for its `--env-vars`.

`python -m local.sam_events` (`make events`) writes them again, dated now: the messages just sent, the
meeting a week ahead (a hold or booking in the past is refused). A test checks they are up to date.
events/env.json holds each function's settings from a configuration file (local/deployment_config.py):
`CONFIG=config/prod.toml make events` for that deployment's, else the local run's (config/local.toml when
it exists, over the embedded defaults).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from local.defaults import LOCAL_SECRETS, SALESPERSON_PROFILES
from local.deployment_config import (
    CONFIG_VARIABLE,
    ConfigError,
    Deployment,
    config_path,
    load_deployment,
    local_run_deployment,
)
from local.lambda_events import http_api_event, schedule_event, sqs_event
from sales_assistant.models.appointment import Appointment
from sales_assistant.models.kommo_webhook import parse_kommo_webhook
from sales_assistant.models.queue import (
    AppointmentChanged,
    AppointmentReminderDue,
    ClientMessageReceived,
    ConversationFlushDue,
    Flow,
    QueueItem,
    SalespersonMessageReceived,
    TriggerDue,
)
from sales_assistant.models.salesperson import SalespersonProfiles
from sales_assistant.services.working_hours import open_spans

_CREATED_AT = re.compile(r"(%5Bcreated_at%5D=)[0-9]+")
EVENTS = Path(__file__).resolve().parent.parent / "events"
ENV_VARS = EVENTS / "env.json"  # `sam local invoke --env-vars events/env.json`: settings, not an event
FORM = "application/x-www-form-urlencoded"
APPOINTMENT_ID = "apt-8401234-0a1b2c3d4e5f"
SALESPERSON = 8401234  # Ana Souza, whose meeting the scheduling events book
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def kommo_body(name: str, at: int | None = None) -> str:
    """A raw Kommo webhook body from events/kommo/<name>.form, its messages dated `at` (default now), as if
    the client had just written (the WhatsApp 24-hour window opens at a message's `created_at`)."""
    body = (EVENTS / "kommo" / f"{name}.form").read_text()
    return _CREATED_AT.sub(rf"\g<1>{int(time.time()) if at is None else at}", body)


def meeting_day(now: int) -> date:
    """The day of the events' meeting: a week after `now` or the first day after it on which the salesperson
    works by config/vendor-profiles.json (Monday to Friday, not a holiday), so that the hold and booking
    events stay bookable for a week in the local run and against real hours."""
    profile = SalespersonProfiles.model_validate_json(SALESPERSON_PROFILES.read_text()).vendors[SALESPERSON]
    day = datetime.fromtimestamp(now, SAO_PAULO).date() + timedelta(days=7)
    while not open_spans(profile, day):
        day += timedelta(days=1)
    return day


def meeting_at(day: date, hhmm: str) -> datetime:
    """A time of the meeting day, in São Paulo."""
    return datetime.fromisoformat(f"{day.isoformat()}T{hhmm}").replace(tzinfo=SAO_PAULO)


def webhook_event(body: str, token: str = LOCAL_SECRETS["WEBHOOK_TOKEN"]) -> dict[str, Any]:
    """The API Gateway event of a Kommo webhook delivery (form body, base64-encoded as API Gateway does)."""
    return http_api_event(
        "POST",
        f"/webhooks/kommo/{token}",
        route_key="POST /webhooks/kommo/{token}",
        path_parameters={"token": token},
        headers={"content-type": FORM, "user-agent": "amoCRM-Webhooks/3.0", "x-amocrm-requestid": "4b9f3c2a1e"},
        body=body,
        base64_body=True,
    )


def render_events(now: int) -> dict[str, dict[str, Any]]:
    """File name -> event, as written at `now`: every Kommo body as a webhook delivery, the queue items the
    consumers get, the schedules and a few admin calls (request ids fixed, times from `now`)."""
    rendered = {}
    for form in sorted((EVENTS / "kommo").glob("*.form")):
        rendered[f"webhook-{form.stem}.json"] = _stable(webhook_event(kommo_body(form.stem, now)), form.stem, now)
    day = meeting_day(now)
    start, moved_to = meeting_at(day, "10:00"), meeting_at(day, "15:00")
    queries = {
        "api-bot-paused-list": {"status": "paused"},
        "api-triggers-deferred": {"status": "deferred"},
        "api-availability": {"from": meeting_at(day, "08:00").isoformat(), "to": meeting_at(day, "18:00").isoformat()},
    }
    auth = {"authorization": f"Bearer {LOCAL_SECRETS['API_TOKEN']}", "content-type": "application/json"}
    admin_calls = {
        "api-bot-pause": (
            "POST",
            "/bot/93589657/pause",
            "/bot/{contact_id}/pause",
            {"contact_id": "93589657"},
            '{"by": "Supervisor", "lead_id": 27754599}',
        ),
        "api-bot-paused-list": ("GET", "/bot", "/bot", None, None),
        "api-vendors-sync": ("POST", "/vendors/sync", "/vendors/sync", None, None),
        "api-health": ("GET", "/health", "/health", None, None),
        "api-trigger-form": (
            "POST",
            "/triggers",
            "/triggers",
            None,
            '{"lead_id": 27754601, "trigger": "form", "data": {"pagina": "/consorcio-imovel", "valor": "250000"}}',
        ),
        "api-triggers-deferred": ("GET", "/triggers", "/triggers", None, None),
        "api-message": (
            "POST",
            "/messages",
            "/messages",
            None,
            '{"lead_id": 27754599, "text": "Mariana, separei a simulação para você.", "idempotency_key": "sim-1"}',
        ),
        "api-availability": (
            "GET",
            "/vendors/8401234/availability",
            "/vendors/{vendor_id}/availability",
            {"vendor_id": "8401234"},
            None,
        ),
        "api-hold": (
            "POST",
            "/holds",
            "/holds",
            None,
            json.dumps({"vendor_id": SALESPERSON, "lead_id": 27754599, "start": start.isoformat()}),
        ),
        "api-appointment-book": (
            "POST",
            "/appointments",
            "/appointments",
            None,
            json.dumps(
                {
                    "vendor_id": SALESPERSON,
                    "lead_id": 27754599,
                    "start": start.isoformat(),
                    "idempotency_key": f"lead:27754599:{start.isoformat()}",
                }
            ),
        ),
        "api-appointment-reschedule": (
            "POST",
            f"/appointments/{APPOINTMENT_ID}/reschedule",
            "/appointments/{appointment_id}/reschedule",
            {"appointment_id": APPOINTMENT_ID},
            json.dumps({"start": moved_to.isoformat()}),
        ),
        "api-appointment-cancel": (
            "DELETE",
            f"/appointments/{APPOINTMENT_ID}",
            "/appointments/{appointment_id}",
            {"appointment_id": APPOINTMENT_ID},
            None,
        ),
    }
    for name, (method, path, route, parameters, body) in admin_calls.items():
        event = http_api_event(
            method,
            path,
            route_key=f"{method} {route}",
            path_parameters=parameters,
            headers=auth,
            body=body,
            query=queries.get(name),
        )
        rendered[f"{name}.json"] = _stable(event, name, now)
    webhook = parse_kommo_webhook(kommo_body("client-message", now))
    command = parse_kommo_webhook(kommo_body("salesperson-assumir", now))
    appointment = Appointment(
        appointment_id=APPOINTMENT_ID,
        vendor_id=SALESPERSON,
        lead_id=27754599,
        contact_id=93589657,
        start=int(start.timestamp()),
        end=int(start.timestamp()) + 1800,
        occupied_until=int(start.timestamp()) + 1800,
        timezone="America/Sao_Paulo",
        created_at=now,
        updated_at=now,
    )
    queue_items: dict[str, QueueItem] = {
        "sqs-conversations-client-message": ClientMessageReceived(message=webhook.client_messages[0]),
        "sqs-conversations-flush-due": ConversationFlushDue(conversation_id="lead:27754599", seq=1),
        "sqs-commands-assumir": SalespersonMessageReceived(message=command.outgoing_messages[0]),
        "sqs-lead-events-trigger": TriggerDue(lead_id=27754601, trigger="form", source="api", lead_created_at=now),
        "sqs-scheduling-booked": AppointmentChanged(change="booked", appointment=appointment),
        "sqs-scheduling-reminder": AppointmentReminderDue(appointment_id=APPOINTMENT_ID, version=1, minutes_before=60),
    }
    for index, (name, item) in enumerate(queue_items.items(), start=1):
        message = {
            "MessageId": f"00000000-0000-4000-8000-{index:012d}",
            "Body": item.model_dump_json(),
            "MessageAttributes": {"correlation_id": {"DataType": "String", "StringValue": f"local-{name}"}},
        }
        queue = {
            Flow.COMMANDS: "CommandsQueue.fifo",
            Flow.LEAD_EVENTS: "LeadEventsQueue.fifo",
            Flow.SCHEDULING: "SchedulingQueue",
        }.get(item.flow, "ConversationsQueue")
        event = sqs_event([message], f"arn:aws:sqs:us-east-1:123456789012:{queue}")
        event["Records"][0]["attributes"]["SentTimestamp"] = str(now * 1000)
        if item.flow in (Flow.COMMANDS, Flow.LEAD_EVENTS):
            event["Records"][0]["attributes"].update(
                {"MessageGroupId": item.group_id, "MessageDeduplicationId": f"dedup-{index}", "SequenceNumber": "1"}
            )
        rendered[f"{name}.json"] = event
    for name in ("schedule-vendor-sync", "schedule-auto-resume", "schedule-proactive-sweep", "schedule-canary"):
        event = schedule_event(name)
        written = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event.update({"id": f"00000000-0000-4000-8000-{len(name):012d}", "time": written})
        rendered[f"{name}.json"] = event
    return rendered


def _stable(event: dict[str, Any], name: str, now: int) -> dict[str, Any]:
    written = datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    event["requestContext"].update({"requestId": f"local-{name}", "time": written, "timeEpoch": now * 1000})
    return event


def env_vars_deployment(environ: Mapping[str, str]) -> Deployment:
    """The configuration events/env.json is written from: CONFIG's deployment when set (`sam local invoke`
    for that stack), else the local run's, from config/local.toml when it exists (no environment variable)."""
    if environ.get(CONFIG_VARIABLE):
        return load_deployment(Path(environ[CONFIG_VARIABLE]))
    return local_run_deployment(config_path(environ), {}, kommo_sandbox=False)


def main() -> None:
    try:
        deployment = env_vars_deployment(os.environ)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    for name, event in render_events(int(time.time())).items():
        (EVENTS / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
        print(f"events/{name}")
    ENV_VARS.write_text(json.dumps(deployment.environments(), indent=2, ensure_ascii=False) + "\n")
    print(f"events/{ENV_VARS.name} (each function's settings, for sam local invoke --env-vars)")


if __name__ == "__main__":
    main()
