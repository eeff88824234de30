"""Settings: read once, and a missing or malformed one fails with its name."""

from __future__ import annotations

import pytest

from local.defaults import EXAMPLE_SETTINGS
from sales_assistant.config import SettingsError, load_settings

VALID = EXAMPLE_SETTINGS


def test_defaults_follow_the_design() -> None:
    settings = load_settings(VALID)
    assert settings.kommo_api_base == "https://vendasdemo.kommo.com"
    assert settings.n8n_reply_path == "/webhook/kommo-reply"
    assert settings.n8n_proactive_path == "/webhook/kommo-proactive"
    assert settings.n8n_scheduling_path == "/webhook/kommo-scheduling"
    assert settings.uses_long_lived_token


def test_kommo_base_url_overrides_the_account_address() -> None:
    assert (
        load_settings({**VALID, "KOMMO_BASE_URL": "http://127.0.0.1:8088/"}).kommo_api_base == "http://127.0.0.1:8088"
    )


@pytest.mark.parametrize(
    "change, named",
    [
        ({"WEBHOOK_TOKEN": ""}, "WEBHOOK_TOKEN"),
        ({"WEBHOOK_TOKEN": "short"}, "WEBHOOK_TOKEN"),
        ({"KOMMO_SALESBOT_ID": "abc"}, "KOMMO_SALESBOT_ID"),
        ({"N8N_BASE_URL": "ftp://n8n"}, "N8N_BASE_URL"),
        ({"COMMANDS_QUEUE_URL": "https://sqs/commands"}, "COMMANDS_QUEUE_URL"),
        ({"KOMMO_LONG_LIVED_TOKEN": ""}, "KOMMO_LONG_LIVED_TOKEN"),
        ({"KOMMO_CLIENT_ID": "id", "KOMMO_CLIENT_SECRET": "secret"}, "KOMMO_REDIRECT_URI"),
    ],
)
def test_a_bad_setting_is_named(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({**VALID, **change})


def test_secrets_never_show_in_the_settings_repr() -> None:
    assert "w" * 32 not in repr(load_settings(VALID))
