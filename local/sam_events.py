"""Writes events/*.json for `sam local invoke -e` from the raw Kommo bodies in events/kommo/.

`python -m local.sam_events` regenerates them; a test checks they are up to date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local.defaults import LOCAL_SECRETS
from local.lambda_events import http_api_event

EVENTS = Path(__file__).resolve().parent.parent / "events"
FORM = "application/x-www-form-urlencoded"


def kommo_body(name: str) -> str:
    """A raw Kommo webhook body from events/kommo/<name>.form."""
    return (EVENTS / "kommo" / f"{name}.form").read_text()


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
    """File name -> event, for every Kommo body (request ids and times fixed so files are stable)."""
    rendered = {}
    for form in sorted((EVENTS / "kommo").glob("*.form")):
        event = webhook_event(form.read_text())
        event["requestContext"].update({"requestId": f"local-{form.stem}", "time": "24/Nov/2026:12:00:00 +0000"})
        event["requestContext"]["timeEpoch"] = 1795521600000
        rendered[f"webhook-{form.stem}.json"] = event
    return rendered


def main() -> None:
    for name, event in render_events().items():
        (EVENTS / name).write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
        print(f"events/{name}")


if __name__ == "__main__":
    main()
