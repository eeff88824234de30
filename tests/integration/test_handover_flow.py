"""A handover wired end to end: the client's message through intake, n8n and the Salesbot relay, the service's
words in the reply, the salesperson's task in Kommo, the bot state in DynamoDB, and the takeover schedule that
tasks the manager when nobody answered (tests/unit/test_handover_decisions.py has every decision)."""

from __future__ import annotations

import time
from typing import Any

from local.lambda_events import schedule_event
from tests.conftest import World
from tests.integration.test_proactive_flow import ALL_DAY
from tests.integration.test_reactive_flow import client_message

ANA, CARLA, MARIANA = 8401234, 8401236, 93589657  # Carla manages Ana here


def ana_at_work_all_day_managed_by_carla(world: World) -> None:
    from sales_assistant.adapters.salespeople import DynamoSalespeople
    from sales_assistant.config import get_settings

    world.handler("VendorSyncFunction")(schedule_event("VendorSyncFunction"))
    salespeople = DynamoSalespeople(get_settings().salespeople_table)
    ana = salespeople.get(ANA)
    assert ana is not None
    profile = ana.profile.model_copy(update={"working_hours": ALL_DAY, "holidays_country": "", "manager_id": CARLA})
    salespeople.save_profile(ANA, profile)


def tasks_for(world: World, user_id: int) -> list[dict[str, Any]]:
    return [task for task in world.kommo.tasks if task["responsible_user_id"] == user_id]


def test_a_handover_tells_the_client_a_person_answers_and_the_schedule_tasks_the_manager_once(world: World) -> None:
    from sales_assistant.adapters.bot_state import DynamoBotStateRepository
    from sales_assistant.config import get_settings

    ana_at_work_all_day_managed_by_carla(world)
    world.post_webhook(client_message("human-1", "quero falar com um atendente"))
    world.pump()
    asked_at = time.time()

    assert world.reply_field().endswith("Já chamei nosso time: uma pessoa vai te responder em instantes. 🙂")
    [task] = tasks_for(world, ANA)
    assert "atendimento humano" in task["text"] and task["complete_till"] <= asked_at  # due now
    state = world.bot_state()
    assert state.status == "paused" and state.resume_at is None and state.escalate_at is not None

    schedule = world.handler("BotCommandsFunction")
    assert schedule(schedule_event()) == {"resumed": [], "escalated": []}  # 2 working hours not over yet
    repository = DynamoBotStateRepository(get_settings().bot_state_table)
    repository.save(state.model_copy(update={"escalate_at": 1, "version": state.version + 1}), state.version)
    assert schedule(schedule_event()) == {"resumed": [], "escalated": [MARIANA]}
    assert schedule(schedule_event()) == {"resumed": [], "escalated": []}

    [manager_task] = tasks_for(world, CARLA)
    assert manager_task["text"].startswith("O cliente pediu atendimento humano e ninguém respondeu em 2 h")
    assert world.bot_state().status == "paused"
