"""Kommo webhooks posted to the intake function: routed to the right queue, once, or refused with a reason."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote_plus, urlencode

import pytest

from local.lambda_events import LambdaContext
from local.sam_events import kommo_body, webhook_event
from tests.conftest import WEBHOOK_TOKEN, handler_of, queue_messages


@pytest.fixture
def post_webhook(aws: Any) -> Any:
    handler = handler_of(aws, "WebhookIntakeFunction")

    def post(body: str, *, token: str = WEBHOOK_TOKEN, content_type: str | None = None) -> tuple[int, dict[str, Any]]:
        event = webhook_event(body, token)
        if content_type is not None:
            event["headers"]["content-type"] = content_type
        response = handler(event, LambdaContext(function_name="WebhookIntakeFunction"))
        return response["statusCode"], json.loads(response["body"])

    return post


def bodies_on(aws: Any, queue_id: str) -> list[dict[str, Any]]:
    return [json.loads(message["Body"]) for message in queue_messages(aws, queue_id)]


def test_a_client_message_goes_once_to_the_conversations_queue(post_webhook: Any, aws: Any) -> None:
    status, answer = post_webhook(kommo_body("client-message"))
    assert status == 200 and answer == {"accepted": 1, "echoes": 0, "automations": 0, "ignored": 0, "parked": 0}
    [item] = bodies_on(aws, "ConversationsQueue")
    assert item["kind"] == "client_message"
    assert item["message"]["id"] == "a0ce13c7-4825-4d5e-9f3b-1c2d3e4f5a60"
    assert item["message"]["text"].endswith("😊")
    assert bodies_on(aws, "CommandsQueue") == [] and bodies_on(aws, "LeadEventsQueue") == []


def test_the_same_webhook_delivered_twice_is_queued_once(post_webhook: Any, aws: Any) -> None:
    assert post_webhook(kommo_body("client-message"))[0] == 200
    assert post_webhook(kommo_body("client-message"))[0] == 200
    assert len(bodies_on(aws, "ConversationsQueue")) == 1


def test_a_message_another_delivery_is_still_enqueuing_is_acknowledged_only_once_enqueued(
    post_webhook: Any, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kommo sent the webhook again while its first delivery is still enqueuing the client's message. Had
    this one answered 200 and marked the message received, a failure of the first would be recovered by
    neither Kommo's retry nor the canary's watchdog."""
    from sales_assistant import composition
    from sales_assistant.adapters.received import DynamoReceivedMessages
    from sales_assistant.config import get_settings

    message_id = "a0ce13c7-4825-4d5e-9f3b-1c2d3e4f5a60"
    received = DynamoReceivedMessages(get_settings().kommo_table)
    with monkeypatch.context() as patch:
        patch.setattr(
            composition, "once_or_in_progress", lambda settings: lambda *args, **kwargs: {"in_progress": True}
        )
        status, answer = post_webhook(kommo_body("client-message"))
    unmarked = received.missing([message_id])
    assert status != 200 or unmarked, (status, answer)
    assert (status, answer["error"]) == (409, "event_in_progress")  # Kommo sends it again later
    assert unmarked == {message_id}

    status, answer = post_webhook(kommo_body("client-message"))  # Kommo's next try: the first one failed
    assert (status, answer["accepted"]) == (200, 1)
    assert received.missing([message_id]) == set()
    assert len(bodies_on(aws, "ConversationsQueue")) == 1


def test_two_messages_in_one_body_are_two_items_in_order(post_webhook: Any, aws: Any) -> None:
    status, answer = post_webhook(kommo_body("client-two-messages"))
    assert status == 200 and answer["accepted"] == 2
    texts = [item["message"]["text"] for item in bodies_on(aws, "ConversationsQueue")]
    assert sorted(texts) == ["oi", "tudo bem? quero saber do benefício"]


def test_a_picture_with_empty_text_is_queued_with_its_attachment(post_webhook: Any, aws: Any) -> None:
    assert post_webhook(kommo_body("client-picture"))[0] == 200
    [item] = bodies_on(aws, "ConversationsQueue")
    assert item["message"]["text"] == "" and item["message"]["attachment"]["type"] == "picture"


def test_a_salesperson_command_goes_to_the_commands_queue(post_webhook: Any, aws: Any) -> None:
    status, answer = post_webhook(kommo_body("salesperson-assumir"))
    assert status == 200 and answer["accepted"] == 1
    [item] = bodies_on(aws, "CommandsQueue")
    assert item["kind"] == "salesperson_message" and item["message"]["text"] == "/assumir 27754599"


@pytest.mark.parametrize("name", ["lead-added", "lead-status-changed", "lead-responsible-changed", "unsorted-added"])
def test_lead_events_go_to_the_lead_events_queue(post_webhook: Any, aws: Any, name: str) -> None:
    assert post_webhook(kommo_body(name))[0] == 200
    [item] = bodies_on(aws, "LeadEventsQueue")
    assert item["kind"] in {"lead_change", "unsorted_lead"}


def test_the_services_own_lead_move_is_dropped_as_an_echo(post_webhook: Any, aws: Any) -> None:
    from sales_assistant.adapters.echo_memory import DynamoEchoMemory
    from sales_assistant.config import get_settings
    from sales_assistant.services.echoes import lead_update_echo_keys

    settings = get_settings()
    DynamoEchoMemory(settings.kommo_table, 60).remember(lead_update_echo_keys(27754599, status_id=61234568))
    status, answer = post_webhook(kommo_body("lead-status-changed"))
    assert status == 200 and answer["accepted"] == 0 and answer["echoes"] == 1
    assert bodies_on(aws, "LeadEventsQueue") == []


def with_author(user_id: str, *, author_type: str = "internal", name: str = "Ana Souza") -> str:
    """The salesperson's /assumir body, written by another author."""
    body = kommo_body("salesperson-assumir").replace(
        "author%5D%5Buser_id%5D=8401234", f"author%5D%5Buser_id%5D={user_id}"
    )
    body = re.sub(r"author%5D%5Btype%5D=[^&]*", f"author%5D%5Btype%5D={author_type}", body)
    return re.sub(r"author%5D%5Bname%5D=[^&]*", "author%5D%5Bname%5D=" + quote_plus(name), body)


def test_an_outgoing_message_nobody_in_kommo_wrote_is_the_phone_app_and_pauses(post_webhook: Any, aws: Any) -> None:
    status, answer = post_webhook(with_author("0"))
    assert status == 200 and answer["accepted"] == 1
    [item] = bodies_on(aws, "CommandsQueue")
    assert item["author"] == "phone_app" and item["message"]["author"]["user_id"] is None


def test_with_unattributed_outgoing_ignored_the_phone_app_is_not_a_human(
    post_webhook: Any, aws: Any, monkeypatch: Any
) -> None:
    from tests.conftest import reset_caches

    monkeypatch.setenv("UNATTRIBUTED_OUTGOING", "ignore")
    reset_caches()
    status, answer = post_webhook(with_author("0"))
    assert status == 200 and answer["accepted"] == 0
    assert bodies_on(aws, "CommandsQueue") == []


@pytest.mark.parametrize(
    "body",
    [with_author("0", author_type="bot"), with_author("8401299", name="Salesbot Boas-vindas")],
    ids=["author-type-bot", "configured-automation-name"],
)
def test_an_automations_message_never_reaches_the_takeover(
    post_webhook: Any, aws: Any, monkeypatch: Any, body: str
) -> None:
    from tests.conftest import reset_caches

    monkeypatch.setenv("AUTOMATION_AUTHORS", "Salesbot Boas-vindas, 8401300")
    reset_caches()
    status, answer = post_webhook(body)
    assert status == 200 and answer["automations"] == 1 and answer["accepted"] == 0
    assert bodies_on(aws, "CommandsQueue") == []


def test_the_services_own_message_coming_back_without_its_lead_is_an_echo(post_webhook: Any, aws: Any) -> None:
    from sales_assistant.adapters.echo_memory import DynamoEchoMemory
    from sales_assistant.config import get_settings
    from sales_assistant.services.echoes import sent_message_echo_keys

    memory = DynamoEchoMemory(get_settings().kommo_table, 7200)
    keys = sent_message_echo_keys("lead:27754599", 93589657, "/assumir 27754599")
    memory.remember(keys)
    body = re.sub(r"&message%5Badd%5D%5B0%5D%5B(element|entity)_(id|type)%5D=[^&]*", "", with_author("0"))
    status, answer = post_webhook(body)
    assert status == 200 and answer["echoes"] == 1 and answer["accepted"] == 0
    assert memory.seen(keys[1])  # the contact's key matched: the delivery is confirmed


@pytest.mark.parametrize(
    "body, token, content_type, status, code",
    [
        ("message[add][0][id]=1", "wrong-token-wrong-token-00", None, 404, "not_found"),
        ("\x00\x01garbage%%%", WEBHOOK_TOKEN, None, 400, "malformed_body"),
        ("", WEBHOOK_TOKEN, None, 400, "empty_body"),
        ('{"message": "json"}', WEBHOOK_TOKEN, "application/json", 415, "unsupported_media_type"),
        ("a=" + "x" * (1024 * 1024), WEBHOOK_TOKEN, None, 413, "payload_too_large"),
        (
            urlencode([("account[id]", "31257294"), ("spam[add][0][id]", "1")]),
            WEBHOOK_TOKEN,
            None,
            422,
            "unknown_event",
        ),
        (
            urlencode([("account[id]", "1"), ("account[subdomain]", "other"), ("leads[add][0][id]", "5")]),
            WEBHOOK_TOKEN,
            None,
            403,
            "foreign_account",
        ),
    ],
    ids=["wrong-token", "garbage", "empty", "json", "1MB", "unknown-event", "foreign-account"],
)
def test_hostile_bodies_get_a_clear_4xx_and_nothing_is_queued(
    post_webhook: Any, aws: Any, body: str, token: str, content_type: str | None, status: int, code: str
) -> None:
    got_status, answer = post_webhook(body, token=token, content_type=content_type)
    assert (got_status, answer["error"]) == (status, code)
    assert answer["message"]
    for queue in ("ConversationsQueue", "CommandsQueue", "LeadEventsQueue"):
        assert bodies_on(aws, queue) == []


def test_a_truncated_body_queues_its_complete_message_and_parks_the_rest(post_webhook: Any, aws: Any) -> None:
    body = kommo_body("client-two-messages")
    status, answer = post_webhook(body[: body.index("message%5Badd%5D%5B1%5D%5Bcreated_at")].rstrip("&"))
    assert status == 200 and answer["accepted"] == 1 and answer["parked"] == 1
    assert [item["message"]["text"] for item in bodies_on(aws, "ConversationsQueue")] == ["oi"]
    [parked] = parked_items()
    assert parked["where"] == "message[add][1]" and "created_at" in parked["reason"]

    status, answer = post_webhook(body)  # Kommo's retry of the whole body: the second message, once
    assert status == 200 and [item["message"]["text"] for item in bodies_on(aws, "ConversationsQueue")] == [
        "tudo bem? quero saber do benefício"
    ]


@pytest.mark.parametrize(
    "extra",
    [
        [("message[add][1][id]", "broken"), ("message[add][1][type]", "incoming")],
        [("leads[status][0][id]", "9" * 45)],
        [("unsorted[add][0][pipeline_id]", "x")],
        [("message[add][1][contact_id]", "\u0661\u0662")],
    ],
    ids=["message-without-fields", "45-digit-id", "unsorted-without-uid", "unicode-digits"],
)
def test_one_bad_entity_never_costs_the_client_message_beside_it(
    post_webhook: Any, aws: Any, extra: list[tuple[str, str]]
) -> None:
    body = kommo_body("client-message") + "&" + urlencode(extra)
    status, answer = post_webhook(body)
    assert status == 200 and answer["accepted"] == 1 and answer["parked"] == 1
    assert len(bodies_on(aws, "ConversationsQueue")) == 1


def parked_items() -> list[dict[str, Any]]:
    import boto3

    from sales_assistant.config import get_settings

    table = boto3.resource("dynamodb").Table(get_settings().kommo_table)
    return [item for item in table.scan()["Items"] if str(item["pk"]).startswith("parked#")]
