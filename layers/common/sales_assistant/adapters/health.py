"""What the canary reads in AWS besides the received-message markers (adapters/received.py): its last
report (an item of the Kommo table) and the depth of the queues."""

from __future__ import annotations

from collections.abc import Mapping

from sales_assistant.adapters.aws import dynamodb_table, sqs_client
from sales_assistant.services.health import HealthReport

REPORT_KEY = "health#last"


class DynamoHealthStore:
    """The last health report, one item of the Kommo table (JSON, no secret in it)."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def load(self) -> HealthReport | None:
        item = dynamodb_table(self._table_name).get_item(Key={"pk": REPORT_KEY}).get("Item")
        return HealthReport.model_validate_json(str(item["report"])) if item else None

    def save(self, report: HealthReport) -> None:
        dynamodb_table(self._table_name).put_item(Item={"pk": REPORT_KEY, "report": report.model_dump_json()})


class SqsQueueDepths:
    """Visible messages of each named queue (delayed and in-flight ones are not waiting)."""

    def __init__(self, queue_urls: Mapping[str, str]) -> None:
        self._queue_urls = dict(queue_urls)

    def __call__(self) -> dict[str, int]:
        depths = {}
        for name, url in self._queue_urls.items():
            attributes = sqs_client().get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            depths[name] = int(attributes["ApproximateNumberOfMessages"])
        return depths
