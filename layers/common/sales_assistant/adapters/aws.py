"""boto3 clients created on first use and cached for the life of the process.

Tests and the local runner point boto3 at moto through AWS_ENDPOINT_URL; `reset_clients()` drops
the cache so that a test's mock or endpoint is picked up.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def dynamodb_table(name: str) -> Any:
    """The DynamoDB Table resource for `name`."""
    import boto3

    return boto3.resource("dynamodb").Table(name)


@cache
def dynamodb_client() -> Any:
    """The low-level DynamoDB client (Powertools idempotency, batch reads)."""
    import boto3

    return boto3.client("dynamodb")


@cache
def sqs_client() -> Any:
    """The SQS client."""
    import boto3

    return boto3.client("sqs")


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


def is_condition_failure(error: Exception) -> bool:
    """True for a DynamoDB conditional write that did not apply."""
    response = getattr(error, "response", None) or {}
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def reset_clients() -> None:
    """Forget every cached client (tests, local runner)."""
    for factory in (dynamodb_table, dynamodb_client, sqs_client):
        factory.cache_clear()
