"""template.yaml as deployed: least privilege (no "*" resource, each secret only where it is needed),
capped consumers, queues timed for their consumers, throttled public routes, kept logs, protected
tables, safe parameters."""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

import pytest

from local.stack import load_template
from sales_assistant.adapters.retry import MAX_GROUPS_AT_ONCE, RECORD_WORST_CASE_SECONDS, receives_for, retry_delay

SECRET_VARIABLES = ("WEBHOOK_SECRET_ARN", "API_SECRET_ARN", "N8N_API_SECRET_ARN", "N8N_SECRET_ARN", "KOMMO_SECRET_ARN")
BEARER = {"API_SECRET_ARN", "N8N_API_SECRET_ARN"}  # bearer routes know both tokens: the other scope's is a 403
# The only policies granting "*": AWS managed policies SAM attaches to every role it generates.
# Basic execution: logs:CreateLogGroup/CreateLogStream/PutLogEvents (the groups themselves are declared here);
# X-Ray write-only: X-Ray's PutTraceSegments and sampling calls have no resource-level permissions.
# (No cloudwatch:PutMetricData anywhere: metrics go out as EMF log lines.)
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
SECRETS_OF = {  # function -> the secrets its handler requires at cold start, and nothing more
    "WebhookIntakeFunction": {"WEBHOOK_SECRET_ARN"},
    "OpsApiFunction": BEARER,  # the details of /health
    "ConversationWorkerFunction": {"N8N_SECRET_ARN", "KOMMO_SECRET_ARN"},
    "BotCommandsFunction": BEARER | {"KOMMO_SECRET_ARN"},
    "VendorSyncFunction": BEARER | {"N8N_SECRET_ARN", "KOMMO_SECRET_ARN"},  # the salesperson list to n8n
    "ProactiveTriggerFunction": BEARER | {"N8N_SECRET_ARN", "KOMMO_SECRET_ARN"},
    "CanaryFunction": {"N8N_SECRET_ARN", "KOMMO_SECRET_ARN"},
    "SchedulingFunction": BEARER | {"N8N_SECRET_ARN", "KOMMO_SECRET_ARN"},
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    """The template after the SAM transform (roles, policy templates expanded), as CloudFormation gets it."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = load_template()
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"
    return dict(transform(template, {}, NoManagedPolicies()))  # the region comes from AWS_DEFAULT_REGION


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def test_no_policy_statement_grants_every_resource(deployed: dict[str, Any]) -> None:
    for role_id, role in resources_of(deployed, "AWS::IAM::Role").items():
        assert set(role["Properties"].get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED_POLICIES, role_id
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                assert "*" not in resources, (role_id, policy["PolicyName"], statement["Action"])


def test_each_function_holds_only_the_secrets_it_needs(template: dict[str, Any]) -> None:
    assert not set(SECRET_VARIABLES) & set(template["Globals"]["Function"]["Environment"]["Variables"])
    for function_id, expected in SECRETS_OF.items():
        function = template["Resources"][function_id]["Properties"]
        variables = function.get("Environment", {}).get("Variables", {})
        assert {name for name in variables if name in SECRET_VARIABLES} == expected, function_id
        readable = [
            policy["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"]
            for policy in function["Policies"]
            if "AWSSecretsManagerGetSecretValuePolicy" in policy
        ]
        assert sorted(map(str, readable)) == sorted(str(variables[name]) for name in expected), function_id
        assert not any("secretsmanager" in str(policy.get("Statement", "")) for policy in function["Policies"])


@pytest.mark.parametrize("function_id", sorted(SECRETS_OF))
def test_each_handler_starts_with_only_its_own_environment(stack: Any, function_id: str) -> None:
    """The cold start requires exactly what the template gives: one secret less and it fails, naming it."""
    from sales_assistant.config import SettingsError, reset_settings

    function = next(function for function in stack.functions() if function.logical_id == function_id)
    module = importlib.import_module(f"{'.'.join(function.code_uri.strip('/').split('/'))}.app")
    own = stack.environment(function_id)
    with pytest.MonkeyPatch.context() as patch:
        for name in SECRET_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("STAGE", "local")
        for name, value in own.items():
            patch.setenv(name, value)
        reset_settings()
        importlib.reload(module)
        for name in SECRETS_OF[function_id]:
            patch.delenv(name)
            reset_settings()
            with pytest.raises(SettingsError, match="required by this function"):
                importlib.reload(module)
            patch.setenv(name, own[name])
    reset_settings()
    importlib.reload(module)


def test_consumers_are_capped_and_sized_for_the_kommo_budget(template: dict[str, Any]) -> None:
    mappings = resources_of(template, "AWS::Lambda::EventSourceMapping")
    functions = template["Resources"]
    parameters = template["Parameters"]
    assert {mapping["Properties"]["FunctionName"]["Ref"] for mapping in mappings.values()} == {
        "ConversationWorkerFunction",
        "BotCommandsFunction",
        "ProactiveTriggerFunction",
        "SchedulingFunction",
    }
    for mapping in mappings.values():
        properties = mapping["Properties"]
        cap = parameters[properties["ScalingConfig"]["MaximumConcurrency"]["Ref"]]
        assert 2 <= cap["Default"] <= 5
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        function = functions[properties["FunctionName"]["Ref"]]["Properties"]
        queue = functions[properties["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
        # a batch's groups are handled at once (adapters/retry.py): a group's first record always starts, so the
        # timeout covers a worst-case record; a FIFO batch's next record of a group starts while one more fits
        assert properties["BatchSize"] <= MAX_GROUPS_AT_ONCE
        # the receive limit comes from the outage budget (test below), the same for every consumed queue
        assert queue["RedrivePolicy"]["maxReceiveCount"] == RECEIVES_FROM_THE_BUDGET
        several_of_a_group = properties["BatchSize"] > 1 and queue.get("FifoQueue", False)
        assert function["Timeout"] >= (2 if several_of_a_group else 1) * RECORD_WORST_CASE_SECONDS
        on_its_queue = [  # a failed record's short retry delay, an untouched one given back at once
            statement["Action"]
            for policy in function["Policies"]
            for statement in policy.get("Statement", [])
            if statement["Resource"] == properties["EventSourceArn"]
        ]
        assert any("sqs:ChangeMessageVisibility" in actions for actions in on_its_queue), properties["FunctionName"]
    assert not any(
        event["Type"] == "SQS"
        for function in resources_of(template, "AWS::Serverless::Function").values()
        for event in function["Properties"].get("Events", {}).values()
    )


def test_tracing_keeps_personal_data_out_and_logs_expire(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert variables["POWERTOOLS_TRACER_CAPTURE_ERROR"] == "false"
    groups = {
        group["Properties"]["LogGroupName"]["Fn::Sub"]: group["Properties"]
        for group in resources_of(template, "AWS::Logs::LogGroup").values()
    }
    for function_id in resources_of(template, "AWS::Serverless::Function"):
        assert groups[f"/aws/lambda/${{{function_id}}}"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_access_logs_name_the_route_never_the_path_or_body(template: dict[str, Any]) -> None:
    settings = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]
    fields = set(re.findall(r"\$context\.[\w.]+", settings["Format"]))
    assert "$context.routeKey" in fields
    assert not fields & {"$context.path", "$context.http.path", "$context.requestBody"}
    logs = template["Resources"][settings["DestinationArn"]["Fn::GetAtt"][0]]["Properties"]
    assert logs["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_tables_with_state_are_protected_in_prod(template: dict[str, Any]) -> None:
    in_prod = {"Fn::If": ["IsProd", True, False]}
    for table_id, table in resources_of(template, "AWS::DynamoDB::Table").items():
        properties = table["Properties"]
        assert properties["DeletionProtectionEnabled"] == in_prod, table_id
        if table_id != "IdempotencyTable":  # records of days: see the template
            assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": in_prod}, table_id


def test_parameters_refuse_plain_http_and_prod_without_account(template: dict[str, Any]) -> None:
    pattern = re.compile(template["Parameters"]["N8nBaseUrl"]["AllowedPattern"])
    assert pattern.match("https://n8n.example.com") and not pattern.match("http://n8n.example.com")
    assert template["Parameters"]["Stage"]["AllowedValues"] == ["dev", "prod"]
    rule = template["Rules"]["ProdKnowsItsKommoAccount"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert rule["Assertions"][0]["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "KommoAccountId"}, ""]}]}


def test_intake_parks_entities_and_an_alarm_watches_them(template: dict[str, Any]) -> None:
    statements = [
        statement
        for policy in template["Resources"]["WebhookIntakeFunction"]["Properties"]["Policies"]
        for statement in policy.get("Statement", [])
    ]
    put = next(statement for statement in statements if statement["Action"] == "dynamodb:PutItem")
    assert put["Resource"] == {"Fn::GetAtt": ["KommoTable", "Arn"]}
    assert "parked#*" in put["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    alarm = template["Resources"]["WebhookEntitiesParkedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == (
        "KommoSalesAssistant",
        "WebhookEntitiesParked",
        "Sum",
        300,
        1,
    )
    assert alarm["Dimensions"] == [{"Name": "service", "Value": {"Fn::Sub": "kommo-sales-assistant-${Stage}"}}]


def test_new_settings_reach_every_function(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["AUTOMATION_AUTHORS"] == {"Ref": "AutomationAuthors"}
    assert variables["UNATTRIBUTED_OUTGOING"] == {"Ref": "UnattributedOutgoing"}
    assert template["Parameters"]["UnattributedOutgoing"]["AllowedValues"] == ["pause", "ignore"]
    assert "SECRETS_ARN" not in variables and "SecretsArn" not in template["Parameters"]
    assert os.environ.get("SECRETS_ARN") is None


def consumed_queues(template: dict[str, Any]) -> list[tuple[str, int, str, int]]:
    """(function, its timeout, queue, its visibility timeout) of every SQS event source."""
    resources = template["Resources"]
    timeout_default = template["Globals"]["Function"]["Timeout"]
    rows = []
    for resource in resources_of(template, "AWS::Lambda::EventSourceMapping").values():
        properties = resource["Properties"]
        function = properties["FunctionName"]["Ref"]
        queue = properties["EventSourceArn"]["Fn::GetAtt"][0]
        timeout = resources[function]["Properties"].get("Timeout", timeout_default)
        visibility = resources[queue]["Properties"].get("VisibilityTimeout", 30)
        rows.append((function, timeout, queue, visibility))
    return rows


def test_every_consumed_queue_has_a_visibility_timeout_of_six_function_timeouts(template: dict[str, Any]) -> None:
    """AWS's guidance for SQS event sources: visibility >= 6 x the function timeout, so a throttled or
    retried invocation never sees its batch redelivered to a second invocation while it still runs."""
    short = [row for row in consumed_queues(template) if row[3] < 6 * row[1]]
    assert short == [], short


def test_redrive_stays_idempotent_for_as_long_as_a_dlq_keeps_messages(template: dict[str, Any]) -> None:
    """The runbook says a redriven message never answers, notes or books twice; the idempotency and
    delivery records that guarantee it live DEDUP_TTL_SECONDS, at least as long as a message can wait
    for its redrive: in its queue, then in its DLQ (moving it there restarts a FIFO message's clock)."""
    from sales_assistant.config import REDRIVE_WINDOW_SECONDS, Settings

    dedup = Settings.model_fields["dedup_ttl_seconds"].default
    queues = resources_of(template, "AWS::SQS::Queue")
    retention = max(
        queue["Properties"].get("MessageRetentionPeriod", 345600)
        for name, queue in queues.items()
        if name.endswith("DLQ")
    )
    assert dedup >= retention, f"dedup records live {dedup / 86400:g} d, DLQ messages {retention / 86400:g} d"
    queued = max(
        queue["Properties"].get("MessageRetentionPeriod", 345600)
        for name, queue in queues.items()
        if not name.endswith("DLQ")
    )
    assert queued + retention <= REDRIVE_WINDOW_SECONDS <= dedup


def test_a_flood_on_a_public_route_is_turned_away_before_any_function_runs(template: dict[str, Any]) -> None:
    """Every route is throttled by the HTTP API (429 before a Lambda runs), the webhook route with its own
    limits: a flood on the webhook URL cannot take the account's Lambda concurrency from the queue workers."""
    parameters = template["Parameters"]
    default = template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert default == {"ThrottlingBurstLimit": {"Ref": "ApiBurstLimit"}, "ThrottlingRateLimit": {"Ref": "ApiRateLimit"}}
    webhook = template["Resources"]["WebhookIntakeFunction"]["Properties"]["Events"]["KommoWebhook"]["Properties"]
    assert webhook["RouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "WebhookBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "WebhookRateLimit"},
    }
    for rate, burst in (("ApiRateLimit", "ApiBurstLimit"), ("WebhookRateLimit", "WebhookBurstLimit")):
        assert 1 <= parameters[rate]["Default"] <= 100 and parameters[rate]["Default"] <= parameters[burst]["Default"]


def test_the_stage_throttles_the_webhook_route_by_its_own_limits(deployed: dict[str, Any]) -> None:
    [stage] = resources_of(deployed, "AWS::ApiGatewayV2::Stage").values()
    route = stage["Properties"]["RouteSettings"]["POST /webhooks/kommo/{token}"]
    assert route == {
        "ThrottlingBurstLimit": {"Ref": "WebhookBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "WebhookRateLimit"},
    }


def intake_idempotency_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template["Resources"]["WebhookIntakeFunction"]["Properties"]["Policies"]
        for statement in policy.get("Statement", [])
        if statement["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}
    ]


def test_the_internet_facing_intake_makes_only_item_calls_on_its_own_dedup_records(template: dict[str, Any]) -> None:
    """No Scan, no batch write, no policy template granting them: Powertools Idempotency's item calls
    (a failed enqueue deletes its record, so Kommo's retry enqueues it), on its records' keys only."""
    policies = template["Resources"]["WebhookIntakeFunction"]["Properties"]["Policies"]
    assert not any("DynamoDBCrudPolicy" in policy or "DynamoDBWritePolicy" in policy for policy in policies)
    [statement] = intake_idempotency_statements(template)
    assert sorted(statement["Action"]) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    assert statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]


def test_the_intakes_dedup_records_are_on_the_keys_its_role_allows(aws: Any, template: dict[str, Any]) -> None:
    """The key Powertools builds (function name, the decorated function's path, a hash) must match the
    role's condition, or every webhook would fail in AWS while moto, which ignores IAM, passes."""
    import fnmatch

    import boto3

    from local.lambda_events import LambdaContext
    from local.sam_events import kommo_body, webhook_event
    from tests.conftest import handler_of

    response = handler_of(aws, "WebhookIntakeFunction")(
        webhook_event(kommo_body("client-message")), LambdaContext(function_name="WebhookIntakeFunction")
    )
    assert response["statusCode"] == 200, response["body"]
    keys = [item["id"] for item in boto3.resource("dynamodb").Table(aws.names["IdempotencyTable"]).scan()["Items"]]
    [statement] = intake_idempotency_statements(template)
    patterns = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert keys and all(any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns) for key in keys), keys
    assert not any(fnmatch.fnmatchcase("delivery#lead:1:reply", pattern) for pattern in patterns)


RECEIVES_FROM_THE_BUDGET = {"Fn::FindInMap": ["OutageBudget", {"Ref": "OutageBudgetMinutes"}, "MaxReceives"]}


def test_every_queues_receive_limit_outlasts_the_outage_budget_it_is_derived_from() -> None:
    """One setting, OutageBudgetMinutes: for each value it may take, the mapping's receive limit is the
    one whose retry delays add up to at least the budget (and one fewer would not)."""
    template = load_template()
    budgets = template["Parameters"]["OutageBudgetMinutes"]["AllowedValues"]
    assert "60" in budgets and template["Parameters"]["OutageBudgetMinutes"]["Default"] == "60"
    for budget in budgets:
        receives = template["Mappings"]["OutageBudget"][budget]["MaxReceives"]
        assert receives == receives_for(int(budget))
        waited = sum(retry_delay(count) for count in range(1, receives))
        assert waited >= int(budget) * 60 > waited - retry_delay(receives - 1)
    assert template["Globals"]["Function"]["Environment"]["Variables"]["OUTAGE_BUDGET_MINUTES"] == {
        "Ref": "OutageBudgetMinutes"
    }
