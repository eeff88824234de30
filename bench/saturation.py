"""Benchmark: a backlog at saturation. 1,000 client messages over 200 conversations arrive at once (Kommo's
webhooks through the real intake); worker threads, standing for the conversation worker's concurrent
Lambdas (`ConversationsMaxConcurrency`), drain the queue through the real shared rate limiter against the
Kommo sandbox at 7 requests/s (429 above it); n8n (the stand-in) answers at once. Everything else is in
process (moto, its DynamoDB serialised as DynamoDB's conditional writes are atomic). `--messages 1` is the
lone-message backlog: one client message in each of many conversations.

Reports answered client messages per second, Kommo requests per answered message, the busiest 1-second
window at Kommo and its 429s, and client messages lost (accepted but in no conversation's history) or
answered twice (a lead's Salesbot runs beyond its replies); a reply whose run's outcome stayed unknown (Kommo
never got it) counts as lost unless its salesperson was tasked. Run alone, it fails after its report if Kommo's own
record shows more than 7 requests in a second or any 429; in `make bench` that is a row of the goals table,
beside the losses, so a busy machine's 429 (retried by the client) never hides the count of lost messages.
Run: `make bench` (or python -m bench.saturation).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass

from bench.harness import KOMMO_LIMIT, KommoLoad, add_leads, bench_world, drain, salesbot_runs

FIRST_LEAD = 60_000_000
FIRST_CONTACT = 70_000_000


@dataclass(frozen=True)
class Saturation:
    """One backlog drained: what came in, what was answered, lost or doubled, how long it took, Kommo's load."""

    conversations: int
    messages: int  # client messages per conversation
    workers: int
    posted: int
    answered: int  # client messages followed by a delivered reply in their conversation
    replies: int
    lost: int  # accepted but in no history, or a reply never run at Kommo with no task for a salesperson
    duplicated: int  # Salesbot runs for a lead beyond its replies
    unconfirmed: int  # replies whose run's outcome stayed unknown (no run at Kommo): a salesperson was tasked
    intake_seconds: float
    buffering_seconds: float  # from the first webhook to the first reply
    replying_seconds: float  # from the first reply to the last
    kommo: KommoLoad

    @property
    def answered_per_second(self) -> float:
        """Answered messages per second over the whole run, from the first webhook to the last reply."""
        return self.answered / (self.buffering_seconds + self.replying_seconds)

    @property
    def replying_per_second(self) -> float:
        """Answered messages per second from the first reply to the last (Kommo-bound)."""
        return self.answered / max(self.replying_seconds, 0.001)

    @property
    def kommo_per_answer(self) -> float:
        """Kommo requests per answered message."""
        return self.kommo.requests / max(self.answered, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5, help="client messages per conversation")
    parser.add_argument("--workers", type=int, default=5, help="ConversationsMaxConcurrency")
    args = parser.parse_args()
    result = measure(args.conversations, args.messages, args.workers)
    print(
        f"{result.posted} client messages over {result.conversations} conversations, {result.workers} workers; "
        f"intake {result.intake_seconds:.1f} s"
    )
    print(
        f"answered messages: {result.answered} in {result.buffering_seconds + result.replying_seconds:.1f} s "
        f"= {result.answered_per_second:.2f} per second"
    )
    print(
        f"  of which buffering the messages (no Kommo call; bound by the in-process AWS emulation) "
        f"{result.buffering_seconds:.1f} s, then the replies (Kommo-bound) {result.replying_seconds:.1f} s = "
        f"{result.replying_per_second:.2f} answered messages per second"
    )
    print(f"replies: {result.replies}; Kommo requests per answered message: {result.kommo_per_answer:.2f}")
    print(f"Kommo: 429s {result.kommo.throttled}; busiest 1-second window {result.kommo.busiest_second} requests")
    print(f"lost: {result.lost}; answered twice: {result.duplicated}")
    print(f"Salesbot runs whose outcome stayed unknown, each a task for the salesperson: {result.unconfirmed}")
    result.kommo.assert_within_limit()


def measure(conversations: int, messages: int, workers: int) -> Saturation:
    """Post `messages` client messages in each of `conversations` new conversations at once, drain them with
    `workers` threads; Kommo's busiest second and 429s are in the result's `kommo`."""
    from local.kommo_webhooks import CLIENT_AUTHOR, chat_body
    from local.moto_threads import serialised_moto
    from local.sam_events import webhook_event

    with bench_world() as world, serialised_moto():
        world.kommo.rate_limit_per_second = KOMMO_LIMIT
        leads = add_leads(world, conversations, FIRST_LEAD, FIRST_CONTACT, like_lead=27754599)
        intake = world.handler("WebhookIntakeFunction")
        started = time.time()
        for turn in range(messages):
            for index, lead_id in enumerate(leads):
                text = f"mensagem {turn} da conversa {index}"
                body = chat_body(
                    f"sat-{index}-{turn}", text, "incoming", CLIENT_AUTHOR, lead=lead_id, contact=FIRST_CONTACT + index
                )
                assert intake(webhook_event(body))["statusCode"] == 200
        intake_seconds = time.time() - started
        drain(world, "ConversationWorkerFunction", workers)

        runs = salesbot_runs(world)
        times = [at for _, at in runs]
        first_run, finished = (min(times), max(times)) if times else (time.time(), time.time())
        posted = conversations * messages
        answered, recorded, replies = _count_conversations(leads)
        runs_by_lead = Counter(lead_id for lead_id, _ in runs)
        tasked = Counter(int(task["entity_id"]) for task in world.kommo.tasks)
        kommo = KommoLoad.of(world.kommo.requests)
    never_run = {lead_id: count - runs_by_lead[lead_id] for lead_id, count in replies.items()}
    return Saturation(
        conversations,
        messages,
        workers,
        posted,
        answered,
        sum(replies.values()),
        lost=posted - recorded + sum(max(0, missing - tasked[lead_id]) for lead_id, missing in never_run.items()),
        duplicated=sum(max(0, runs_by_lead[lead_id] - replies[lead_id]) for lead_id in runs_by_lead),
        unconfirmed=sum(max(0, missing) for missing in never_run.values()),
        intake_seconds=intake_seconds,
        buffering_seconds=first_run - started,
        replying_seconds=finished - first_run,
        kommo=kommo,
    )


def _count_conversations(leads: list[int]) -> tuple[int, int, Counter[int]]:
    """Client messages in a history followed by a delivered reply, client messages in a history, and each
    lead's replies."""
    from sales_assistant.composition import conversation_repository
    from sales_assistant.config import get_settings

    repository = conversation_repository(get_settings())
    answered = recorded = 0
    replies: Counter[int] = Counter()
    for lead_id in leads:
        conversation = repository.get(f"lead:{lead_id}")
        turns = conversation.turns if conversation else []
        recorded += sum(turn.role == "client" for turn in turns)
        waiting = 0
        for turn in turns:
            if turn.role == "client":
                waiting += 1
            elif turn.role == "assistant" and turn.delivered is not False:
                answered, waiting = answered + waiting, 0
                replies[lead_id] += 1
    return answered, recorded, replies


if __name__ == "__main__":
    main()
