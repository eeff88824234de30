"""A function fed by several sources hands each event to the handler of its source: a batch of the
commands queue to the record handler, a /bot request to the routes, the auto-resume schedule to its job;
an event it is not wired to is refused, naming what it got and what it takes (event_sources.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from local.lambda_events import LambdaContext, http_api_event, schedule_event, sqs_event
from sales_assistant.event_sources import EventSources, SqsBatch, UnexpectedEvent


class BotCommands:
    """A takeover function in miniature: what each of its sources was asked to do."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.routes_built = 0
        self.sweeps = 0

    def handle_command(self, record: SQSRecord) -> str:
        if record.body == "/assumir broken":
            raise RuntimeError("Kommo is down for this lead")
        self.commands.append(record.body)
        return record.body

    def routes(self) -> APIGatewayHttpResolver:
        self.routes_built += 1
        app = APIGatewayHttpResolver()
        app.get("/bot/<contact_id>")(lambda contact_id: {"contact_id": contact_id, "paused": True})
        return app

    def resume_overdue(self) -> dict[str, Any]:
        self.sweeps += 1
        return {"resumed": 2}

    def wired_to(self, *sources: str) -> EventSources:
        return EventSources(
            records=SqsBatch(lambda: BatchProcessor(EventType.SQS), self.handle_command)
            if "records" in sources
            else None,
            http=self.routes if "http" in sources else None,
            schedule=self.resume_overdue if "schedule" in sources else None,
        )


EVERY_SOURCE = ("records", "http", "schedule")


def commands_batch(*bodies: str) -> dict[str, Any]:
    return sqs_event([{"MessageId": f"message-{index}", "Body": body} for index, body in enumerate(bodies)])


def test_a_batch_of_salesperson_commands_goes_to_the_record_handler_and_reports_the_failed_one() -> None:
    bot = BotCommands()

    response = bot.wired_to(*EVERY_SOURCE)(commands_batch("/assumir", "/assumir broken", "/liberar"), LambdaContext())

    assert bot.commands == ["/assumir", "/liberar"]
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert (bot.routes_built, bot.sweeps) == (0, 0)  # a queue's event never builds the routes


def test_a_bot_state_request_goes_to_the_routes() -> None:
    bot = BotCommands()

    response = bot.wired_to(*EVERY_SOURCE)(http_api_event("GET", "/bot/93589657"), LambdaContext())

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"contact_id": "93589657", "paused": True}
    assert (bot.routes_built, bot.commands, bot.sweeps) == (1, [], 0)


def test_the_auto_resume_schedule_runs_its_job_and_returns_its_report() -> None:
    bot = BotCommands()

    assert bot.wired_to(*EVERY_SOURCE)(schedule_event("schedule-auto-resume"), LambdaContext()) == {"resumed": 2}
    assert (bot.sweeps, bot.commands, bot.routes_built) == (1, [], 0)


def test_a_request_to_a_function_wired_only_to_its_queue_is_refused_naming_what_it_takes() -> None:
    bot = BotCommands()

    with pytest.raises(
        UnexpectedEvent, match=r"^this function is not wired to HTTP requests \(it takes SQS batches\)$"
    ):
        bot.wired_to("records")(http_api_event("GET", "/bot/93589657"), LambdaContext())
    assert bot.routes_built == 0


def test_a_schedule_is_refused_by_a_function_of_queue_and_routes_only() -> None:
    bot = BotCommands()

    with pytest.raises(UnexpectedEvent, match=r"not wired to scheduled events \(it takes SQS batches, HTTP requests\)"):
        bot.wired_to("records", "http")(schedule_event(), LambdaContext())
    assert bot.sweeps == 0


def test_an_event_of_unknown_shape_is_refused_naming_its_keys_not_its_content() -> None:
    bot = BotCommands()
    event = {"phone": "+55 11 98765-4321", "text": "Quero um orçamento"}

    with pytest.raises(UnexpectedEvent) as refused:
        bot.wired_to(*EVERY_SOURCE)(event, LambdaContext())

    assert str(refused.value) == (
        "an event of unknown shape (keys: phone, text): "
        "this function takes SQS batches, HTTP requests, scheduled events"
    )
    assert (bot.commands, bot.routes_built, bot.sweeps) == ([], 0, 0)
