"""Scenario 1 end to end: a lead fills a form, downloads material or asks for a meeting, and the
responsible salesperson's assistant writes first on WhatsApp, once, through the same delivery path
as the replies, with a note on the lead."""

from __future__ import annotations

import json
import re
import threading
import time
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
    from sales_assistant.adapters.salespeople import DynamoSalespeople
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
    world.n8n.requests.clear()  # the sync's salesperson list to n8n: the setup's, not the scenario's
    salespeople = DynamoSalespeople(get_settings().salespeople_table)
    for salesperson in salespeople.all():
        salespeople.save_profile(
            salesperson.vendor_id, salesperson.profile.model_copy(update={"working_hours": ALL_DAY})
        )
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
    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings

    salespeople = DynamoSalespeople(get_settings().salespeople_table)
    salespeople.mark_left(8401236, 1)  # Carla left
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

    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings

    salespeople = DynamoSalespeople(get_settings().salespeople_table)
    carla = salespeople.get(8401236)
    assert carla is not None
    salespeople.save_profile(8401236, carla.profile.model_copy(update={"working_hours": {"mon": ["00:00-00:01"]}}))
    post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"})
    proactive.pump()
    assert runs(proactive, JULIANA_LEAD) == []
    [deferred] = list_deferred(proactive)
    assert deferred["lead_id"] == JULIANA_LEAD and deferred["vendor_id"] == 8401236

    # Monday 00:00 comes: the sweep sends it, once, however often it runs.
    salespeople.save_profile(8401236, carla.profile.model_copy(update={"working_hours": ALL_DAY}))
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
    from sales_assistant.adapters.salespeople import DynamoSalespeople
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
    paula = DynamoSalespeople(get_settings().salespeople_table).get(8401299)
    assert paula is not None and paula.name == "Paula Nova"
    first_note = notes_on(proactive, JULIANA_LEAD)[0]  # known now, but her profile serves no area yet
    assert "o responsável não atende a área do lead" in first_note


# ---------------------------------------------------------------------- seams: one routing per lead, kept
CLOSED = {"mon": ["00:00-00:01"]}


def auto_salespeople() -> list[int]:
    """The round robin's pool for an Auto lead, in the order the service uses (ascending ids)."""
    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings

    salespeople = DynamoSalespeople(get_settings().salespeople_table).all()
    return sorted(
        v.vendor_id
        for v in salespeople
        if v.active and not v.profile.is_test and "auto" in {a.casefold() for a in v.profile.areas}
    )


def set_hours(vendor_id: int, hours: dict[str, list[str]]) -> None:
    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings

    salespeople = DynamoSalespeople(get_settings().salespeople_table)
    salesperson = salespeople.get(vendor_id)
    assert salesperson is not None
    salespeople.save_profile(vendor_id, salesperson.profile.model_copy(update={"working_hours": hours}))


def sweep_when_due(world: World, trigger_id: str) -> None:
    """The deferred trigger's time has come (its salesperson's hours open): the sweep fires."""
    import boto3

    from sales_assistant.config import get_settings

    boto3.resource("dynamodb").Table(get_settings().triggers_table).update_item(
        Key={"trigger_id": trigger_id}, UpdateExpression="SET due_at = :past", ExpressionAttributeValues={":past": 1}
    )
    world.handler("ProactiveTriggerFunction")(schedule_event("ProactiveTriggerFunction"))
    world.pump()


def test_a_deferred_first_message_goes_out_with_the_salesperson_it_was_routed_to(proactive: World) -> None:
    """The lead's responsible (Bruno, Imóveis) does not serve its area (Auto): the round robin picks the
    first Auto salesperson, who is closed, so the trigger waits for *their* opening. When they open, the
    sweep sends it as theirs, even though the next one in turn is closed now: no second turn is drawn."""

    from sales_assistant.config import get_settings

    proactive.kommo.leads[MARIANA_LEAD]["responsible_user_id"] = 8401235
    first, second = auto_salespeople()[:2]
    set_hours(first, CLOSED)
    post_trigger(proactive, {"lead_id": MARIANA_LEAD, "trigger": "form"})
    proactive.pump()
    [deferred] = list_deferred(proactive)
    assert deferred["vendor_id"] == first and runs(proactive, MARIANA_LEAD) == []

    set_hours(first, ALL_DAY)  # the deferred salesperson's hours open...
    set_hours(second, CLOSED)  # ...while the next one in turn is closed
    sweep_when_due(proactive, f"{MARIANA_LEAD}-form")

    still = list_deferred(proactive)
    assert len(runs(proactive, MARIANA_LEAD)) == 1, (
        f"not sent when {first} opened; deferred again to {[t['vendor_id'] for t in still]}"
    )
    from sales_assistant.adapters.salespeople import DynamoSalespeople

    chosen = DynamoSalespeople(get_settings().salespeople_table).get(first)
    [sent] = [note for note in notes_on(proactive, MARIANA_LEAD) if "Primeira mensagem enviada" in note]
    assert chosen is not None and chosen.name in sent  # recorded as the one it was written for


def test_a_deferred_first_message_whose_salesperson_left_goes_to_another_of_the_area(proactive: World) -> None:
    """Routed to the first Auto salesperson (closed), who leaves the team before their hours open: the
    sweep does not write as someone who left; the lead is routed again to an active one."""

    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings

    proactive.kommo.leads[MARIANA_LEAD]["responsible_user_id"] = 8401235
    first = auto_salespeople()[0]
    set_hours(first, CLOSED)
    post_trigger(proactive, {"lead_id": MARIANA_LEAD, "trigger": "form"})
    proactive.pump()
    assert [deferred["vendor_id"] for deferred in list_deferred(proactive)] == [first]

    DynamoSalespeople(get_settings().salespeople_table).mark_left(first, 1)
    sweep_when_due(proactive, f"{MARIANA_LEAD}-form")

    assert len(runs(proactive, MARIANA_LEAD)) == 1
    [sent] = [note for note in notes_on(proactive, MARIANA_LEAD) if "Primeira mensagem enviada" in note]
    gone = DynamoSalespeople(get_settings().salespeople_table).get(first)
    assert gone is not None and gone.name not in sent


@pytest.mark.usefixtures("atomic_dynamodb")
def test_kommos_two_events_for_one_new_lead_take_one_round_robin_turn(
    proactive: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kommo reports a lead from an incoming chat twice: `unsorted[add]` (group unsorted:<uid>) and
    `leads[add]` (group lead:<id>). Different FIFO groups run at once; the lead is routed once, whichever
    comes first: one round-robin turn, one move in Kommo, one message."""
    import boto3

    from sales_assistant.config import get_settings

    monkeypatch.setenv("PROACTIVE_REASSIGN", "true")
    reset_caches()
    proactive.kommo.leads[JULIANA_LEAD]["responsible_user_id"] = 8401234  # Ana (Auto); the lead is Imóveis
    unsorted = re.sub(r"lead_id%5D=[0-9]+", f"lead_id%5D={JULIANA_LEAD}", kommo_body("unsorted-added"))
    proactive.post_webhook(kommo_body("lead-added"))
    proactive.post_webhook(unsorted)
    proactive.pump()

    assert len(runs(proactive, JULIANA_LEAD)) == 1
    pointer = boto3.resource("dynamodb").Table(get_settings().kommo_table).get_item(Key={"pk": "rr#Imóveis|real"})
    turns = int(pointer["Item"]["turn"])
    responsible = proactive.kommo.leads[JULIANA_LEAD]["responsible_user_id"]
    sent_note = [note for note in notes_on(proactive, JULIANA_LEAD) if "Primeira mensagem enviada" in note]
    assert turns == 1, f"{turns} round-robin turns for one lead; Kommo responsible now {responsible}; {sent_note}"


def test_a_first_message_whose_send_fails_gives_the_conversation_back(proactive: World) -> None:
    """Kommo answers the Salesbot run with a 503 (outcome unknown). The conversation is given back at once:
    the trigger's own retry is not refused as busy (it waits for the run's echo, never runs it again), and
    the client's reply is answered meanwhile."""
    from sales_assistant.composition import proactive_outreach
    from sales_assistant.config import get_settings
    from sales_assistant.models.queue import TriggerDue
    from sales_assistant.services.delivery import AwaitingConfirmation

    flow = proactive_outreach(get_settings())
    trigger = TriggerDue(lead_id=MARIANA_LEAD, trigger="form", source="api")
    proactive.kommo.fail_next("/api/v2/salesbot/run", 503)
    with pytest.raises(Exception) as failed:
        flow.handle(trigger)
    assert proactive.conversation(f"lead:{MARIANA_LEAD}").lease_owner is None, type(failed.value).__name__

    with pytest.raises(AwaitingConfirmation):  # the SQS retry, 10 s later: not ConversationBusy
        flow.handle(trigger)
    assert len(runs(proactive, MARIANA_LEAD)) == 0  # the 503 run is never posted again

    proactive.post_webhook(client_message("c-1", "oi, recebi algo?", lead=MARIANA_LEAD, contact=MARIANA))
    proactive.pump()
    assert len(runs(proactive, MARIANA_LEAD)) == 1  # the client's reply was not refused as busy


# ---------------------------------------------------------------------- seams: the service's own lead changes
@pytest.mark.usefixtures("atomic_dynamodb")
def test_the_services_own_reassignment_refreshes_the_conversations_kept_lead(
    proactive: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client wrote first (the conversation keeps the lead, responsible Bruno), then a trigger routes
    the lead to an Auto salesperson and moves it in Kommo. Kommo's webhook for that move is dropped as the
    service's own echo; the next reply must still tell n8n the new salesperson, not the kept one."""
    monkeypatch.setenv("PROACTIVE_REASSIGN", "true")
    reset_caches()
    proactive.kommo.leads[MARIANA_LEAD]["responsible_user_id"] = 8401235  # Bruno, Imóveis; the lead is Auto
    proactive.post_webhook(client_message("c-1", "oi", lead=MARIANA_LEAD, contact=MARIANA))
    proactive.pump()
    post_trigger(proactive, {"lead_id": MARIANA_LEAD, "trigger": "form"})
    proactive.pump()
    now_responsible = proactive.kommo.leads[MARIANA_LEAD]["responsible_user_id"]
    assert now_responsible != 8401235

    echo = re.sub(
        r"%5Bresponsible_user_id%5D=[0-9]+",
        f"%5Bresponsible_user_id%5D={now_responsible}",
        kommo_body("lead-responsible-changed"),
    )
    assert proactive.post_webhook(echo)["echoes"] == 1  # Kommo reports the move: dropped as ours
    proactive.pump()
    proactive.n8n.requests.clear()

    proactive.post_webhook(client_message("c-2", "e como funciona?", lead=MARIANA_LEAD, contact=MARIANA))
    proactive.pump()
    [request] = [r for r in proactive.n8n.requests if r["body"]["kind"] == "reply"]
    assert request["body"]["vendor"]["id"] == now_responsible, (
        f"n8n told the salesperson is {request['body']['vendor']['id']}; Kommo says {now_responsible}"
    )


def test_the_ais_own_status_move_refreshes_the_conversations_kept_lead(proactive: World) -> None:
    """n8n moves the lead to another status (action move_status); Kommo's status webhook is dropped as an
    echo; the next batch must tell n8n the new status, not the one the conversation kept."""
    proactive.n8n.respond_with(200, {"reply": "Certo!", "actions": [{"type": "move_status", "status_id": 61234568}]})
    proactive.post_webhook(client_message("s-1", "quero a simulação", lead=MARIANA_LEAD, contact=MARIANA))
    proactive.pump()
    assert proactive.kommo.leads[MARIANA_LEAD]["status_id"] == 61234568
    assert proactive.post_webhook(kommo_body("lead-status-changed"))["echoes"] == 1  # dropped as ours
    proactive.pump()
    proactive.n8n.requests.clear()

    proactive.post_webhook(client_message("s-2", "e agora?", lead=MARIANA_LEAD, contact=MARIANA))
    proactive.pump()
    [request] = proactive.n8n.requests
    assert request["body"]["lead"]["status_id"] == 61234568, (
        f"n8n told status {request['body']['lead']['status_id']}; Kommo says 61234568"
    )


def test_the_actions_of_a_first_message_are_run_like_a_replys(proactive: World) -> None:
    """The n8n contract: every action of an answer becomes an effect or a task, on every path. A first
    message whose answer asks to move the lead and to hand over does both."""
    proactive.n8n.respond_with(
        200,
        {
            "template": {"name": "boas_vindas", "params": {"nome": "Juliana"}},
            "actions": [{"type": "move_status", "status_id": 61234568}, {"type": "handover", "reason": "VIP"}],
        },
    )
    post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"})
    proactive.pump()
    assert len(runs(proactive, JULIANA_LEAD)) == 1
    assert proactive.kommo.leads[JULIANA_LEAD]["status_id"] == 61234568
    assert proactive.bot_state(JULIANA).status == "paused"
    assert any("VIP" in task["text"] for task in proactive.kommo.tasks if task["entity_id"] == JULIANA_LEAD)


def test_trigger_data_merged_across_repeats_stays_within_its_bound(aws: Any) -> None:
    """POST /triggers bounds one request's data to 8 KiB; a form posting new fields again and again merges
    them into the lead's trigger, which keeps the first fields up to the same bound (never past DynamoDB's
    400 KB item, which would fail the lead's queue message to the DLQ)."""
    from sales_assistant.adapters.triggers import DynamoTriggerRepository
    from sales_assistant.config import get_settings
    from sales_assistant.models.queue import TriggerDue
    from sales_assistant.models.trigger import MAX_DATA_BYTES

    repository = DynamoTriggerRepository(get_settings().triggers_table)
    error: Exception | None = None
    trigger = None
    for index in range(60):
        request = TriggerDue(lead_id=MARIANA_LEAD, trigger="form", data={f"f{index}": "x" * 7800}, source="api")
        try:
            trigger, _ = repository.register(request, int(time.time()))
        except Exception as failure:  # the point of the test
            error = failure
            break
    size = len(json.dumps(trigger.data).encode()) if trigger else 0
    assert error is None, f"repeat #{index} failed: {type(error).__name__}: {str(error)[:120]}"
    assert size <= MAX_DATA_BYTES, f"merged trigger data is {size} bytes (bound {MAX_DATA_BYTES})"
    assert trigger is not None and list(trigger.data) == ["f0"]  # the first form's field is kept


def test_a_repeated_trigger_adds_the_new_fields_that_fit(aws: Any) -> None:
    """Under the bound a repeat still adds its fields and updates the ones it sends again."""
    from sales_assistant.adapters.triggers import DynamoTriggerRepository
    from sales_assistant.config import get_settings
    from sales_assistant.models.queue import TriggerDue

    repository = DynamoTriggerRepository(get_settings().triggers_table)
    first = TriggerDue(lead_id=MARIANA_LEAD, trigger="form", data={"pagina": "/auto", "valor": "50 mil"}, source="api")
    again = TriggerDue(lead_id=MARIANA_LEAD, trigger="form", data={"valor": "80 mil", "prazo": "60"}, source="api")
    repository.register(first, 1_800_000_000)
    trigger, created = repository.register(again, 1_800_000_060)
    assert created is False and trigger.data == {"pagina": "/auto", "valor": "80 mil", "prazo": "60"}
