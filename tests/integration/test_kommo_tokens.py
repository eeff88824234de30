"""OAuth2 token refresh against the Kommo sandbox: ahead of time on the schedule, and never a failed
call (nor a lost refresh token) for a refresh that cannot happen while the stored token still works."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.lambda_events import LambdaContext, schedule_event
from sales_assistant.adapters.kommo import KommoUnavailable
from sales_assistant.adapters.kommo import client as client_module
from sales_assistant.adapters.kommo.tokens import DynamoTokenStore
from sales_assistant.config import get_settings
from sales_assistant.invocation import set_invocation_context
from tests.conftest import handler_of, reset_caches
from tests.integration.test_kommo_client import (  # noqa: F401 - outside_an_invocation: an autouse fixture
    client_for,
    oauth_settings,
    outside_an_invocation,
    store_pair,
)

LEAD = 27754599


def stored_version() -> int:
    stored = DynamoTokenStore(get_settings().kommo_table).load()
    assert stored is not None
    return stored.version


def test_a_worker_finding_the_refresh_lock_taken_uses_the_still_valid_token(aws: Any, kommo_sandbox: Any) -> None:
    settings = oauth_settings(kommo_sandbox)
    store_pair(kommo_sandbox, settings, expires_in=300)  # inside the 10-minute refresh margin, still valid
    DynamoTokenStore(settings.kommo_table).try_lock("another-worker", 30)

    assert client_for(settings).lead(LEAD).id == LEAD
    assert kommo_sandbox.refresh_calls == 0 and stored_version() == 1


def refused_with_503(sandbox: Any) -> None:
    sandbox.fail_next("/oauth2/access_token", 503)


def timed_out_after_rotating(sandbox: Any) -> None:
    sandbox.hang_next("/oauth2/access_token", 1.0)  # Kommo rotates the pair, the answer comes too late


@pytest.mark.parametrize("failure", [refused_with_503, timed_out_after_rotating])
def test_a_failed_refresh_with_a_still_valid_token_serves_the_call_with_the_stored_token(
    aws: Any, kommo_sandbox: Any, monkeypatch: pytest.MonkeyPatch, failure: Callable[[Any], None]
) -> None:
    monkeypatch.setattr(client_module, "TIMEOUT", (1.0, 0.3))  # the token endpoint's timeouts
    settings = oauth_settings(kommo_sandbox)
    store_pair(kommo_sandbox, settings, expires_in=300)
    failure(kommo_sandbox)
    client = client_for(settings)

    assert client.lead(LEAD).id == LEAD
    assert client.contact(93589657).id == 93589657  # no second try on the next call: not one per call
    assert len(kommo_sandbox.calls("POST", "/oauth2/access_token")) == 1 and stored_version() == 1


def test_with_10_seconds_left_no_refresh_starts(aws: Any, kommo_sandbox: Any) -> None:
    settings = oauth_settings(kommo_sandbox)
    set_invocation_context(LambdaContext(timeout_seconds=10))

    store_pair(kommo_sandbox, settings, expires_in=300)
    assert client_for(settings).lead(LEAD).id == LEAD  # still valid: used as it is

    store_pair(kommo_sandbox, settings, expires_in=-10)
    with pytest.raises(KommoUnavailable, match="left in this invocation"):  # expired: the queue retries later
        client_for(settings).lead(LEAD)
    assert kommo_sandbox.calls("POST", "/oauth2/access_token") == []


@pytest.fixture
def vendor_sync_with_oauth(aws: Any, kommo_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    settings = oauth_settings(kommo_sandbox)
    for name, value in {
        "KOMMO_BASE_URL": kommo_sandbox.url,
        "KOMMO_CLIENT_ID": settings.kommo_client_id,
        "KOMMO_CLIENT_SECRET": settings.kommo_client_secret.get_secret_value(),
        "KOMMO_REDIRECT_URI": settings.kommo_redirect_uri,
    }.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    handler = handler_of(aws, "VendorSyncFunction")
    yield lambda: handler(schedule_event(), LambdaContext(function_name="VendorSyncFunction"))
    reset_caches()


def test_the_schedule_refreshes_a_token_with_2_hours_left(vendor_sync_with_oauth: Any, kommo_sandbox: Any) -> None:
    store_pair(kommo_sandbox, get_settings(), expires_in=2 * 3600)
    result = vendor_sync_with_oauth()
    assert result["token_refreshed"] is True and result["kommo_users"] == 12
    assert kommo_sandbox.refresh_calls == 1 and stored_version() == 2


def test_the_schedule_leaves_a_token_with_20_hours_left_alone(vendor_sync_with_oauth: Any, kommo_sandbox: Any) -> None:
    store_pair(kommo_sandbox, get_settings(), expires_in=20 * 3600)
    result = vendor_sync_with_oauth()
    assert result["token_refreshed"] is False and result["kommo_users"] == 12
    assert kommo_sandbox.refresh_calls == 0 and stored_version() == 1
