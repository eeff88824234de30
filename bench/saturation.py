"""Benchmark: a backlog at saturation. 1,000 client messages over 200 conversations arrive at once (Kommo's
webhooks through the real intake); worker threads, standing for the conversation worker's concurrent
Lambdas (`ConversationsMaxConcurrency`), drain the queue through the real shared rate limiter against the
Kommo sandbox at 7 requests/s (429 above it); n8n (the stand-in) answers at once. Everything else is in
process (moto, its DynamoDB serialised as DynamoDB's conditional writes are atomic).

Reports answered client messages per second, Kommo requests per answered message, 429s, the busiest
1-second window at Kommo, and client messages lost (accepted but in no conversation's history) or answered
twice (Salesbot runs beyond one per reply). Run: `make bench` (or python -m bench.saturation).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from typing import Any

from bench.harness import bench_world

FIRST_LEAD = 60_000_000
FIRST_CONTACT = 70_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5, help="client messages per conversation")
    parser.add_argument("--workers", type=int, default=5, help="ConversationsMaxConcurrency")
    args = parser.parse_args()

    import boto3

    from local.kommo_webhooks import CLIENT_AUTHOR, chat_body
    from local.moto_threads import serialised_dynamodb
    from local.sam_events import webhook_event
    from local.sqs_pump import deliver_batch, receive

    with bench_world() as world, serialised_dynamodb():
        world.kommo.rate_limit_per_second = 7
        template, contact = world.kommo.leads[27754599], world.kommo.contacts[93589657]
        for index in range(args.conversations):
            lead_id, contact_id = FIRST_LEAD + index, FIRST_CONTACT + index
            embedded = {"contacts": [{"id": contact_id, "is_main": True}], "tags": []}
            world.kommo.leads[lead_id] = {**template, "id": lead_id, "_embedded": embedded}
            world.kommo.contacts[contact_id] = {**contact, "id": contact_id}

        intake, worker = world.handler("WebhookIntakeFunction"), world.handler("ConversationWorkerFunction")
        started = time.time()
        posted = 0
        for turn in range(args.messages):
            for index in range(args.conversations):
                lead_id, contact_id = FIRST_LEAD + index, FIRST_CONTACT + index
                text = f"mensagem {turn} da conversa {index}"
                body = chat_body(
                    f"sat-{index}-{turn}", text, "incoming", CLIENT_AUTHOR, lead=lead_id, contact=contact_id
                )
                assert intake(webhook_event(body))["statusCode"] == 200
                posted += 1
        intake_seconds = time.time() - started

        url, arn = world.stack.physical_ids["ConversationsQueue"], world.stack.arns["ConversationsQueue"]
        sqs = boto3.client("sqs")

        def drain() -> None:
            while not _empty(sqs, url):  # delayed flush jobs and retries (invisible for a while) count too
                messages = receive(sqs, url, batch_size=1)
                if messages:
                    deliver_batch(sqs, worker, url, arn, messages, retry_after_seconds=1)

        workers = [threading.Thread(target=drain) for _ in range(args.workers)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()

        runs = world.kommo.calls("POST", "/api/v2/salesbot/run")
        finished = max(run.at for run in runs) if runs else time.time()
        answered, lost, replies = _count_conversations(args.conversations, posted)
        per_second = Counter(int(request.at) for request in world.kommo.requests if request.status != 429)
        throttled = sum(1 for request in world.kommo.requests if request.status == 429)
        elapsed = finished - started
        print(
            f"{posted} client messages over {args.conversations} conversations, {args.workers} workers; "
            f"intake {intake_seconds:.1f} s"
        )
        print(f"answered messages: {answered} in {elapsed:.1f} s = {answered / elapsed:.2f} per second")
        first_run = min(run.at for run in runs) if runs else finished
        print(
            f"  of which buffering the messages (no Kommo call; bound by the in-process AWS emulation) "
            f"{first_run - started:.1f} s, then the replies (Kommo-bound) {finished - first_run:.1f} s = "
            f"{answered / max(finished - first_run, 0.001):.2f} answered messages per second"
        )
        print(f"replies: {replies}; Kommo requests per answered message: {len(world.kommo.requests) / answered:.2f}")
        print(f"Kommo: 429s {throttled}; busiest 1-second window {max(per_second.values())} requests")
        print(f"lost: {lost}; answered twice: {len(runs) - replies}")


def _empty(sqs: Any, url: str) -> bool:
    """No message on the queue: none visible, in flight or delayed."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return all(attributes.get(name, "0") == "0" for name in names)


def _count_conversations(conversations: int, posted: int) -> tuple[int, int, int]:
    """Client messages in a history followed by a delivered reply, client messages in no history, replies."""
    from sales_assistant.composition import conversation_repository
    from sales_assistant.config import get_settings

    repository = conversation_repository(get_settings())
    answered = recorded = replies = 0
    for index in range(conversations):
        conversation = repository.get(f"lead:{FIRST_LEAD + index}")
        turns = conversation.turns if conversation else []
        recorded += sum(turn.role == "client" for turn in turns)
        waiting = 0
        for turn in turns:
            if turn.role == "client":
                waiting += 1
            elif turn.role == "assistant" and turn.delivered is not False:
                answered, waiting, replies = answered + waiting, 0, replies + 1
    return answered, posted - recorded, replies


if __name__ == "__main__":
    main()
