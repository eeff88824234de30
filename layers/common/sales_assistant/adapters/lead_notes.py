"""Notes and tasks on leads, each written once per key (a redelivered event never writes twice); each note is
remembered as the service's own first, so its `note_lead` webhook is known for an echo."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from sales_assistant.adapters.kommo.client import KommoClient
from sales_assistant.adapters.once import run_once
from sales_assistant.services.echoes import note_echo_key
from sales_assistant.services.ports.storage import EchoMemory

TASK_DUE_SECONDS = 3600


class OnceLeadNotes:
    """Adds notes and tasks through Kommo, idempotent per key (Powertools Idempotency)."""

    def __init__(self, kommo: KommoClient, echoes: EchoMemory, idempotency_table: str, ttl_seconds: int) -> None:
        self._kommo = kommo
        self._echoes = echoes
        self._table = idempotency_table
        self._ttl = ttl_seconds

    def note(self, key: str, lead_id: int, text: str, *, service: bool = False) -> None:
        """Add a note to a lead, once per key (`service`: a system event, collapsible in Kommo)."""
        self._once("note", key, partial(self._note, lead_id, text, service))

    def task(self, key: str, lead_id: int, responsible_user_id: int, text: str, *, due_at: int | None = None) -> None:
        """Create a task for a salesperson, due at `due_at` (None: in an hour), once per key."""
        self._once("task", key, partial(self._task, lead_id, responsible_user_id, text, due_at))

    def _note(self, lead_id: int, text: str, service: bool) -> dict[str, Any]:
        self._echoes.remember([note_echo_key(lead_id, text)])
        return {"note_id": self._kommo.add_note(lead_id, text, service=service)}

    def _task(self, lead_id: int, responsible_user_id: int, text: str, due_at: int | None) -> dict[str, Any]:
        due = int(time.time()) + TASK_DUE_SECONDS if due_at is None else due_at
        return {"task_id": self._kommo.add_task(lead_id, responsible_user_id, text, due)}

    def _once(self, scope: str, key: str, effect: Any) -> None:
        run_once(scope, key, effect, table_name=self._table, ttl_seconds=self._ttl, raise_in_progress=True)
