"""boto3 clients created on first use and cached for the life of the process.

Every client has short timeouts and bounded retries (standard mode, 3 attempts): a slow AWS call
fails the record, and SQS retries it later, instead of eating the Lambda's whole timeout.

Tests and the local runner point boto3 at moto through AWS_ENDPOINT_URL; `reset_clients()` drops
the cache so that a test's mock or endpoint is picked up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cache, wraps
from typing import Any, TypeVar

Made = TypeVar("Made")
_creating = threading.RLock()


def created_once(factory: Callable[..., Made]) -> Any:
    """`functools.cache` for the process's clients, safe when a batch's records (threads) all reach a client
    first at once: boto3's default session must not create clients from two threads at the same time."""
    cached = cache(factory)

    @wraps(factory)
    def get(*args: Any) -> Made:
        with _creating:
            return cached(*args)

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return get


CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = 3


def _config() -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )


@created_once
def dynamodb_table(name: str) -> Any:
    """The DynamoDB Table resource for `name`."""
    return _dynamodb_resource().Table(name)


@created_once
def _dynamodb_resource() -> Any:
    import boto3

    return boto3.resource("dynamodb", config=_config())


@created_once
def dynamodb_client() -> Any:
    """The low-level DynamoDB client (Powertools idempotency, describe_table)."""
    import boto3

    return boto3.client("dynamodb", config=_config())


@created_once
def sqs_client() -> Any:
    """The SQS client."""
    import boto3

    return boto3.client("sqs", config=_config())


@created_once
def kms_client() -> Any:
    """The KMS client (the Kommo OAuth2 token pair is stored encrypted); created by the first token read."""
    import boto3

    return boto3.client("kms", config=_config())


@created_once
def scheduler_client() -> Any:
    """The EventBridge Scheduler client (appointment reminders)."""
    import boto3

    return boto3.client("scheduler", config=_config())


def all_items(read_page: Callable[..., dict[str, Any]], **request: Any) -> list[dict[str, Any]]:
    """Every item of a Scan or Query (`read_page` is table.scan or table.query), following LastEvaluatedKey."""
    items: list[dict[str, Any]] = []
    while True:
        page = read_page(**request)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def plain(value: Any) -> Any:
    """A DynamoDB item with its Decimals turned back into ints (or floats)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [plain(inner) for inner in value]
    return value


def storable(value: Any) -> Any:
    """Free-form JSON data (trigger data from a site form) as DynamoDB takes it: floats as Decimals."""
    import json
    from decimal import Decimal

    return json.loads(json.dumps(value, default=str), parse_float=Decimal)


def is_condition_failure(error: Exception) -> bool:
    """True for a DynamoDB conditional write that did not apply."""
    response = getattr(error, "response", None) or {}
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def applied(write: Callable[[], object]) -> bool:
    """Run a conditional write: True when it applied, False when its condition failed (other errors raise)."""
    try:
        write()
    except Exception as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def reset_clients() -> None:
    """Forget every cached client (tests, local runner)."""
    for factory in (dynamodb_table, _dynamodb_resource, dynamodb_client, sqs_client, kms_client, scheduler_client):
        factory.cache_clear()
