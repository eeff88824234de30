"""What follows a booking, from the scheduling queue: n8n stores the appointment, the salesperson gets a
meeting task (moved with a reschedule, completed on cancel) and a note on the lead, the client a
confirmation and reminders; each once, however often the queue delivers, and a failing n8n never loses a
booking. Once the no-show grace period after its end is over, a meeting nobody marked missed counts held."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3

from local.lambda_events import sqs_event
from local.one_time_schedules import fire_due
from tests.conftest import World, queue_messages
from tests.integration.test_reactive_flow import client_message
from tests.integration.test_scheduling import (
    ANA,
    JULIANA_LEAD,
    MARIANA,
    MARIANA_LEAD,
    agenda,
    at,
    book,
    call,
    working_day,
)

__all__ = ["agenda"]  # the fixture, shared with test_scheduling


def open_window(world: World) -> None:
    """Mariana writes first (the 24-hour window opens); her answer is out of the way."""
    world.post_webhook(client_message("hello-1", "oi, tudo bem?"))
    world.pump()
    world.kommo.reset()
    world.n8n.requests.clear()


def scheduling_requests(world: World) -> list[dict[str, Any]]:
    return [request["body"] for request in world.n8n.requests if request["path"] == "/webhook/kommo-scheduling"]


def open_meeting_tasks(world: World) -> list[dict[str, Any]]:
    """The salesperson's meeting tasks (Kommo type 2) not completed yet."""
    return [task for task in world.kommo.tasks if task["task_type_id"] == 2 and not task.get("is_completed")]


def schedules(world: World) -> dict[str, str]:
    """One-time schedules (the reminders, and each meeting's `over`): name -> when (UTC)."""
    scheduler, group = boto3.client("scheduler"), world.stack.names["ReminderScheduleGroup"]
    names = [schedule["Name"] for schedule in scheduler.list_schedules(GroupName=group)["Schedules"]]
    return {name: scheduler.get_schedule(Name=name, GroupName=group)["ScheduleExpression"] for name in names}


def test_a_booking_is_stored_in_n8n_tasked_noted_and_confirmed_to_the_client(agenda: World) -> None:
    open_window(agenda)
    start = at(working_day(), "10:00")
    _, appointment = book(agenda, start)
    agenda.pump()

    [request] = scheduling_requests(agenda)
    assert request["kind"] == "scheduling" and request["version"] == "2"
    assert request["appointment"] == {
        "id": appointment["id"],
        "vendor_id": ANA,
        "lead_id": MARIANA_LEAD,
        "contact": {"id": MARIANA, "name": "Mariana Costa", "phone": request["contact"]["phone"]},
        "start": start,
        "end": appointment["end"],
        "status": "booked",
        "agenda_table": "agenda_8401234",
    }
    [task] = agenda.kommo.tasks
    begins = int(datetime.fromisoformat(start).timestamp())
    assert (task["task_type_id"], task["complete_till"], task["duration"]) == (2, begins, 1800)
    assert task["responsible_user_id"] == ANA and task["entity_id"] == MARIANA_LEAD
    [note] = [note["params"]["text"] for note in agenda.kommo.notes]
    assert "Reunião marcada" in note and appointment["id"] in note
    [run] = agenda.kommo.salesbot_runs
    assert agenda.reply_field().startswith("Tudo certo, Mariana!") and "10:00" in agenda.reply_field()
    assert run["entity_id"] == MARIANA_LEAD


def test_outside_the_window_without_a_template_the_salesperson_confirms_by_hand(agenda: World) -> None:
    book(agenda, at(working_day(), "10:00"))
    agenda.pump()
    assert agenda.kommo.salesbot_runs == []
    assert any("confirme com o cliente" in task["text"] for task in agenda.kommo.tasks)


def test_a_salesperson_who_took_over_confirms_the_meeting_the_assistant_stays_quiet(agenda: World) -> None:
    from tests.integration.test_takeover_flow import salesperson_message

    open_window(agenda)
    agenda.post_webhook(salesperson_message("assumir-1", f"/assumir {MARIANA_LEAD}"))
    agenda.pump()
    book(agenda, at(working_day(), "10:00"))
    agenda.pump()

    assert agenda.kommo.salesbot_runs == []  # never over a human
    assert any("você assumiu a conversa: confirme com ele" in task["text"] for task in agenda.kommo.tasks)
    assert [task["task_type_id"] for task in agenda.kommo.tasks].count(2) == 1  # the meeting itself


def test_n8n_down_then_back_stores_the_appointment_once_and_the_rest_happens_meanwhile(agenda: World) -> None:
    open_window(agenda)
    for _ in range(4):  # two deliveries of the item, each retried once by the client
        agenda.n8n.respond_with(503, {"message": "down"})
    _, appointment = book(agenda, at(working_day(), "11:00"))
    agenda.pump_queue("SchedulingQueue", "SchedulingFunction")  # runs until n8n answers

    assert [request["appointment"]["id"] for request in scheduling_requests(agenda)] == [appointment["id"]] * 5
    assert len(agenda.kommo.tasks) == len(agenda.kommo.notes) == len(agenda.kommo.salesbot_runs) == 1
    assert call(agenda, "GET", f"/appointments/{appointment['id']}")[1]["status"] == "booked"


def test_a_redelivered_follow_up_sends_nothing_twice(agenda: World) -> None:
    open_window(agenda)
    book(agenda, at(working_day(), "14:00"))
    [message] = queue_messages(agenda.stack, "SchedulingQueue")
    for _ in range(3):  # the queue delivers the same message again (a Lambda that timed out, say)
        result = agenda.handler("SchedulingFunction")(sqs_event([message]))
        assert result["batchItemFailures"] == []
    assert len(scheduling_requests(agenda)) == 1
    assert len(agenda.kommo.tasks) == len(agenda.kommo.notes) == len(agenda.kommo.salesbot_runs) == 1


def test_reminders_are_created_moved_with_a_reschedule_removed_on_cancel_and_sent_when_due(agenda: World) -> None:
    open_window(agenda)
    day = working_day()
    _, appointment = book(agenda, at(day, "15:00"))
    agenda.pump()
    names, over = {f"{appointment['id']}-1440", f"{appointment['id']}-60"}, f"{appointment['id']}-over"
    created = schedules(agenda)
    assert set(created) == names | {over}

    call(agenda, "POST", f"/appointments/{appointment['id']}/reschedule", {"start": at(day, "16:00")})
    agenda.pump()
    moved = schedules(agenda)
    assert set(moved) == names | {over} and all(moved[name] != created[name] for name in names | {over})
    one_hour_before = datetime.fromisoformat(at(day, "15:00")).timestamp()  # 16:00 minus 60 minutes

    agenda.kommo.reset()
    assert sorted(fire_due(agenda.stack, boto3.client("scheduler"), agenda.sqs, now=one_hour_before)) == sorted(names)
    agenda.pump()
    assert len(agenda.kommo.salesbot_runs) == 2 and "Lembrete" in agenda.reply_field()  # 24 h and 1 h
    assert set(schedules(agenda)) == {over}  # whether the meeting was held: decided after it

    _, second = book(agenda, at(day, "10:00"), lead=JULIANA_LEAD)  # Mariana has her meeting (one per lead)
    agenda.pump()
    assert set(schedules(agenda)) == {over, f"{second['id']}-1440", f"{second['id']}-60", f"{second['id']}-over"}
    call(agenda, "DELETE", f"/appointments/{second['id']}")
    agenda.pump()
    assert set(schedules(agenda)) == {over}
    notes = [note["params"]["text"] for note in agenda.kommo.notes]
    assert any("cancelada" in note for note in notes) and scheduling_requests(agenda)[-1]["appointment"]["status"] == (
        "cancelled"
    )


def test_a_client_asking_for_a_meeting_gets_it_booked_and_confirmed(agenda: World) -> None:
    agenda.post_webhook(client_message("meet-1", "quero marcar uma reunião amanhã"))
    agenda.pump()
    [request] = scheduling_requests(agenda)
    appointment = request["appointment"]
    assert appointment["status"] == "booked" and appointment["start"].endswith("T10:00:00-03:00")
    assert len(agenda.kommo.salesbot_runs) == 2  # the agent's reply, then the confirmation
    assert agenda.reply_field().startswith("Tudo certo, Mariana!")
    assert not [task for task in agenda.kommo.tasks if task["task_type_id"] != 2]  # no "do it by hand" task


def test_a_meeting_the_service_cannot_book_becomes_a_task_with_the_reason(agenda: World) -> None:
    agenda.n8n.respond_with(
        200, {"reply": "Vou marcar!", "actions": [{"type": "schedule", "slot": "2020-01-06T10:00:00-03:00"}]}
    )
    agenda.post_webhook(client_message("meet-2", "pode ser segunda às 10h?"))
    agenda.pump()
    [task] = agenda.kommo.tasks
    assert 'ação "schedule"' in task["text"] and "in_the_past" in task["text"]


def test_a_booking_delivered_after_its_cancellation_is_not_sent_to_n8n_or_the_client(agenda: World) -> None:
    open_window(agenda)
    _, appointment = book(agenda, at(working_day(), "09:00"))
    [booked] = queue_messages(agenda.stack, "SchedulingQueue")  # held back, as a slow queue would
    call(agenda, "DELETE", f"/appointments/{appointment['id']}")
    agenda.pump()
    agenda.handler("SchedulingFunction")(sqs_event([booked]))
    assert [request["appointment"]["status"] for request in scheduling_requests(agenda)] == ["cancelled"]
    assert agenda.kommo.salesbot_runs == [] and schedules(agenda) == {}
    assert [task for task in agenda.kommo.tasks if task["task_type_id"] == 2] == []


def test_a_reschedule_leaves_one_meeting_task_for_the_salesperson(agenda: World) -> None:
    open_window(agenda)
    day = working_day()
    _, appointment = book(agenda, at(day, "10:00"))
    agenda.pump()
    call(agenda, "POST", f"/appointments/{appointment['id']}/reschedule", {"start": at(day, "15:00")})
    agenda.pump()

    tasks = open_meeting_tasks(agenda)
    whens = [datetime.fromtimestamp(task["complete_till"]).isoformat() for task in tasks]
    task_calls = [f"{r.method} {r.path}" for r in agenda.kommo.requests if "/tasks" in r.path]
    assert len(tasks) == 1, f"{len(tasks)} open meeting tasks at {whens}; task calls: {task_calls}"
    [task] = tasks  # the same task, moved: due at the new start, its text saying so
    assert task["complete_till"] == int(datetime.fromisoformat(at(day, "15:00")).timestamp())
    assert "15:00" in task["text"]


def test_a_cancelled_meeting_leaves_no_open_meeting_task(agenda: World) -> None:
    open_window(agenda)
    _, appointment = book(agenda, at(working_day(), "11:00"))
    agenda.pump()
    call(agenda, "DELETE", f"/appointments/{appointment['id']}")
    agenda.pump()

    tasks = open_meeting_tasks(agenda)
    assert tasks == [], f"{len(tasks)} open meeting task(s) remain for the cancelled meeting"
    [task] = [task for task in agenda.kommo.tasks if task["task_type_id"] == 2]  # completed, saying why
    assert "cancelada" in task["result"]["text"]


def test_a_redelivered_reschedule_or_cancellation_changes_the_meeting_task_once(agenda: World) -> None:
    def delivered_three_times() -> None:  # the same change again (a Lambda that timed out, say)
        [message] = queue_messages(agenda.stack, "SchedulingQueue")
        for _ in range(3):
            assert agenda.handler("SchedulingFunction")(sqs_event([message]))["batchItemFailures"] == []

    open_window(agenda)
    day = working_day()
    _, appointment = book(agenda, at(day, "10:00"))
    agenda.pump()
    call(agenda, "POST", f"/appointments/{appointment['id']}/reschedule", {"start": at(day, "15:00")})
    delivered_three_times()
    call(agenda, "DELETE", f"/appointments/{appointment['id']}")
    delivered_three_times()

    [task] = agenda.kommo.tasks
    changes = [r.path for r in agenda.kommo.requests if r.method == "PATCH" and "/tasks" in r.path]
    assert changes == [f"/api/v4/tasks/{task['id']}"] * 2  # moved once, completed once
    assert task["is_completed"] and task["complete_till"] == int(datetime.fromisoformat(at(day, "15:00")).timestamp())


def test_a_meeting_nobody_marked_missed_counts_held_once_its_grace_period_is_over(agenda: World) -> None:
    from sales_assistant.adapters.funnel import DynamoFunnelCounts

    open_window(agenda)
    _, appointment = book(agenda, at(working_day(), "14:00"))
    agenda.pump()
    over = f"{appointment['id']}-over"
    grace_over = datetime.fromisoformat(appointment["end"]).timestamp() + 24 * 3600  # NO_SHOW_GRACE_HOURS
    assert schedules(agenda)[over] == f"at({datetime.fromtimestamp(grace_over, UTC):%Y-%m-%dT%H:%M:%S})"

    scheduler = boto3.client("scheduler")
    assert over not in fire_due(agenda.stack, scheduler, agenda.sqs, now=grace_over - 60)  # Ana may still /faltou
    assert over in fire_due(agenda.stack, scheduler, agenda.sqs, now=grace_over)
    [fired] = [message for message in queue_messages(agenda.stack, "SchedulingQueue") if over_item(message)]
    for _ in range(2):  # the schedule's item delivered twice
        assert agenda.handler("SchedulingFunction")(sqs_event([fired]))["batchItemFailures"] == []

    month = datetime.now(ZoneInfo("America/Sao_Paulo")).isoformat()[:7]
    assert DynamoFunnelCounts(os.environ["FUNNEL_TABLE"]).month_totals(month)["meeting_held"] == 1
    assert over not in schedules(agenda)


def over_item(message: dict[str, Any]) -> bool:
    return json.loads(message["Body"])["kind"] == "appointment_over"
