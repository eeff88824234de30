"""Delivers SQS messages to a Lambda handler the way the SQS event source does (one implementation
for the local runner's pollers, the tests and the benchmarks)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from local.lambda_events import sqs_event


def deliver_batch(
    sqs: Any,
    invoke: Callable[[dict[str, Any]], Any],
    queue_url: str,
    queue_arn: str,
    messages: list[Any],
    retry_after_seconds: int | None = None,
) -> set[str]:
    """Invoke with one batch and delete the successes. A failure comes back as SQS brings it back: after
    the retry delay the handler set on it (or the queue's visibility timeout), its receive count growing
    so the redrive policy moves a poison message to the DLQ. `retry_after_seconds` (tests) brings the
    failures back after that many seconds instead. Returns the failed message ids."""
    try:
        result = invoke(sqs_event(messages, queue_arn)) or {}
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
    except Exception as error:  # the whole batch failed, as in Lambda
        print(f"[local] batch failed: {error!r}", file=sys.stderr, flush=True)
        failed = {message["MessageId"] for message in messages}
    for message in messages:
        if message["MessageId"] in failed:
            if retry_after_seconds is None:
                continue
            try:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=retry_after_seconds
                )
            except Exception as error:  # the handler changed it already (a retry delay): it comes back anyway
                print(f"[local] retry delay of a failed message kept: {type(error).__name__}", file=sys.stderr)
        else:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return failed


def receive(sqs: Any, queue_url: str, batch_size: int = 10, wait_seconds: int = 0) -> list[Any]:
    """One ReceiveMessage call, with every attribute the event source passes on."""
    response = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=min(batch_size, 10),
        WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    )
    return list(response.get("Messages", []))
