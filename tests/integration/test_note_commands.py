"""Commands the client never sees: a salesperson writes `/assumir` or `/liberar` in a note on the lead (Kommo's
`note_lead` webhook), the answer is a note, and nothing reaches the client's WhatsApp. A command typed in the chat
still works, and the client sees it. The Kommo sandbox posts its webhooks to the service, as Kommo does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.kommo_webhooks import note_body
from local.loopback import LoopbackServer
from local.sandbox_views import html_page, lead_views
from tests.conftest import World, queue_messages

MARIANA_LEAD, MARIANA, ANA = 27754599, 93589657, 8401234


@pytest.fixture
def kommo_posts(world: World) -> Iterator[World]:
    """The World whose Kommo sandbox posts each webhook (a chat message, a note, the service's own notes too) to
    the service's intake, like Kommo."""

    def intake(method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 200, {"content-type": "application/json"}, json.dumps(world.post_webhook(body.decode())).encode()

    server = LoopbackServer(intake).start()
    world.kommo.webhook_target = server.url
    yield world
    world.kommo.webhook_target = ""
    server.stop()


def notes_on_mariana(world: World) -> list[str]:
    return [note["params"]["text"] for note in world.kommo.notes if note["lead_id"] == MARIANA_LEAD]


def what_mariana_sees(world: World) -> list[dict[str, Any]]:
    [view] = [view for view in lead_views(world.kommo) if view["lead_id"] == MARIANA_LEAD]
    return [{"from": line["from"], "text": line["text"]} for line in view["chat"]]


def test_a_salespersons_note_assumir_pauses_the_bot_and_the_answer_is_a_note_the_client_never_sees(
    kommo_posts: World,
) -> None:
    world = kommo_posts
    added = world.kommo.someone_notes(MARIANA_LEAD, "/assumir", ANA)
    assert added[0] == 201 and added[2]["webhook_status"] == 200
    world.pump()

    state = world.bot_state(MARIANA)
    assert state.status == "paused" and state.reason == "command" and state.by_name == "Ana Souza"
    assert notes_on_mariana(world) == ["/assumir", "Bot pausado por Ana Souza (comando /assumir)."]
    assert what_mariana_sees(world) == [] and world.kommo.salesbot_runs == []  # nothing went to her WhatsApp
    assert world.conversation() is None  # a note is no turn of her conversation


def test_a_note_liberar_gives_the_chat_back_with_a_note(kommo_posts: World) -> None:
    world = kommo_posts
    world.kommo.someone_notes(MARIANA_LEAD, "/assumir", ANA)
    world.pump()
    world.kommo.someone_notes(MARIANA_LEAD, f"/liberar {MARIANA_LEAD}", ANA)
    world.pump()

    assert world.bot_state(MARIANA).status == "active"
    assert notes_on_mariana(world)[-1] == "Bot reativado por Ana Souza (comando /liberar)."
    assert what_mariana_sees(world) == []


def test_the_same_note_webhook_twice_pauses_once(world: World) -> None:
    note = note_body(70001, "/assumir", lead=MARIANA_LEAD, created_by=ANA)
    world.post_webhook(note)
    world.post_webhook(note)  # Kommo sends it again (no 2xx seen in time)
    queued = queue_messages(world.stack, "CommandsQueue")

    assert [json.loads(message["Body"])["kind"] for message in queued] == ["salesperson_note"]


def test_the_services_own_note_quoting_assumir_is_recognised_as_its_echo(world: World) -> None:
    from sales_assistant.composition import lead_notes
    from sales_assistant.config import get_settings

    quoted = "/assumir 27754599 foi digitado no chat:\no cliente viu o comando."
    lead_notes(get_settings()).note("quote-1", MARIANA_LEAD, quoted)
    [written] = world.kommo.notes
    echo = note_body(written["id"], quoted, lead=MARIANA_LEAD, created_by=written["created_by"])

    answer = world.post_webhook(echo)

    assert answer["echoes"] == 1 and answer["accepted"] == 0
    assert world.bot_state(MARIANA).status == "active"


def test_the_services_own_answer_starting_with_the_command_never_loops(
    kommo_posts: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's wording of the pause note that starts with the command comes back as a note: its echo."""
    from local.caches import reset_caches

    monkeypatch.setenv("BOT_TEXTS", json.dumps({"note_paused": "/assumir feito: bot pausado por {who}."}))
    reset_caches()
    world = kommo_posts
    world.kommo.someone_notes(MARIANA_LEAD, "/assumir", ANA)
    world.pump()

    assert notes_on_mariana(world) == ["/assumir", "/assumir feito: bot pausado por Ana Souza."]
    assert queue_messages(world.stack, "CommandsQueue") == []


def test_a_chat_assumir_still_works_and_the_sandbox_shows_it_as_the_client_sees_it(kommo_posts: World) -> None:
    world = kommo_posts
    world.kommo.someone_writes(MARIANA_LEAD, "/assumir", ANA)
    world.pump()

    assert world.bot_state(MARIANA).status == "paused"
    assert notes_on_mariana(world) == ["Bot pausado por Ana Souza (comando /assumir)."]  # the answer: a note
    assert what_mariana_sees(world) == [{"from": "Ana Souza", "text": "/assumir"}]  # on her WhatsApp
    page = html_page(lead_views(world.kommo))
    seen_by_client = page.split("O que o cliente vê")[1].split("Notas")[0]
    assert "/assumir" in seen_by_client
