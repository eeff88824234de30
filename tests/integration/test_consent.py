"""Opt-out and erasure end to end (LGPD): a client's "Pare!" as Kommo posts it gets one confirmation and stops
the assistant's first messages; GET /contacts/{id}/consent shows when and what the client wrote; DELETE
/contacts/{id}/data leaves nothing of the contact in any table but the opt-out itself, and asks n8n once,
signed, to forget its chat memory (tests/unit/test_consent_decisions.py has the decisions on fakes)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.contracts import CONTRACTS
from sales_assistant.config import get_settings
from sales_assistant.models.consent import EraseRequest
from tests.conftest import N8N_API_TOKEN, World
from tests.integration.test_proactive_flow import JULIANA, JULIANA_LEAD, notes_on, post_trigger, proactive, runs  # noqa: F401
from tests.integration.test_reactive_flow import client_message

JULIANA_PHONE = ("+55 31 97654-3210", "97654-3210", "976543210")
CONFIRMATION = "Pronto, não vamos mais te enviar mensagens por aqui."


@pytest.fixture
def assistant(proactive: World) -> World:  # noqa: F811 - the imported fixture
    """The service with trigger rules and every salesperson at work all day (test_proactive_flow.proactive)."""
    return proactive


def juliana_writes(world: World, message_id: str, text: str) -> None:
    world.post_webhook(
        client_message(message_id, text, created_at=int(time.time()), lead=JULIANA_LEAD, contact=JULIANA)
    )
    world.pump()


def consent_of(world: World, contact_id: int) -> tuple[int, Any]:
    return world.api("ProactiveTriggerFunction", "GET", f"/contacts/{contact_id}/consent")


def erase(world: World, contact_id: int, **kwargs: Any) -> tuple[int, Any]:
    return world.api("ProactiveTriggerFunction", "DELETE", f"/contacts/{contact_id}/data", **kwargs)


def every_item(world: World) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table of the stack, by table."""
    import boto3

    dynamodb = boto3.resource("dynamodb")
    return {
        logical_id: dynamodb.Table(world.stack.names[logical_id]).scan()["Items"]
        for logical_id, resource in world.stack.resources.items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


def test_an_opt_out_webhook_gets_one_confirmation_however_often_kommo_sends_it(assistant: World) -> None:
    message = client_message("opt-out-1", "Pare!", created_at=int(time.time()), lead=JULIANA_LEAD, contact=JULIANA)
    for _ in range(3):
        assistant.post_webhook(message)
    assistant.pump()
    juliana_writes(assistant, "opt-out-2", "pare")  # said again: no second confirmation

    assert len(runs(assistant, JULIANA_LEAD)) == 1
    assert assistant.n8n.requests == []
    assert assistant.reply_field(JULIANA_LEAD).startswith(CONFIRMATION)
    assert any(
        note.startswith('🚫 O cliente pediu para não receber mais mensagens ("Pare!"')
        for note in notes_on(assistant, JULIANA_LEAD)
    )
    assert notes_on(assistant, JULIANA_LEAD)[-1].startswith("Mensagem do cliente sem resposta do assistente")


def test_an_opted_out_contact_gets_no_first_message_and_the_lead_says_why(assistant: World) -> None:
    juliana_writes(assistant, "opt-out-1", "não quero mais receber")

    post_trigger(assistant, {"lead_id": JULIANA_LEAD, "trigger": "form"})
    assistant.pump()

    assert len(runs(assistant, JULIANA_LEAD)) == 1  # the confirmation only
    assert assistant.n8n.requests == []
    assert notes_on(assistant, JULIANA_LEAD)[-1] == (
        "Primeira mensagem não enviada (formulário preenchido):"
        " o cliente pediu para não receber mensagens do assistente."
    )


def test_the_consent_route_shows_when_and_what_the_client_wrote(assistant: World) -> None:
    status, never = consent_of(assistant, JULIANA)
    assert (status, never["status"], never["may_contact"]) == (200, "none", True)
    written_at = int(time.time()) - 60
    assistant.post_webhook(
        client_message("opt-out-1", "SAIR", created_at=written_at, lead=JULIANA_LEAD, contact=JULIANA)
    )
    assistant.pump()

    status, consent = consent_of(assistant, JULIANA)

    assert status == 200
    assert consent == {
        "contact_id": JULIANA,
        "may_contact": False,
        "status": "opted_out",
        "at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(written_at)),
        "words": "SAIR",
        "erased_at": None,
    }
    status, refused = assistant.api(
        "ProactiveTriggerFunction", "GET", f"/contacts/{JULIANA}/consent", token=N8N_API_TOKEN
    )
    assert (status, refused["error"]) == (403, "forbidden")


def test_erasure_leaves_nothing_of_the_contact_in_any_table_and_asks_n8n_once_signed(assistant: World) -> None:
    form = {
        "nome": "Juliana Pereira",
        "telefone": JULIANA_PHONE[0],
        "mensagem": "Apartamento perto do metrô Santa Cruz",
    }
    post_trigger(assistant, {"lead_id": JULIANA_LEAD, "trigger": "form", "data": form})
    assistant.pump()
    juliana_writes(assistant, "juliana-1", "Tenho interesse no apartamento da Vila Mariana")
    juliana_writes(assistant, "juliana-2", "pare")
    assert len(runs(assistant, JULIANA_LEAD)) == 3  # the first message, the reply, the confirmation
    assistant.n8n.requests.clear()

    status, erased = erase(assistant, JULIANA)

    assert status == 200, erased
    assert erased == {
        "contact_id": JULIANA,
        "conversations": [f"lead:{JULIANA_LEAD}"],
        "triggers": [f"{JULIANA_LEAD}-form"],
        "follow_ups": [JULIANA_LEAD],  # the ladder the first message started (stopped by her opt-out)
        "bot_state": False,
        "cached_texts": 2,  # the first message's and the reply's (the confirmation is the same for everyone)
        "consent": "kept_opt_out",
        "n8n_chat_memory": [f"contact:{JULIANA}", f"lead:{JULIANA_LEAD}"],
    }
    [asked] = assistant.n8n.requests  # the stand-in refuses an unsigned or badly signed request (401)
    assert asked["path"] == "/webhook/kommo-erase" and asked["headers"]["x-signature-v2"].startswith("sha256=")
    assert EraseRequest.model_validate(asked["body"]).conversation_ids == [f"contact:{JULIANA}", f"lead:{JULIANA_LEAD}"]
    traces = (str(JULIANA), *JULIANA_PHONE, "Juliana", "Vila Mariana", "metrô Santa Cruz")
    left = {
        table: [item for item in items if any(trace in json.dumps(item, default=str) for trace in traces)]
        for table, items in every_item(assistant).items()
    }
    kept = {item["pk"]: item for item in left.pop("KommoTable")}
    assert left == {table: [] for table in left}
    # Kept: the opt-out, reduced to the fact; and the echo keys of the messages just sent (a hash, gone within
    # ECHO_TTL_SECONDS): without them Kommo's echo of our own message would pass for a salesperson's and pause the bot.
    opt_out = kept.pop(f"consent#{JULIANA}")
    assert {key: str(value) for key, value in opt_out.items() if key not in ("at", "erased_at")} == {
        "pk": f"consent#{JULIANA}",
        "contact_id": str(JULIANA),
        "status": "opted_out",
        "words": "",
        "message_id": "",
    }
    assert all(pk.startswith("echo:") for pk in kept) and len(kept) == 3
    assert max(int(echo["expires_at"]) for echo in kept.values()) <= time.time() + get_settings().echo_ttl_seconds
    status, consent = consent_of(assistant, JULIANA)
    assert (consent["status"], consent["words"], consent["may_contact"]) == ("opted_out", "", False)
    assert consent["erased_at"] is not None


def test_n8n_refusing_the_erasure_erases_nothing_and_says_try_again(assistant: World) -> None:
    juliana_writes(assistant, "juliana-1", "Oi, tudo bem?")
    assistant.n8n.respond_with(status=500)
    assistant.n8n.respond_with(status=500)

    status, refused = erase(assistant, JULIANA)

    assert (status, refused["error"]) == (502, "n8n_failed")
    assert assistant.conversation(f"lead:{JULIANA_LEAD}") is not None


def test_the_erase_example_obeys_the_contract() -> None:
    request = EraseRequest.model_validate_json((CONTRACTS / "examples" / "request-erase.json").read_text())
    assert request.kind == "erase" and request.conversation_ids == ["contact:93589657", "lead:27754599"]
