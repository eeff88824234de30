"""Kommo, as the services use it (adapters/kommo implements every one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sales_assistant.models.kommo import FieldValue, KommoContact, KommoEvent, KommoLead, KommoUser, LeadField


class KommoLeads(Protocol):
    """Reading a lead and a contact."""

    def lead(self, lead_id: int) -> KommoLead: ...

    def contact(self, contact_id: int) -> KommoContact: ...


class KommoUsers(Protocol):
    """Reading one Kommo user (a salesperson)."""

    def user(self, user_id: int) -> KommoUser: ...


class LeadPatcher(Protocol):
    """Changing a lead in one request: its status, its salesperson, its custom fields (text fields by their text,
    any field by its values), tags added."""

    def patch_lead(
        self,
        lead_id: int,
        *,
        status_id: int | None = None,
        responsible_user_id: int | None = None,
        text_fields: dict[int, str] | None = None,
        custom_fields: dict[int, list[FieldValue]] | None = None,
        tags: list[str] | None = None,
    ) -> None: ...


class LeadFieldList(Protocol):
    """The account's lead custom fields: each one's type and, for a list field, its values."""

    def lead_fields(self) -> list[LeadField]: ...


class SalesbotRelay(LeadPatcher, Protocol):
    """The way out to WhatsApp: write a lead's text field, start a Salesbot on the lead."""

    def run_salesbot(self, bot_id: int, lead_id: int) -> None: ...


class LeadNotes(Protocol):
    """Notes and tasks on leads, idempotent per key."""

    def note(self, key: str, lead_id: int, text: str, *, service: bool = False) -> None:
        """A note on the lead; `service`: a system event (Kommo's collapsible service message)."""
        ...

    def task(self, key: str, lead_id: int, responsible_user_id: int, text: str, *, due_at: int | None = None) -> None:
        """A task for a Kommo user on the lead, due at `due_at` (unix time; None: in an hour)."""
        ...


class KommoTasks(KommoLeads, Protocol):
    """A lead's Kommo tasks that the service keeps up to date (one meeting task per appointment)."""

    def add_task(
        self,
        lead_id: int,
        responsible_user_id: int,
        text: str,
        complete_till: int,
        task_type_id: int = 1,
        duration: int | None = None,
    ) -> int: ...

    def move_task(self, task_id: int, complete_till: int, duration: int, text: str) -> None: ...

    def complete_task(self, task_id: int, result: str) -> None: ...


class ContactLeads(Protocol):
    """A contact's leads, as Kommo lists them (raises NotFound for a contact Kommo does not know)."""

    def contact_lead_ids(self, contact_id: int) -> list[int]: ...


class KommoAccount(Protocol):
    """What the health canary checks of the account: reachable, webhook subscribed, events flowing."""

    def account(self) -> dict[str, object]: ...

    def webhooks(self) -> list[dict[str, object]]: ...

    def events_since(self, created_from: int) -> list[KommoEvent]: ...

    def contact_lead_ids(self, contact_id: int) -> list[int]: ...

    def lead(self, lead_id: int) -> KommoLead: ...
