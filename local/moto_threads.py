"""DynamoDB applies each conditional write atomically and SQS hands a message to one consumer; moto in
process does neither reliably when threads race (a receive racing another can leave a message invisible
for the whole visibility timeout). Tests and benchmarks that run concurrent workers in one process
serialise moto's DynamoDB and SQS calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serialised_moto() -> Iterator[None]:
    """Inside the block, one DynamoDB or SQS call at a time in this process (other services untouched)."""
    import botocore.client

    lock = threading.Lock()
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 - private, untyped

    def atomic(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name not in ("dynamodb", "sqs"):
            return original(client, operation, params)
        with lock:
            return original(client, operation, params)

    setattr(botocore.client.BaseClient, "_make_api_call", atomic)  # noqa: B010
    try:
        yield
    finally:
        setattr(botocore.client.BaseClient, "_make_api_call", original)  # noqa: B010
