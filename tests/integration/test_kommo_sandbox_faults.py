"""The Kommo sandbox's faults, as the fault suite uses them: a failure or a hang after Kommo applied
the request, a 429 storm, a path's 5xx outage; an outage started and ended through the control API (the
outage drill beside `make run`), and the record telling an injected answer from Kommo's own."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from local.kommo_seed import LONG_LIVED_TOKEN
from sales_assistant.adapters.kommo import KommoClient, KommoUnavailable
from sales_assistant.adapters.kommo.client import pooled_session, token_source
from sales_assistant.config import get_settings
from tests.integration.test_fault_suite import wait_until
from tests.integration.test_kommo_client import NoLimit, client_for


@pytest.fixture
def client(aws: Any, kommo_sandbox: Any) -> KommoClient:
    return client_for(get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url}))


def test_a_salesbot_run_that_fails_after_kommo_started_it_is_recorded(client: KommoClient, kommo_sandbox: Any) -> None:
    kommo_sandbox.fail_next("/api/v2/salesbot/run", 503, after_effect=True)
    with pytest.raises(KommoUnavailable):
        client.run_salesbot(101, 27754599)
    assert [run["entity_id"] for run in kommo_sandbox.salesbot_runs] == [27754599]  # the bot did start

    kommo_sandbox.fail_next("/api/v2/salesbot/run", 503)  # before the effect: nothing started
    with pytest.raises(KommoUnavailable):
        client.run_salesbot(101, 27754600)
    assert len(kommo_sandbox.salesbot_runs) == 1


def test_a_salesbot_run_that_hangs_past_the_read_timeout_was_applied(aws: Any, kommo_sandbox: Any) -> None:
    """Kommo starts the bot, then holds its answer past the client's read timeout: the client gives up
    (a read timeout: Kommo never answered it) and the run happened all the same. On a busy machine the
    client may give up before Kommo even got to the request, so the test waits for Kommo to apply it."""
    settings = get_settings().model_copy(update={"kommo_base_url": kommo_sandbox.url})
    session = pooled_session()
    client = KommoClient(
        settings.kommo_api_base, token_source(settings, session), NoLimit(), session=session, timeout=(5.0, 0.3)
    )
    kommo_sandbox.hang_next("/api/v2/salesbot/run", 1.0)  # Kommo answers 1 s after starting the bot
    with pytest.raises(KommoUnavailable, match="ReadTimeout"):
        client.run_salesbot(101, 27754599)
    wait_until(lambda: len(kommo_sandbox.salesbot_runs) == 1, "Kommo started the bot the client gave up on")
    assert [run["entity_id"] for run in kommo_sandbox.salesbot_runs] == [27754599]
    assert client.lead(27754599).id == 27754599  # Kommo serves other calls while one answer hangs


def test_a_429_storm_refuses_every_call_until_it_passes(client: KommoClient, kommo_sandbox: Any) -> None:
    kommo_sandbox.fail_for(60)  # longer than the test, however busy the machine: it ends when the test says
    with pytest.raises(KommoUnavailable):
        client.lead(27754599)  # four tries inside the storm
    [answer] = {(r.status, r.path) for r in kommo_sandbox.requests}
    assert answer == (429, "/api/v4/leads/27754599")
    assert requests.get(f"{kommo_sandbox.url}/api/v4/users", timeout=10).headers["Retry-After"] == "1"
    kommo_sandbox.reset()  # the storm passes
    assert client.lead(27754599).id == 27754599


def test_a_5xx_outage_of_one_path_leaves_the_others_working(client: KommoClient, kommo_sandbox: Any) -> None:
    kommo_sandbox.fail_for(60, 503, "/api/v4/contacts")
    with pytest.raises(KommoUnavailable):
        client.contact(93589657)
    assert client.lead(27754599).id == 27754599
    kommo_sandbox.reset()  # ends every fault
    assert client.contact(93589657).id == 93589657


def test_an_outage_started_through_the_control_api_lasts_until_it_is_ended(kommo_sandbox: Any) -> None:
    """An operator beside `make run` takes Kommo down from outside the process, then brings it back."""
    started = requests.post(
        f"{kommo_sandbox.url}/_sandbox/faults", json={"status": 503, "seconds": 240, "path_prefix": "/api/"}, timeout=10
    )
    assert started.status_code == 201
    assert started.json()["status"] == 503
    assert kommo_call(kommo_sandbox, "/api/v4/leads/27754599") == 503
    assert kommo_call(kommo_sandbox, "/api/v4/account") == 503
    assert requests.get(f"{kommo_sandbox.url}/_sandbox/leads", timeout=10).status_code == 200  # control API still up

    assert requests.delete(f"{kommo_sandbox.url}/_sandbox/faults", timeout=10).status_code == 204
    assert kommo_call(kommo_sandbox, "/api/v4/leads/27754599") == 200
    recorded = requests.get(f"{kommo_sandbox.url}/_sandbox/requests", timeout=10).json()
    assert [(r["status"], r["injected"]) for r in recorded] == [(503, True), (503, True), (200, False)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"seconds": 240}, "status"),
        ({"status": 200, "seconds": 240}, "status"),
        ({"status": "503", "seconds": 240}, "status"),
        ({"status": 503}, "seconds"),
        ({"status": 503, "seconds": 0}, "seconds"),
        ({"status": 503, "seconds": True}, "seconds"),
        ({"status": 503, "seconds": 240, "path_prefix": "api"}, "path_prefix"),
        ([503, 240], "status"),
    ],
)
def test_an_outage_kommo_cannot_start_is_refused_with_the_reason(kommo_sandbox: Any, body: Any, reason: str) -> None:
    refused = requests.post(f"{kommo_sandbox.url}/_sandbox/faults", json=body, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith(reason)
    assert kommo_call(kommo_sandbox, "/api/v4/account") == 200  # no outage started


def test_kommo_own_rate_limit_is_told_from_an_injected_429(kommo_sandbox: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(kommo_sandbox, "rate_limit_per_second", 0)  # every call is over Kommo's own limit
    assert kommo_call(kommo_sandbox, "/api/v4/account") == 429
    monkeypatch.undo()
    kommo_sandbox.fail_for(60)  # a 429 storm, injected
    assert kommo_call(kommo_sandbox, "/api/v4/account") == 429
    assert [r.injected for r in kommo_sandbox.requests] == [False, True]


def test_a_fault_after_the_effect_is_injected_and_a_hang_alone_is_not(kommo_sandbox: Any) -> None:
    kommo_sandbox.fail_next("/api/v4/account", 503, after_effect=True)
    kommo_sandbox.hang_next("/api/v4/account", 0.1)
    assert kommo_call(kommo_sandbox, "/api/v4/account") == 503
    assert kommo_call(kommo_sandbox, "/api/v4/account") == 200
    assert [(r.status, r.injected) for r in kommo_sandbox.requests] == [(503, True), (200, False)]


def kommo_call(sandbox: Any, path: str) -> int:
    """The status of one authorised GET to the sandbox's Kommo API, without the client's retries."""
    headers = {"authorization": f"Bearer {LONG_LIVED_TOKEN}"}
    return requests.get(f"{sandbox.url}{path}", headers=headers, timeout=10).status_code
