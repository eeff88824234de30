"""Qualification into Kommo, on fakes: n8n fills the lead's fields (`set_fields`), moves it (`move_status`) and
tags it (`add_tags`); the service writes what fits in one PATCH and notes on the lead what it changed and what
it did not write, and why (tests/integration/test_qualification_flow.py drives it through the handlers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sales_assistant.models.kommo import FieldValue, LeadField
from sales_assistant.models.kommo_webhook import Account, KommoWebhook, LeadChange
from sales_assistant.models.n8n import Action, N8nResponse
from sales_assistant.services.conversation import ReactiveConversations
from sales_assistant.services.intake import AuthorRules, route_webhook
from sales_assistant.services.qualification import DEFINITIONS_SECONDS
from tests.unit.flows import (
    ASSISTANT_STATUS,
    BUDGET_FIELD,
    INTEREST_FIELD,
    MIN_GAP_SECONDS,
    QUIET_SECONDS,
    REPLY_FIELD,
    SAO_PAULO,
    VISIT_FIELD,
    Fakes,
    reactive,
    run_flushes,
)

MARIANA_LEAD, MARIANA, ANA = 27754599, 93589657, 8401234
TRUCK = 7003  # the enum id of "Caminhão" in the lead field Interesse


def lead_field(field_id: int, name: str, field_type: str, *values: str) -> LeadField:
    """A lead field as Kommo lists it (a list field with its values, their enum ids 7001, 7002...)."""
    enums = [{"id": 7001 + index, "value": value, "sort": index} for index, value in enumerate(values)]
    return LeadField.model_validate({"id": field_id, "name": name, "type": field_type, "enums": enums or None})


@pytest.fixture
def fakes() -> Fakes:
    """Mariana's lead, Ana's; the account's qualification fields: a budget, an interest list, a visit date."""
    fakes = Fakes(datetime(2026, 3, 2, 10, 0, tzinfo=SAO_PAULO))
    fakes.add_salesperson(ANA, "Ana Souza", "Auto")
    fakes.add_lead(MARIANA_LEAD, MARIANA, "Mariana Costa", area="Auto", responsible=ANA)
    fakes.kommo.lead_field_list = [
        lead_field(BUDGET_FIELD, "Orçamento", "numeric"),
        lead_field(INTEREST_FIELD, "Interesse", "select", "Carro", "Moto", "Caminhão"),
        lead_field(VISIT_FIELD, "Data da visita", "date"),
    ]
    return fakes


@pytest.fixture
def flow(fakes: Fakes) -> ReactiveConversations:
    return reactive(fakes)


def mariana_is_answered(fakes: Fakes, flow: ReactiveConversations, *actions: dict[str, object]) -> None:
    """Mariana writes; n8n answers with a reply and these actions; the batch is answered."""
    fakes.n8n.answers.append(
        N8nResponse(reply="Anotado!", actions=[Action.model_validate(action) for action in actions])
    )
    flow.receive(fakes.client_message(f"m-{len(fakes.n8n.requests)}", "oi", lead_id=MARIANA_LEAD, contact_id=MARIANA))
    fakes.clock.now += QUIET_SECONDS + MIN_GAP_SECONDS  # quiet, and the last reply's gap behind
    assert run_flushes(fakes, flow) == ["answered"]


def lead_changes(fakes: Fakes) -> list[dict[str, object]]:
    """The service's PATCHes of Mariana's lead besides the reply it writes for the Salesbot."""
    return [patch for lead_id, patch in fakes.kommo.patches if lead_id == MARIANA_LEAD and "text_fields" not in patch]


def changes_noted(fakes: Fakes) -> list[str]:
    """The lines of the notes on Mariana's lead saying what the assistant changed."""
    notes = [note for note in fakes.kommo.notes_on(MARIANA_LEAD) if note.startswith("🤖 O assistente atualizou")]
    return [line for note in notes for line in note.splitlines()[1:]]


def test_the_reply_request_offers_the_qualification_fields_with_their_allowed_values(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    mariana_is_answered(fakes, flow)
    [(_, request)] = fakes.n8n.requests
    assert [(field.name, field.type, field.values) for field in request.qualification] == [
        ("orcamento", "numeric", []),
        ("interesse", "select", ["Carro", "Moto", "Caminhão"]),
        ("visita", "date", []),
    ]


def test_an_allowed_option_is_written_in_one_patch_with_the_move_and_the_tags(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    mariana_is_answered(
        fakes,
        flow,
        {"type": "set_fields", "fields": {"interesse": "caminhao"}},  # accents and case as the client wrote it
        {"type": "move_status", "status_id": ASSISTANT_STATUS},
        {"type": "add_tags", "tags": ["qualificado"]},
    )
    assert lead_changes(fakes) == [
        {
            "status_id": ASSISTANT_STATUS,
            "custom_fields": {INTEREST_FIELD: [FieldValue(value="Caminhão", enum_id=TRUCK)]},
            "tags": ["qualificado"],
        }
    ]
    assert changes_noted(fakes) == [
        f"• etapa alterada (id {ASSISTANT_STATUS})",
        "• Interesse: Caminhão",
        "• tags adicionadas: qualificado",
    ]
    assert fakes.kommo.tasks == []
    assert fakes.kommo.texts_sent(MARIANA_LEAD, REPLY_FIELD) == ["Anotado!"]


def test_an_option_not_in_the_list_or_an_unknown_field_writes_nothing_and_is_noted(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    mariana_is_answered(fakes, flow, {"type": "set_fields", "fields": {"interesse": "bicicleta", "cpf": "123"}})
    assert lead_changes(fakes) == []
    assert changes_noted(fakes) == [
        '• Interesse: não preenchido, "bicicleta" não é uma das opções (Carro, Moto, Caminhão)',
        "• cpf: não preenchido, não é um dos campos que o assistente pode preencher",
    ]
    assert fakes.kommo.tasks == []


def test_a_value_that_does_not_fit_is_left_out_and_the_rest_written(fakes: Fakes, flow: ReactiveConversations) -> None:
    mariana_is_answered(
        fakes, flow, {"type": "set_fields", "fields": {"orcamento": "mil e quinhentos", "visita": "2026-03-10"}}
    )
    [change] = lead_changes(fakes)
    assert change == {"custom_fields": {VISIT_FIELD: [FieldValue(value=noon_utc(2026, 3, 10))]}}
    assert changes_noted(fakes) == [
        '• Orçamento: não preenchido, "mil e quinhentos" não é um número',
        "• Data da visita: 2026-03-10",
    ]


def noon_utc(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, 12, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("name", "value", "written"),
    [
        ("orcamento", 1500, 1500),
        ("orcamento", 1500.5, 1500.5),
        ("orcamento", "1500", 1500),  # whole-number text
        ("visita", "2026-03-10", noon_utc(2026, 3, 10)),  # 10/03 in every Brazilian zone
    ],
)
def test_a_number_and_a_date_are_written_as_kommo_takes_them(
    fakes: Fakes, flow: ReactiveConversations, name: str, value: object, written: object
) -> None:
    field_id = BUDGET_FIELD if name == "orcamento" else VISIT_FIELD
    mariana_is_answered(fakes, flow, {"type": "set_fields", "fields": {name: value}})
    assert lead_changes(fakes) == [{"custom_fields": {field_id: [FieldValue(value=written)]}}]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("orcamento", "1.500"),  # 1500 or 1.5: never guessed
        ("orcamento", True),
        ("orcamento", None),
        ("visita", "10/03/2026"),
        ("visita", "2026-02-30"),
        ("interesse", ["Carro", "Moto"]),  # one option only: a select is no multiselect
    ],
)
def test_a_value_of_the_wrong_kind_is_never_written(
    fakes: Fakes, flow: ReactiveConversations, name: str, value: object
) -> None:
    mariana_is_answered(fakes, flow, {"type": "set_fields", "fields": {name: value}})
    assert lead_changes(fakes) == []
    [line] = changes_noted(fakes)
    assert "não preenchido" in line


def test_a_field_of_a_type_the_assistant_does_not_fill_is_neither_offered_nor_written(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    fakes.kommo.lead_field_list[2] = lead_field(VISIT_FIELD, "Visitou a loja", "checkbox")
    mariana_is_answered(fakes, flow, {"type": "set_fields", "fields": {"visita": True}})
    [(_, request)] = fakes.n8n.requests
    assert "visita" not in [field.name for field in request.qualification]
    assert lead_changes(fakes) == []
    assert changes_noted(fakes) == [
        '• Visitou a loja: não preenchido, o assistente não preenche campos do tipo "checkbox"'
    ]


def test_an_option_added_in_kommo_is_accepted_within_minutes(fakes: Fakes, flow: ReactiveConversations) -> None:
    mariana_is_answered(fakes, flow)  # the field definitions are read, and kept
    fakes.kommo.lead_field_list[1] = lead_field(
        INTEREST_FIELD, "Interesse", "select", "Carro", "Moto", "Caminhão", "Van"
    )

    mariana_is_answered(fakes, flow, {"type": "set_fields", "fields": {"interesse": "Van"}})
    assert lead_changes(fakes) == []

    fakes.clock.now += DEFINITIONS_SECONDS
    mariana_is_answered(fakes, flow, {"type": "set_fields", "fields": {"interesse": "Van"}})
    assert lead_changes(fakes) == [{"custom_fields": {INTEREST_FIELD: [FieldValue(value="Van", enum_id=7004)]}}]


def test_the_echo_of_the_move_is_the_services_own_and_the_next_reply_sees_the_lead_moved(
    fakes: Fakes, flow: ReactiveConversations
) -> None:
    mariana_is_answered(
        fakes,
        flow,
        {"type": "set_fields", "fields": {"orcamento": 1500}},
        {"type": "move_status", "status_id": ASSISTANT_STATUS},
    )
    kommo_reports_the_move = KommoWebhook(
        account=Account(id=1, subdomain="vendasdemo"),
        lead_changes=[LeadChange(kind="status", id=MARIANA_LEAD, status_id=ASSISTANT_STATUS, old_status_id=61234567)],
    )
    routed = route_webhook(kommo_reports_the_move, fakes.echoes, AuthorRules())
    assert routed.items == [] and routed.echoes == 1  # never a salesperson's move

    mariana_is_answered(fakes, flow)
    assert fakes.n8n.requests[-1][1].lead.status_id == ASSISTANT_STATUS  # the kept lead was forgotten at once


def test_an_answer_with_too_many_tags_or_too_long_a_tag_is_refused_by_the_contract() -> None:
    for tags in (["a", "b", "c", "d", "e", "f"], ["x" * 51]):
        with pytest.raises(ValidationError):
            N8nResponse.model_validate({"reply": "ok", "actions": [{"type": "add_tags", "tags": tags}]})
