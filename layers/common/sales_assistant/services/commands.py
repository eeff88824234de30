"""Salesperson chat commands: /assumir, /liberar and /status, with or without an id."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

KNOWN_COMMANDS = ("assumir", "liberar", "status")
_COMMAND = re.compile(r"^/(\S*)\s*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Command:
    """A parsed command. `target` is the id typed (None: the chat's contact); `bad_target` is what was
    typed when it is not an id."""

    name: str
    target: int | None = None
    bad_target: str = ""

    @property
    def known(self) -> bool:
        return self.name in KNOWN_COMMANDS


def parse_command(text: str) -> Command | None:
    """The command in a salesperson's message, or None for an ordinary message.

    Case- and accent-insensitive, tolerant of extra spaces and of a '#' before the id.
    """
    normalised = " ".join(_without_accents(text).casefold().split())
    match = _COMMAND.match(normalised)
    if not match:
        return None
    name, argument = match.group(1), match.group(2).strip().lstrip("#").strip()
    if not argument:
        return Command(name)
    if argument.isdigit() and len(argument) <= 18:
        return Command(name, target=int(argument))
    return Command(name, bad_target=argument[:40])


def _without_accents(text: str) -> str:
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))
