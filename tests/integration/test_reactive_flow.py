"""Scenario 2 end to end: a client's WhatsApp message, as Kommo posts it, gets one answer from n8n,
delivered through the Salesbot relay and noted on the lead; or exactly one fallback."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from local.kommo_webhooks import CLIENT_AUTHOR, chat_body
from local.sam_events import kommo_body
from tests.conftest import World, queue_messages


def client_message(
    message_id: str,
    text: str,
    *,
    created_at: int | None = None,
    lead: int = 27754599,
    contact: int = 93589657,
    extra: list[tuple[str, str]] | None = None,
) -> str:
    """A client's WhatsApp message as Kommo posts it."""
    return chat_body(
        message_id, text, "incoming", CLIENT_AUTHOR, created_at=created_at, lead=lead, contact=contact, extra=extra
    )


def bot_echo(text: str, *, message_id: str = "echo-1", lead: int = 27754599, contact: int = 93589657) -> str:
    """The webhook Kommo sends when the Salesbot's message appears in the chat (no Kommo user behind it)."""
    author = {"author[type]": "internal", "author[user_id]": "0"}
    return chat_body(message_id, text, "outgoing", author, lead=lead, contact=contact)


def kommo_calls(world: World) -> list[str]:
    return [f"{r.method} {r.path}" for r in world.kommo.requests if r.method != "GET"]


def test_one_client_message_gets_one_reply_patched_run_and_noted_in_that_order(world: World) -> None:
    world.post_webhook(kommo_body("client-message"))
    world.pump()

    [asked] = world.n8n.requests
    request = asked["body"]
    assert asked["path"] == "/webhook/kommo-reply"
    assert request["kind"] == "reply" and request["version"] == "2"
    assert request["conversation_id"] == "lead:27754599"
    assert request["lead"]["area"] == "Auto" and request["lead"]["id"] == 27754599
    assert request["contact"] == {"id": 93589657, "name": "Mariana Costa", "phone": "+55 11 98765-4321"}
    assert [m["text"] for m in request["messages"]] == ["Oi! Vi o anúncio do consórcio, queria saber como funciona 😊"]
    assert request["window_open"] is True

    assert kommo_calls(world) == [
        "PATCH /api/v4/leads/27754599",
        "POST /api/v2/salesbot/run",
        "POST /api/v4/leads/27754599/notes",
    ]
    assert world.reply_field().startswith("Olá, Mariana! Recebi sua mensagem sobre Auto")
    [run] = world.kommo.salesbot_runs
    assert run == {**run, "bot_id": 101, "entity_id": 27754599, "entity_type": 2}
    [note] = world.kommo.notes
    assert "💬 Cliente:" in note["params"]["text"] and "🤖 Assistente:" in note["params"]["text"]
    turns = world.conversation().turns
    assert [turn.role for turn in turns] == ["client", "assistant"]


def test_the_same_webhook_delivered_three_times_gets_one_reply(world: World) -> None:
    for _ in range(3):
        world.post_webhook(kommo_body("client-message"))
    world.pump()
    assert len(world.n8n.requests) == 1 and len(world.kommo.salesbot_runs) == 1


def test_a_message_redelivered_by_sqs_is_answered_once(world: World) -> None:
    from sales_assistant.adapters.queues import QueuePublisher
    from sales_assistant.config import get_settings
    from sales_assistant.models.kommo_webhook import parse_kommo_webhook
    from sales_assistant.models.queue import ClientMessageReceived

    [message] = parse_kommo_webhook(kommo_body("client-message")).client_messages
    publisher = QueuePublisher.from_settings(get_settings())
    for _ in range(3):  # bypassing intake's dedup: the worker's own idempotency holds
        publisher.publish(ClientMessageReceived(message=message))
    world.pump()
    assert len(world.n8n.requests) == 1 and len(world.kommo.salesbot_runs) == 1


def test_three_quick_messages_go_to_n8n_as_one_batch_with_one_reply(world: World) -> None:
    sent_at = int(time.time())  # within the 24-hour window, whatever today is
    for index, text in enumerate(["oi", "tudo bem?", "quero saber do benefício"]):
        world.post_webhook(client_message(f"burst-{index}", text, created_at=sent_at + index))
    world.pump()
    [asked] = world.n8n.requests
    assert [m["text"] for m in asked["body"]["messages"]] == ["oi", "tudo bem?", "quero saber do benefício"]
    assert len(world.kommo.salesbot_runs) == 1
    assert "Recebi suas mensagens" in world.reply_field()


def test_a_paused_contact_gets_no_answer_but_the_message_is_kept(world: World) -> None:
    from sales_assistant.composition import takeover_service
    from sales_assistant.config import get_settings
    from sales_assistant.models.bot_state import ChangeReason
    from sales_assistant.services.takeover import Actor

    takeover_service(get_settings()).pause(
        93589657, Actor(8401234, "Ana Souza"), ChangeReason.COMMAND, "cmd-1", 27754599
    )
    world.kommo.requests.clear()
    world.post_webhook(kommo_body("client-message"))
    world.pump()
    assert world.n8n.requests == [] and world.kommo.salesbot_runs == []
    assert [turn.text for turn in world.conversation().turns][-1].startswith("Oi! Vi o anúncio")


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "times": 2},
        {"status": 200, "raw": b"<html>not json</html>"},
        {"status": 200, "body": {"unexpected": "shape"}},
        {"status": 200, "body": {"reply": "tarde demais"}, "delay_seconds": 2.5},
        {"status": 200, "body": {"reply": "Olá! Quer marcar uma conversa?"}, "signature": "missing"},
        {"status": 200, "body": {"reply": "Olá! Quer marcar uma conversa?"}, "signature": "wrong"},
    ],
    ids=["500", "invalid-json", "invalid-response", "timeout", "unsigned-answer", "badly-signed-answer"],
)
def test_n8n_failing_gets_exactly_one_fallback_and_a_task(world: World, failure: dict[str, Any]) -> None:
    times = failure.pop("times", 1)
    for _ in range(times):
        world.n8n.respond_with(**failure)
    world.post_webhook(kommo_body("client-message"))
    world.pump()
    assert len(world.kommo.salesbot_runs) == 1
    assert world.reply_field().startswith("Olá! Recebemos sua mensagem")
    [task] = world.kommo.tasks
    assert task["responsible_user_id"] == 8401234 and "não conseguiu responder" in task["text"]


def test_a_salesbot_run_kommo_may_have_applied_is_never_run_again_and_its_echo_confirms_it(world: World) -> None:
    from local.sqs_pump import deliver_batch, receive

    world.kommo.fail_next("/api/v2/salesbot/run", 503)  # Kommo may or may not have started the bot
    world.post_webhook(kommo_body("client-message"))
    world.pump_client_messages()
    url, arn = world.stack.physical_ids["ConversationsQueue"], world.stack.arns["ConversationsQueue"]
    worker = world.handler("ConversationWorkerFunction")
    deliver_batch(world.sqs, worker, url, arn, receive(world.sqs, url), retry_after_seconds=0)
    assert world.kommo.notes == []  # not confirmed yet

    reply = world.reply_field()
    world.post_webhook(bot_echo(reply))  # Kommo reports the bot's message in the chat: it was delivered
    world.pump()

    assert len(world.kommo.calls("POST", "/api/v2/salesbot/run")) == 1  # never posted twice
    assert len(world.kommo.notes) == 1
    assert len(world.n8n.requests) == 1  # the retry reused n8n's answer: delivered text = noted text
    assert world.conversation().turns[-1].text == reply


def test_a_salesbot_run_kommo_refused_is_run_again_on_the_retry(world: World) -> None:
    world.kommo.fail_next("/api/v2/salesbot/run", 400)  # refused: certainly not started
    world.post_webhook(kommo_body("client-message"))
    world.pump()
    assert len(world.kommo.calls("POST", "/api/v2/salesbot/run")) == 2
    assert len(world.kommo.salesbot_runs) == 1
    assert len(world.kommo.notes) == 1
    assert len(world.n8n.requests) == 1


def test_two_conversations_in_parallel_do_not_block_each_other(world: World, atomic_dynamodb: None) -> None:
    from local.sqs_pump import deliver_batch, receive

    world.n8n.holds["lead:27754599"] = threading.Event()
    world.post_webhook(client_message("slow-1", "oi, sou a Mariana"))
    world.post_webhook(client_message("fast-1", "oi, sou o Rafael", lead=27754600, contact=93589658))
    world.pump_client_messages()
    url, arn = world.stack.physical_ids["ConversationsQueue"], world.stack.arns["ConversationsQueue"]
    flushes: dict[bool, Any] = {}
    while len(flushes) < 2 and (batch := receive(world.sqs, url)):
        flushes.update({("lead:27754599" in message["Body"]): message for message in batch})
    worker = world.handler("ConversationWorkerFunction")
    # Each flush job in its own invocation, as concurrent Lambdas run them.
    slow = threading.Thread(target=deliver_batch, args=(world.sqs, worker, url, arn, [flushes[True]]))
    slow.start()
    try:
        deliver_batch(world.sqs, worker, url, arn, [flushes[False]])
        assert world.reply_field(27754600).startswith("Olá, Rafael!")
        assert world.reply_field(27754599) == ""  # Mariana's answer is still being written
    finally:
        world.n8n.holds["lead:27754599"].set()
        slow.join(timeout=30)
    assert world.reply_field(27754599).startswith("Olá, Mariana!")


def test_a_picture_goes_to_n8n_with_its_type_and_link(world: World) -> None:
    world.post_webhook(kommo_body("client-picture"))
    world.pump()
    [message] = world.n8n.requests[0]["body"]["messages"]
    assert message["type"] == "picture" and message["attachment"]["link"].endswith("comprovante.jpg")
    assert world.reply_field().startswith("Recebi seu arquivo")


def test_a_voice_note_is_never_dropped(world: World) -> None:
    voice = [
        ("message_type", "voice"),
        ("attachment[type]", "voice"),
        ("attachment[link]", "https://amojo.kommo.com/attachments/a1/audio.ogg"),
    ]
    world.post_webhook(client_message("voice-1", "", extra=voice))
    world.pump()
    assert world.n8n.requests[0]["body"]["messages"][0]["type"] == "voice"
    assert world.reply_field().startswith("Recebi seu áudio")


def test_a_message_with_nothing_readable_gets_the_could_not_read_reply(world: World) -> None:
    world.post_webhook(client_message("empty-1", "", extra=[("message_type", "location")]))
    world.pump()
    assert world.n8n.requests == []
    assert world.reply_field().startswith("Desculpe, não consegui abrir sua mensagem")


def test_a_client_asking_for_a_human_is_handed_over(world: World) -> None:
    world.post_webhook(client_message("human-1", "quero falar com um atendente"))
    world.pump()
    assert world.reply_field().startswith("Claro, Mariana!")
    state = world.bot_state()
    assert state.status == "paused" and state.reason == "ai_handover"
    assert any("atendimento humano" in task["text"] for task in world.kommo.tasks)
    world.post_webhook(client_message("human-2", "alô?"))
    world.pump()
    assert len(world.kommo.salesbot_runs) == 1  # the bot stays silent after the handover


def test_the_bots_own_reply_coming_back_as_an_outgoing_message_is_an_echo(world: World) -> None:
    world.post_webhook(kommo_body("client-message"))
    world.pump()
    echo = kommo_body("salesperson-assumir").replace("%2Fassumir+27754599", urlencode({"x": world.reply_field()})[2:])
    answer = world.post_webhook(echo)
    assert answer["accepted"] == 0 and answer["echoes"] == 1
    assert world.bot_state().status == "active"


def test_a_message_kommo_keeps_refusing_ends_in_the_dlq_not_lost(world: World) -> None:
    from tests.conftest import queue_messages

    world.kommo.fail_next("/api/v2/salesbot/run", 503, times=20)
    world.post_webhook(kommo_body("client-message"))
    world.pump(rounds=12)
    [dead] = queue_messages(world.stack, "ConversationsDLQ")
    assert '"flush_due"' in dead["Body"]
    assert world.kommo.salesbot_runs == []


def test_a_message_on_a_lead_deleted_in_kommo_is_kept_without_failing(world: World) -> None:
    from tests.conftest import queue_messages

    del world.kommo.leads[27754599]
    world.post_webhook(kommo_body("client-message"))
    world.pump()
    assert world.n8n.requests == [] and world.kommo.salesbot_runs == []
    assert queue_messages(world.stack, "ConversationsDLQ") == []
    assert world.conversation().turns[-1].role == "client"


def test_a_flush_that_finds_a_batch_in_flight_looks_again_when_its_lease_ends(world: World) -> None:
    import boto3

    from sales_assistant.composition import reactive_conversations
    from sales_assistant.config import get_settings

    world.post_webhook(client_message("m-1", "oi"))
    world.pump_client_messages()
    queue_messages(world.stack, "ConversationsQueue")  # the flush job is taken away: this test runs it
    flow = reactive_conversations(get_settings())
    conversation = world.conversation()
    boto3.resource("dynamodb").Table(get_settings().conversations_table).update_item(
        Key={"conversation_id": "lead:27754599"},
        UpdateExpression="SET lease_owner = :other, lease_until_ms = :later",
        ExpressionAttributeValues={":other": "job-that-will-die", ":later": int((time.time() + 30) * 1000)},
    )
    assert flow.flush("lead:27754599", conversation.seq, "job-2") == "busy"
    attributes = world.sqs.get_queue_attributes(
        QueueUrl=world.stack.physical_ids["ConversationsQueue"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"  # not dropped: due again when the lease ends


def test_a_deleted_contact_ends_the_batch_quietly_in_history(world: World) -> None:
    del world.kommo.contacts[93589657]
    world.post_webhook(client_message("m-1", "oi"))
    world.pump()
    assert world.kommo.salesbot_runs == [] and world.n8n.requests == []
    assert [turn.text for turn in world.conversation().turns] == ["oi"]
    assert queue_messages(world.stack, "ConversationsDLQ") == []


def test_a_message_whose_contact_is_not_on_the_lead_is_never_answered_there(world: World) -> None:
    world.post_webhook(client_message("m-1", "oi", contact=93589658))  # another lead's contact
    world.pump()
    assert world.kommo.salesbot_runs == [] and world.n8n.requests == []


def kommo_reads(world: World) -> list[str]:
    return [f"GET {r.path}" for r in world.kommo.requests if r.method == "GET"]


def test_the_next_message_reuses_the_lead_and_contact_read_for_the_first(world: World) -> None:
    world.post_webhook(client_message("m-1", "Oi, quero saber do consórcio"))
    world.pump()
    assert kommo_reads(world) == ["GET /api/v4/leads/27754599", "GET /api/v4/contacts/93589657"]
    world.kommo.requests.clear()

    world.post_webhook(client_message("m-2", "E qual é o prazo?"))
    world.pump()

    assert kommo_calls(world) == [
        "PATCH /api/v4/leads/27754599",
        "POST /api/v2/salesbot/run",
        "POST /api/v4/leads/27754599/notes",
    ]
    assert kommo_reads(world) == []  # 3 Kommo calls for this answer, not 5
    assert world.n8n.requests[-1]["body"]["contact"]["name"] == "Mariana Costa"


def test_a_lead_moved_in_kommo_makes_the_next_message_read_the_lead_again(world: World) -> None:
    world.post_webhook(client_message("m-1", "Oi, quero saber do consórcio"))
    world.pump()
    world.kommo.leads[27754599].update(responsible_user_id=8401240, status_id=61234568)  # as the webhook says
    world.post_webhook(kommo_body("lead-responsible-changed"))
    world.pump()
    world.kommo.requests.clear()

    world.post_webhook(client_message("m-2", "Quem vai me atender?"))
    world.pump()

    assert kommo_reads(world) == ["GET /api/v4/leads/27754599", "GET /api/v4/contacts/93589657"]
    assert world.n8n.requests[-1]["body"]["lead"]["status_id"] == 61234568


def test_another_contact_writing_in_the_lead_chat_is_checked_against_kommo_not_the_kept_lead(world: World) -> None:
    world.post_webhook(client_message("m-1", "Oi, quero saber do consórcio"))
    world.pump()
    world.kommo.requests.clear()

    world.post_webhook(client_message("m-2", "Sou outra pessoa", contact=93589658))
    world.pump()

    assert kommo_reads(world) == ["GET /api/v4/leads/27754599"]  # not linked to the lead: no reply
    assert len(world.kommo.salesbot_runs) == 1


def test_an_older_message_delivered_late_does_not_shrink_the_24_hour_window(aws: Any) -> None:
    """Kommo retries a webhook for about 1.5 h and the conversations queue is a standard queue (a batch's
    records run at once): a message the client wrote an hour earlier can be buffered after a newer one."""
    from sales_assistant.composition import conversation_repository
    from sales_assistant.config import get_settings
    from sales_assistant.models.kommo_webhook import ChatMessage

    def client_wrote(message_id: str, created_at: int) -> ChatMessage:
        return ChatMessage.model_validate(
            {
                "id": message_id,
                "chat_id": "chat-1",
                "contact_id": 93589657,
                "text": "oi",
                "created_at": created_at,
                "entity_type": "lead",
                "entity_id": 27754599,
                "type": "incoming",
            }
        )

    conversations = conversation_repository(get_settings())
    now = int(time.time())
    conversations.append(client_wrote("newer", now - 60), now)  # written a minute ago
    conversations.append(client_wrote("older", now - 3600), now)  # written an hour ago, its webhook retried late
    conversation = conversations.get("lead:27754599")
    assert conversation is not None and [message.id for message in conversation.buffer] == ["newer", "older"]
    assert conversation.last_client_message_at == now - 60, "the window opened an hour too early"


def test_an_n8n_answer_asking_too_many_actions_gets_the_fallback_and_nothing_else(world: World) -> None:
    """Each action costs Kommo calls from the account's shared budget: an answer with more than five, or with
    fields the contract does not name, is refused like any invalid answer."""
    too_many = [{"type": "lembrete", "reason": f"ligar {index}"} for index in range(6)]
    world.n8n.respond_with(200, {"reply": "Claro!", "actions": too_many})
    world.post_webhook(client_message("many-1", "me liga depois?"))
    world.pump()
    assert world.reply_field().startswith("Olá! Recebemos sua mensagem")
    [task] = world.kommo.tasks
    assert "não conseguiu responder" in task["text"]


def test_the_ai_moves_a_lead_only_to_a_status_the_assistant_may_set(world: World) -> None:
    """ASSISTANT_STATUS_IDS (locally 61234568) says where the AI may move a lead; won (142) is not one of
    them: the lead stays where it is and the salesperson gets a task naming the status asked."""
    world.n8n.respond_with(200, {"reply": "Fechado!", "actions": [{"type": "move_status", "status_id": 142}]})
    world.post_webhook(client_message("won-1", "pode fechar, eu compro"))
    world.pump()
    assert world.kommo.leads[27754599]["status_id"] == 61234567
    [task] = world.kommo.tasks
    assert "move_status" in task["text"] and "142" in task["text"]
    assert world.reply_field() == "Fechado!"


def test_a_lead_whose_trigger_data_grew_can_still_receive_client_messages(aws: Any) -> None:
    """A repeated trigger copies its data into the lead's conversation; however much a form posted, the
    copy is bounded, so the conversation always has room to buffer the client's messages."""
    from sales_assistant.composition import conversation_repository
    from sales_assistant.config import get_settings
    from sales_assistant.models.kommo_webhook import Author, ChatMessage

    conversations = conversation_repository(get_settings())
    now = int(time.time())
    merged = {f"f{index}": "x" * 7800 for index in range(50)}  # what 50 repeats of 7.8 KB used to leave behind
    conversations.set_context("lead:27754599", {"kind": "form", "data": merged}, now)

    def client_says(message_id: str) -> ChatMessage:
        return ChatMessage(
            id=message_id,
            chat_id="chat-1",
            contact_id=93589657,
            text="oi, tudo bem? " * 40,
            created_at=now,
            entity_type="lead",
            entity_id=27754599,
            type="incoming",
            author=Author(id="c", type="external", name="Mariana"),
        )

    for index in range(20):
        conversations.append(client_says(f"m-{index}"), now)
    conversation = conversations.get("lead:27754599")
    assert conversation is not None and len(conversation.buffer) == 20


def test_while_n8n_is_upgraded_from_contract_v1_its_unsigned_answer_is_still_delivered(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """N8N_UPGRADE_FROM_V1: the request also carries v1's X-Signature (for a workflow not upgraded yet),
    and an unsigned answer is used; a badly signed one is still refused."""
    from sales_assistant.adapters.n8n_signature import sign
    from tests.conftest import reset_caches

    monkeypatch.setenv("N8N_UPGRADE_FROM_V1", "true")
    reset_caches()
    world.n8n.respond_with(200, {"reply": "Olá, Mariana! Como posso ajudar?"}, signature="missing")
    world.post_webhook(kommo_body("client-message"))
    world.pump()

    [asked] = world.n8n.requests
    headers = asked["headers"]
    assert headers["x-signature"] == sign(world.n8n.secret, headers["x-timestamp"], asked["raw"])
    assert world.reply_field() == "Olá, Mariana! Como posso ajudar?" and world.kommo.tasks == []

    world.n8n.respond_with(200, {"reply": "assinada com outro segredo"}, signature="wrong")
    world.post_webhook(client_message("after-upgrade-1", "e o valor?"))
    world.pump()
    assert world.reply_field().startswith("Olá! Recebemos sua mensagem")


def test_kommo_down_opens_its_breaker_records_wait_without_calling_it_and_the_message_is_answered_once_back(
    world: World,
) -> None:
    """Kommo answers 503 to everything. After a few failures the shared breaker opens: the client's
    message waits in its queue without calling Kommo again (no slot burnt, no time-out waited on) and
    nothing reaches a DLQ; once Kommo answers and the breaker's wait is over, it is answered once."""
    import boto3

    from sales_assistant.config import get_settings

    def retry_the_flush_job() -> None:  # one delivery: the test's pump would retry it until its receives ran out
        world.pump_queue("ConversationsQueue", "ConversationWorkerFunction", once=True)

    world.kommo.fail_for(3600, 503)
    world.post_webhook(client_message("down-1", "oi, tem alguém aí?"))
    world.pump_client_messages()
    for _ in range(3):
        retry_the_flush_job()
    calls_while_opening = len(world.kommo.requests)
    for _ in range(3):
        retry_the_flush_job()
    assert len(world.kommo.requests) == calls_while_opening, "the open breaker let calls through"
    kommo_table = boto3.resource("dynamodb").Table(get_settings().kommo_table)
    assert kommo_table.get_item(Key={"pk": "breaker#kommo"})["Item"]["open_until"] > 0

    world.kommo.recover()
    kommo_table.update_item(  # the breaker's wait is over (30 s in real time)
        Key={"pk": "breaker#kommo"}, UpdateExpression="SET open_until = :past", ExpressionAttributeValues={":past": 1}
    )
    world.pump()
    assert len(world.kommo.salesbot_runs) == 1
    assert kommo_table.get_item(Key={"pk": "breaker#kommo"})["Item"]["open_until"] == 0
    assert queue_messages(world.stack, "ConversationsDLQ") == []


def test_n8n_down_opens_its_breaker_and_the_next_client_gets_the_fallback_without_waiting_on_it(
    world: World,
) -> None:
    """n8n answers 503 (each ask tries twice). After 5 failures in a row its breaker opens: the next
    message is answered with the fallback text and a task at once, without calling n8n."""
    for _ in range(6):
        world.n8n.respond_with(503, {"message": "n8n is down"})
    for index in range(3):
        world.post_webhook(client_message(f"n8n-down-{index}", f"oi, mensagem {index}"))
        world.pump()
    asked = len(world.n8n.requests)
    assert asked == 6 and len(world.kommo.salesbot_runs) == 3

    world.post_webhook(client_message("n8n-down-3", "alguém?"))
    world.pump()
    assert len(world.n8n.requests) == asked, "the open breaker let a call through"
    assert len(world.kommo.salesbot_runs) == 4 and world.reply_field().startswith("Olá! Recebemos sua mensagem")
