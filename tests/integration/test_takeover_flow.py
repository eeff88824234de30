"""Scenario 3 end to end: salespeople take over with /assumir and give back with /liberar, typed in the
Kommo chat; the admin API does the same; the bot never talks over a human."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3

from local.lambda_events import http_api_event, schedule_event, sqs_event
from local.sam_events import kommo_body
from local.sqs_pump import deliver_batch, receive
from sales_assistant.config import get_settings
from tests.conftest import World
from tests.integration.test_fault_suite import wait_until
from tests.integration.test_reactive_flow import client_message


def salesperson_message(message_id: str, text: str) -> str:
    body = kommo_body("salesperson-assumir")
    return body.replace("e4a257ab-8c69-4192-9d7f-5a6b7c8d9ea4", message_id).replace(
        "%2Fassumir+27754599", json.dumps(text)[1:-1].replace(" ", "+").replace("/", "%2F")
    )


def admin(
    world: World, method: str, path: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None
) -> tuple[int, Any]:
    return world.api("BotCommandsFunction", method, path, body, query=query)


def test_assumir_with_the_lead_id_pauses_the_contact_and_notes_it(world: World) -> None:
    world.post_webhook(salesperson_message("cmd-1", "/assumir 27754599"))
    world.pump()
    state = world.bot_state()
    assert state.status == "paused" and state.by_user_id == 8401234 and state.reason == "command"
    [note] = world.kommo.notes
    assert note["params"]["text"] == "Bot pausado por Ana Souza (comando /assumir)."
    assert [turn.role for turn in world.conversation().turns] == ["salesperson"]


def test_liberar_resumes_and_the_bot_answers_again(world: World) -> None:
    world.post_webhook(salesperson_message("cmd-1", "/assumir"))
    world.pump()
    world.post_webhook(client_message("c-1", "oi?"))
    world.pump()
    assert world.kommo.salesbot_runs == []
    world.post_webhook(salesperson_message("cmd-2", "/liberar"))
    world.pump()
    assert world.bot_state().status == "active"
    world.post_webhook(client_message("c-2", "alguém aí?"))
    world.pump()
    assert len(world.kommo.salesbot_runs) == 1


def commands_round(world: World) -> None:
    """One delivery of what waits on the commands queue; a failed record is visible again at once."""
    url, arn = world.stack.physical_ids["CommandsQueue"], world.stack.arns["CommandsQueue"]
    if messages := receive(world.sqs, url):
        deliver_batch(world.sqs, world.handler("BotCommandsFunction"), url, arn, messages, retry_after_seconds=0)


def test_a_liberar_whose_note_kommo_refuses_never_holds_up_the_salespersons_next_reply(world: World) -> None:
    """Kommo refuses notes while Ana gives the chat back and then writes to Mariana by hand: /liberar's note waits
    on its own, her reply pauses the bot at once (it would have waited behind the note in the lead's FIFO group),
    the client is not answered over her, and the note is written when Kommo takes notes again."""
    world.post_webhook(salesperson_message("cmd-1", "/assumir"))
    world.pump()
    for path in ("/api/v4/leads/notes", "/api/v4/leads/27754599/notes"):  # in bulk, or one
        world.kommo.fail_for(600, 500, path)
    world.post_webhook(salesperson_message("cmd-2", "/liberar"))
    world.post_webhook(salesperson_message("manual-1", "Oi Mariana, é a Ana de novo. Te ligo em 5 min."))
    for _ in range(3):  # the command, the reply and the queued note, each as the queue gives them
        commands_round(world)

    state = world.bot_state()
    assert state.status == "paused" and state.reason == "manual_reply"
    world.post_webhook(client_message("c-1", "combinado!"))
    for _ in range(3):
        world.pump_queue("ConversationsQueue", "ConversationWorkerFunction")
    assert world.kommo.salesbot_runs == []

    world.kommo.recover()
    kommo_table = boto3.resource("dynamodb").Table(get_settings().kommo_table)
    kommo_table.update_item(  # the breaker's wait, if the refusals opened it, is over (30 s in real time)
        Key={"pk": "breaker#kommo"}, UpdateExpression="SET open_until = :past", ExpressionAttributeValues={":past": 1}
    )
    commands_round(world)
    notes = [note["params"]["text"] for note in world.kommo.notes]
    assert notes.count("Bot reativado por Ana Souza (comando /liberar).") == 1


def test_a_salespersons_normal_reply_pauses_the_bot(world: World) -> None:
    world.post_webhook(salesperson_message("manual-1", "Oi Mariana, aqui é a Ana. Posso te ligar?"))
    world.pump()
    state = world.bot_state()
    assert state.status == "paused" and state.reason == "manual_reply" and state.resume_at
    assert world.kommo.notes[0]["params"]["text"] == "Bot pausado por Ana Souza (resposta manual no chat)."


def test_a_client_typing_liberar_is_just_text_for_the_ai(world: World) -> None:
    world.post_webhook(salesperson_message("cmd-1", "/assumir"))
    world.pump()
    world.post_webhook(client_message("c-1", "/liberar"))
    world.pump()
    assert world.bot_state().status == "paused"
    assert world.kommo.salesbot_runs == []


def test_an_unknown_id_changes_nothing_and_the_salesperson_is_told(world: World) -> None:
    world.post_webhook(salesperson_message("cmd-1", "/assumir 424242"))
    world.pump()
    assert world.bot_state().status == "active"
    assert (
        world.kommo.notes[0]["params"]["text"] == "Não encontrei lead nem contato com o id 424242. Nada foi alterado."
    )


def test_a_duplicate_command_webhook_changes_the_state_once(world: World) -> None:
    from sales_assistant.models.kommo_webhook import parse_kommo_webhook
    from sales_assistant.models.queue import SalespersonMessageReceived

    body = salesperson_message("cmd-dup", "/assumir")
    world.post_webhook(body)
    world.post_webhook(body)
    world.pump()
    [message] = parse_kommo_webhook(body).outgoing_messages
    redelivered = {
        "MessageId": "redelivery-1",
        "Body": SalespersonMessageReceived(message=message).model_dump_json(),
        "Attributes": {"MessageGroupId": message.conversation_id},
    }
    result = world.handler("BotCommandsFunction")(sqs_event([redelivered]))  # SQS delivers at least once
    assert result["batchItemFailures"] == []
    assert world.bot_state().version == 1 and len(world.kommo.notes) == 1
    assert len(world.conversation().turns) == 1


def test_a_takeover_while_n8n_is_thinking_drops_the_reply(world: World, atomic_dynamodb: None) -> None:
    world.n8n.holds["lead:27754599"] = threading.Event()
    world.post_webhook(client_message("c-1", "quanto custa o plano?"))
    thinking = threading.Thread(target=world.pump)
    thinking.start()
    wait_until(lambda: bool(world.n8n.requests), "n8n is thinking about the reply")  # however busy the machine
    world.post_webhook(salesperson_message("cmd-1", "/assumir"))
    world.pump_commands()
    world.n8n.holds["lead:27754599"].set()
    thinking.join(timeout=30)
    assert world.kommo.salesbot_runs == [] and world.reply_field() == ""
    turns = world.conversation().turns
    assert turns[-1].role == "assistant" and turns[-1].delivered is False
    assert any("descartada" in note["params"]["text"] for note in world.kommo.notes)


def test_admin_api_pauses_lists_and_resumes(world: World) -> None:
    status, paused = admin(world, "POST", "/bot/93589657/pause", {"by": "Supervisor", "lead_id": 27754599})
    assert status == 200 and paused["status"] == "paused" and paused["reason"] == "admin_api"
    assert admin(world, "GET", "/bot/93589657")[1]["description"].startswith("pausado por Supervisor")
    status, listing = admin(world, "GET", "/bot", query={"status": "paused"})
    assert status == 200 and [c["contact_id"] for c in listing["contacts"]] == [93589657]
    status, resumed = admin(world, "POST", "/bot/93589657/resume")
    assert status == 200 and resumed["status"] == "active"
    assert [n["params"]["text"] for n in world.kommo.notes] == [
        "Bot pausado por Supervisor (painel de administração).",
        "Bot reativado por admin (painel de administração).",
    ]


def test_admin_api_refuses_bad_input_with_a_reason(world: World) -> None:
    assert admin(world, "POST", "/bot/abc/pause")[0] == 422
    status, body = admin(world, "POST", "/bot/93589657/pause", {"lead_id": "nope"})
    assert status == 400 and body["error"] == "invalid_body" and "lead_id" in body["message"]
    assert admin(world, "GET", "/bot", query={"status": "active"})[0] == 422
    response = world.handler("BotCommandsFunction")(http_api_event("GET", "/bot/93589657"))
    assert response["statusCode"] == 401


def test_the_schedule_resumes_overdue_pauses(world: World) -> None:
    from sales_assistant.adapters.bot_state import DynamoBotStateRepository
    from sales_assistant.config import get_settings

    world.post_webhook(salesperson_message("cmd-1", "/assumir"))
    world.pump()
    repository = DynamoBotStateRepository(get_settings().bot_state_table)
    state = repository.get(93589657)
    assert state is not None
    repository.save(state.model_copy(update={"resume_at": 1, "version": state.version + 1}), state.version)
    result = world.handler("BotCommandsFunction")(schedule_event())
    assert result == {"resumed": [93589657], "escalated": []} and world.bot_state().status == "active"


def test_a_redelivered_liberar_never_undoes_a_later_assumir(world: World) -> None:
    from sales_assistant.models.kommo_webhook import parse_kommo_webhook
    from sales_assistant.models.queue import SalespersonMessageReceived

    world.post_webhook(salesperson_message("cmd-a", "/assumir"))
    world.pump()
    liberar = salesperson_message("cmd-b", "/liberar")
    world.post_webhook(liberar)
    world.pump()
    world.post_webhook(salesperson_message("cmd-c", "/assumir"))
    world.pump()
    assert world.bot_state().status == "paused"

    [message] = parse_kommo_webhook(liberar).outgoing_messages
    late = {
        "MessageId": "late-redelivery",
        "Body": SalespersonMessageReceived(message=message).model_dump_json(),
        "Attributes": {"MessageGroupId": message.conversation_id},
    }
    assert world.handler("BotCommandsFunction")(sqs_event([late]))["batchItemFailures"] == []
    assert world.bot_state().status == "paused"  # the /liberar of before stays applied once


def test_a_reply_from_the_whatsapp_business_phone_app_pauses_the_bot(world: World) -> None:
    body = salesperson_message("phone-1", "Oi! Aqui é a Ana, pelo celular").replace(
        "author%5D%5Buser_id%5D=8401234", "author%5D%5Buser_id%5D=0"
    )
    assert world.post_webhook(body)["accepted"] == 1
    world.pump()
    state = world.bot_state()
    assert state.status == "paused" and state.reason == "manual_reply" and "WhatsApp Business" in state.by_name


def test_another_automations_greeting_never_pauses_the_bot(world: World) -> None:
    body = salesperson_message("bot-1", "Bem-vindo! Em que posso ajudar?").replace(
        "author%5D%5Btype%5D=internal", "author%5D%5Btype%5D=bot"
    )
    assert world.post_webhook(body)["automations"] == 1
    world.pump()
    assert world.bot_state().status == "active"
