"""`POST /messages`: n8n writes to a lead's WhatsApp chat through the shared delivery path: once per key
(never another text under it), noted on the lead, never over a salesperson, never outside the 24-hour
window."""

from __future__ import annotations

from typing import Any

from tests.conftest import API_TOKEN, World
from tests.integration.test_reactive_flow import client_message
from tests.integration.test_takeover_flow import salesperson_message

MARIANA_LEAD = 27754599


def post_message(world: World, body: Any, *, token: str = API_TOKEN) -> tuple[int, Any]:
    return world.api("ProactiveTriggerFunction", "POST", "/messages", body, token=token)


def client_wrote(world: World) -> None:
    """Mariana wrote (the 24-hour window is open) and got her answer."""
    world.post_webhook(client_message("hello-1", "oi, tudo bem?"))
    world.pump()
    world.kommo.reset()


def test_a_message_from_n8n_reaches_the_client_once_and_is_noted_on_the_lead(world: World) -> None:
    client_wrote(world)
    body = {"lead_id": MARIANA_LEAD, "text": "Mariana, separei a simulação para você.", "idempotency_key": "sim-1"}

    first = post_message(world, body)
    again = post_message(world, body)

    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert len(world.kommo.salesbot_runs) == 1  # the same key never sends twice
    assert world.reply_field() == "Mariana, separei a simulação para você."
    [note] = [note["params"]["text"] for note in world.kommo.notes]
    assert "separei a simulação" in note
    assert world.conversation().turns[-1].text == "Mariana, separei a simulação para você."


def test_an_idempotency_key_reused_with_another_text_is_not_reported_as_delivered(world: World) -> None:
    """n8n reuses a key for a new text: the client never got it, so the answer must not say delivered."""
    client_wrote(world)
    first = post_message(world, {"lead_id": MARIANA_LEAD, "text": "Separei a simulação.", "idempotency_key": "k1"})
    assert first[0] == 201

    status, answer = post_message(
        world, {"lead_id": MARIANA_LEAD, "text": "Sua proposta vence amanhã!", "idempotency_key": "k1"}
    )

    assert status != 201 or world.reply_field() == "Sua proposta vence amanhã!", (
        f"201 {answer} for a text never sent (runs: {len(world.kommo.salesbot_runs)})"
    )
    assert (status, answer["error"]) == (422, "idempotency_key_reused")
    assert len(world.kommo.salesbot_runs) == 1 and world.reply_field() == "Separei a simulação."


def test_a_salesperson_who_took_over_is_never_talked_over(world: World) -> None:
    client_wrote(world)
    world.post_webhook(salesperson_message("assumir-1", f"/assumir {MARIANA_LEAD}"))
    world.pump()

    status, answer = post_message(world, {"lead_id": MARIANA_LEAD, "text": "Oi!"})

    assert (status, answer["error"]) == (409, "salesperson_has_chat")
    assert world.kommo.salesbot_runs == []


def test_outside_the_24_hour_window_free_text_is_refused(world: World) -> None:
    status, answer = post_message(world, {"lead_id": MARIANA_LEAD, "text": "Oi!"})
    assert (status, answer["error"]) == (422, "window_closed")
    assert world.kommo.salesbot_runs == []


def test_bad_requests_get_a_clear_4xx(world: World) -> None:
    assert post_message(world, {"lead_id": MARIANA_LEAD, "text": "Oi"}, token="wrong")[0] == 401
    assert post_message(world, {"lead_id": MARIANA_LEAD, "text": ""})[1]["error"] == "invalid_body"
    assert post_message(world, {"lead_id": MARIANA_LEAD, "text": "x" * 4097})[1]["error"] == "invalid_body"
    assert post_message(world, "{not json")[0] == 422
    assert post_message(world, {"lead_id": 99999999, "text": "Oi"}) == (
        404,
        {"error": "unknown_lead", "message": "lead 99999999 does not exist in Kommo"},
    )
