"""`received#<message id>` markers in the Kommo table: the intake writes one for every client message,
the canary's watchdog looks for them (services/health.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sales_assistant import timing
from sales_assistant.adapters.aws import dynamodb_client, dynamodb_table

RECEIVED_PREFIX = "received#"
RECEIVED_TTL_SECONDS = 2 * 86400  # longer than the watchdog ever looks back (one day)
BATCH_GET_LIMIT = 100


class DynamoReceivedMessages:
    """`received#<message id>` markers the intake writes for every client message (kept 2 days): the
    watchdog's proof that a message reached the service."""

    def __init__(self, table_name: str, clock: Any = timing.now) -> None:
        self._table_name = table_name
        self._clock = clock

    def mark(self, message_ids: Iterable[str], *, missed: bool = False) -> None:
        """One PutItem per message (a webhook carries one message, seldom more)."""
        table = dynamodb_table(self._table_name)
        expires_at = int(self._clock()) + RECEIVED_TTL_SECONDS
        for message_id in message_ids:
            item: dict[str, Any] = {"pk": RECEIVED_PREFIX + message_id, "expires_at": expires_at}
            if missed:
                item["missed"] = True  # reported by the watchdog, never delivered by a webhook
            table.put_item(Item=item)

    def missing(self, message_ids: Iterable[str]) -> set[str]:
        """The ids without a marker."""
        wanted = sorted(set(message_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            keys = [
                {"pk": {"S": RECEIVED_PREFIX + message_id}} for message_id in wanted[start : start + BATCH_GET_LIMIT]
            ]
            request: dict[str, Any] = {self._table_name: {"Keys": keys, "ProjectionExpression": "pk"}}
            while request:
                answer = dynamodb_client().batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table_name, []):
                    found.add(item["pk"]["S"].removeprefix(RECEIVED_PREFIX))
                request = answer.get("UnprocessedKeys") or {}
        return set(wanted) - found
