"""Benchmark: the reactive worker's own overhead per answered message, and what each answer costs in
Kommo calls, DynamoDB operations and SQS messages.

Everything runs in process: moto for AWS, the Kommo sandbox and the n8n stand-in on loopback. The
rate limiter's waits and n8n's thinking are excluded (the limiter's sleeps are skipped and counted,
the stand-in answers at once), so the time is the worker's: parsing, DynamoDB, HTTP round trips on
loopback, validation. Run: `make bench` (or python -m bench.worker_overhead --messages 40).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=40)
    args = parser.parse_args()

    import boto3
    import botocore.client
    from moto import mock_aws

    from local.defaults import AWS_ENVIRONMENT, LOCAL_SECRETS, create_local_stack
    from local.kommo_sandbox import KommoSandbox
    from local.lambda_events import LambdaContext
    from local.n8n_standin import N8nStandIn
    from local.sam_events import webhook_event
    from local.sqs_pump import deliver_batch, receive
    from tests.integration.test_reactive_flow import client_message

    os.environ.update(AWS_ENVIRONMENT)
    kommo = KommoSandbox(rate_limit_per_second=10_000).start()
    n8n = N8nStandIn(secret=LOCAL_SECRETS["N8N_SIGNING_SECRET"]).start()
    operations: Counter[str] = Counter()
    original_call = getattr(botocore.client.BaseClient, "_make_api_call")  # noqa: B009 - private, untyped

    def counting_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        operations[f"{client.meta.service_model.service_name}.{operation}"] += 1
        return original_call(client, operation, params)

    with mock_aws():
        stack = create_local_stack(boto3.session.Session())
        os.environ.update(
            {
                **stack.environment(),
                "KOMMO_BASE_URL": kommo.url,
                "N8N_BASE_URL": n8n.url,
                "CONVERSATION_QUIET_SECONDS": "0",
                "SALESBOT_MIN_GAP_SECONDS": "0",
            }
        )
        from sales_assistant.adapters.kommo import kommo_client
        from sales_assistant.adapters.kommo.rate_limit import SharedRateLimiter
        from sales_assistant.config import get_settings

        skipped_waits: list[float] = []
        settings = get_settings()
        # The limiter keeps its DynamoDB reservations but lives in virtual time: its waits are skipped
        # (and counted) and its clock moves on by them, so no backlog builds up.
        kommo_client(settings).limiter = SharedRateLimiter(
            settings.kommo_table, 7, sleep=skipped_waits.append, clock=lambda: time.time() + sum(skipped_waits)
        )
        worker = stack.functions()
        handler = next(f for f in worker if f.logical_id == "ConversationWorkerFunction").load_handler()
        intake = next(f for f in worker if f.logical_id == "WebhookIntakeFunction").load_handler()
        sqs = boto3.client("sqs")
        url, arn = stack.physical_ids["ConversationsQueue"], stack.arns["ConversationsQueue"]

        def invoke(event: dict[str, Any]) -> Any:
            return handler(event, LambdaContext(function_name="ConversationWorkerFunction"))

        timings: list[float] = []
        setattr(botocore.client.BaseClient, "_make_api_call", counting_call)  # noqa: B010
        for index in range(args.messages + 1):
            intake(webhook_event(client_message(f"bench-{index}", f"mensagem {index}")), LambdaContext())
            started = time.perf_counter()
            for _ in range(2):  # the client message, then its flush job
                deliver_batch(sqs, invoke, url, arn, receive(sqs, url))
            if index == 0:  # warm-up: cold start, first connections
                operations.clear()
                kommo.requests.clear()
                skipped_waits.clear()
            else:
                timings.append((time.perf_counter() - started) * 1000)
        setattr(botocore.client.BaseClient, "_make_api_call", original_call)  # noqa: B010
    kommo.stop()
    n8n.stop()

    answered = args.messages
    intake_ops = {"dynamodb.PutItem": 1, "sqs.SendMessage": 1}  # intake's share, reported apart
    kommo_calls = Counter(f"{r.method} {r.path.split('/')[3]}" for r in kommo.requests)
    print(f"answered messages: {answered} (after one warm-up)")
    print(
        f"worker overhead per answered message: mean {statistics.mean(timings):.1f} ms, "
        f"p50 {statistics.median(timings):.1f} ms, p95 {sorted(timings)[int(0.95 * len(timings)) - 1]:.1f} ms"
    )
    print(f"Kommo calls per answer: {len(kommo.requests) / answered:.1f}  {dict(kommo_calls)}")
    per_answer = {name: round(value / answered, 2) for name, value in sorted(operations.items())}
    print(f"AWS calls per answer (intake included: {intake_ops}): {per_answer}")
    dynamo = sum(value for name, value in operations.items() if name.startswith("dynamodb.")) / answered
    print(f"DynamoDB operations per answer: {dynamo:.1f}; rate-limit waits skipped: {len(skipped_waits)}")


if __name__ == "__main__":
    main()
