"""Qualification into Kommo through the handlers, the queues and Kommo's HTTP API: the team names the lead
fields n8n may fill (QUALIFICATION_FIELDS), n8n is told them with their allowed values, and its answer's lead
changes reach Kommo in one PATCH whose echo is recognised as the service's own
(tests/unit/test_qualification_decisions.py holds the decisions)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.kommo_seed import ASSISTANT_STATUS_ID
from local.kommo_webhooks import CLIENT_AUTHOR, chat_body
from local.sam_events import kommo_body
from tests.conftest import World

MARIANA_LEAD, MARIANA = 27754599, 93589657


@pytest.fixture
def fields(world: World, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """The team's qualification fields, made in Kommo's settings and named in QUALIFICATION_FIELDS."""
    from tests.conftest import reset_caches

    made = {
        "orcamento": world.kommo.add_lead_field("Orçamento", "numeric"),
        "interesse": world.kommo.add_lead_field("Interesse", "select", ["Carro", "Moto", "Caminhão"]),
    }
    monkeypatch.setenv("QUALIFICATION_FIELDS", json.dumps(made))
    reset_caches()
    return made


def lead_patches(world: World) -> list[dict[str, Any]]:
    """Every change Kommo was asked to make to Mariana's lead (alone, or among other leads' in one request)."""
    bodies = []
    for request in world.kommo.requests:
        if request.method == "PATCH" and request.path == f"/api/v4/leads/{MARIANA_LEAD}":
            bodies.append(request.body)
        elif request.method == "PATCH" and request.path == "/api/v4/leads":
            bodies += [body for body in request.body if body["id"] == MARIANA_LEAD]
    return [{key: value for key, value in body.items() if key != "id"} for body in bodies]


def test_the_ais_qualification_reaches_kommo_in_one_patch_noted_and_its_echo_dropped(
    world: World, fields: dict[str, int]
) -> None:
    interest = next(field for field in world.kommo.lead_fields if field["id"] == fields["interesse"])
    truck = next(enum["id"] for enum in interest["enums"] if enum["value"] == "Caminhão")
    world.n8n.respond_with(
        200,
        {
            "reply": "Anotado, Mariana! Quer ver os horários do seu consultor?",
            "actions": [
                {"type": "set_fields", "fields": {"orcamento": 1500, "interesse": "caminhao", "cpf": "123"}},
                {"type": "move_status", "status_id": ASSISTANT_STATUS_ID},
                {"type": "add_tags", "tags": ["qualificado"]},
            ],
        },
    )
    world.post_webhook(
        chat_body(
            "q-1", "uns 1500 por mês, para um caminhão", "incoming", CLIENT_AUTHOR, lead=MARIANA_LEAD, contact=MARIANA
        )
    )
    world.pump()

    [asked] = world.n8n.requests
    assert [(field["name"], field["type"], field["values"]) for field in asked["body"]["qualification"]] == [
        ("orcamento", "numeric", []),
        ("interesse", "select", ["Carro", "Moto", "Caminhão"]),
    ]
    changes = [body for body in lead_patches(world) if "status_id" in body]
    assert changes == [
        {
            "status_id": ASSISTANT_STATUS_ID,
            "custom_fields_values": [
                {"field_id": fields["orcamento"], "values": [{"value": 1500}]},
                {"field_id": fields["interesse"], "values": [{"value": "Caminhão", "enum_id": truck}]},
            ],
            "tags_to_add": [{"name": "qualificado"}],
        }
    ]
    assert world.kommo.leads[MARIANA_LEAD]["status_id"] == ASSISTANT_STATUS_ID
    [noted] = [note["params"]["text"] for note in world.kommo.notes if note["note_type"] == "extended_service_message"]
    assert "• Orçamento: 1500" in noted and "• Interesse: Caminhão" in noted
    assert "• cpf: não preenchido" in noted
    assert world.kommo.tasks == []

    kommo_reports_the_move = world.post_webhook(kommo_body("lead-status-changed"))  # the lead moved to that status
    assert kommo_reports_the_move["echoes"] == 1 and kommo_reports_the_move["accepted"] == 0
