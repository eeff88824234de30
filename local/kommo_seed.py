"""The sandbox's fixture account: 9 salespeople, 3 test users, leads, contacts and the service's webhook
(all fictitious)."""

from __future__ import annotations

import time
from typing import Any

CLIENT_ID = "local-client-id"
CLIENT_SECRET = "local-client-secret"  # noqa: S105 - the sandbox's own fixture value
LONG_LIVED_TOKEN = "local-long-lived-token"  # noqa: S105 - matches local.defaults

SUBDOMAIN = "vendasdemo"
ACCOUNT_ID = 31257294
REPLY_SALESBOT_ID = 101  # the Salesbot that sends the reply field's text (KOMMO_SALESBOT_ID)
AREA_FIELD_ID = 512345
REPLY_FIELD_ID = 900001
TEMPLATE_NAME_FIELD_ID = 900002  # a template Salesbot's variable {{nome}}
LEAD_FIELD_IDS = {AREA_FIELD_ID, REPLY_FIELD_ID, TEMPLATE_NAME_FIELD_ID}
PIPELINE_ID = 7654321
FIRST_STATUS_ID = 61234567
WEBHOOK_BASE_URL = "https://assistente.vendasdemo.example"
WEBHOOK_DESTINATION = f"{WEBHOOK_BASE_URL}/webhooks/kommo/local-webhook-token"
WEBHOOK_SETTINGS = ["add_message", "add_outgoing_message", "add_lead", "status_lead", "responsible_lead"]

SALESPEOPLE = [
    (8401234, "Ana Souza", "ana.souza"),
    (8401235, "Bruno Oliveira", "bruno.oliveira"),
    (8401236, "Carla Mendes", "carla.mendes"),
    (8401237, "Diego Ferreira", "diego.ferreira"),
    (8401238, "Eduarda Lima", "eduarda.lima"),
    (8401239, "Felipe Santos", "felipe.santos"),
    (8401240, "Gabriela Rocha", "gabriela.rocha"),
    (8401241, "Henrique Alves", "henrique.alves"),
    (8401242, "Isabela Martins", "isabela.martins"),
]
TEST_USERS = [
    (8409901, "Teste Bot QA", "qa.bot"),
    (8409902, "Teste Integração", "teste.integracao"),
    (8409903, "Teste Gestor", "teste.gestor"),
]
CLIENTS = [
    (93589657, 27754599, "Mariana Costa", "+55 11 98765-4321", "Auto", 8401234),
    (93589658, 27754600, "Rafael Lima", "+55 21 99876-5432", "Imóveis", 8401235),
    (93589659, 27754601, "Juliana Pereira", "+55 31 97654-3210", "Imóveis", 8401236),
    (93589660, 27754602, "Lucas Barbosa", "+55 41 96543-2109", "Auto", 8401237),
    (93589661, 27754603, "Fernanda Ribeiro", "+55 51 95432-1098", "Serviços", 8401238),
    (93589662, 27754604, "Thiago Carvalho", "+55 61 94321-0987", "Auto", 8401240),
]


def seed_users() -> list[dict[str, Any]]:
    users = []
    for user_id, name, login in SALESPEOPLE + TEST_USERS:
        users.append(
            {
                "id": user_id,
                "name": name,
                "email": f"{login}@vendasdemo.com.br",
                "lang": "pt",
                "rights": {"is_active": True, "is_admin": login == "teste.gestor", "group_id": 0, "role_id": None},
            }
        )
    return users


def seed_leads() -> dict[int, dict[str, Any]]:
    return {
        lead_id: new_lead(lead_id, contact_id, name, area, responsible)
        for contact_id, lead_id, name, _, area, responsible in CLIENTS
    }


def new_lead(lead_id: int, contact_id: int, name: str, area: str, responsible: int) -> dict[str, Any]:
    """A lead as Kommo returns it (with its main contact and its area), in the first status."""
    return {
        "id": lead_id,
        "name": f"Consórcio {area.lower()} - {name}",
        "status_id": FIRST_STATUS_ID,
        "pipeline_id": PIPELINE_ID,
        "responsible_user_id": responsible,
        "created_at": int(time.time()),
        "custom_fields_values": [
            {
                "field_id": AREA_FIELD_ID,
                "field_name": "Área",
                "field_code": None,
                "field_type": "select",
                "values": [{"value": area}],
            },
        ],
        "_embedded": {"contacts": [{"id": contact_id, "is_main": True}], "tags": []},
    }


def seed_contacts() -> dict[int, dict[str, Any]]:
    return {contact_id: new_contact(contact_id, name, phone) for contact_id, _, name, phone, _, _ in CLIENTS}


def new_contact(contact_id: int, name: str, phone: str) -> dict[str, Any]:
    """A contact as Kommo returns it: name, phone and e-mail fields."""
    return {
        "id": contact_id,
        "name": name,
        "first_name": name.split()[0],
        "last_name": name.split()[-1],
        "custom_fields_values": [
            {"field_id": 1, "field_code": "PHONE", "field_name": "Telefone", "values": [{"value": phone}]},
            {
                "field_id": 2,
                "field_code": "EMAIL",
                "field_name": "Email",
                "values": [{"value": f"{name.split()[0].lower()}@exemplo.com.br"}],
            },
        ],
    }


def seed_webhooks() -> list[dict[str, Any]]:
    return [
        {
            "id": 100500,
            "destination": WEBHOOK_DESTINATION,
            "created_at": 1_790_000_000,
            "updated_at": 1_790_000_000,
            "account_id": ACCOUNT_ID,
            "created_by": 8409903,
            "sort": 1,
            "disabled": False,
            "settings": list(WEBHOOK_SETTINGS),
        }
    ]


def chat_message_event(contact_id: int, message_id: str, created_at: int) -> dict[str, Any]:
    """An `incoming_chat_message` of the events feed, as Kommo lists it (ids only, no text)."""
    return {
        "id": f"01evt-{message_id}",
        "type": "incoming_chat_message",
        "entity_id": contact_id,
        "entity_type": "contact",
        "created_by": 0,
        "created_at": created_at,
        "value_after": [{"message": {"id": message_id, "origin": "waba", "talk_id": 100}}],
        "value_before": [],
        "account_id": ACCOUNT_ID,
    }
