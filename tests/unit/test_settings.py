"""Settings: a missing or malformed one fails with its name; they come in groups, each declaring the
secrets it needs; secrets come one per purpose and are re-read after their cache age."""

from __future__ import annotations

import json
import time
from typing import Any, get_args

import pytest

from local.defaults import EXAMPLE_SETTINGS, LOCAL_SECRETS
from sales_assistant.config import SECRETS, SettingsError, load_settings

VALID = EXAMPLE_SETTINGS


def test_defaults_follow_the_design() -> None:
    settings = load_settings(VALID)
    assert settings.kommo_api_base == "https://vendasdemo.kommo.com"
    assert settings.n8n_reply_path == "/webhook/kommo-reply"
    assert settings.n8n_proactive_path == "/webhook/kommo-proactive"
    assert settings.n8n_scheduling_path == "/webhook/kommo-scheduling"
    assert settings.uses_long_lived_token
    assert settings.echo_ttl_seconds == 10800 and settings.unattributed_outgoing == "pause"
    assert settings.automation_authors == ""


def test_kommo_base_url_overrides_the_account_address() -> None:
    assert (
        load_settings({**VALID, "KOMMO_BASE_URL": "http://127.0.0.1:8088/"}).kommo_api_base == "http://127.0.0.1:8088"
    )


@pytest.mark.parametrize(
    "change, named",
    [
        ({"WEBHOOK_TOKEN": "short"}, "WEBHOOK_TOKEN"),
        ({"KOMMO_SALESBOT_ID": "abc"}, "KOMMO_SALESBOT_ID"),
        ({"N8N_BASE_URL": "ftp://n8n"}, "N8N_BASE_URL"),
        ({"COMMANDS_QUEUE_URL": "https://sqs/commands"}, "COMMANDS_QUEUE_URL"),
        ({"KOMMO_CLIENT_ID": "id", "KOMMO_CLIENT_SECRET": "secret"}, "KOMMO_REDIRECT_URI"),
        ({"STAGE": "staging"}, "STAGE"),
        ({"STAGE": "dev", "N8N_BASE_URL": "http://n8n.example.com"}, "N8N_BASE_URL"),
        ({"STAGE": "prod", "KOMMO_BASE_URL": "http://kommo.example.com"}, "KOMMO_BASE_URL"),
        ({"STAGE": "prod"}, "KOMMO_ACCOUNT_ID"),
        ({"ECHO_TTL_SECONDS": "3600"}, "ECHO_TTL_SECONDS"),
        ({"UNATTRIBUTED_OUTGOING": "pause-it"}, "UNATTRIBUTED_OUTGOING"),
        ({"AUTOMATION_AUTHORS": "Salesbot, " + "x" * 81}, "AUTOMATION_AUTHORS"),
        ({"STAGE": ""}, "STAGE"),
        ({"DEDUP_TTL_SECONDS": str(3 * 86400)}, "DEDUP_TTL_SECONDS"),  # a redrive after day 3 would answer twice
    ],
)
def test_a_bad_setting_is_named(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({**VALID, **change})


def test_settings_without_a_stage_are_not_the_permissive_local_stage() -> None:
    """A function deployed without STAGE refuses to start, naming it, instead of allowing http:// URLs."""
    from sales_assistant.config import Settings

    base = {
        "KOMMO_SUBDOMAIN": "acme", "KOMMO_SALESBOT_ID": "1", "KOMMO_REPLY_FIELD_ID": "2",
        "N8N_BASE_URL": "http://n8n.internal", "IDEMPOTENCY_TABLE": "t-1", "KOMMO_TABLE": "t-2",
        "CONVERSATIONS_TABLE": "t-3", "BOT_STATE_TABLE": "t-4", "VENDORS_TABLE": "t-5",
        "CONVERSATIONS_QUEUE_URL": "https://q/1", "COMMANDS_QUEUE_URL": "https://q/2.fifo",
        "LEAD_EVENTS_QUEUE_URL": "https://q/3.fifo",
    }  # fmt: skip
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do
        Settings.model_validate(base)  # no STAGE: http:// n8n should be refused
    without_stage = {name: value for name, value in VALID.items() if name != "STAGE"}
    with pytest.raises(SettingsError, match="STAGE"):
        load_settings({**without_stage, "N8N_BASE_URL": "https://n8n.example.com"})


def test_http_is_for_the_local_stage_and_prod_knows_its_account() -> None:
    assert load_settings({**VALID, "N8N_BASE_URL": "http://127.0.0.1:5678"}).stage == "local"
    assert load_settings({**VALID, "STAGE": "prod", "KOMMO_ACCOUNT_ID": "31257294"}).kommo_account_id == 31257294


@pytest.mark.parametrize(
    "group, change, named",
    [
        ("webhook", {"WEBHOOK_TOKEN": ""}, "WEBHOOK_TOKEN"),
        ("api", {"API_TOKEN": ""}, "API_TOKEN"),
        ("n8n", {"N8N_SIGNING_SECRET": ""}, "N8N_SIGNING_SECRET"),
        ("kommo", {"KOMMO_LONG_LIVED_TOKEN": ""}, "KOMMO_LONG_LIVED_TOKEN"),
        ("kommo", {"KOMMO_CLIENT_ID": "id", "KOMMO_REDIRECT_URI": "https://x.example/oauth"}, "KOMMO_CLIENT_SECRET"),
    ],
)
def test_a_function_names_the_secret_it_lacks(group: Any, change: dict[str, str], named: str) -> None:
    settings = load_settings({**VALID, **change})  # secrets are optional in the model...
    with pytest.raises(SettingsError, match=named):
        settings.require(group)  # ...and each function requires its own at cold start
    assert load_settings(VALID).require("webhook", "api", "n8n", "kommo")


def test_every_setting_belongs_to_one_group_and_is_read_by_its_name() -> None:
    from sales_assistant.config import GROUPS, Group, Settings

    assert set(GROUPS) == set(get_args(Group))
    owned = [name for group in GROUPS.values() for name in group.model_fields]
    assert sorted(owned) == sorted(set(owned)) == sorted(Settings.model_fields)  # a name in two groups: one is lost
    settings = load_settings({**VALID, "KOMMO_TABLE": "kommo-prod", "HOLD_MINUTES": "7"})
    assert settings.kommo_table == "kommo-prod" and settings.hold_minutes == 7


def test_the_groups_without_secrets_need_none() -> None:
    from sales_assistant.config import GROUPS

    without_secrets = {name: "" for names in SECRETS.values() for name in names}
    settings = load_settings({**VALID, **without_secrets})
    named = [group for group in GROUPS if group not in ("webhook", "api", "n8n", "kommo")]
    assert settings.require(*named) is settings


def test_secrets_never_show_in_the_settings_repr() -> None:
    assert "w" * 32 not in repr(load_settings(VALID))


def test_each_secret_holds_only_its_purpose(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    combined = boto3.client("secretsmanager").create_secret(
        Name="test-combined", SecretString=json.dumps({"KOMMO_LONG_LIVED_TOKEN": "t", "API_TOKEN": "a" * 32})
    )
    monkeypatch.setenv("KOMMO_SECRET_ARN", combined["ARN"])
    from sales_assistant.config import get_settings

    with pytest.raises(SettingsError, match=r"KOMMO_SECRET_ARN: .* not API_TOKEN"):
        get_settings()


def test_a_rotated_secret_takes_over_after_the_cache_age(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Warm functions pick up a rotated token; services are rebuilt only when a setting changed."""
    import os

    import boto3

    from sales_assistant import config
    from sales_assistant.adapters.n8n import n8n_client

    monkeypatch.setattr(config, "SECRET_CACHE_SECONDS", 1)
    secrets = boto3.client("secretsmanager")
    arn = os.environ["N8N_SECRET_ARN"]
    before = config.get_settings()
    assert config.get_settings() is before and n8n_client(config.get_settings()) is n8n_client(before)
    try:
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({"N8N_SIGNING_SECRET": "rotated" * 4}))
        assert config.get_settings() is before  # still cached
        time.sleep(1.1)
        after = config.get_settings()
        assert after.n8n_signing_secret.get_secret_value() == "rotated" * 4
        assert n8n_client(after) is not n8n_client(before)
    finally:
        secrets.put_secret_value(
            SecretId=arn, SecretString=json.dumps({"N8N_SIGNING_SECRET": LOCAL_SECRETS["N8N_SIGNING_SECRET"]})
        )
        config.reset_settings()


def test_docs_name_every_setting_secret_and_parameter() -> None:
    from local.stack import ROOT, load_template
    from sales_assistant.config import SECRETS, Settings

    doc = (ROOT / "docs" / "settings.md").read_text()
    names = (
        [field.alias for field in Settings.model_fields.values()] + list(SECRETS) + list(load_template()["Parameters"])
    )
    assert [name for name in names if f"`{name}`" not in doc] == []


def test_docs_list_each_setting_under_its_group() -> None:
    from local.stack import ROOT
    from sales_assistant.config import GROUPS

    doc = (ROOT / "docs" / "settings.md").read_text()
    misplaced = []
    for name, group in GROUPS.items():
        heading = next(line for line in doc.splitlines() if line.startswith("## ") and line.endswith(f"(`{name}`)"))
        section = doc.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
        misplaced += [field.alias for field in group.model_fields.values() if f"`{field.alias}`" not in section]
    assert misplaced == []
