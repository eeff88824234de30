"""Salesperson commands as typed in the chat."""

from __future__ import annotations

import pytest

from sales_assistant.services.commands import Command, parse_command


@pytest.mark.parametrize(
    "text, command",
    [
        ("/assumir 12345", Command("assumir", target=12345)),
        ("/assumir", Command("assumir")),
        ("  /ASSUMIR    12345  ", Command("assumir", target=12345)),
        ("/Líberar #12345", Command("liberar", target=12345)),
        ("/status", Command("status")),
        ("/assumir abc", Command("assumir", bad_target="abc")),
        ("/pausar 1", Command("pausar", target=1)),
    ],
)
def test_commands_are_case_accent_and_space_insensitive(text: str, command: Command) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize("text", ["Olá, tudo bem?", "", "vou /assumir depois", "12345"])
def test_ordinary_messages_are_not_commands(text: str) -> None:
    assert parse_command(text) is None


def test_only_known_commands_are_known() -> None:
    assert parse_command("/liberar").known and not parse_command("/pausar").known  # type: ignore[union-attr]
