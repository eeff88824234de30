"""Shared fixtures: one moto AWS for the session (the template's tables and queues), emptied per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from local.caches import reset_caches
from local.defaults import AWS_ENVIRONMENT, LOCAL_SECRETS

os.environ.update(AWS_ENVIRONMENT)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "KommoSalesAssistantTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "kommo-sales-assistant")

WEBHOOK_TOKEN = LOCAL_SECRETS["WEBHOOK_TOKEN"]
API_TOKEN = LOCAL_SECRETS["API_TOKEN"]  # the operator token
N8N_API_TOKEN = LOCAL_SECRETS["N8N_API_TOKEN"]  # the n8n token


@pytest.fixture(scope="session")
def stack() -> Iterator[Any]:
    """The template's resources on moto, with the function environment exported (session-wide)."""
    import boto3
    from moto import mock_aws

    from local.defaults import create_local_stack

    with mock_aws():
        created = create_local_stack(boto3.session.Session())
        environment = created.environment()
        environment.update({"KOMMO_BASE_URL": "http://127.0.0.1:9", "N8N_BASE_URL": "http://127.0.0.1:9"})
        os.environ.update(environment)
        reset_caches()
        yield created


@pytest.fixture
def aws(stack: Any) -> Iterator[Any]:
    """Empty tables, queues and schedule groups for one test."""
    import boto3

    dynamodb = boto3.resource("dynamodb")
    for logical_id, resource in stack.resources.items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            table = dynamodb.Table(stack.names[logical_id])
            keys = [key["AttributeName"] for key in table.key_schema]
            with table.batch_writer() as batch:
                for item in table.scan(
                    ProjectionExpression=", ".join(f"#{i}" for i in range(len(keys))),
                    ExpressionAttributeNames={f"#{i}": key for i, key in enumerate(keys)},
                )["Items"]:
                    batch.delete_item(Key=item)
        elif resource["Type"] == "AWS::SQS::Queue":
            queue_messages(stack, logical_id)
        elif resource["Type"] == "AWS::Scheduler::ScheduleGroup":
            scheduler, group = boto3.client("scheduler"), stack.names[logical_id]
            for schedule in scheduler.list_schedules(GroupName=group)["Schedules"]:
                scheduler.delete_schedule(Name=schedule["Name"], GroupName=group)
    kill_switch = stack.resources["KillSwitchParameter"]["Properties"]
    boto3.client("ssm").put_parameter(
        Name=stack.environment()["KILL_SWITCH_PARAMETER"], Type="String", Value=kill_switch["Value"], Overwrite=True
    )
    reset_caches()
    yield stack


def handler_of(stack: Any, function_id: str) -> Any:
    """The Lambda handler of a template function, imported as Lambda would."""
    function = next(function for function in stack.functions() if function.logical_id == function_id)
    return function.load_handler()


def queue_messages(stack: Any, queue_id: str) -> list[dict[str, Any]]:
    """Take (receive and delete) every visible message of a queue."""
    import boto3

    sqs = boto3.client("sqs")
    url = stack.physical_ids[queue_id]
    taken: list[Any] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages"):
        taken.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return taken


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    from local.kommo_sandbox import KommoSandbox

    server = KommoSandbox().start()
    yield server
    server.stop()


@pytest.fixture
def kommo_sandbox(sandbox_server: Any) -> Any:
    """The Kommo sandbox, back to its seeded account."""
    sandbox_server.reset()
    return sandbox_server


@pytest.fixture(scope="session")
def n8n_server() -> Iterator[Any]:
    from local.n8n_standin import N8nStandIn

    server = N8nStandIn(secret=LOCAL_SECRETS["N8N_SIGNING_SECRET"]).start()
    yield server
    server.stop()


@pytest.fixture
def n8n_standin(n8n_server: Any) -> Any:
    """The n8n stand-in, with no forced answers."""
    n8n_server.reset()
    return n8n_server


class World:
    """The whole service on moto, with the Kommo sandbox and the n8n stand-in: post webhooks, pump
    the queues through the consumers, and look at what Kommo and n8n saw."""

    def __init__(self, stack: Any, kommo: Any, n8n: Any) -> None:
        import boto3

        from local.lambda_events import LambdaContext

        self.stack, self.kommo, self.n8n = stack, kommo, n8n
        self.sqs = boto3.client("sqs")
        self._context = LambdaContext

    def handler(self, function_id: str) -> Any:
        handler = handler_of(self.stack, function_id)
        return lambda event: handler(event, self._context(function_name=function_id))

    def post_webhook(self, body: str) -> dict[str, Any]:
        import json

        from local.sam_events import webhook_event

        response = self.handler("WebhookIntakeFunction")(webhook_event(body))
        assert response["statusCode"] == 200, response["body"]
        return dict(json.loads(response["body"]))

    def api(
        self,
        function_id: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str = API_TOKEN,
        query: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One bearer request to a function's route, as API Gateway sends it (`body` as JSON, or a raw
        string); the status and the JSON answer."""
        import json

        from local.lambda_events import http_api_event

        event = http_api_event(
            method,
            path,
            query=query or None,
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            body=body if body is None or isinstance(body, str) else json.dumps(body),
        )
        response = self.handler(function_id)(event)
        return response["statusCode"], json.loads(response["body"])

    def pump(self, rounds: int = 10) -> None:
        """Deliver every queued message to its consumer until all queues are quiet."""
        for _ in range(rounds):
            delivered = self.pump_queue("LeadEventsQueue", "ProactiveTriggerFunction")
            delivered += self.pump_queue("ConversationsQueue", "ConversationWorkerFunction")
            delivered += self.pump_queue("CommandsQueue", "BotCommandsFunction")
            delivered += self.pump_queue("SchedulingQueue", "SchedulingFunction")
            if not delivered:
                return

    def pump_commands(self) -> None:
        """Deliver the salesperson messages waiting on the commands queue."""
        self.pump_queue("CommandsQueue", "BotCommandsFunction")

    def pump_client_messages(self) -> None:
        """Deliver only the client messages waiting on the conversations queue (their flush jobs stay)."""
        self.pump_queue("ConversationsQueue", "ConversationWorkerFunction", kind="client_message", once=True)

    def pump_queue(self, queue_id: str, function_id: str, *, kind: str | None = None, once: bool = False) -> int:
        """Deliver what waits on one queue (failures come back at once); returns how many were delivered."""
        from local.sqs_pump import deliver_batch, receive

        url, arn = self.stack.physical_ids[queue_id], self.stack.arns[queue_id]
        delivered = 0
        while messages := receive(self.sqs, url):
            assert kind is None or all(f'"{kind}"' in message["Body"] for message in messages)
            deliver_batch(self.sqs, self.handler(function_id), url, arn, messages, retry_after_seconds=0)
            delivered += len(messages)
            if once:
                break
        return delivered

    def conversation(self, conversation_id: str = "lead:27754599") -> Any:
        from sales_assistant.composition import conversation_repository
        from sales_assistant.config import get_settings

        return conversation_repository(get_settings()).get(conversation_id)

    def bot_state(self, contact_id: int = 93589657) -> Any:
        from sales_assistant.composition import takeover_service
        from sales_assistant.config import get_settings

        return takeover_service(get_settings()).state(contact_id)

    def reply_field(self, lead_id: int = 27754599) -> str:
        fields = self.kommo.leads[lead_id].get("custom_fields_values") or []
        return next((f["values"][0]["value"] for f in fields if f["field_id"] == 900001), "")


@pytest.fixture
def world(aws: Any, kommo_sandbox: Any, n8n_standin: Any, monkeypatch: Any, atomic_dynamodb: None) -> Iterator[World]:
    """The service end to end: moto + Kommo sandbox + n8n stand-in, no quiet window, 2 s n8n timeout (the
    consumers handle a batch's records at once: moto's DynamoDB and SQS made safe like AWS's)."""
    for name, value in {
        "KOMMO_BASE_URL": kommo_sandbox.url,
        "N8N_BASE_URL": n8n_standin.url,
        "CONVERSATION_QUIET_SECONDS": "0",
        "SALESBOT_MIN_GAP_SECONDS": "0",
        "N8N_TIMEOUT_SECONDS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    yield World(aws, kommo_sandbox, n8n_standin)
    reset_caches()


@pytest.fixture
def service_logs(monkeypatch: pytest.MonkeyPatch) -> Any:
    """What the service logs during the test (a StringIO): the Powertools handler holds the stdout it saw
    when first imported, which neither capsys nor capfd replaces."""
    import io

    from sales_assistant.observability import logger

    written = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", written)
    return written


@pytest.fixture
def atomic_dynamodb() -> Iterator[None]:
    """Concurrent workers in one process: moto's DynamoDB and SQS made safe like AWS's (local.moto_threads)."""
    from local.moto_threads import serialised_moto

    with serialised_moto():
        yield
