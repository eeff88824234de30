"""The README's run command, end to end: `python -m local.run` serves /health on its port, and a
client's message posted with curl's body is answered through the Kommo sandbox; SIGTERM stops it
wherever it lands, and every local server takes a burst of callers at once."""

from __future__ import annotations

import html
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from local.defaults import LOCAL_SECRETS
from local.sam_events import kommo_body

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = {"authorization": f"Bearer {LOCAL_SECRETS['API_TOKEN']}"}  # the operator token


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


def local_run_command(ports: dict[str, int]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "local.run",
        *("--port", str(ports["api"]), "--aws-port", str(ports["aws"])),
        *("--kommo-port", str(ports["kommo"]), "--n8n-port", str(ports["n8n"])),
    ]


def start(command: list[str]) -> subprocess.Popen[bytes]:
    """`command` from the project's root, as `make run` runs it, in a process group of its own."""
    environment = {  # as a user's shell has it: none of the settings the tests export (Powertools' included)
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "KOMMO_", "N8N_", "POWERTOOLS_"))
    }
    environment["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'common'}"
    return subprocess.Popen(  # noqa: S603 - our own modules
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_with_sigterm(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM, repeated for 0.2 s as an impatient operator or supervisor does; what became of the run.

    Repeating it is what once left the run serving for good (a SIGTERM landing inside the previous one's
    handler deadlocked it)."""
    repeat_until = time.monotonic() + 0.2
    while time.monotonic() < repeat_until and process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        exit_code = process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "kept running after SIGTERM"
    try:
        os.killpg(process.pid, 0)  # anything it started, still in its process group
    except ProcessLookupError:
        # 0: stopped by its handler; -SIGTERM: the signal came before Python installed the handler
        return "stopped" if exit_code in (0, -signal.SIGTERM) else f"failed with exit code {exit_code}"
    os.killpg(process.pid, signal.SIGKILL)
    return "left a process behind"


@pytest.fixture(scope="module")
def local_run() -> Iterator[dict[str, int]]:
    ports = {name: free_port() for name in ("api", "aws", "kommo", "n8n")}
    process = start(local_run_command(ports))
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{ports['api']}/health")["status"] == "ok", 60)
        yield ports
    finally:
        assert stop_with_sigterm(process) == "stopped"


def test_the_local_run_serves_health_on_its_port(local_run: dict[str, int]) -> None:
    assert get(f"http://127.0.0.1:{local_run['api']}/health") == {"status": "ok"}  # anyone: the status only
    health = get(f"http://127.0.0.1:{local_run['api']}/health", OPERATOR)
    assert health["checks"] == {**health["checks"], "dynamodb": "ok", "queues": "ok"}


def test_the_canary_runs_on_demand_and_health_shows_its_results(local_run: dict[str, int]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{local_run['api']}/_local/schedules/CanaryFunction", data=b"", method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        assert json.loads(response.read())["result"]["failed"] == []
    canary = get(f"http://127.0.0.1:{local_run['api']}/health", OPERATOR)["checks"]["canary"]
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


def test_make_demo_tells_all_five_scenarios_and_the_sandbox_page_shows_what_the_client_saw(
    local_run: dict[str, int],
) -> None:
    from local.demo import run_demo

    printed: list[str] = []
    kommo = f"http://127.0.0.1:{local_run['kommo']}"
    failed = run_demo(f"http://127.0.0.1:{local_run['api']}", kommo, say=printed.append)

    assert failed == [], "\n".join(printed)
    [lead] = [view for view in get(f"{kommo}/_sandbox/leads") if view["client"] == "Patrícia Gomes"]
    said_by_assistant = [line["text"] for line in lead["chat"] if line["from"] == "assistant"]
    # first message, reply, follow-up, reply and confirmation, the reply after /liberar
    assert len(said_by_assistant) == 6
    assert "ficou alguma dúvida" in said_by_assistant[2]
    with urllib.request.urlopen(f"{kommo}/_sandbox/", timeout=5) as response:  # noqa: S310
        page = response.read().decode()
    assert "O que o cliente vê" in page
    assert all(html.escape(text) in page for text in said_by_assistant)
    assert html.escape("Quero marcar uma reunião amanhã") in page


def burst(port: int, method: str, path: str, *, callers: int = 120, **request: Any) -> list[int | str]:
    """`callers` requests sent at once, each on a connection of its own: the status each one got, or its error."""
    ready = threading.Barrier(callers)

    def call() -> int | str:
        ready.wait()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            connection.request(method, path, **request)
            response = connection.getresponse()
            response.read()
            return response.status
        except OSError as error:
            return repr(error)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=callers) as pool:
        return list(pool.map(lambda _: call(), range(callers)))


def test_every_local_server_answers_a_burst_of_callers_without_resetting_one(local_run: dict[str, int]) -> None:
    booking = {**OPERATOR, "content-type": "application/json"}
    api = burst(local_run["api"], "POST", "/appointments", body=b"{}", headers=booking)
    kommo = burst(local_run["kommo"], "GET", "/_sandbox/leads")
    n8n = burst(local_run["n8n"], "GET", "/")  # the stand-in answers POST only
    aws = burst(local_run["aws"], "GET", "/moto-api/")

    assert set(api) == {422}  # a booking without its fields, refused by the API, not dropped by the server
    assert set(kommo) == {200}
    assert set(n8n) == {405}
    assert set(aws) == {200}


SERVE_THE_N8N_STAND_IN = (
    "from local.n8n_standin import N8nStandIn\n"
    "from local.run import run_until_stopped\n"
    "run_until_stopped(N8nStandIn(secret='local'))"
)


def test_sigterm_stops_a_served_stand_in_wherever_it_lands() -> None:
    """The local run's way of waiting for SIGTERM, around the lightest service: 50 starts, SIGTERM at a
    random moment of each (while Python starts, while the service starts, while it serves)."""

    def started_and_stopped(delay: float) -> str:
        process = start([sys.executable, "-c", SERVE_THE_N8N_STAND_IN])
        time.sleep(delay)
        return stop_with_sigterm(process)

    delays = [random.uniform(0, 1.5) for _ in range(50)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = dict(zip(delays, pool.map(started_and_stopped, delays), strict=True))

    assert {delay: outcome for delay, outcome in outcomes.items() if outcome != "stopped"} == {}


def test_sigterm_stops_the_local_run_while_it_starts_and_while_it_serves() -> None:
    starting = start(local_run_command({name: free_port() for name in ("api", "aws", "kommo", "n8n")}))
    serving_ports = {name: free_port() for name in ("api", "aws", "kommo", "n8n")}
    serving = start(local_run_command(serving_ports))

    time.sleep(random.uniform(0.5, 5))  # somewhere in start-up: moto, the stack, the handlers
    stopped_while_starting = stop_with_sigterm(starting)
    wait_for(lambda: get(f"http://127.0.0.1:{serving_ports['api']}/health")["status"] == "ok", 60)
    stopped_while_serving = stop_with_sigterm(serving)

    assert stopped_while_starting == "stopped"
    assert stopped_while_serving == "stopped"
