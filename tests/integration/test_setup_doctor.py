"""`make setup` and `make doctor` against the Kommo sandbox and the n8n stand-in: a team's empty account set up
(its Salesbots made in Kommo's UI) and then every doctor line green; the local run's defaults green; one thing
broken at a time (the reply field deleted, the webhook disabled by Kommo, a Salesbot deleted) named in red with a
non-zero exit; a second setup changing nothing; what setup refuses and what doctor only warns about."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from local.kommo_seed import (
    REPLY_FIELD_ID,
    REPLY_SALESBOT_ID,
    SALESPEOPLE,
    WEBHOOK_BASE_URL,
    WEBHOOK_TOKEN,
    salesbot,
    seed_users,
)
from sales_assistant.adapters.kommo.client import operator_client
from sales_assistant.models.kommo import WEBHOOK_EVENTS
from scripts import doctor, setup

WEBHOOK_URL = f"{WEBHOOK_BASE_URL}/webhooks/kommo/{WEBHOOK_TOKEN}"  # the stack's KommoWebhookUrl, with its token
SALESPERSON = SALESPEOPLE[0][0]  # Ana Souza, not an admin


@pytest.fixture
def environ(kommo_sandbox: Any, n8n_standin: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What the operator's shell says: where Kommo (the sandbox) and n8n (the stand-in) are. Kommo's rate limit is
    not what these tests are about: the sandbox and the scripts' pace allow 100 calls a second."""
    monkeypatch.setattr(kommo_sandbox, "rate_limit_per_second", 100)
    for script in (setup, doctor):
        monkeypatch.setattr(script, "operator_client", partial(operator_client, per_second=100))
    return {"KOMMO_BASE_URL": kommo_sandbox.url, "N8N_BASE_URL": n8n_standin.url}


def run_doctor(config: Path, environ: dict[str, str], capsys: Any, *args: str) -> tuple[int, dict[str, str]]:
    """`make doctor` on a configuration file: its exit status and its lines by check name, as printed."""
    capsys.readouterr()
    status = doctor.main(["--config", str(config), *args], environ)
    lines = [line for line in capsys.readouterr().out.splitlines() if line[:2] in ("✔ ", "✘ ", "! ")]
    return status, {line[2:].split(": ", 1)[0]: line for line in lines}


def red(lines: dict[str, str]) -> set[str]:
    return {name for name, line in lines.items() if line.startswith("✘")}


def yellow(lines: dict[str, str]) -> set[str]:
    return {name for name, line in lines.items() if line.startswith("!")}


def set_up_empty_account(kommo: Any, config: Path, environ: dict[str, str]) -> dict[str, int]:
    """The go-live guide on an account that has nothing yet: the team makes the three Salesbots in Kommo's UI,
    then runs `make setup` with their ids and the deployed webhook URL. The Salesbots' ids."""
    kommo.empty_account()
    bots = {
        "reply": kommo.add_salesbot("Assistente - resposta"),
        "boas_vindas": kommo.add_salesbot("Modelo boas_vindas"),
        "retomada_contato": kommo.add_salesbot("Modelo retomada_contato"),
    }
    status = setup.main(
        [
            "--config",
            str(config),
            "--no-input",
            "--salesbot-id",
            str(bots["reply"]),
            "--template-salesbot",
            f"boas_vindas={bots['boas_vindas']}",
            "--template-salesbot",
            f"retomada_contato={bots['retomada_contato']}",
            "--webhook-url",
            WEBHOOK_URL,
        ],
        environ,
    )
    assert status == 0
    return bots


def test_the_local_run_defaults_are_all_green(tmp_path: Path, environ: dict[str, str], capsys: Any) -> None:
    status, lines = run_doctor(tmp_path / "local.toml", environ, capsys)  # no file: the embedded defaults

    assert status == 0
    assert not red(lines) and not yellow(lines)
    for check in ("token", "KommoReplyFieldId", "KommoSalesbotId", "webhook", "n8n", "perfis / profiles"):
        assert lines[check].startswith("✔")
    assert "Auto, Imóveis, Serviços" in lines["áreas / areas"]


def test_setup_on_an_empty_account_then_every_doctor_line_is_green(
    tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str], capsys: Any
) -> None:
    config = tmp_path / "local.toml"
    bots = set_up_empty_account(kommo_sandbox, config, environ)

    fields = {field["code"]: field for field in kommo_sandbox.lead_fields}
    reply, nome = fields["ASSISTENTE_RESPOSTA"], fields["ASSISTENTE_MODELO_NOME"]
    assert (reply["type"], nome["type"]) == ("textarea", "text")
    [hook] = kommo_sandbox.webhooks
    assert hook["destination"] == WEBHOOK_URL and set(hook["settings"]) == set(WEBHOOK_EVENTS)
    written = config.read_text()
    assert f"KommoReplyFieldId = {reply['id']}" in written
    assert f"TemplateFields = {{ nome = {nome['id']} }}" in written
    assert f"KommoSalesbotId = {bots['reply']}" in written
    assert (
        f"TemplateSalesbots = {{ boas_vindas = {bots['boas_vindas']}, retomada_contato = {bots['retomada_contato']} }}"
    ) in written
    assert WEBHOOK_TOKEN not in written  # a secret: never in the file
    assert WEBHOOK_TOKEN not in capsys.readouterr().out

    status, lines = run_doctor(config, environ, capsys)

    assert status == 0
    assert not red(lines) and not yellow(lines)
    assert f"Salesbot {bots['boas_vindas']}" in lines["modelo / template boas_vindas"]


def test_a_second_setup_changes_nothing(tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str]) -> None:
    config = tmp_path / "local.toml"
    set_up_empty_account(kommo_sandbox, config, environ)
    first = config.read_text()
    kommo_sandbox.requests.clear()

    assert setup.main(["--config", str(config), "--no-input", "--webhook-url", WEBHOOK_URL], environ) == 0

    assert config.read_text() == first
    assert [r.method for r in kommo_sandbox.requests if r.method != "GET"] == []  # nothing created, nothing posted


@pytest.mark.parametrize(
    ("broken", "break_it", "named"),
    [
        ("the reply field deleted", lambda kommo: kommo.delete_lead_field(REPLY_FIELD_ID), "KommoReplyFieldId"),
        ("the webhook disabled by Kommo", lambda kommo: kommo.disable_webhooks(), "webhook"),
        ("the reply Salesbot deleted", lambda kommo: kommo.remove_salesbot(REPLY_SALESBOT_ID), "KommoSalesbotId"),
    ],
)
def test_one_thing_broken_in_kommo_is_named_and_fails_the_doctor(
    broken: str,
    break_it: Callable[[Any], Any],
    named: str,
    tmp_path: Path,
    kommo_sandbox: Any,
    environ: dict[str, str],
    capsys: Any,
) -> None:
    break_it(kommo_sandbox)

    status, lines = run_doctor(tmp_path / "local.toml", environ, capsys)

    assert status == 1, broken
    assert red(lines) == {named}
    assert "make setup" in lines[named] or "re-enable" in lines[named]  # each red line says the fix


def test_broken_through_the_sandbox_controls_as_beside_make_run(
    tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str], capsys: Any
) -> None:
    import requests

    for method, path in (("DELETE", f"lead_fields/{REPLY_FIELD_ID}"), ("POST", "webhooks/disabled")):
        assert requests.request(method, f"{kommo_sandbox.url}/_sandbox/{path}", timeout=10).status_code == 204
    assert requests.delete(f"{kommo_sandbox.url}/_sandbox/salesbots/{REPLY_SALESBOT_ID}", timeout=10).status_code == 204

    status, lines = run_doctor(tmp_path / "local.toml", environ, capsys)

    assert status == 1
    assert red(lines) == {"KommoReplyFieldId", "webhook", "KommoSalesbotId"}


def test_setup_refuses_a_token_whose_user_is_not_an_admin(
    tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str], capsys: Any
) -> None:
    kommo_sandbox.empty_account()
    kommo_sandbox.token_user_id = SALESPERSON

    assert setup.main(["--config", str(tmp_path / "local.toml"), "--no-input"], environ) == 1

    assert "Ana Souza (the token's user) is not an admin" in capsys.readouterr().out
    assert kommo_sandbox.lead_fields == [] and not (tmp_path / "local.toml").exists()


def test_setup_waits_for_a_salesbot_that_does_not_exist(
    tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str], capsys: Any
) -> None:
    kommo_sandbox.empty_account()

    status = setup.main(["--config", str(tmp_path / "local.toml"), "--no-input", "--salesbot-id", "999"], environ)

    out = capsys.readouterr().out
    assert status == 1  # something is left to do
    assert "Salesbot 999 does not exist in Kommo" in out
    assert "{{lead.cf." in out and "No trigger" in out  # the Kommo steps, with the reply field's id
    assert "KommoSalesbotId" not in (tmp_path / "local.toml").read_text()  # the fields' ids are written already


def test_setup_writes_into_the_teams_file_keeping_its_comments_and_other_keys(
    tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str]
) -> None:
    config = tmp_path / "local.toml"
    config.write_text(
        "# Nossa configuração\n"
        "KommoReplyFieldId = 1   # KOMMO_REPLY_FIELD_ID\n"
        'TriggerRules = [{ kind = "form", pipeline_id = 7654321 }]\n'
    )

    assert setup.main(["--config", str(config), "--no-input"], environ) == 0

    written = config.read_text().splitlines()
    assert written[:3] == [
        "# Nossa configuração",
        f"KommoReplyFieldId = {REPLY_FIELD_ID}   # KOMMO_REPLY_FIELD_ID",  # the seeded field, found by its code
        'TriggerRules = [{ kind = "form", pipeline_id = 7654321 }]',
    ]


def test_a_user_without_a_profile_is_named_unless_knowingly_left_without_one(
    tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str], capsys: Any
) -> None:
    newcomer = {**seed_users()[0], "id": 8401299, "name": "Paula Nunes"}
    kommo_sandbox.users.append(newcomer)

    status, lines = run_doctor(tmp_path / "local.toml", environ, capsys)
    assert status == 1
    assert red(lines) == {"perfis / profiles"} and "Paula Nunes (8401299)" in lines["perfis / profiles"]

    status, lines = run_doctor(tmp_path / "local.toml", {**environ, "USERS_WITHOUT_PROFILE": "8401299"}, capsys)
    assert status == 0


def test_an_area_nobody_serves_is_named(
    tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str], capsys: Any
) -> None:
    area = next(field for field in kommo_sandbox.lead_fields if field["type"] == "select")
    area["enums"].append({"id": 7999, "value": "Seguros", "sort": 9})

    status, lines = run_doctor(tmp_path / "local.toml", environ, capsys)

    assert status == 1
    assert red(lines) == {"áreas / areas"} and "nobody serves Seguros" in lines["áreas / areas"]


def test_kommos_ai_or_a_welcome_bot_is_a_warning_not_a_failure(
    tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str], capsys: Any
) -> None:
    kommo_sandbox.helpbot_enabled = True
    kommo_sandbox.salesbots[4600] = salesbot(4600, "Boas-vindas", "greeting")

    status, lines = run_doctor(tmp_path / "local.toml", environ, capsys)

    assert status == 0
    assert yellow(lines) == {"outros bots / other bots"}
    assert "Boas-vindas, IA do Kommo" in lines["outros bots / other bots"]
    assert "pipelines 7654321" in lines["outros bots / other bots"]  # the trigger pipeline to look at


def test_trigger_rules_naming_a_pipeline_that_does_not_exist_fail(
    tmp_path: Path, environ: dict[str, str], capsys: Any
) -> None:
    config = tmp_path / "local.toml"
    config.write_text('TriggerRules = [{ kind = "form", pipeline_id = 1111 }]\n')

    status, lines = run_doctor(config, environ, capsys)

    assert status == 1
    assert red(lines) == {"TriggerRules[0]"} and "pipeline 1111 does not exist" in lines["TriggerRules[0]"]


def test_setup_asks_for_the_area_field_and_the_salesbots_and_asks_again_for_an_id_kommo_lacks(
    tmp_path: Path, kommo_sandbox: Any, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    kommo_sandbox.empty_account()
    area = kommo_sandbox.add_lead_field("Área", "select", ["Auto", "Imóveis"])
    reply_bot, template_bot = kommo_sandbox.add_salesbot("Resposta"), kommo_sandbox.add_salesbot("Modelos")
    answers = iter([str(area), "999", str(reply_bot), str(template_bot), ""])  # "": the last template later
    asked: list[str] = []

    def person_at_the_terminal(pt: str, en: str) -> str:
        asked.append(en)
        return next(answers)

    monkeypatch.setattr(setup, "_asker", person_at_the_terminal)
    monkeypatch.setattr(setup.sys.stdin, "isatty", lambda: True)

    status = setup.main(["--config", str(tmp_path / "local.toml")], environ)

    assert status == 1  # retomada_contato's Salesbot is still to make
    assert asked == [
        "Area field id (Enter: none, every salesperson serves every area)",
        "Salesbot id reply (Enter: later)",
        "Salesbot id reply (Enter: later)",  # 999 is no Salesbot of this account
        "Salesbot id of the template boas_vindas (Enter: later)",
        "Salesbot id of the template retomada_contato (Enter: later)",
    ]
    assert "999: not found in Kommo" in capsys.readouterr().out
    written = (tmp_path / "local.toml").read_text()
    assert f"LeadAreaFieldId = {area}" in written and f"KommoSalesbotId = {reply_bot}" in written
    assert f"TemplateSalesbots = {{ boas_vindas = {template_bot} }}" in written
