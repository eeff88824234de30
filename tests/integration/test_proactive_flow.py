"""Scenario 1 end to end: a lead fills a form, downloads material or asks for a meeting, and the
responsible salesperson's assistant writes first on WhatsApp, once, through the same delivery path
as the replies, with a note on the lead."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest

from local.kommo_seed import AREA_FIELD_ID, TEMPLATE_NAME_FIELD_ID
from local.lambda_events import http_api_event, schedule_event
from local.sam_events import kommo_body
from tests.conftest import API_TOKEN, World, reset_caches
from tests.integration.test_reactive_flow import client_message

JULIANA_LEAD, JULIANA = 27754601, 93589659  # area Imóveis, responsible Carla Mendes (8401236)
MARIANA_LEAD, MARIANA = 27754599, 93589657  # area Auto, responsible Ana Souza (8401234)
TEMPLATE_BOT = 102
ALL_DAY = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def proactive(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """The world with trigger rules, a template Salesbot and every salesperson at work all day."""
    from sales_assistant.adapters.vendors import DynamoVendorRepository
    from sales_assistant.config import get_settings

    for name, value in {
        "LEAD_AREA_FIELD_ID": str(AREA_FIELD_ID),
        "TRIGGER_RULES": json.dumps([{"kind": "form", "pipeline_id": 7654321}]),
        "KOMMO_TEMPLATE_SALESBOT_ID": str(TEMPLATE_BOT),
        "TEMPLATE_FIELDS": json.dumps({"nome": TEMPLATE_NAME_FIELD_ID}),
    }.items():
        monkeypatch.setenv(name, value)
    reset_caches()
    world.handler("VendorSyncFunction")(schedule_event("VendorSyncFunction"))
    vendors = DynamoVendorRepository(get_settings().vendors_table)
    for vendor in vendors.all():
        vendors.save_profile(vendor.vendor_id, vendor.profile.model_copy(update={"working_hours": ALL_DAY}))
    return world


def post_trigger(world: World, body: Any, *, token: str = API_TOKEN) -> tuple[int, Any]:
    return world.api("ProactiveTriggerFunction", "POST", "/triggers", body, token=token)


def runs(world: World, lead_id: int) -> list[dict[str, Any]]:
    return [run for run in world.kommo.salesbot_runs if run.get("entity_id") == lead_id]


def notes_on(world: World, lead_id: int) -> list[str]:
    return [note["params"]["text"] for note in world.kommo.notes if note.get("lead_id") == lead_id]


def field_of(world: World, lead_id: int, field_id: int) -> str:
    fields = world.kommo.leads[lead_id].get("custom_fields_values") or []
    return next((f["values"][0]["value"] for f in fields if f["field_id"] == field_id), "")


@pytest.mark.parametrize("kind", ["form", "material", "meeting_request"])
def test_a_posted_trigger_gets_its_first_message_as_a_template_outside_the_window(proactive: World, kind: str) -> None:
    status, answer = post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": kind, "data": {"pagina": "/imoveis"}})
    assert (status, answer) == (202, {"trigger_id": f"{JULIANA_LEAD}-{kind}", "status": "accepted"})
    proactive.pump()

    [run] = runs(proactive, JULIANA_LEAD)  # a new lead never wrote: the window is closed
    assert run["bot_id"] == TEMPLATE_BOT and field_of(proactive, JULIANA_LEAD, TEMPLATE_NAME_FIELD_ID) == "Juliana"
    [request] = proactive.n8n.requests
    assert request["path"] == "/webhook/kommo-proactive"
    assert request["body"]["trigger"]["kind"] == kind and request["body"]["trigger"]["data"] == {"pagina": "/imoveis"}
    assert request["body"]["vendor"]["name"] == "Carla Mendes" and request["body"]["window_open"] is False
    [note] = notes_on(proactive, JULIANA_LEAD)
    assert "Primeira mensagem enviada" in note and "Carla Mendes" in note and "boas_vindas" in note


def test_a_new_lead_matching_a_rule_gets_its_first_message_once_however_often_kommo_says_so(proactive: World) -> None:
    body = kommo_body("lead-added")
    for _ in range(3):
        proactive.post_webhook(body)
    proactive.pump()
    status, _ = post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form", "data": {"origem": "site"}})
    assert status == 202
    proactive.pump()
    assert len(runs(proactive, JULIANA_LEAD)) == 1  # webhook x3 + the same trigger posted: one message
    assert proactive.conversation(f"lead:{JULIANA_LEAD}").proactive["data"] == {"origem": "site"}


def test_inside_the_window_the_first_message_is_free_text_through_the_reply_relay(proactive: World) -> None:
    proactive.post_webhook(client_message("c-1", "oi", lead=MARIANA_LEAD, contact=MARIANA))
    proactive.pump()
    proactive.kommo.salesbot_runs.clear()
    post_trigger(proactive, {"lead_id": MARIANA_LEAD, "trigger": "material"})
    proactive.pump()
    [run] = runs(proactive, MARIANA_LEAD)
    assert run["bot_id"] == 101 and "baixou nosso material" in proactive.reply_field(MARIANA_LEAD)


def test_a_lead_of_another_area_is_routed_to_the_next_salesperson_of_its_area(proactive: World) -> None:
    proactive.kommo.leads[MARIANA_LEAD]["responsible_user_id"] = 8401235  # Bruno: Imóveis, the lead is Auto
    post_trigger(proactive, {"lead_id": MARIANA_LEAD, "trigger": "form"})
    proactive.pump()
    [request] = proactive.n8n.requests
    assert request["body"]["vendor"]["id"] in {8401234, 8401237, 8401239, 8401240}  # Auto's salespeople
    assert request["body"]["trigger"]["routing"] == "area_mismatch"
    [note] = notes_on(proactive, MARIANA_LEAD)
    assert "não atende a área" in note


def test_inactive_and_test_salespeople_never_write_to_a_real_lead(proactive: World) -> None:
    from sales_assistant.adapters.vendors import DynamoVendorRepository
    from sales_assistant.config import get_settings

    vendors = DynamoVendorRepository(get_settings().vendors_table)
    vendors.mark_left(8401236, 1)  # Carla left
    post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"})
    proactive.kommo.leads[MARIANA_LEAD]["responsible_user_id"] = 8409901  # a test user
    post_trigger(proactive, {"lead_id": MARIANA_LEAD, "trigger": "form"})
    proactive.pump()
    chosen = {request["body"]["lead"]["id"]: request["body"]["vendor"]["id"] for request in proactive.n8n.requests}
    assert chosen[JULIANA_LEAD] in {8401235, 8401241}  # Imóveis, active
    assert chosen[MARIANA_LEAD] in {8401234, 8401237, 8401239, 8401240}  # Auto, not a test user


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda world: world.kommo.contacts[JULIANA].update(custom_fields_values=[]), "telefone"),
        (lambda world: world.kommo.leads[JULIANA_LEAD].update(status_id=143), "ganho ou perdido"),
    ],
    ids=["no-phone", "lost-lead"],
)
def test_nothing_is_sent_and_the_lead_says_why(proactive: World, change: Any, reason: str) -> None:
    change(proactive)
    post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"})
    proactive.pump()
    assert runs(proactive, JULIANA_LEAD) == [] and proactive.n8n.requests == []
    [note] = notes_on(proactive, JULIANA_LEAD)
    assert "não enviada" in note and reason in note


def test_a_paused_contact_gets_no_first_message(proactive: World) -> None:
    from sales_assistant.composition import takeover_service
    from sales_assistant.config import get_settings
    from sales_assistant.models.bot_state import ChangeReason
    from sales_assistant.services.takeover import Actor

    takeover_service(get_settings()).pause(JULIANA, Actor(8401236, "Carla"), ChangeReason.COMMAND, "cmd-1")
    post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"})
    proactive.pump()
    assert runs(proactive, JULIANA_LEAD) == []


def test_bad_trigger_requests_get_a_clear_4xx(proactive: World) -> None:
    assert post_trigger(proactive, {"lead_id": 999, "trigger": "form"})[0] == 404
    status, answer = post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "brochure"})
    assert status == 422 and answer["message"].startswith("trigger")
    assert post_trigger(proactive, "{not json")[0] == 422
    assert (
        post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"}, token="wrong-token-0123456789")[0] == 401
    )
    assert post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form", "data": {"x": "y" * 9000}})[0] == 422


def test_a_trigger_outside_the_salespersons_hours_waits_and_is_sent_once_when_they_open(proactive: World) -> None:
    import boto3

    from sales_assistant.adapters.vendors import DynamoVendorRepository
    from sales_assistant.config import get_settings

    vendors = DynamoVendorRepository(get_settings().vendors_table)
    carla = vendors.get(8401236)
    assert carla is not None
    vendors.save_profile(8401236, carla.profile.model_copy(update={"working_hours": {"mon": ["00:00-00:01"]}}))
    post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"})
    proactive.pump()
    assert runs(proactive, JULIANA_LEAD) == []
    [deferred] = list_deferred(proactive)
    assert deferred["lead_id"] == JULIANA_LEAD and deferred["vendor_id"] == 8401236

    # Monday 00:00 comes: the sweep sends it, once, however often it runs.
    vendors.save_profile(8401236, carla.profile.model_copy(update={"working_hours": ALL_DAY}))
    boto3.resource("dynamodb").Table(get_settings().triggers_table).update_item(
        Key={"trigger_id": f"{JULIANA_LEAD}-form"},
        UpdateExpression="SET due_at = :past",
        ExpressionAttributeValues={":past": 1},
    )
    for _ in range(2):
        proactive.handler("ProactiveTriggerFunction")(schedule_event("ProactiveTriggerFunction"))
        proactive.pump()
    assert len(runs(proactive, JULIANA_LEAD)) == 1 and list_deferred(proactive) == []


def list_deferred(world: World) -> list[dict[str, Any]]:
    event = http_api_event(
        "GET", "/triggers", query={"status": "deferred"}, headers={"authorization": f"Bearer {API_TOKEN}"}
    )
    response = world.handler("ProactiveTriggerFunction")(event)
    assert response["statusCode"] == 200
    return list(json.loads(response["body"])["triggers"])


def test_a_first_message_and_a_clients_reply_at_the_same_moment_are_serialised_in_order(
    proactive: World, atomic_dynamodb: None
) -> None:
    proactive.post_webhook(client_message("c-0", "oi", lead=MARIANA_LEAD, contact=MARIANA))
    proactive.pump()  # the window is open now; the first reply went out
    proactive.kommo.salesbot_runs.clear()
    post_trigger(proactive, {"lead_id": MARIANA_LEAD, "trigger": "meeting_request"})
    proactive.post_webhook(client_message("c-1", "vocês abrem sábado?", lead=MARIANA_LEAD, contact=MARIANA))
    workers = [threading.Thread(target=proactive.pump) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    proactive.pump()
    assert len(runs(proactive, MARIANA_LEAD)) == 2  # both delivered, one after the other
    turns = [turn for turn in proactive.conversation(f"lead:{MARIANA_LEAD}").turns if turn.role == "assistant"]
    assert len(turns) == 3 and turns[1].at <= turns[2].at


def test_the_round_robin_gives_every_lambda_its_own_turn(aws: Any, atomic_dynamodb: None) -> None:
    from sales_assistant.adapters.round_robin import DynamoRoundRobin
    from sales_assistant.config import get_settings

    pointer = DynamoRoundRobin(get_settings().kommo_table)
    turns: list[int] = []
    threads = [threading.Thread(target=lambda: turns.append(pointer.turn("Auto|real"))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(turns) == list(range(1, 21))  # 20 leads, 20 turns: with 4 salespeople, 5 leads each


@pytest.mark.parametrize("tag, kind", [("ebook", "material"), ("reuniao", "meeting_request"), (None, "form")])
def test_a_new_kommo_lead_is_a_trigger_of_the_kind_its_rule_says(
    proactive: World, monkeypatch: pytest.MonkeyPatch, tag: str | None, kind: str
) -> None:
    rules = [{"kind": "material", "tag": "ebook"}, {"kind": "meeting_request", "tag": "reuniao"}, {"kind": "form"}]
    monkeypatch.setenv("TRIGGER_RULES", json.dumps(rules))
    reset_caches()
    if tag:
        proactive.kommo.leads[JULIANA_LEAD]["_embedded"]["tags"] = [{"id": 1, "name": tag}]
    proactive.post_webhook(kommo_body("lead-added"))
    proactive.pump()
    [request] = proactive.n8n.requests
    assert request["body"]["trigger"]["kind"] == kind and len(runs(proactive, JULIANA_LEAD)) == 1


def test_a_lead_matching_no_rule_is_ignored(proactive: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIGGER_RULES", json.dumps([{"kind": "form", "pipeline_id": 1}]))
    reset_caches()
    proactive.post_webhook(kommo_body("lead-added"))
    proactive.pump()
    assert proactive.n8n.requests == [] and runs(proactive, JULIANA_LEAD) == []


def test_with_reassignment_on_the_lead_moves_to_the_chosen_salesperson_without_a_loop(
    proactive: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROACTIVE_REASSIGN", "true")
    reset_caches()
    proactive.kommo.leads[MARIANA_LEAD]["responsible_user_id"] = 8401235  # Imóveis, for an Auto lead
    post_trigger(proactive, {"lead_id": MARIANA_LEAD, "trigger": "form"})
    proactive.pump()
    chosen = proactive.kommo.leads[MARIANA_LEAD]["responsible_user_id"]
    assert chosen in {8401234, 8401237, 8401239, 8401240}
    echo = re.sub(  # Kommo reports the move back: the service's own change, dropped
        r"%5Bresponsible_user_id%5D=[0-9]+",
        f"%5Bresponsible_user_id%5D={chosen}",
        kommo_body("lead-responsible-changed"),
    )
    answer = proactive.post_webhook(echo)
    assert (answer["accepted"], answer["echoes"]) == (0, 1)


def test_a_salesperson_hired_after_the_last_sync_is_fetched_from_kommo_once_and_cached(proactive: World) -> None:
    from sales_assistant.adapters.vendors import DynamoVendorRepository
    from sales_assistant.config import get_settings

    proactive.kommo.users.append(
        {"id": 8401299, "name": "Paula Nova", "email": "paula.nova@vendasdemo.com.br", "lang": "pt",
         "rights": {"is_active": True, "is_admin": False, "group_id": 0, "role_id": None}}
    )  # fmt: skip
    proactive.kommo.leads[JULIANA_LEAD]["responsible_user_id"] = 8401299

    post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"})
    proactive.pump()
    post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "material"})
    proactive.pump()

    assert len(proactive.kommo.calls("GET", "/api/v4/users/8401299")) == 1  # the second trigger finds it cached
    paula = DynamoVendorRepository(get_settings().vendors_table).get(8401299)
    assert paula is not None and paula.name == "Paula Nova"
    first_note = notes_on(proactive, JULIANA_LEAD)[0]  # known now, but her profile serves no area yet
    assert "o responsável não atende a área do lead" in first_note
