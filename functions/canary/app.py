"""The canary, on its schedule (every 5 minutes): Kommo token, n8n, Kommo webhook, queues, and the
missed-message watchdog; one metric per check, the report kept for GET /health."""

from typing import Any

from sales_assistant.composition import health_canary
from sales_assistant.config import get_settings
from sales_assistant.observability import observed

get_settings().require("n8n", "kommo")  # fails the cold start, naming what is missing


def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = health_canary(get_settings()).run()
    return {
        "healthy": report.healthy,
        "failed": [check.name for check in report.checks if not check.ok],
        "missed_messages": report.missed_messages,
    }


lambda_handler = observed(run, correlation_id_path="id")  # the schedule event's id
