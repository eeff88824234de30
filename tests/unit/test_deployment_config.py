"""A deployment's configuration file (config/<stage>.toml): one file gives the stack its parameters and the
functions their settings, `make run` puts it over its defaults with the environment over both, `sam deploy`
reads the same values back, and events/env.json holds each function's settings from it. A wrong key or
value is refused naming the key and the file it came from."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from local.deployment_config import (
    ConfigError,
    load_deployment,
    local_run_deployment,
    variable_parameters,
)
from local.sam_events import env_vars_deployment
from local.stack import ROOT, load_template

EXAMPLE = ROOT / "config" / "example.toml"
TEAM = """
Stage = "prod"
KommoSubdomain = "minhaempresa"
KommoAccountId = 30123456
KommoSecretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kommo-AbCdEf"
KommoSalesbotId = 4512
KommoReplyFieldId = 1234501
N8nBaseUrl = "https://n8n.minhaempresa.com.br"
KommoTemplateSalesbotId = 4513
TemplateFields = { nome = 1234502 }
TriggerRules = [{ kind = "form", pipeline_id = 7001234 }]
AssistantStatusIds = [7001235, 7001236]
AutomationAuthors = ["Salesbot Boas-vindas", "Integração site"]
"""


def a_file(tmp_path: Path, text: str, name: str = "prod.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(load: Callable[[], object]) -> str:
    """What a refused configuration says."""
    with pytest.raises(ConfigError) as refused:
        load()
    return str(refused.value)


# ---------------------------------------------------------------------- the file
def test_the_example_is_a_complete_deployment_whose_every_key_is_a_template_parameter() -> None:
    parameters = load_template()["Parameters"]
    keys = re.findall(r"^#? ?([A-Z]\w*) +=", EXAMPLE.read_text(), flags=re.MULTILINE)  # commented ones too
    assert len(keys) > 30
    assert [key for key in keys if key not in parameters] == []

    deployment = load_deployment(EXAMPLE)
    assert deployment.sources["KommoSalesbotId"] == "config/example.toml"
    assert deployment.environment("ConversationWorkerFunction")["KOMMO_SALESBOT_ID"] == "4512"


def test_a_team_file_becomes_each_setting_the_functions_read(tmp_path: Path) -> None:
    deployment = load_deployment(a_file(tmp_path, TEAM))
    settings = deployment.settings()

    assert (settings.stage, settings.kommo_subdomain, settings.kommo_account_id) == ("prod", "minhaempresa", 30123456)
    assert (settings.kommo_salesbot_id, settings.kommo_reply_field_id) == (4512, 1234501)
    assert settings.template_fields == {"nome": 1234502} and settings.kommo_template_salesbot_id == 4513
    assert [(rule.kind, rule.pipeline_id) for rule in settings.trigger_rules] == [("form", 7001234)]
    assert settings.assistant_status_ids == {7001235, 7001236}
    assert settings.automation_authors == "Salesbot Boas-vindas,Integração site"
    assert settings.hold_minutes == 5  # not in the file: the template's default
    assert deployment.sources["HoldMinutes"] == "template.yaml's default"


def test_the_same_table_names_each_settings_parameter_for_the_stack_and_the_functions() -> None:
    table = variable_parameters(load_template())
    assert table["KOMMO_SALESBOT_ID"] == "KommoSalesbotId"
    assert table["CONVERSATION_TTL_DAYS"] == "ConversationRetentionDays"
    assert table["LEAD_APPOINTMENTS_MAX"] == "LeadAppointmentsMax"  # a function's own variable
    assert "IDEMPOTENCY_TABLE" not in table  # a resource, not a parameter


def test_a_misspelt_key_a_setting_name_and_a_secret_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = a_file(tmp_path, TEAM + 'KommoSalesbotID = 1\nKOMMO_REPLY_FIELD_ID = 2\nKOMMO_LONG_LIVED_TOKEN = "x"\n')
    said = refusal(lambda: load_deployment(path))
    assert f"{path}: KommoSalesbotID is not a parameter of template.yaml; did you mean KommoSalesbotId?" in said
    assert f"{path}: KOMMO_REPLY_FIELD_ID: write it as KommoReplyFieldId" in said
    assert f"{path}: KOMMO_LONG_LIVED_TOKEN is a secret" in said


def test_a_file_that_is_not_toml_is_refused_naming_it(tmp_path: Path) -> None:
    path = a_file(tmp_path, "KommoSalesbotId = \n")
    assert f"{path}: not valid TOML" in refusal(lambda: load_deployment(path))


@pytest.mark.parametrize(
    "key, value, said",
    [
        ("TriggerRules", '[{ kind = "newsletter" }]', "TRIGGER_RULES: "),  # the functions' own check
        ("TemplateFields", '{ nome = "campo" }', "TEMPLATE_FIELDS: "),
        ("KommoAccountId", "''", "KOMMO_ACCOUNT_ID is required in prod"),
        ("N8nBaseUrl", '"http://n8n.minhaempresa.com.br"', "must match ^https://"),  # CloudFormation's
        ("KommoSalesbotId", "0", "must be from 1"),
        ("Stage", '"staging"', "must be one of dev, prod"),
    ],
)
def test_a_value_the_stack_or_the_functions_would_refuse_is_named_with_its_file(
    tmp_path: Path, key: str, value: str, said: str
) -> None:
    text = "\n".join(line for line in TEAM.splitlines() if not line.startswith(f"{key} ")) + f"\n{key} = {value}\n"
    path = a_file(tmp_path, text)
    refused = refusal(lambda: load_deployment(path))  # names the value as the stack takes it
    assert re.search(rf"{key} = '[^\n]*' \(from {re.escape(str(path))}\): [^\n]*{re.escape(said)}", refused), refused


def test_a_deployment_without_its_stage_or_the_kommo_secret_is_refused(tmp_path: Path) -> None:
    text = "\n".join(line for line in TEAM.splitlines() if not line.startswith(("Stage", "KommoSecretArn")))
    path = a_file(tmp_path, text)
    said = refusal(lambda: load_deployment(path))
    assert f"{path}: Stage is required: one of dev, prod" in said
    assert f"{path}: KommoSecretArn is required: Secrets Manager secret" in said


# ---------------------------------------------------------------------- the deploy
def test_sam_deploy_reads_the_parameter_overrides_back_as_the_file_says(tmp_path: Path) -> None:
    from samcli.cli.types import CfnParameterOverridesType

    texts = {"fallback_reply": 'Um instante: o "consultor" \\ já responde.', "unreadable_reply": "Pode escrever?"}
    bot_texts = "BotTexts = { " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in texts.items()) + " }"
    deployment = load_deployment(a_file(tmp_path, f"{TEAM}{bot_texts}\n"))

    read_back = CfnParameterOverridesType().convert((deployment.parameter_overrides(),), None, None)

    assert read_back == deployment.parameters
    assert json.loads(read_back["BotTexts"]) == texts
    assert read_back["AutomationAuthors"] == "Salesbot Boas-vindas,Integração site"
    assert read_back["HoldMinutes"] == "5"  # left out of the file: the default, not the stack's previous value
    assert set(read_back) == set(load_template()["Parameters"])


# ---------------------------------------------------------------------- make run
def test_the_local_run_takes_the_file_over_its_defaults_and_the_environment_over_the_file(tmp_path: Path) -> None:
    path = a_file(tmp_path, "KommoSalesbotId = 555\nKommoReplyFieldId = 888\nKommoSubdomain = 'minhaempresa'\n")

    deployment = local_run_deployment(path, {"KOMMO_REPLY_FIELD_ID": "777"}, kommo_sandbox=False)

    settings = deployment.settings()
    assert (settings.kommo_salesbot_id, settings.kommo_reply_field_id) == (555, 777)
    assert settings.kommo_subdomain == "minhaempresa" and settings.stage == "local"
    assert settings.kommo_template_salesbot_id == 102  # not in the file: the embedded default
    assert deployment.sources["KommoSalesbotId"] == str(path)
    assert deployment.sources["KommoReplyFieldId"] == "the environment variable KOMMO_REPLY_FIELD_ID"
    assert deployment.sources["KommoTemplateSalesbotId"] == "the local run's defaults"


def test_with_the_kommo_sandbox_the_account_is_the_sandboxs_whatever_the_file_says(tmp_path: Path) -> None:
    path = a_file(tmp_path, TEAM)

    settings = local_run_deployment(path, {}, kommo_sandbox=True).settings()

    assert (settings.kommo_subdomain, settings.kommo_account_id) == ("vendasdemo", 31257294)  # its webhooks pass
    assert settings.kommo_salesbot_id == 4512 and settings.stage == "local"


def test_a_wrong_environment_variable_is_named_as_such(tmp_path: Path) -> None:
    said = refusal(lambda: local_run_deployment(None, {"KOMMO_SALESBOT_ID": "cento e um"}, kommo_sandbox=True))
    assert "KommoSalesbotId = 'cento e um' (from the environment variable KOMMO_SALESBOT_ID)" in said


# ---------------------------------------------------------------------- sam local invoke
def test_env_json_gives_each_function_its_own_settings_from_the_deployments_file(tmp_path: Path) -> None:
    path = a_file(tmp_path, TEAM)

    deployment = env_vars_deployment({"CONFIG": str(path)})
    environments = deployment.environments()

    template = load_template()
    functions = [key for key, value in template["Resources"].items() if value["Type"] == "AWS::Serverless::Function"]
    assert sorted(environments) == sorted(functions)
    scheduling, intake = environments["SchedulingFunction"], environments["WebhookIntakeFunction"]
    assert scheduling["KOMMO_SALESBOT_ID"] == intake["KOMMO_SALESBOT_ID"] == "4512"
    assert scheduling["REMINDER_MINUTES_BEFORE"] == "1440,60" and "REMINDER_MINUTES_BEFORE" not in intake
    assert intake["VENDOR_PROFILES_PARAMETER"] == "/kommo-sales-assistant-prod/vendor-profiles"  # samconfig's stack
    assert "IDEMPOTENCY_TABLE" not in intake  # the deployed stack's resources, not the file's


def test_env_json_without_a_file_holds_the_local_runs_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("local.deployment_config.LOCAL_CONFIG", tmp_path / "local.toml")  # none here

    deployment = env_vars_deployment({})

    assert deployment.sources["KommoSalesbotId"] == "the local run's defaults"
    assert deployment.environment("ConversationWorkerFunction")["KOMMO_SALESBOT_ID"] == "101"
