"""What the benchmarks share: the service on moto with the Kommo sandbox and the n8n stand-in, and a
count of the AWS calls made."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class BenchWorld:
    stack: Any
    kommo: Any
    n8n: Any

    def handler(self, function_id: str) -> Any:
        from local.lambda_events import LambdaContext

        function = next(f for f in self.stack.functions() if f.logical_id == function_id).load_handler()
        return lambda event: function(event, LambdaContext(function_name=function_id))


@contextmanager
def bench_world(**environment: str) -> Iterator[BenchWorld]:
    """moto in process, the Kommo sandbox (no 429s) and the n8n stand-in; `environment` overrides settings."""
    import boto3
    from moto import mock_aws

    from local.defaults import AWS_ENVIRONMENT, LOCAL_SECRETS, create_local_stack
    from local.kommo_sandbox import KommoSandbox
    from local.n8n_standin import N8nStandIn

    os.environ.update(AWS_ENVIRONMENT)
    kommo = KommoSandbox(rate_limit_per_second=10_000).start()
    n8n = N8nStandIn(secret=LOCAL_SECRETS["N8N_SIGNING_SECRET"]).start()
    try:
        with mock_aws():
            stack = create_local_stack(boto3.session.Session())
            os.environ.update(
                {**stack.environment(), "KOMMO_BASE_URL": kommo.url, "N8N_BASE_URL": n8n.url, **environment}
            )
            yield BenchWorld(stack, kommo, n8n)
    finally:
        kommo.stop()
        n8n.stop()


def skip_rate_limit_waits() -> list[float]:
    """Give the process's Kommo client a limiter in virtual time: it still makes its DynamoDB reservations
    but never sleeps; returns the list of the waits it skipped (seconds)."""
    import time

    from sales_assistant.adapters.kommo import kommo_client
    from sales_assistant.adapters.kommo.rate_limit import SharedRateLimiter
    from sales_assistant.config import get_settings

    skipped: list[float] = []
    settings = get_settings()
    kommo_client(settings).limiter = SharedRateLimiter(
        settings.kommo_table, 7, sleep=skipped.append, clock=lambda: time.time() + sum(skipped)
    )
    return skipped


@contextmanager
def counting_aws_calls(*, by_resource: bool = False) -> Iterator[Counter[str]]:
    """Counts every AWS API call made inside the block, as 'service.Operation' (with `by_resource`,
    'service.Operation resource': the table or queue it went to)."""
    import botocore.client

    calls: Counter[str] = Counter()
    original = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 - private, untyped

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        name = f"{client.meta.service_model.service_name}.{operation}"
        if by_resource:
            resource = params.get("TableName") or params.get("QueueUrl", "").rsplit("/", 1)[-1]
            if operation == "BatchGetItem":
                resource = ",".join(params.get("RequestItems", {}))
            name = f"{name} {resource}"
        calls[name] += 1
        return original(client, operation, params)

    setattr(botocore.client.BaseClient, "_make_api_call", counting)  # noqa: B010
    try:
        yield calls
    finally:
        setattr(botocore.client.BaseClient, "_make_api_call", original)  # noqa: B010


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(round(fraction * len(ordered)) - 1, 0)]
