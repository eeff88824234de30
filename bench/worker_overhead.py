"""Benchmark: the reactive worker's own overhead per answered message, and what each answer costs in
Kommo calls, DynamoDB operations and SQS messages.

Everything runs in process: moto for AWS, the Kommo sandbox and the n8n stand-in on loopback. The
rate limiter's waits and n8n's thinking are excluded (the limiter keeps its DynamoDB reservations but
lives in virtual time, the stand-in answers at once), so the time is the worker's: parsing, DynamoDB,
HTTP round trips on loopback, validation. Run: `make bench`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from dataclasses import dataclass

from bench.harness import bench_world, counting_aws_calls, percentile, skip_rate_limit_waits


@dataclass(frozen=True)
class WorkerOverhead:
    """Per answered message: the worker's time (ms, each), Kommo calls by kind, AWS calls by operation."""

    timings: list[float]
    kommo_calls: dict[str, int]
    aws_calls: dict[str, int]
    skipped_waits: int  # the rate limiter's waits skipped (virtual time)

    @property
    def answered(self) -> int:
        """Messages answered (after the warm-up)."""
        return len(self.timings)

    @property
    def kommo_per_answer(self) -> float:
        """Kommo calls per answered message."""
        return sum(self.kommo_calls.values()) / self.answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=40)
    args = parser.parse_args()
    result = measure(args.messages)
    answered = result.answered
    per_answer = {name: round(value / answered, 2) for name, value in sorted(result.aws_calls.items())}
    dynamo = sum(value for name, value in result.aws_calls.items() if name.startswith("dynamodb.")) / answered
    print(f"answered messages: {answered} (after one warm-up)")
    print(
        f"worker time per answered message: mean {statistics.mean(result.timings):.1f} ms, "
        f"p50 {percentile(result.timings, 0.5):.1f} ms, p95 {percentile(result.timings, 0.95):.1f} ms"
    )
    print(f"Kommo calls per answer: {result.kommo_per_answer:.1f}  {result.kommo_calls}")
    print(f"AWS calls per answer (intake included): {per_answer}")
    print(f"DynamoDB operations per answer: {dynamo:.1f}; rate-limit waits skipped: {result.skipped_waits}")


def measure(messages: int) -> WorkerOverhead:
    """Answer `messages` client messages of one conversation, each on its own, after one warm-up."""
    from local.sam_events import webhook_event
    from local.sqs_pump import deliver_batch, receive
    from tests.integration.test_reactive_flow import client_message

    with bench_world(CONVERSATION_QUIET_SECONDS="0", SALESBOT_MIN_GAP_SECONDS="0") as world:
        import boto3

        skipped_waits = skip_rate_limit_waits()
        intake, worker = world.handler("WebhookIntakeFunction"), world.handler("ConversationWorkerFunction")
        sqs = boto3.client("sqs")
        url, arn = world.stack.physical_ids["ConversationsQueue"], world.stack.arns["ConversationsQueue"]

        def answer_one(index: int) -> float:
            intake(webhook_event(client_message(f"bench-{index}", f"mensagem {index}")))
            started = time.perf_counter()
            for _ in range(2):  # the client message, then its flush job
                deliver_batch(sqs, worker, url, arn, receive(sqs, url))
            return (time.perf_counter() - started) * 1000

        answer_one(0)  # warm-up: cold start, first connections
        world.kommo.requests.clear()
        skipped_waits.clear()
        with counting_aws_calls() as calls:
            timings = [answer_one(index) for index in range(1, messages + 1)]
        kommo_calls = Counter(f"{r.method} {r.path.split('/')[3]}" for r in world.kommo.requests)
        return WorkerOverhead(timings, dict(kommo_calls), dict(calls), len(skipped_waits))


if __name__ == "__main__":
    main()
