"""A whole conversation (a first message, the client's answers with a phone and an e-mail in them, the
assistant's replies, a takeover and a give-back) leaves no phone, e-mail, name or message text in the
logs: they are masked or left out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import World
from tests.integration.test_proactive_flow import MARIANA, MARIANA_LEAD, post_trigger, proactive
from tests.integration.test_reactive_flow import client_message
from tests.integration.test_takeover_flow import salesperson_message

__all__ = ["proactive"]  # the fixture

PERSONAL = [
    "+55 11 98765-4321",
    "98765-4321",
    "987654321",
    "mariana@exemplo.com.br",
    "mariana.costa@gmail.com",
    "Mariana Costa",
    "Ana Souza",
    "quero saber do consórcio",
    "meu outro número",
    "Posso ajudar",  # the stand-in's reply text
    "Olá, Mariana",
]


def test_a_whole_conversation_logs_nothing_personal(
    proactive: World, capsys: pytest.CaptureFixture[str], service_logs: Any
) -> None:
    post_trigger(proactive, {"lead_id": MARIANA_LEAD, "trigger": "form", "data": {"email": "mariana.costa@gmail.com"}})
    proactive.pump()
    proactive.post_webhook(client_message("p-1", "quero saber do consórcio", lead=MARIANA_LEAD, contact=MARIANA))
    proactive.post_webhook(
        client_message(
            "p-2",
            "meu outro número é 11 98765-4321, e-mail mariana.costa@gmail.com",
            lead=MARIANA_LEAD,
            contact=MARIANA,
        )
    )
    proactive.pump()
    proactive.post_webhook(salesperson_message("s-1", "/assumir"))
    proactive.post_webhook(salesperson_message("s-2", "Oi Mariana Costa, aqui é a Ana Souza"))
    proactive.post_webhook(salesperson_message("s-3", "/liberar"))
    proactive.pump()
    assert proactive.kommo.salesbot_runs  # the conversation did happen

    logs = capsys.readouterr()
    written = service_logs.getvalue()
    assert '"message":"flush done"' in written  # the logs were seen (the service's handler, not only stdout)
    found = [text for text in PERSONAL if text in logs.out or text in logs.err or text in written]
    assert found == []
