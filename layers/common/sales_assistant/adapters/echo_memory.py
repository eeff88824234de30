"""Echo keys remembered in the Kommo table with a TTL (see services/echoes.py)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from sales_assistant.adapters.aws import dynamodb_table


class DynamoEchoMemory:
    """Remembers echo keys for `ttl_seconds`; expired keys count as unknown even before TTL deletes them."""

    def __init__(self, table_name: str, ttl_seconds: int) -> None:
        self._table_name = table_name
        self._ttl_seconds = ttl_seconds

    def remember(self, keys: Iterable[str]) -> None:
        expires_at = int(time.time()) + self._ttl_seconds
        table = dynamodb_table(self._table_name)
        for key in keys:
            table.put_item(Item={"pk": key, "expires_at": expires_at})

    def known(self, keys: Iterable[str]) -> set[str]:
        table = dynamodb_table(self._table_name)
        now = int(time.time())
        found = set()
        for key in set(keys):
            item = table.get_item(Key={"pk": key}, ProjectionExpression="expires_at").get("Item")
            if item and int(item["expires_at"]) > now:
                found.add(key)
        return found
