"""OAuth2 token refresh against the Kommo sandbox: ahead of time on the schedule, and never a failed
call (nor a lost refresh token) for a refresh that cannot happen while the stored token still works.
The pair is stored encrypted with a KMS key only the functions that call Kommo may decrypt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.lambda_events import LambdaContext, schedule_event
from local.stack import load_template
from sales_assistant.adapters.kommo import KommoUnavailable
from sales_assistant.adapters.kommo import client as client_module
from sales_assistant.adapters.kommo.tokens import TOKEN_KEY, DynamoTokenStore
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
    settings = get_settings()
    stored = DynamoTokenStore(settings.kommo_table, settings.kommo_token_key_id).load()
    assert stored is not None
    return stored.version


def test_a_worker_finding_the_refresh_lock_taken_uses_the_still_valid_token(aws: Any, kommo_sandbox: Any) -> None:
    settings = oauth_settings(kommo_sandbox)
    store_pair(kommo_sandbox, settings, expires_in=300)  # inside the 10-minute refresh margin, still valid
    DynamoTokenStore(settings.kommo_table, settings.kommo_token_key_id).try_lock("another-worker", 30)

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


def stored_item() -> dict[str, Any]:
    """The token pair's item as anyone allowed to read the Kommo table (or a backup of it) sees it."""
    import boto3

    table = boto3.resource("dynamodb").Table(get_settings().kommo_table)
    return dict(table.get_item(Key={"pk": TOKEN_KEY})["Item"])


def test_the_stored_pair_holds_no_token_in_plain_text(aws: Any, kommo_sandbox: Any) -> None:
    settings = oauth_settings(kommo_sandbox)
    store_pair(kommo_sandbox, settings, expires_in=-10)  # expired: the first call refreshes it
    assert client_for(settings).lead(LEAD).id == LEAD
    assert kommo_sandbox.refresh_calls == 1 and stored_version() == 2

    [refresh_token] = kommo_sandbox.refresh_tokens  # the pair Kommo issued on the refresh...
    stored = DynamoTokenStore(settings.kommo_table, settings.kommo_token_key_id).load()
    assert stored is not None and stored.pair.refresh_token == refresh_token  # ...is the one stored
    access_token = stored.pair.access_token
    item = stored_item()
    held = repr(item).encode() + bytes(item["sealed_access_token"]) + bytes(item["sealed_refresh_token"])
    assert access_token.encode() not in held and refresh_token.encode() not in held
    assert "access_token" not in item and "refresh_token" not in item


def test_the_stored_pair_opens_only_as_the_kommo_token_it_was_stored_as(aws: Any, kommo_sandbox: Any) -> None:
    import boto3

    settings = oauth_settings(kommo_sandbox)
    store_pair(kommo_sandbox, settings, expires_in=3600)
    kms = boto3.client("kms")
    sealed = bytes(stored_item()["sealed_access_token"])
    opened = kms.decrypt(CiphertextBlob=sealed, EncryptionContext={"purpose": "kommo-oauth", "token": "access"})
    assert opened["Plaintext"].decode() in kommo_sandbox.access_tokens
    with pytest.raises(kms.exceptions.InvalidCiphertextException):  # not as a refresh token, nor without context
        kms.decrypt(CiphertextBlob=sealed, EncryptionContext={"purpose": "kommo-oauth", "token": "refresh"})


def test_a_pair_stored_in_plain_text_by_an_older_version_is_used_and_sealed_without_a_refresh(
    aws: Any, kommo_sandbox: Any
) -> None:
    import time

    import boto3

    settings = oauth_settings(kommo_sandbox)
    pair = kommo_sandbox.issue_pair(expires_in=3600)
    boto3.resource("dynamodb").Table(settings.kommo_table).put_item(
        Item={
            "pk": TOKEN_KEY,
            "access_token": pair["access_token"],
            "refresh_token": pair["refresh_token"],
            "expires_at_unix": int(time.time()) + 3600,
            "version": 7,
            "updated_at": int(time.time()) - 86400,
        }
    )

    assert client_for(settings).lead(LEAD).id == LEAD
    item = stored_item()
    assert "access_token" not in item and "refresh_token" not in item and int(item["version"]) == 7
    assert kommo_sandbox.refresh_calls == 0  # the same pair, now encrypted: Kommo's single-use token kept
    assert client_for(settings).contact(93589657).id == 93589657  # read back from the sealed item


def test_an_oauth_deploy_without_the_token_key_refuses_to_store_the_pair(aws: Any, kommo_sandbox: Any) -> None:
    from local.kommo_sandbox import AUTHORIZATION_CODE
    from sales_assistant.adapters.kommo.client import store_authorization
    from sales_assistant.config import SettingsError

    settings = oauth_settings(kommo_sandbox).model_copy(update={"kommo_token_key_id": ""})
    with pytest.raises(SettingsError, match="KOMMO_TOKEN_KEY_ID"):
        store_authorization(settings, AUTHORIZATION_CODE)
    assert kommo_sandbox.calls("POST", "/oauth2/access_token") == []  # the code was not spent


def test_only_the_functions_that_call_kommo_may_decrypt_the_pair() -> None:
    """The key policy and the roles' policy name exactly the functions given the Kommo secret."""
    resources = load_template()["Resources"]
    calling_kommo = {
        name + "Role"
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and "KOMMO_SECRET_ARN" in resource["Properties"].get("Environment", {}).get("Variables", {})
    }
    statements = resources["KommoTokenKey"]["Properties"]["KeyPolicy"]["Statement"]
    decrypting = [statement for statement in statements if "kms:Decrypt" in str(statement["Action"])]
    [decrypt] = decrypting
    allowed = decrypt["Condition"]["ArnEquals"]["aws:PrincipalArn"]
    assert {arn["Fn::GetAtt"][0] for arn in allowed} == calling_kommo and len(calling_kommo) == 6
    users = resources["KommoTokenKeyUsers"]["Properties"]
    assert {role["Ref"] for role in users["Roles"]} == calling_kommo
    assert all(
        "kms:Decrypt" not in str(statement["Action"]) and "kms:*" not in str(statement["Action"])
        for statement in statements
        if statement is not decrypt
    )
