"""Echo keys remembered in the Kommo table with a TTL (see services/echoes.py)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from sales_assistant.adapters.aws import dynamodb_table

SEEN_PREFIX = "seen#"


class DynamoEchoMemory:
    """Remembers echo keys (and which came back) for `ttl_seconds`; expired ones count as unknown even
    before TTL deletes them."""

    def __init__(self, table_name: str, ttl_seconds: int) -> None:
        self._table_name = table_name
        self._ttl_seconds = ttl_seconds

    def remember(self, keys: Iterable[str]) -> None:
        """Expect these echoes from now on; an echo of the same key that came back before is forgotten (a new
        message of the same text is confirmed only by its own echo)."""
        expires_at = int(time.time()) + self._ttl_seconds
        table = dynamodb_table(self._table_name)
        for key in keys:
            table.put_item(Item={"pk": key, "expires_at": expires_at})
            table.delete_item(Key={"pk": SEEN_PREFIX + key})

    def known(self, keys: Iterable[str]) -> set[str]:
        return {key for key in set(keys) if self._alive(key)}

    def mark_seen(self, keys: Iterable[str]) -> None:
        """Record that Kommo reported these echoes back (the message reached the chat)."""
        expires_at = int(time.time()) + self._ttl_seconds
        table = dynamodb_table(self._table_name)
        for key in keys:
            table.put_item(Item={"pk": SEEN_PREFIX + key, "expires_at": expires_at})

    def seen(self, key: str) -> bool:
        """True when Kommo reported the echo of `key` back."""
        return self._alive(SEEN_PREFIX + key)

    def _alive(self, key: str) -> bool:
        item = dynamodb_table(self._table_name).get_item(Key={"pk": key}, ProjectionExpression="expires_at").get("Item")
        return bool(item and int(item["expires_at"]) > int(time.time()))
