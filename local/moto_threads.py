"""DynamoDB applies each conditional write atomically; moto in process does not when threads race.
Tests and benchmarks that run concurrent workers in one process serialise moto's DynamoDB calls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serialised_dynamodb() -> Iterator[None]:
    """Inside the block, one DynamoDB call at a time in this process (other services untouched)."""
    import botocore.client

    lock = threading.Lock()
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 - private, untyped

    def atomic(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation, params)
        with lock:
            return original(client, operation, params)

    setattr(botocore.client.BaseClient, "_make_api_call", atomic)  # noqa: B010
    try:
        yield
    finally:
        setattr(botocore.client.BaseClient, "_make_api_call", original)  # noqa: B010
