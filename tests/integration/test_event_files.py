"""events/*.json, the events `sam local invoke -e` takes: up to date with local.sam_events, and each one,
dated now as `make events` writes it, answering what it is meant to on a fresh stack, given what it needs
there (the salespeople synced, the client's message, the appointment, a first message waiting...)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from local.sam_events import APPOINTMENT_ID, ENV_VARS, EVENTS, SALESPERSON, render_events
from tests.conftest import World

MARIANA_LEAD, MARIANA = 27754599, 93589657  # Ana Souza's lead (Auto), who writes in the client events
JULIANA_LEAD, CARLA = 27754601, 8401236  # the lead of the first-message events (Imóveis) and her salesperson
REPLY_BOT, TEMPLATE_BOT = 101, 102  # the local stack's Salesbots: free text, and a template outside the window
Events = dict[str, dict[str, Any]]


def test_events_for_sam_local_invoke_are_up_to_date() -> None:
    written_at = json.loads((EVENTS / "api-health.json").read_text())["requestContext"]["timeEpoch"] // 1000
    rendered = render_events(written_at)
    for name, event in rendered.items():
        assert json.loads((EVENTS / name).read_text()) == event, f"run make events ({name})"
    assert sorted(path.name for path in EVENTS.glob("*.json") if path != ENV_VARS) == sorted(rendered)


# ---------------------------------------------------------------------- replaying them
def replay(world: World, events: Events, name: str, function_id: str) -> Any:
    """The event through its function; an API event's answer as (status, body)."""
    result = world.handler(function_id)(events[name])
    return (result["statusCode"], json.loads(result["body"])) if "statusCode" in result else result


def asked(events: Events, name: str) -> Any:
    """The body an API event sends."""
    return json.loads(events[name]["body"])


def salesbot_runs(world: World) -> list[tuple[int, int]]:
    """The Salesbot runs Kommo got (each sends one message to the client), as (lead, bot)."""
    return [(run["entity_id"], run["bot_id"]) for run in world.kommo.salesbot_runs]


def salespeople_synced(world: World, events: Events) -> None:
    """The vendor sync ran: the salespeople and the local stack's profiles (everyone at work all day)."""
    replay(world, events, "schedule-vendor-sync.json", "VendorSyncFunction")


def mariana_wrote(world: World, events: Events) -> None:
    """Mariana's message came in now (her 24-hour window is open) and was answered."""
    world.handler("WebhookIntakeFunction")(events["webhook-client-message.json"])
    world.pump()
    world.kommo.reset()


def the_appointment_booked(world: World, events: Events) -> None:
    """Ana's meeting with Mariana, the one the scheduling events name, is in the agenda."""
    from sales_assistant.adapters.agenda import DynamoAgenda
    from sales_assistant.config import get_settings
    from sales_assistant.models.queue import AppointmentChanged

    booked = AppointmentChanged.model_validate_json(events["sqs-scheduling-booked.json"]["Records"][0]["body"])
    DynamoAgenda(get_settings().appointments_table).book(booked.appointment, int(time.time()))


def carla_works(hours: dict[str, list[str]]) -> None:
    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings

    salespeople = DynamoSalespeople(get_settings().salespeople_table)
    carla = salespeople.get(CARLA)
    assert carla is not None
    salespeople.save_profile(CARLA, carla.profile.model_copy(update={"working_hours": hours}))


def a_first_message_waits_for_carla(world: World, events: Events) -> None:
    """Juliana filled the form while her salesperson Carla was out: her first message waits."""
    salespeople_synced(world, events)
    carla_works({"mon": ["00:00-00:01"]})
    replay(world, events, "api-trigger-form.json", "ProactiveTriggerFunction")
    world.pump()


# ---------------------------------------------------------------------- what each event is meant to do
Scenario = Callable[[World, Events], None]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def registered(check: Scenario) -> Scenario:
        SCENARIOS[name] = check
        return check

    return registered


@scenario("api-health.json")
def health_reports_its_dependencies(world: World, events: Events) -> None:
    status, body = replay(world, events, "api-health.json", "OpsApiFunction")
    assert status == 200 and body["status"] == "ok"
    assert body["checks"]["dynamodb"] == "ok" and body["checks"]["queues"] == "ok"


@scenario("api-vendors-sync.json")
def the_sync_adds_every_salesperson(world: World, events: Events) -> None:
    status, body = replay(world, events, "api-vendors-sync.json", "VendorSyncFunction")
    assert status == 200 and body["kommo_users"] == 12 and SALESPERSON in body["added"]


@scenario("schedule-vendor-sync.json")
def the_scheduled_sync_adds_every_salesperson(world: World, events: Events) -> None:
    result = replay(world, events, "schedule-vendor-sync.json", "VendorSyncFunction")
    assert result["kommo_users"] == 12 and SALESPERSON in result["profiles_applied"]


@scenario("schedule-canary.json")
def the_canary_finds_the_service_healthy(world: World, events: Events) -> None:
    result = replay(world, events, "schedule-canary.json", "CanaryFunction")
    assert result["healthy"] is True and result["failed"] == []


@scenario("api-bot-pause.json")
def a_supervisor_pauses_marianas_bot(world: World, events: Events) -> None:
    status, body = replay(world, events, "api-bot-pause.json", "BotCommandsFunction")
    assert status == 200
    assert (body["contact_id"], body["status"], body["by_name"], body["lead_id"]) == (
        MARIANA,
        "paused",
        "Supervisor",
        MARIANA_LEAD,
    )


@scenario("api-bot-paused-list.json")
def the_paused_list_shows_mariana(world: World, events: Events) -> None:
    replay(world, events, "api-bot-pause.json", "BotCommandsFunction")
    status, body = replay(world, events, "api-bot-paused-list.json", "BotCommandsFunction")
    assert status == 200 and [contact["contact_id"] for contact in body["contacts"]] == [MARIANA]


@scenario("sqs-commands-assumir.json")
def ana_takes_over_marianas_chat(world: World, events: Events) -> None:
    assert replay(world, events, "sqs-commands-assumir.json", "BotCommandsFunction") == {"batchItemFailures": []}
    state = world.bot_state(MARIANA)
    assert state.status == "paused" and state.by_user_id == SALESPERSON


@scenario("schedule-auto-resume.json")
def a_pause_past_its_time_is_resumed(world: World, events: Events) -> None:
    from sales_assistant.adapters.bot_state import DynamoBotStateRepository
    from sales_assistant.config import get_settings

    replay(world, events, "api-bot-pause.json", "BotCommandsFunction")
    repository = DynamoBotStateRepository(get_settings().bot_state_table)
    paused = world.bot_state(MARIANA)
    repository.save(paused.model_copy(update={"resume_at": 1, "version": paused.version + 1}), paused.version)

    resumed = replay(world, events, "schedule-auto-resume.json", "BotCommandsFunction")
    assert resumed == {"resumed": [MARIANA], "escalated": []}


@scenario("sqs-conversations-client-message.json")
def marianas_message_waits_for_the_quiet_window(world: World, events: Events) -> None:
    result = replay(world, events, "sqs-conversations-client-message.json", "ConversationWorkerFunction")
    assert result == {"batchItemFailures": []}
    conversation = world.conversation(f"lead:{MARIANA_LEAD}")
    assert conversation.seq == 1 and [message.text for message in conversation.buffer] == [
        "Oi! Vi o anúncio do consórcio, queria saber como funciona 😊"
    ]


@scenario("sqs-conversations-flush-due.json")
def marianas_message_is_answered_when_the_window_ends(world: World, events: Events) -> None:
    replay(world, events, "sqs-conversations-client-message.json", "ConversationWorkerFunction")
    result = replay(world, events, "sqs-conversations-flush-due.json", "ConversationWorkerFunction")
    assert result == {"batchItemFailures": []}
    assert len(world.n8n.requests) == 1 and salesbot_runs(world) == [(MARIANA_LEAD, REPLY_BOT)]


@scenario("api-message.json")
def n8n_writes_to_mariana_inside_her_window(world: World, events: Events) -> None:
    mariana_wrote(world, events)
    status, body = replay(world, events, "api-message.json", "ProactiveTriggerFunction")
    assert status == 201 and body["message_key"] and body["delivered_at"]
    assert salesbot_runs(world) == [(MARIANA_LEAD, REPLY_BOT)]
    assert world.reply_field(MARIANA_LEAD) == "Mariana, separei a simulação para você."


@scenario("api-trigger-form.json")
def a_form_gets_juliana_her_first_message(world: World, events: Events) -> None:
    salespeople_synced(world, events)
    status, body = replay(world, events, "api-trigger-form.json", "ProactiveTriggerFunction")
    assert status == 202 and body == {"trigger_id": f"{JULIANA_LEAD}-form", "status": "accepted"}
    world.pump()
    assert salesbot_runs(world) == [(JULIANA_LEAD, TEMPLATE_BOT)]  # a new lead's window is closed: a template


@scenario("sqs-lead-events-trigger.json")
def a_due_trigger_sends_juliana_her_first_message(world: World, events: Events) -> None:
    salespeople_synced(world, events)
    result = replay(world, events, "sqs-lead-events-trigger.json", "ProactiveTriggerFunction")
    assert result == {"batchItemFailures": []}
    assert salesbot_runs(world) == [(JULIANA_LEAD, TEMPLATE_BOT)]


@scenario("api-triggers-deferred.json")
def the_deferred_list_shows_the_first_message_waiting_for_carla(world: World, events: Events) -> None:
    a_first_message_waits_for_carla(world, events)
    status, body = replay(world, events, "api-triggers-deferred.json", "ProactiveTriggerFunction")
    assert status == 200 and body["status"] == "deferred"
    assert [(trigger["lead_id"], trigger["vendor_id"]) for trigger in body["triggers"]] == [(JULIANA_LEAD, CARLA)]


@scenario("schedule-proactive-sweep.json")
def the_sweep_sends_the_first_message_when_carla_starts_work(world: World, events: Events) -> None:
    import boto3

    from sales_assistant.config import get_settings

    a_first_message_waits_for_carla(world, events)
    carla_works({day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
    boto3.resource("dynamodb").Table(get_settings().triggers_table).update_item(
        Key={"trigger_id": f"{JULIANA_LEAD}-form"},
        UpdateExpression="SET due_at = :past",
        ExpressionAttributeValues={":past": 1},
    )

    sweep = replay(world, events, "schedule-proactive-sweep.json", "ProactiveTriggerFunction")
    assert sweep == {"fired": 1, "follow_ups": 0}  # no message went out yet: no follow-up is due
    world.pump()
    assert salesbot_runs(world) == [(JULIANA_LEAD, TEMPLATE_BOT)]


@scenario("api-availability.json")
def anas_meeting_day_has_the_ten_oclock_slot(world: World, events: Events) -> None:
    salespeople_synced(world, events)
    status, body = replay(world, events, "api-availability.json", "SchedulingFunction")
    assert status == 200 and body["vendor_id"] == SALESPERSON
    assert asked(events, "api-hold.json")["start"] in [slot["start"] for slot in body["slots"]]


@scenario("api-hold.json")
def mariana_holds_the_ten_oclock_slot(world: World, events: Events) -> None:
    salespeople_synced(world, events)
    status, body = replay(world, events, "api-hold.json", "SchedulingFunction")
    assert status == 201 and body["hold_id"] and (body["vendor_id"], body["lead_id"]) == (SALESPERSON, MARIANA_LEAD)
    assert body["start"] == asked(events, "api-hold.json")["start"]


@scenario("api-appointment-book.json")
def mariana_books_the_ten_oclock_meeting(world: World, events: Events) -> None:
    salespeople_synced(world, events)
    status, body = replay(world, events, "api-appointment-book.json", "SchedulingFunction")
    assert status == 201 and body["status"] == "booked" and body["lead_id"] == MARIANA_LEAD
    assert body["start"] == asked(events, "api-appointment-book.json")["start"]


@scenario("api-appointment-reschedule.json")
def the_meeting_moves_to_three_oclock(world: World, events: Events) -> None:
    salespeople_synced(world, events)
    the_appointment_booked(world, events)
    status, body = replay(world, events, "api-appointment-reschedule.json", "SchedulingFunction")
    assert status == 200 and body["id"] == APPOINTMENT_ID and body["status"] == "booked"
    assert body["start"] == asked(events, "api-appointment-reschedule.json")["start"]


@scenario("api-appointment-cancel.json")
def the_meeting_is_cancelled(world: World, events: Events) -> None:
    salespeople_synced(world, events)
    the_appointment_booked(world, events)
    status, body = replay(world, events, "api-appointment-cancel.json", "SchedulingFunction")
    assert status == 200 and body["id"] == APPOINTMENT_ID and body["status"] == "cancelled"


@scenario("sqs-scheduling-booked.json")
def the_booked_meeting_is_confirmed_to_mariana_and_becomes_a_task_for_ana(world: World, events: Events) -> None:
    salespeople_synced(world, events)
    mariana_wrote(world, events)
    the_appointment_booked(world, events)
    assert replay(world, events, "sqs-scheduling-booked.json", "SchedulingFunction") == {"batchItemFailures": []}
    assert salesbot_runs(world) == [(MARIANA_LEAD, REPLY_BOT)]
    assert world.reply_field(MARIANA_LEAD).startswith("Tudo certo, Mariana! ✅ Sua reunião com Ana")
    [task] = world.kommo.tasks
    assert (task["entity_id"], task["responsible_user_id"]) == (MARIANA_LEAD, SALESPERSON)
    assert task["text"].startswith("Reunião com o cliente marcada pelo assistente")


@scenario("sqs-scheduling-reminder.json")
def mariana_is_reminded_of_her_meeting(world: World, events: Events) -> None:
    salespeople_synced(world, events)
    mariana_wrote(world, events)
    the_appointment_booked(world, events)
    assert replay(world, events, "sqs-scheduling-reminder.json", "SchedulingFunction") == {"batchItemFailures": []}
    assert salesbot_runs(world) == [(MARIANA_LEAD, REPLY_BOT)]
    assert world.reply_field(MARIANA_LEAD).startswith("Olá, Mariana! Lembrete: sua reunião com Ana")


def taken_by_the_intake(name: str, accepted: int) -> Scenario:
    """Kommo's delivery is answered 200 with its `accepted` events queued, none parked or ignored."""

    def taken(world: World, events: Events) -> None:
        status, body = replay(world, events, name, "WebhookIntakeFunction")
        assert status == 200
        assert body == {"accepted": accepted, "echoes": 0, "automations": 0, "ignored": 0, "parked": 0}

    return taken


KOMMO_DELIVERIES = {  # event -> the events it carries
    "webhook-client-message.json": 1,
    "webhook-client-picture.json": 1,
    "webhook-client-two-messages.json": 2,
    "webhook-salesperson-assumir.json": 1,
    "webhook-lead-added.json": 1,
    "webhook-lead-status-changed.json": 1,
    "webhook-lead-responsible-changed.json": 1,
    "webhook-unsorted-added.json": 1,
}
SCENARIOS.update({name: taken_by_the_intake(name, accepted) for name, accepted in KOMMO_DELIVERIES.items()})


def test_every_event_file_says_what_it_is_meant_to_do() -> None:
    assert sorted(SCENARIOS) == sorted(render_events(int(time.time())))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_event_dated_now_answers_what_it_is_meant_to_on_a_fresh_stack(world: World, name: str) -> None:
    SCENARIOS[name](world, render_events(int(time.time())))
