"""Commands written in a note on a lead (Kommo's `note_lead` webhook): read from the body, routed to the
commands queue only when a salesperson typed a command, and never when the note is the service's own."""

from __future__ import annotations

from local.kommo_webhooks import note_body
from sales_assistant.models.kommo_webhook import parse_kommo_webhook
from sales_assistant.models.queue import SalespersonNoteAdded, parse_queue_item
from sales_assistant.services.echoes import note_echo_key
from sales_assistant.services.intake import AuthorRules, RoutedWebhook, route_webhook
from tests.unit.fakes import InMemoryEchoMemory

LEAD, ANA = 27754599, 8401234
TEAM = AuthorRules()  # no automation listed


def routed(body: str, echoes: InMemoryEchoMemory | None = None, rules: AuthorRules = TEAM) -> RoutedWebhook:
    return route_webhook(parse_kommo_webhook(body), echoes or InMemoryEchoMemory(), rules)


def test_a_salespersons_note_is_read_with_its_lead_author_and_text() -> None:
    [note] = parse_kommo_webhook(note_body(70001, "/assumir 27754599", lead=LEAD, created_by=ANA)).lead_notes

    assert note.id == 70001 and note.lead_id == LEAD and note.created_by == ANA and note.is_common
    assert note.text == "/assumir 27754599"


def test_a_salespersons_note_assumir_goes_to_the_commands_queue_once_per_note() -> None:
    answer = routed(note_body(70001, "/assumir", lead=LEAD, created_by=ANA))

    [item] = answer.items
    assert isinstance(item, SalespersonNoteAdded) and item.note.text == "/assumir"
    assert (item.dedup_key, item.group_id) == ("note:70001", f"lead:{LEAD}")  # the lead's chat commands' group
    assert parse_queue_item(item.model_dump_json()) == item  # the consumer reads back what intake queued


def test_the_teams_ordinary_notes_and_system_notes_are_none_of_the_bots_business() -> None:
    ordinary = routed(note_body(70001, "Cliente pediu para ligar amanhã", lead=LEAD, created_by=ANA))
    system = routed(note_body(70002, "/assumir", lead=LEAD, created_by=ANA, note_type="service_message"))

    assert ordinary.items == [] and ordinary.ignored == 1
    assert system.items == [] and system.ignored == 1


def test_a_note_nobody_in_kommo_wrote_or_an_automation_wrote_is_no_command() -> None:
    by_nobody = routed(note_body(70001, "/assumir", lead=LEAD, created_by=0))
    by_integration = routed(
        note_body(70002, "/assumir", lead=LEAD, created_by=ANA), rules=AuthorRules.from_settings(str(ANA), "pause")
    )

    assert by_nobody.items == [] and by_nobody.automations == 1
    assert by_integration.items == [] and by_integration.automations == 1


def test_the_services_own_note_quoting_assumir_is_its_echo() -> None:
    echoes = InMemoryEchoMemory()
    echoes.remember([note_echo_key(LEAD, "/assumir 27754599\nfoi digitado no chat")])  # as the notes adapter does

    answer = routed(note_body(70001, "/assumir 27754599\r\nfoi digitado no chat ", lead=LEAD, created_by=ANA), echoes)

    assert answer.items == [] and answer.echoes == 1
