"""The kill switch: one SSM parameter stops the assistant's messages at once, in both flows, for
everyone or for one salesperson's leads; conversations keep being recorded and turning it back needs
no replay."""

from __future__ import annotations

import json

from tests.conftest import World
from tests.integration.test_proactive_flow import (
    JULIANA_LEAD,
    list_deferred,
    notes_on,
    post_trigger,
    proactive,
    runs,
)
from tests.integration.test_reactive_flow import client_message

__all__ = ["proactive"]  # the fixture, used by the proactive test below


def switch(**value: object) -> None:
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from sales_assistant.config import get_settings

    boto3.client("ssm").put_parameter(
        Name=get_settings().kill_switch_parameter, Value=json.dumps(value), Type="String", Overwrite=True
    )
    parameters.clear_caches()  # the 30-second cache, as if it had run out


def test_the_switch_stops_replies_keeps_the_history_and_needs_no_replay(world: World) -> None:
    switch(stop_all=True)
    world.post_webhook(client_message("m-1", "oi, alguém aí?"))
    world.pump()
    assert world.kommo.salesbot_runs == [] and world.n8n.requests == []
    assert [turn.text for turn in world.conversation().turns] == ["oi, alguém aí?"]
    [note] = notes_on(world, 27754599)  # the salesperson learns the client waits for them, and why
    assert "sem resposta do assistente" in note and "chave geral" in note

    switch(stop_all=False)
    world.post_webhook(client_message("m-2", "quero saber do consórcio"))
    world.pump()
    assert len(world.kommo.salesbot_runs) == 1  # the new message is answered; nothing held comes back
    [asked] = world.n8n.requests
    assert [message["text"] for message in asked["body"]["messages"]] == ["quero saber do consórcio"]


def test_pausing_one_salesperson_holds_only_their_leads(world: World) -> None:
    switch(paused_salespeople=[8401234])  # Ana: Mariana's lead
    world.post_webhook(client_message("m-1", "oi", lead=27754599, contact=93589657))
    world.post_webhook(client_message("r-1", "oi", lead=27754600, contact=93589658))
    world.pump()
    assert [run["entity_id"] for run in world.kommo.salesbot_runs] == [27754600]
    [note] = notes_on(world, 27754599)
    assert "pausado para os leads deste(a) vendedor(a)" in note


def test_the_switch_holds_first_messages_and_they_go_out_once_when_it_is_turned_off(proactive: World) -> None:
    """A new lead is revenue: its first message is held (deferred, never dropped) while the switch is on,
    the salesperson is told why on the lead, and the sweep sends it once the switch is off."""
    switch(stop_all=True)
    post_trigger(proactive, {"lead_id": JULIANA_LEAD, "trigger": "form"})
    proactive.pump()
    assert runs(proactive, JULIANA_LEAD) == [] and proactive.n8n.requests == []
    [note] = notes_on(proactive, JULIANA_LEAD)
    assert "retida" in note and "chave geral" in note
    [held] = list_deferred(proactive)
    assert held["reason"] == "kill_switch"

    sweep(proactive)  # still on: the sweep leaves it where it is
    assert runs(proactive, JULIANA_LEAD) == [] and len(list_deferred(proactive)) == 1

    switch(stop_all=False)
    sweep(proactive)
    sweep(proactive)  # a second sweep finds nothing left to send
    assert len(runs(proactive, JULIANA_LEAD)) == 1 and list_deferred(proactive) == []


def sweep(world: World) -> None:
    """The proactive schedule fires, and what it queued is delivered."""
    from local.lambda_events import schedule_event

    world.handler("ProactiveTriggerFunction")(schedule_event("ProactiveTriggerFunction"))
    world.pump()
