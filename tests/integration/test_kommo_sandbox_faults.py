"""The Kommo sandbox's faults, as the fault suite uses them: a failure or a hang after Kommo applied
the request, a 429 storm, a path's 5xx outage."""

from __future__ import annotations

from typing import Any

import pytest
import requests

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
