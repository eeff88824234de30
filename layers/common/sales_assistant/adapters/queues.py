"""Publishing queue items to the flows' SQS queues (FIFO queues get group and dedup ids)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sales_assistant.adapters.aws import sqs_client
from sales_assistant.config import Settings
from sales_assistant.models.queue import ConversationFlushDue, Flow, QueueItem
from sales_assistant.observability import CORRELATION_ATTRIBUTE
from sales_assistant.observability import correlation_id as current_correlation_id

MAX_DELAY_SECONDS = 900


class QueuePublisher:
    """Sends each item to the queue of the flow that owns it."""

    def __init__(self, queue_urls: Mapping[Flow, str]) -> None:
        self._queue_urls = dict(queue_urls)

    @classmethod
    def from_settings(cls, settings: Settings) -> QueuePublisher:
        """The publisher for the queues named in the settings."""
        return cls(
            {
                Flow.CONVERSATIONS: settings.conversations_queue_url,
                Flow.COMMANDS: settings.commands_queue_url,
                Flow.LEAD_EVENTS: settings.lead_events_queue_url,
                Flow.SCHEDULING: settings.scheduling_queue_url,
            }
        )

    def publish(self, item: QueueItem, *, delay_seconds: int = 0) -> str:
        """Send one item; returns the SQS message id. A delay applies to standard queues only. The running
        correlation id (the webhook's) goes along as a message attribute, so the consumer logs with it."""
        url = self._queue_urls[item.flow]
        request: dict[str, object] = {"QueueUrl": url, "MessageBody": item.model_dump_json()}
        correlation_id = current_correlation_id()
        if correlation_id:
            request["MessageAttributes"] = {
                CORRELATION_ATTRIBUTE: {"DataType": "String", "StringValue": str(correlation_id)[:128]}
            }
        if url.endswith(".fifo"):
            request["MessageGroupId"] = item.group_id
            request["MessageDeduplicationId"] = hashlib.sha256(item.dedup_key.encode()).hexdigest()
        elif delay_seconds:
            request["DelaySeconds"] = min(max(delay_seconds, 0), MAX_DELAY_SECONDS)
        response = sqs_client().send_message(**request)
        return str(response["MessageId"])


class SqsFlushScheduler:
    """Flush jobs as delayed messages on the conversations queue (the debounce's timer)."""

    def __init__(self, publisher: QueuePublisher) -> None:
        self._publisher = publisher

    def flush_later(self, conversation_id: str, seq: int, delay_seconds: int) -> None:
        self._publisher.publish(
            ConversationFlushDue(conversation_id=conversation_id, seq=seq), delay_seconds=delay_seconds
        )
