"""Notes a command owes the salespeople, never holding up the lead's next commands: a note Kommo cannot take
now (down, breaker open) is queued to be written later, in a group of its own (models.queue.LeadNoteDue),
instead of failing the command's queue record, behind which the lead's next messages would wait (a
salesperson's manual reply among them: the pause that keeps the bot quiet)."""

from __future__ import annotations

from sales_assistant.errors import DependencyError
from sales_assistant.models.queue import LeadNoteDue
from sales_assistant.observability import count
from sales_assistant.services.ports.kommo import LeadNotes
from sales_assistant.services.ports.queues import LaterNotes


class NotesOrLater:
    """ports.kommo.LeadNotes: a note now, or queued for later when Kommo cannot take it; tasks as they are."""

    def __init__(self, notes: LeadNotes, later: LaterNotes) -> None:
        self._notes = notes
        self._later = later

    def note(self, key: str, lead_id: int, text: str, *, service: bool = False) -> None:
        """The note on the lead, once per key; queued when Kommo fails (its record is retried on its own)."""
        try:
            self._notes.note(key, lead_id, text, service=service)
        except DependencyError:
            self._later.publish(LeadNoteDue(key=key, lead_id=lead_id, text=text, service=service))
            count("CommandNotesDeferred")

    def task(self, key: str, lead_id: int, responsible_user_id: int, text: str, *, due_at: int | None = None) -> None:
        """The task, as LeadNotes makes it."""
        self._notes.task(key, lead_id, responsible_user_id, text, due_at=due_at)
