"""Round-robin turns in the Kommo table (`rr#<pool>`): one atomic counter per pool of salespeople, so
leads are shared fairly however many Lambdas route at once."""

from __future__ import annotations

from sales_assistant.adapters.aws import dynamodb_table


class DynamoRoundRobin:
    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def turn(self, pool: str) -> int:
        """The pool's next turn number: 1, 2, 3... (each caller gets its own)."""
        updated = dynamodb_table(self._table_name).update_item(
            Key={"pk": f"rr#{pool}"},
            UpdateExpression="ADD turn :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(updated["Attributes"]["turn"])
