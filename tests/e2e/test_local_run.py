"""The README's run command, end to end: `python -m local.run` serves /health on its port, and a
client's message posted with curl's body is answered through the Kommo sandbox."""

from __future__ import annotations

import html
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.defaults import LOCAL_SECRETS
from local.sam_events import kommo_body

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


def wait_for(check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def local_run() -> Iterator[dict[str, int]]:
    ports = {name: free_port() for name in ("api", "aws", "kommo", "n8n")}
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "KOMMO_", "N8N_"))}
    environment["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"
    process = subprocess.Popen(  # noqa: S603 - our own module
        [
            sys.executable,
            "-m",
            "local.run",
            "--port",
            str(ports["api"]),
            "--aws-port",
            str(ports["aws"]),
            "--kommo-port",
            str(ports["kommo"]),
            "--n8n-port",
            str(ports["n8n"]),
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{ports['api']}/health")["status"] == "ok", 60)
        yield ports
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_local_run_serves_health_on_its_port(local_run: dict[str, int]) -> None:
    health = get(f"http://127.0.0.1:{local_run['api']}/health")
    assert health["checks"] == {**health["checks"], "dynamodb": "ok", "queues": "ok"}


def test_the_canary_runs_on_demand_and_health_shows_its_results(local_run: dict[str, int]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{local_run['api']}/_local/schedules/CanaryFunction", data=b"", method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        assert json.loads(response.read())["result"]["failed"] == []
    canary = get(f"http://127.0.0.1:{local_run['api']}/health")["checks"]["canary"]
    assert canary["healthy"] is True and canary["checks"]["n8n"]["ok"] is True


def test_a_curled_client_message_is_answered_through_the_kommo_sandbox(local_run: dict[str, int]) -> None:
    body = kommo_body("client-message").encode()  # dated now, as the README's curl does
    request = urllib.request.Request(
        f"http://127.0.0.1:{local_run['api']}/webhooks/kommo/{LOCAL_SECRETS['WEBHOOK_TOKEN']}",
        data=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        assert json.loads(response.read())["accepted"] == 1

    def salesbot_ran() -> Any:
        recorded = get(f"http://127.0.0.1:{local_run['kommo']}/_sandbox/requests")
        return [r for r in recorded if r["path"] == "/api/v2/salesbot/run"]

    [run] = wait_for(salesbot_ran, 30)  # after the 4-second quiet window
    assert run["body"] == [{"bot_id": 101, "entity_id": 27754599, "entity_type": 2}]


def test_make_demo_tells_all_four_scenarios_and_the_sandbox_page_shows_what_the_client_saw(
    local_run: dict[str, int],
) -> None:
    from local.demo import run_demo

    printed: list[str] = []
    kommo = f"http://127.0.0.1:{local_run['kommo']}"
    failed = run_demo(f"http://127.0.0.1:{local_run['api']}", kommo, say=printed.append)

    assert failed == [], "\n".join(printed)
    [lead] = [view for view in get(f"{kommo}/_sandbox/leads") if view["client"] == "Patrícia Gomes"]
    said_by_assistant = [line["text"] for line in lead["chat"] if line["from"] == "assistant"]
    assert len(said_by_assistant) == 5  # first message, reply, reply and confirmation, the reply after /liberar
    with urllib.request.urlopen(f"{kommo}/_sandbox/", timeout=5) as response:  # noqa: S310
        page = response.read().decode()
    assert "O que o cliente vê" in page
    assert all(html.escape(text) in page for text in said_by_assistant)
    assert html.escape("Quero marcar uma reunião amanhã") in page
