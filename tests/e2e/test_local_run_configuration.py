"""`make run` pointed at a team's own ids: a configuration file over the embedded defaults and an environment
variable over the file, and the service answers a client with them (the Salesbot the Kommo sandbox runs and
the lead field the reply is written into)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from local.defaults import LOCAL_SECRETS
from local.deployment_config import variable_parameters
from local.sam_events import kommo_body
from local.stack import load_template
from tests.e2e.test_local_run import free_port, get, local_run_command, start, stop_with_sigterm, wait_for

MARIANA_LEAD = 27754599  # the client of events/kommo/client-message.form


def written_fields(request: dict[str, Any]) -> set[int]:
    """The lead fields a lead PATCH (one lead, or several) writes."""
    leads = request["body"] if isinstance(request["body"], list) else [request["body"]]
    return {value["field_id"] for lead in leads for value in lead.get("custom_fields_values", [])}


def test_a_client_is_answered_through_the_salesbot_and_reply_field_the_configuration_names(tmp_path: Path) -> None:
    config = tmp_path / "local.toml"
    config.write_text("KommoSalesbotId = 555\nKommoReplyFieldId = 888\nConversationQuietSeconds = 0\n")
    ports = {name: free_port() for name in ("api", "aws", "kommo", "n8n")}
    settings_in_this_process = [f"--unset={name}" for name in variable_parameters(load_template())]
    process = start(
        ["env", *settings_in_this_process, f"CONFIG={config}", "KOMMO_REPLY_FIELD_ID=777", *local_run_command(ports)]
    )
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{ports['api']}/health")["status"] == "ok", 60)
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['api']}/webhooks/kommo/{LOCAL_SECRETS['WEBHOOK_TOKEN']}",
            data=kommo_body("client-message").encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            assert json.loads(response.read())["accepted"] == 1

        def kommo_calls() -> list[dict[str, Any]]:
            recorded = get(f"http://127.0.0.1:{ports['kommo']}/_sandbox/requests")
            return recorded if any(r["path"] == "/api/v2/salesbot/run" for r in recorded) else []

        recorded = wait_for(kommo_calls, 30)
    finally:
        assert stop_with_sigterm(process) == "stopped"

    [run] = [r for r in recorded if r["path"] == "/api/v2/salesbot/run"]
    assert run["body"] == [{"bot_id": 555, "entity_id": MARIANA_LEAD, "entity_type": 2}]  # the file's Salesbot
    patches = [r for r in recorded if r["method"] == "PATCH" and r["path"].startswith("/api/v4/leads")]
    assert [(r["status"], written_fields(r)) for r in patches] == [(200, {777})]  # the environment's field
