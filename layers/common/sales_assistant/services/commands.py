"""Salesperson commands (in a lead's chat or in a note on it): /assumir, /liberar, /status and /faltou, with or
without an id, and what the id names."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sales_assistant.errors import NotFound
from sales_assistant.services.ports.kommo import KommoLeads

KNOWN_COMMANDS = ("assumir", "liberar", "status", "faltou")
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


def resolve_target(
    kommo: KommoLeads, target: int | None, contact: int | None, chat_lead: int | None
) -> tuple[int, int | None] | None:
    """(contact, lead) of a command's id: a lead id resolves to its main contact, else a contact id (with the lead
    the command was given on); None when neither exists. Without id: the chat's contact (a note's command names
    its lead; the chat's own lead or contact id: that contact, with no Kommo call, so a command typed in the
    client's chat works while Kommo is down)."""
    if target is None or (contact is not None and target in (contact, chat_lead)):
        return None if contact is None else (contact, chat_lead)
    try:
        lead = kommo.lead(target)
    except NotFound:
        lead = None
    if lead is not None and lead.main_contact_id is not None:
        return lead.main_contact_id, lead.id
    try:
        kommo.contact(target)
    except NotFound:
        return None
    return target, chat_lead


def _without_accents(text: str) -> str:
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))
