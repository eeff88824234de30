"""Benchmark: estimated AWS cost per 1,000 conversations of 10 client messages each.

Runs real conversations through the real handlers (moto in process, the Kommo sandbox and the n8n
stand-in on loopback): each client message goes through the intake, the worker (the message, then its
flush job) and comes back as the Salesbot's echo webhook, which the intake recognises. It counts every
DynamoDB and SQS call, the HTTP requests and each handler's time and invocations, and prices them.

Lambda time here is the service's own work on loopback. In AWS a worker also waits on n8n (the AI agent
thinks) and on Kommo over the internet: both are added as named assumptions below, per call counted.
Run: `make bench` (or `python -m bench.cost`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from bench.harness import bench_world, counting_aws_calls, skip_rate_limit_waits

# Prices, us-east-1, in USD, as AWS publishes them (checked 2026-11-24; DynamoDB on-demand since 2024-11-01).
LAMBDA_ARM_GB_SECOND = 0.0000133334
LAMBDA_PER_MILLION_REQUESTS = 0.20
DYNAMODB_PER_MILLION_WRITE_UNITS = 0.625
DYNAMODB_PER_MILLION_READ_UNITS = 0.125
SQS_STANDARD_PER_MILLION = 0.40
SQS_FIFO_PER_MILLION = 0.50
HTTP_API_PER_MILLION = 1.00
LOGS_INGESTED_PER_GB = 0.50
# Assumptions about the world outside (seconds a Lambda waits, billed): n8n's AI agent answering a batch,
# and one Kommo API call over the internet.
N8N_ANSWER_SECONDS = 5.0  # the goal's own figure (issue 13)
KOMMO_CALL_SECONDS = 0.25
WAITING_FUNCTION = "ConversationWorkerFunction"  # the function that waits on n8n and Kommo
MESSAGES_PER_CONVERSATION = 10
SCALE = 1000  # conversations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=6, help="at most 6 (the sandbox's seeded leads)")
    args = parser.parse_args()
    print(json.dumps(measure(args.conversations), indent=2))


def measure(conversations: int) -> dict[str, Any]:
    """Run `conversations` conversations (at most 6, the sandbox's seeded leads) and price SCALE of them."""
    return price(run_conversations(min(conversations, 6)))


def run_conversations(conversations: int) -> dict[str, Any]:
    """Run the conversations; what they used: handler ms and invocations, AWS calls by resource, HTTP
    requests, Kommo and n8n calls, log bytes."""
    import contextlib
    import io

    from local.kommo_seed import CLIENTS
    from local.sam_events import webhook_event
    from local.sqs_pump import deliver_batch, receive
    from tests.integration.test_reactive_flow import bot_echo, client_message

    with bench_world(CONVERSATION_QUIET_SECONDS="0", SALESBOT_MIN_GAP_SECONDS="0") as world:
        import boto3

        from sales_assistant.observability import logger

        skip_rate_limit_waits()  # Kommo's latency (KOMMO_CALL_SECONDS) covers the limiter's spacing in AWS
        milliseconds: Counter[str] = Counter()
        invocations: Counter[str] = Counter()
        intake = timed(world.handler("WebhookIntakeFunction"), "WebhookIntakeFunction", milliseconds, invocations)
        worker = timed(
            world.handler("ConversationWorkerFunction"), "ConversationWorkerFunction", milliseconds, invocations
        )
        sqs = boto3.client("sqs")
        url, arn = world.stack.physical_ids["ConversationsQueue"], world.stack.arns["ConversationsQueue"]
        logs = io.StringIO()  # log lines, and (stdout) the metrics' EMF lines: both are ingested by CloudWatch Logs
        cast("logging.StreamHandler[Any]", logger.registered_handler).setStream(logs)

        def one_message(contact_id: int, lead_id: int, index: int) -> None:
            intake(
                webhook_event(
                    client_message(f"cost-{lead_id}-{index}", f"mensagem {index}", lead=lead_id, contact=contact_id)
                )
            )
            while messages := receive(sqs, url):
                deliver_batch(sqs, worker, url, arn, messages, retry_after_seconds=0)
            reply = next(
                field["values"][0]["value"]
                for field in world.kommo.leads[lead_id]["custom_fields_values"]
                if field["field_id"] == 900001
            )
            intake(
                webhook_event(bot_echo(reply, message_id=f"echo-{lead_id}-{index}", lead=lead_id, contact=contact_id))
            )

        one_message(CLIENTS[0][0], CLIENTS[0][1], 0)  # warm-up: imports, first connections
        for counter in (milliseconds, invocations):
            counter.clear()
        world.kommo.requests.clear()
        world.n8n.requests.clear()
        logs.truncate(0)
        with counting_aws_calls(by_resource=True) as calls, contextlib.redirect_stdout(logs):
            for contact_id, lead_id, *_ in CLIENTS[:conversations]:
                for index in range(1, MESSAGES_PER_CONVERSATION + 1):
                    one_message(contact_id, lead_id, index)
        conversation_item_kb = largest_conversation_kb(world.stack.names["ConversationsTable"])
        return {
            "conversations": conversations,
            "milliseconds": dict(milliseconds),
            "invocations": dict(invocations),
            "aws_calls": dict(calls),
            "kommo_calls": len(world.kommo.requests),
            "n8n_calls": len(world.n8n.requests),
            "log_bytes": len(logs.getvalue().encode()),
            "conversation_item_kb": conversation_item_kb,
        }


def timed(handler: Callable[[dict[str, Any]], Any], name: str, ms: Counter[str], calls: Counter[str]) -> Any:
    """The handler, adding each invocation's billed milliseconds to `ms[name]` and counting it in `calls[name]`."""

    def run(event: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return handler(event)
        finally:
            ms[name] += math.ceil((time.perf_counter() - started) * 1000)  # Lambda bills whole milliseconds
            calls[name] += 1

    return run


def largest_conversation_kb(table_name: str) -> float:
    """The size of the largest conversation item at the end (history and buffer), in KB of JSON."""
    import boto3

    items = boto3.resource("dynamodb").Table(table_name).scan()["Items"]
    return max(len(json.dumps(item, default=str).encode()) for item in items) / 1024


def memory_gb() -> dict[str, float]:
    """Each function's memory (GB) as template.yaml sets it (its own MemorySize, else the Globals')."""
    from local.stack import load_template

    template = load_template()
    default = int(template["Globals"]["Function"]["MemorySize"])
    return {
        logical_id: int(resource["Properties"].get("MemorySize", default)) / 1024
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def price(measured: dict[str, Any]) -> dict[str, Any]:
    """The cost of SCALE conversations, by service, from what `measured` conversations used."""
    scale = SCALE / measured["conversations"]
    waits_ms = (measured["n8n_calls"] * N8N_ANSWER_SECONDS + measured["kommo_calls"] * KOMMO_CALL_SECONDS) * 1000
    lambda_ms = sum(measured["milliseconds"].values()) + waits_ms
    memory = memory_gb()
    gb_seconds = waits_ms / 1000 * memory[WAITING_FUNCTION] + sum(
        ms / 1000 * memory[function_id] for function_id, ms in measured["milliseconds"].items()
    )
    invocations = sum(measured["invocations"].values())
    reads = writes = sqs_standard = sqs_fifo = 0.0
    # an update of the conversation item is billed by its size (1 write unit per KB); half its final size on average
    conversation_units = max(math.ceil(measured["conversation_item_kb"] / 2), 1)
    for call, number in measured["aws_calls"].items():
        operation, _, resource = call.partition(" ")
        units = conversation_units if "ConversationsTable" in resource else 1
        if operation in ("dynamodb.GetItem", "dynamodb.Query", "dynamodb.Scan", "dynamodb.BatchGetItem"):
            reads += number * units
        elif operation.startswith("dynamodb.") and operation != "dynamodb.DescribeTable":
            writes += number * units
        elif operation.startswith("sqs.") and resource.endswith(".fifo"):
            sqs_fifo += number
        elif operation.startswith("sqs."):
            sqs_standard += number
    webhooks = measured["invocations"].get("WebhookIntakeFunction", 0)
    costs = {
        "lambda_compute": gb_seconds * LAMBDA_ARM_GB_SECOND * scale,
        "lambda_requests": invocations * LAMBDA_PER_MILLION_REQUESTS / 1e6 * scale,
        "dynamodb": (writes * DYNAMODB_PER_MILLION_WRITE_UNITS + reads * DYNAMODB_PER_MILLION_READ_UNITS) / 1e6 * scale,
        "sqs": (sqs_standard * SQS_STANDARD_PER_MILLION + sqs_fifo * SQS_FIFO_PER_MILLION) / 1e6 * scale,
        "http_api": webhooks * HTTP_API_PER_MILLION / 1e6 * scale,
        "cloudwatch_logs": measured["log_bytes"] / 1e9 * LOGS_INGESTED_PER_GB * scale,
    }
    per = SCALE * MESSAGES_PER_CONVERSATION
    return {
        "measured": measured,
        "per_1000_conversations": {
            "usd_total": round(sum(costs.values()), 4),
            "usd_by_service": {name: round(value, 4) for name, value in costs.items()},
            "lambda_seconds_billed": round(lambda_ms / 1000 * scale),
            "lambda_gb_seconds": round(gb_seconds * scale),
            "lambda_seconds_service_work": round(sum(measured["milliseconds"].values()) / 1000 * scale),
            "lambda_invocations": round(invocations * scale),
            "dynamodb_write_units": round(writes * scale),
            "dynamodb_read_units": round(reads * scale),
            "sqs_requests": round((sqs_standard + sqs_fifo) * scale),
            "kommo_calls_per_message": round(measured["kommo_calls"] * scale / per, 2),
        },
    }


if __name__ == "__main__":
    main()
