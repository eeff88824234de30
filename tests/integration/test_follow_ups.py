"""The follow-up ladder wired end to end: the reply that starts it, the proactive sweep that queues a due
follow-up, the lead events queue that sends it through n8n and Kommo, the hooks of the other functions that
stop it, and GET /follow-ups that shows it (tests/unit/test_follow_up_decisions.py has every decision)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.lambda_events import schedule_event
from local.sam_events import kommo_body
from tests.conftest import World, reset_caches
from tests.integration.test_proactive_flow import ALL_DAY, notes_on
from tests.integration.test_reactive_flow import client_message

MARIANA_LEAD = 27754599  # Mariana Costa's lead (Auto), Ana Souza's


@pytest.fixture
def ladder(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The world with a short ladder (a follow-up as soon as the sweep runs, another a minute later) and every
    salesperson at work all day, every day."""
    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings

    monkeypatch.setenv("FOLLOW_UP_OFFSETS", json.dumps({"default": ["0s", "1m"]}))
    reset_caches()
    world.handler("VendorSyncFunction")(schedule_event("VendorSyncFunction"))
    world.n8n.requests.clear()  # the sync's salesperson list to n8n: the setup's, not the scenario's
    salespeople = DynamoSalespeople(get_settings().salespeople_table)
    for salesperson in salespeople.all():
        always = salesperson.profile.model_copy(update={"working_hours": ALL_DAY, "holidays_country": ""})
        salespeople.save_profile(salesperson.vendor_id, always)
    return world


def follow_ups_of(world: World, lead_id: int = MARIANA_LEAD) -> dict[str, Any]:
    status, shown = world.api("ProactiveTriggerFunction", "GET", "/follow-ups", query={"lead_id": str(lead_id)})
    assert status == 200, shown
    return dict(shown)


def sweep(world: World) -> int:
    """The proactive schedule's sweep; how many follow-ups it queued."""
    return int(world.handler("ProactiveTriggerFunction")(schedule_event("ProactiveTriggerFunction"))["follow_ups"])


def test_a_quiet_client_gets_a_follow_up_written_by_n8n_noted_and_shown_until_the_salesperson_steps_in(
    ladder: World,
) -> None:
    ladder.post_webhook(kommo_body("client-message"))
    ladder.pump()
    shown = follow_ups_of(ladder)
    assert (shown["status"], shown["next"], shown["sent_total"], shown["max_per_lead"]) == ("scheduled", 1, 0, 3)

    assert sweep(ladder) == 1
    ladder.pump()
    [asked] = [request for request in ladder.n8n.requests if request["path"] == "/webhook/kommo-follow-up"]
    assert asked["body"]["kind"] == "follow_up" and asked["body"]["follow_up"]["attempt"] == 1
    assert asked["body"]["follow_up"]["of"] == 2 and asked["body"]["history"][-1]["role"] == "assistant"
    assert ladder.reply_field().startswith("Oi, Mariana! Passando de novo (1º contato)")
    assert len(ladder.kommo.salesbot_runs) == 2  # the reply, then the follow-up
    assert any(note.startswith("🔁 Follow-up 1 de 2") for note in notes_on(ladder, MARIANA_LEAD))
    shown = follow_ups_of(ladder)
    assert (shown["status"], shown["next"], [sent["attempt"] for sent in shown["sent"]]) == ("scheduled", 2, [1])

    ladder.post_webhook(kommo_body("salesperson-assumir"))
    ladder.pump()
    shown = follow_ups_of(ladder)
    assert (shown["status"], shown["reason"], shown["due_at"]) == ("stopped", "salesperson_message", None)
    assert sweep(ladder) == 0


def test_a_client_who_books_a_meeting_gets_no_follow_up_even_after_the_next_answer(ladder: World) -> None:
    ladder.post_webhook(client_message("meet-1", "quero marcar uma reunião amanhã"))
    ladder.pump()  # the agent's reply books the slot; the scheduling queue's follow-ups stop the ladder
    assert (follow_ups_of(ladder)["status"], follow_ups_of(ladder)["reason"]) == ("stopped", "booked")

    ladder.post_webhook(client_message("meet-2", "obrigada!"))
    ladder.pump()
    assert sweep(ladder) == 0
    assert follow_ups_of(ladder)["reason"] == "booked"
    assert not [request for request in ladder.n8n.requests if request["path"] == "/webhook/kommo-follow-up"]


def test_a_lead_that_never_had_follow_ups_shows_none(ladder: World) -> None:
    assert follow_ups_of(ladder, 27754601) == {
        "lead_id": 27754601,
        "max_per_lead": 3,
        "status": "none",
        "sent_total": 0,
    }
