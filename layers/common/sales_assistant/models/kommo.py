"""Kommo REST API v4 resources, as far as the service reads them."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from sales_assistant.models import Model


class _Model(Model):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TokenPair(_Model):
    """An OAuth2 access/refresh token pair; `expires_at` is a unix time."""

    access_token: str
    refresh_token: str
    expires_at: int


class UserRights(_Model):
    is_active: bool = True
    is_admin: bool = False
    group_id: int | None = None
    role_id: int | None = None


class KommoUser(_Model):
    """A Kommo user: for this service, a salesperson."""

    id: int
    name: str = ""
    email: str = ""
    lang: str = ""
    rights: UserRights = UserRights()


class FieldValue(_Model):
    value: Any = None
    enum_id: int | None = None
    enum_code: str | None = None


class CustomFieldValues(_Model):
    field_id: int
    field_name: str = ""
    field_code: str | None = None
    field_type: str = ""
    values: list[FieldValue] = []

    def first_value(self) -> str:
        return str(self.values[0].value) if self.values and self.values[0].value is not None else ""


class LinkedContact(_Model):
    id: int
    is_main: bool = False


class Tag(_Model):
    id: int
    name: str = ""


class LeadEmbedded(_Model):
    contacts: list[LinkedContact] = []
    tags: list[Tag] = []


class KommoLead(_Model):
    """A lead with its custom fields and linked contacts (`?with=contacts`)."""

    id: int
    name: str = ""
    status_id: int | None = None
    pipeline_id: int | None = None
    responsible_user_id: int | None = None
    custom_fields_values: list[CustomFieldValues] | None = None
    embedded: LeadEmbedded = Field(LeadEmbedded(), alias="_embedded")

    @property
    def main_contact_id(self) -> int | None:
        """The main contact, or the first one, or None."""
        contacts = self.embedded.contacts
        main = next((contact for contact in contacts if contact.is_main), contacts[0] if contacts else None)
        return main.id if main else None

    def field(self, name_or_code: str) -> str:
        """The first value of a custom field found by name or code ('' when absent)."""
        wanted = name_or_code.casefold()
        for field in self.custom_fields_values or []:
            if wanted in (field.field_name.casefold(), (field.field_code or "").casefold()):
                return field.first_value()
        return ""


class KommoEvent(_Model):
    """An event of the account's feed (GET /api/v4/events); for a chat message, ids only (no text)."""

    id: str
    type: str
    entity_id: int
    entity_type: str = ""
    created_at: int
    created_by: int = 0
    value_after: list[dict[str, Any]] = []

    @property
    def message_id(self) -> str | None:
        """The chat message's id (the one webhooks carry as `message[add][0][id]`), if any."""
        message = self.value_after[0].get("message") if self.value_after else None
        return str(message["id"]) if isinstance(message, dict) and message.get("id") else None


class KommoContact(_Model):
    """A contact; phones and e-mails are custom fields with codes PHONE and EMAIL."""

    id: int
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    custom_fields_values: list[CustomFieldValues] | None = None

    def _by_code(self, code: str) -> str:
        for field in self.custom_fields_values or []:
            if field.field_code == code:
                return field.first_value()
        return ""

    @property
    def phone(self) -> str:
        return self._by_code("PHONE")

    @property
    def email(self) -> str:
        return self._by_code("EMAIL")


# ---------------------------------------------------------------------- setting an account up (make setup, doctor)
# The Kommo webhook events the intake acts on (models/kommo_webhook.py): chat messages both ways, new and moved
# leads, a change of responsible, incoming (unsorted) leads, and notes added to leads (the salespeople's commands),
# as the `settings` of POST /api/v4/webhooks (documented: the call and its `settings` list; the event names are
# those integrators' code uses, the primary docs naming the events only in words; add_outgoing_message is Kommo's
# 2026 addition, assumed from integrators).
WEBHOOK_EVENTS = (
    "add_message",
    "add_outgoing_message",
    "add_lead",
    "status_lead",
    "responsible_lead",
    "add_unsorted",
    "note_lead",
)


class KommoAccountInfo(_Model):
    """GET /api/v4/account (documented: `current_user_id` is the token's user; `is_helpbot_enabled`, Kommo's AI)."""

    id: int
    name: str = ""
    subdomain: str = ""
    current_user_id: int = 0
    is_helpbot_enabled: bool = False


class FieldEnum(_Model):
    id: int
    value: str
    sort: int = 0


class LeadField(_Model):
    """A lead custom field (GET /api/v4/leads/custom_fields). The docs' table says `type` is an int, their
    examples and real answers give its name (text, textarea, select...): the name is what is read here."""

    id: int
    name: str
    type: str
    code: str | None = None
    enums: list[FieldEnum] | None = None


class KommoStatus(_Model):
    id: int
    name: str = ""


class PipelineStatuses(_Model):
    statuses: list[KommoStatus] = []


class KommoPipeline(_Model):
    """A leads pipeline with its statuses (GET /api/v4/leads/pipelines, `_embedded.statuses`)."""

    id: int
    name: str = ""
    is_main: bool = False
    embedded: PipelineStatuses = Field(PipelineStatuses(), alias="_embedded")

    @property
    def status_ids(self) -> set[int]:
        return {status.id for status in self.embedded.statuses}


class SalesbotSettings(_Model):
    active: bool = False


class KommoSalesbot(_Model):
    """A Salesbot (GET /api/v4/bots/{id}: documented, 204 when absent; the list GET /api/v4/bots and its
    `type_functionality` (regular, greeting, marketing, nps) and `settings.active` as integrators describe it)."""

    id: int
    name: str = ""
    type_functionality: str = ""
    settings: SalesbotSettings = SalesbotSettings()


class WebhookSubscription(_Model):
    """An account webhook (GET /api/v4/webhooks): Kommo sets `disabled` after too many bad answers."""

    id: int = 0
    destination: str
    settings: list[str] = []
    disabled: bool = False
