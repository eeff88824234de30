"""The embedded defaults of the local run and the tests: secrets, template parameters, the stack on moto."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from local.kommo_seed import (
    ACCOUNT_ID,
    AREA_FIELD_ID,
    CREDIT_FIELD_ID,
    PIPELINE_ID,
    SUBDOMAIN,
    TEMPLATE_NAME_FIELD_ID,
    WEBHOOK_BASE_URL,
)
from local.stack import ROOT, Stack, load_template, parameter_defaults

LOCAL_SECRETS = {
    "WEBHOOK_TOKEN": "local-webhook-token-0123456789",
    "API_TOKEN": "local-api-token-0123456789",  # the operator token
    "N8N_API_TOKEN": "local-n8n-api-token-0123456789",  # the n8n token
    "N8N_SIGNING_SECRET": "local-n8n-signing-secret-0123456789",
    "KOMMO_LONG_LIVED_TOKEN": "local-long-lived-token",
}
KOMMO_SECRET_KEYS = ("KOMMO_LONG_LIVED_TOKEN",)  # the secret the operator creates; the stack makes the others
SANDBOX_ACCOUNT = {  # the Kommo account the sandbox plays, reached with the local long-lived token
    "KommoSubdomain": SUBDOMAIN,
    "KommoAccountId": str(ACCOUNT_ID),
    "KommoClientId": "",
    "KommoRedirectUri": "",
    "WebhookBaseUrl": WEBHOOK_BASE_URL,  # where the sandbox's seeded webhook points (the canary checks it)
}
LOCAL_PARAMETERS = {
    "Stage": "local",  # not deployable: allows the http:// n8n stand-in and Kommo sandbox
    **SANDBOX_ACCOUNT,
    "KommoSalesbotId": "101",
    "KommoReplyFieldId": "900001",
    "N8nBaseUrl": "http://127.0.0.1:5678",
    "KommoTemplateSalesbotId": "102",
    "TemplateFields": json.dumps({"nome": TEMPLATE_NAME_FIELD_ID}),
    "LeadAreaFieldId": str(AREA_FIELD_ID),
    "TriggerRules": json.dumps([{"kind": "form", "pipeline_id": PIPELINE_ID}]),
    "AssistantStatusIds": "61234568",  # the status n8n's move_status may set locally (the sample events' next one)
}
"""The template parameters of the local run and the tests; `make run` puts a configuration file and the
environment over them (local/deployment_config.py)."""
LOCAL_RUN_PARAMETERS = {
    **LOCAL_PARAMETERS,
    "QualificationFields": json.dumps({"valor_credito": CREDIT_FIELD_ID}),
    "FollowUpOffsets": json.dumps({"default": ["20s", "1d", "3d"]}),
}
"""`make run`'s own, over LOCAL_PARAMETERS: n8n may fill the lead's credit value, and the first follow-up is due
20 s after an unanswered assistant message (`make demo` shows both; follow-ups go out when the sweep runs:
`POST /_local/schedules/ProactiveTriggerFunction`)."""
EXAMPLE_SETTINGS = {
    "STAGE": "local",
    "KOMMO_SUBDOMAIN": "vendasdemo",
    "KOMMO_LONG_LIVED_TOKEN": "token",
    "KOMMO_SALESBOT_ID": "101",
    "KOMMO_REPLY_FIELD_ID": "900001",
    "N8N_BASE_URL": "https://n8n.example.com",
    "N8N_SIGNING_SECRET": "s" * 32,
    "WEBHOOK_TOKEN": "w" * 32,
    "API_TOKEN": "a" * 32,
    "N8N_API_TOKEN": "n" * 32,
    "IDEMPOTENCY_TABLE": "idem",
    "KOMMO_TABLE": "kommo",
    "CONVERSATIONS_TABLE": "conversations",
    "BOT_STATE_TABLE": "bot-state",
    "VENDORS_TABLE": "vendors",
    "CONVERSATIONS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/conversations",
    "COMMANDS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/commands.fifo",
    "LEAD_EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/lead-events.fifo",
}
"""A complete, valid set of settings with placeholder values (settings tests, cold-start benchmark)."""
PSEUDO_PARAMETERS = {"AWS::StackName": "kommo-sales-assistant-local", "AWS::Region": "us-east-1"}
SALESPERSON_PROFILES = ROOT / "config" / "vendor-profiles.json"
AWS_ENVIRONMENT = {  # every local run, test and benchmark process starts with it
    "STAGE": "local",  # a process without STAGE refuses to start (config.py): the local stage is always said
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def create_local_stack(session: Any, parameters: Mapping[str, str] = LOCAL_PARAMETERS) -> Stack:
    """Create the template's tables, queues and secrets, and the Kommo secret, on the AWS that `session`
    (boto3) reaches, with these template parameters over the template's defaults."""
    stack = Stack(load_template(), parameters={})
    secrets = session.client("secretsmanager")
    kommo_secret = secrets.create_secret(
        Name="kommo-sales-assistant-local/kommo",
        SecretString=json.dumps({key: LOCAL_SECRETS[key] for key in KOMMO_SECRET_KEYS}),
    )
    stack.parameters = {
        **parameter_defaults(stack.template),
        **parameters,
        **PSEUDO_PARAMETERS,
        "KommoSecretArn": kommo_secret["ARN"],
    }
    stack.create_resources(
        session.client("dynamodb"), session.client("sqs"), session.client("scheduler"), session.client("kms")
    )
    stack.create_secrets(secrets, LOCAL_SECRETS)
    session.client("ssm").put_parameter(
        Name=stack.environment()["VENDOR_PROFILES_PARAMETER"],
        Type="String",
        Value=local_salesperson_profiles(),
        Overwrite=True,
    )
    kill_switch = stack.resources["KillSwitchParameter"]["Properties"]["Value"]
    session.client("ssm").put_parameter(
        Name=stack.environment()["KILL_SWITCH_PARAMETER"], Type="String", Value=kill_switch, Overwrite=True
    )
    return stack


def local_salesperson_profiles() -> str:
    """config/vendor-profiles.json with every salesperson at work all day, so that a first message tried
    locally goes out at any hour (deferral to the real hours is shown by the tests)."""
    profiles = json.loads(SALESPERSON_PROFILES.read_text())
    for profile in profiles["vendors"].values():
        profile["working_hours"] = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    return json.dumps(profiles)
