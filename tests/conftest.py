"""Shared fixtures: one moto AWS for the session (the template's tables and queues), emptied per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from local.defaults import AWS_ENVIRONMENT, LOCAL_SECRETS

os.environ.update(AWS_ENVIRONMENT)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "KommoSalesAssistantTests")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "kommo-sales-assistant")

WEBHOOK_TOKEN = LOCAL_SECRETS["WEBHOOK_TOKEN"]
API_TOKEN = LOCAL_SECRETS["API_TOKEN"]


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
        _reset_caches()
        yield created


@pytest.fixture
def aws(stack: Any) -> Iterator[Any]:
    """Empty tables and queues for one test."""
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
    _reset_caches()
    yield stack


def _reset_caches() -> None:
    from sales_assistant.adapters.aws import reset_clients
    from sales_assistant.adapters.once import reset_once_cache
    from sales_assistant.config import get_settings

    get_settings.cache_clear()
    reset_clients()
    reset_once_cache()


def handler_of(stack: Any, function_id: str) -> Any:
    """The Lambda handler of a template function, imported as Lambda would."""
    function = next(function for function in stack.functions() if function.logical_id == function_id)
    return function.load_handler()


def queue_messages(stack: Any, queue_id: str) -> list[dict[str, Any]]:
    """Take (receive and delete) every visible message of a queue."""
    import boto3

    sqs = boto3.client("sqs")
    url = stack.physical_ids[queue_id]
    taken: list[dict[str, Any]] = []
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
