"""Webhook entities that did not validate, parked in the Kommo table for two weeks (TTL).

Nothing is silently dropped: the raw entity and the reason stay readable for whoever fixes the
parser, and the `WebhookEntitiesParked` metric raises an alarm. The item key is a digest of the
entity, so Kommo's retries of one body park it once.
"""

from __future__ import annotations

import hashlib
import json
import time

from sales_assistant.adapters.aws import dynamodb_table
from sales_assistant.models.kommo_webhook import ParkedEntity

PARKED_TTL_SECONDS = 14 * 86400
MAX_RAW_CHARS = 32_000


class DynamoParkedEntities:
    """Parks entities under `parked#<digest>`."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def park(self, entities: list[ParkedEntity], request_id: str) -> None:
        now = int(time.time())
        table = dynamodb_table(self._table_name)
        for entity in entities:
            raw = json.dumps(entity.raw, ensure_ascii=False, sort_keys=True, default=str)[:MAX_RAW_CHARS]
            digest = hashlib.sha256(f"{entity.where}|{raw}".encode()).hexdigest()[:32]
            table.put_item(
                Item={
                    "pk": f"parked#{digest}",
                    "where": entity.where,
                    "reason": entity.reason,
                    "raw": raw,
                    "request_id": request_id,
                    "parked_at": now,
                    "expires_at": now + PARKED_TTL_SECONDS,
                }
            )
