"""The sandbox's fixture account: 9 salespeople, 3 test users, leads, contacts, the lead fields, Salesbots and
pipeline the local defaults name, and the service's webhook (all fictitious), as `make setup` leaves an account."""

from __future__ import annotations

import time
from typing import Any

CLIENT_ID = "local-client-id"
CLIENT_SECRET = "local-client-secret"  # noqa: S105 - the sandbox's own fixture value
LONG_LIVED_TOKEN = "local-long-lived-token"  # noqa: S105 - matches local.defaults

SUBDOMAIN = "vendasdemo"
ACCOUNT_ID = 31257294
ADMIN_USER_ID = 8409903  # "Teste Gestor", the admin who issued the long-lived token
REPLY_SALESBOT_ID = 101  # the Salesbot that sends the reply field's text (KOMMO_SALESBOT_ID)
TEMPLATE_SALESBOT_ID = 102  # the Salesbot whose message step sends a WhatsApp template (KOMMO_TEMPLATE_SALESBOT_ID)
AREA_FIELD_ID = 512345
AREAS = ("Auto", "Imóveis", "Serviços")  # the area field's values
REPLY_FIELD_ID = 900001
TEMPLATE_NAME_FIELD_ID = 900002  # a template Salesbot's variable {{nome}}
CREDIT_FIELD_ID = 900003  # "Valor do crédito": the qualification field the local run lets n8n fill
PIPELINE_ID = 7654321
FIRST_STATUS_ID = 61234567
ASSISTANT_STATUS_ID = 61234568  # the status n8n's move_status may set (ASSISTANT_STATUS_IDS)
WEBHOOK_BASE_URL = "https://assistente.vendasdemo.example"
WEBHOOK_TOKEN = "local-webhook-token-0123456789"  # noqa: S105 - matches local.defaults
WEBHOOK_DESTINATION = f"{WEBHOOK_BASE_URL}/webhooks/kommo/{WEBHOOK_TOKEN}"

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
    """The service's webhook, subscribed to every event the intake handles."""
    from sales_assistant.models.kommo import WEBHOOK_EVENTS  # the layer is on sys.path once the local run starts

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
            "settings": list(WEBHOOK_EVENTS),
        }
    ]


def seed_lead_fields() -> list[dict[str, Any]]:
    """The lead custom fields as GET /api/v4/leads/custom_fields lists them: the area list, the two fields
    `make setup` creates (the reply and the template variable `nome`) and a qualification field."""
    area_values = [{"id": 7001 + index, "value": area, "sort": index} for index, area in enumerate(AREAS)]
    return [
        lead_field(AREA_FIELD_ID, "Área", "select", None, area_values),
        lead_field(REPLY_FIELD_ID, "Resposta do assistente", "textarea", "ASSISTENTE_RESPOSTA"),
        lead_field(TEMPLATE_NAME_FIELD_ID, "Modelo WhatsApp: nome", "text", "ASSISTENTE_MODELO_NOME"),
        lead_field(CREDIT_FIELD_ID, "Valor do crédito", "numeric", None),
    ]


def lead_field(
    field_id: int, name: str, field_type: str, code: str | None, enums: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A lead custom field as Kommo lists it."""
    return {
        "id": field_id,
        "name": name,
        "type": field_type,
        "code": code,
        "sort": 500,
        "entity_type": "leads",
        "is_api_only": False,
        "enums": enums,
    }


def seed_salesbots() -> dict[int, dict[str, Any]]:
    """The reply Salesbot and the template Salesbot, as GET /api/v4/bots/{id} answers."""
    return {
        REPLY_SALESBOT_ID: salesbot(REPLY_SALESBOT_ID, "Assistente - resposta"),
        TEMPLATE_SALESBOT_ID: salesbot(TEMPLATE_SALESBOT_ID, "Assistente - modelo WhatsApp"),
    }


def salesbot(bot_id: int, name: str, type_functionality: str = "regular", active: bool = True) -> dict[str, Any]:
    """A Salesbot as Kommo lists it (integrators' description of GET /api/v4/bots)."""
    return {
        "id": bot_id,
        "name": name,
        "type_functionality": type_functionality,
        "can_interrupt": True,
        "type": 2,
        "settings": {"silent": False, "active": active, "is_sandbox": False, "readonly": False},
    }


def seed_pipelines() -> list[dict[str, Any]]:
    """The sales pipeline with its statuses (Kommo's fixed 142 won and 143 lost among them)."""
    statuses = [
        (FIRST_STATUS_ID, "Novo lead"),
        (ASSISTANT_STATUS_ID, "Em atendimento"),
        (142, "Venda ganha"),
        (143, "Venda perdida"),
    ]
    return [
        {
            "id": PIPELINE_ID,
            "name": "Funil de vendas",
            "is_main": True,
            "_embedded": {
                "statuses": [
                    {"id": status_id, "name": name, "pipeline_id": PIPELINE_ID, "sort": sort}
                    for sort, (status_id, name) in enumerate(statuses)
                ]
            },
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
