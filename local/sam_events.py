"""Writes events/*.json for `sam local invoke -e` from the raw Kommo bodies in events/kommo/.

`python -m local.sam_events` regenerates them; a test checks they are up to date.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from local.defaults import LOCAL_SECRETS
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

_CREATED_AT = re.compile(r"(%5Bcreated_at%5D=)[0-9]+")
EVENTS = Path(__file__).resolve().parent.parent / "events"
FORM = "application/x-www-form-urlencoded"
APPOINTMENT_ID = "apt-8401234-0a1b2c3d4e5f"
QUERIES = {
    "api-bot-paused-list": {"status": "paused"},
    "api-triggers-deferred": {"status": "deferred"},
    "api-availability": {"from": "2026-11-26T08:00:00-03:00", "to": "2026-11-26T18:00:00-03:00"},
}


_APPOINTMENT = Appointment(
    appointment_id=APPOINTMENT_ID,
    vendor_id=8401234,
    lead_id=27754599,
    contact_id=93589657,
    start=1795698000,  # 2026-11-26 10:00 São Paulo
    end=1795699800,
    occupied_until=1795699800,
    timezone="America/Sao_Paulo",
    created_at=1795521600,
    updated_at=1795521600,
)


def kommo_body(name: str, *, fresh: bool = True) -> str:
    """A raw Kommo webhook body from events/kommo/<name>.form; `fresh` dates its messages now, as if the
    client had just written (the WhatsApp 24-hour window opens at a message's `created_at`)."""
    body = (EVENTS / "kommo" / f"{name}.form").read_text()
    return _CREATED_AT.sub(rf"\g<1>{int(time.time())}", body) if fresh else body


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


def render_events() -> dict[str, dict[str, Any]]:
    """File name -> event: every Kommo body as a webhook delivery, the queue items the consumers get,
    the schedules and a few admin calls (request ids and times fixed so the files are stable)."""
    rendered = {}
    for form in sorted((EVENTS / "kommo").glob("*.form")):
        rendered[f"webhook-{form.stem}.json"] = _stable(webhook_event(form.read_text()), form.stem)
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
            '{"vendor_id": 8401234, "lead_id": 27754599, "start": "2026-11-26T10:00:00-03:00"}',
        ),
        "api-appointment-book": (
            "POST",
            "/appointments",
            "/appointments",
            None,
            '{"vendor_id": 8401234, "lead_id": 27754599, "start": "2026-11-26T10:00:00-03:00",'
            ' "idempotency_key": "lead:27754599:2026-11-26T10:00:00-03:00"}',
        ),
        "api-appointment-reschedule": (
            "POST",
            f"/appointments/{APPOINTMENT_ID}/reschedule",
            "/appointments/{appointment_id}/reschedule",
            {"appointment_id": APPOINTMENT_ID},
            '{"start": "2026-11-27T15:00:00-03:00"}',
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
            query=QUERIES.get(name),
        )
        rendered[f"{name}.json"] = _stable(event, name)
    webhook = parse_kommo_webhook(kommo_body("client-message", fresh=False))
    command = parse_kommo_webhook(kommo_body("salesperson-assumir", fresh=False))
    queue_items: dict[str, QueueItem] = {
        "sqs-conversations-client-message": ClientMessageReceived(message=webhook.client_messages[0]),
        "sqs-conversations-flush-due": ConversationFlushDue(conversation_id="lead:27754599", seq=1),
        "sqs-commands-assumir": SalespersonMessageReceived(message=command.outgoing_messages[0]),
        "sqs-lead-events-trigger": TriggerDue(
            lead_id=27754601, trigger="form", source="api", lead_created_at=1795521600
        ),
        "sqs-scheduling-booked": AppointmentChanged(change="booked", appointment=_APPOINTMENT),
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
        event["Records"][0]["attributes"]["SentTimestamp"] = "1795521600000"
        if item.flow in (Flow.COMMANDS, Flow.LEAD_EVENTS):
            event["Records"][0]["attributes"].update(
                {"MessageGroupId": item.group_id, "MessageDeduplicationId": f"dedup-{index}", "SequenceNumber": "1"}
            )
        rendered[f"{name}.json"] = event
    for name in ("schedule-vendor-sync", "schedule-auto-resume", "schedule-proactive-sweep", "schedule-canary"):
        event = schedule_event(name)
        event.update({"id": f"00000000-0000-4000-8000-{len(name):012d}", "time": "2026-11-24T12:00:00Z"})
        rendered[f"{name}.json"] = event
    return rendered


def _stable(event: dict[str, Any], name: str) -> dict[str, Any]:
    event["requestContext"].update({"requestId": f"local-{name}", "time": "24/Nov/2026:12:00:00 +0000"})
    event["requestContext"]["timeEpoch"] = 1795521600000
    return event


def main() -> None:
    for name, event in render_events().items():
        (EVENTS / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
        print(f"events/{name}")


if __name__ == "__main__":
    main()
