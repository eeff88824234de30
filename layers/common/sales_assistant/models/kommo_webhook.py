"""Typed Kommo account webhooks (see shared/kommo-api.md for the shapes they come in)."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sales_assistant.models.form import FormError, parse_nested_form

MAX_TEXT_CHARS = 10_000


class WebhookError(ValueError):
    """A webhook body that cannot be accepted; `code` is the machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


_ModelT = TypeVar("_ModelT", bound=_Model)


class Account(_Model):
    id: int
    subdomain: str = ""


class Author(_Model):
    id: str = ""
    type: str = ""
    name: str = ""
    user_id: int | None = None

    @field_validator("user_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return value or None


class Attachment(_Model):
    type: str = ""
    link: str = ""
    file_name: str = ""


class ChatMessage(_Model):
    """One chat message as Kommo reports it (client's or salesperson's)."""

    id: str = Field(min_length=1, max_length=128)
    chat_id: str = Field(min_length=1, max_length=128)
    talk_id: int | None = None
    contact_id: int
    text: str = Field("", max_length=MAX_TEXT_CHARS)
    created_at: int
    entity_type: Literal["lead", "contact", "company", "customer"] = "lead"
    entity_id: int
    type: Literal["incoming", "outgoing"]
    author: Author
    origin: str = ""
    message_type: str = "text"
    attachment: Attachment | None = None

    @field_validator("talk_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return value or None

    @property
    def conversation_id(self) -> str:
        """The conversation this message belongs to: its lead (or contact) in Kommo."""
        return f"{self.entity_type}:{self.entity_id}"

    @property
    def has_content(self) -> bool:
        """True when there is text or a usable attachment link."""
        return bool(self.text.strip() or (self.attachment and self.attachment.link))


class CustomFieldValue(_Model):
    value: str = ""
    enum: str = ""


class CustomField(_Model):
    id: int
    name: str = ""
    values: list[CustomFieldValue] = []


LeadChangeKind = Literal["add", "status", "responsible"]


class LeadChange(_Model):
    """A lead added, moved to another status, or given another responsible salesperson."""

    kind: LeadChangeKind
    id: int
    name: str = ""
    status_id: int | None = None
    old_status_id: int | None = None
    pipeline_id: int | None = None
    old_pipeline_id: int | None = None
    responsible_user_id: int | None = None
    old_responsible_user_id: int | None = None
    created_at: int | None = None
    updated_at: int | None = None
    custom_fields: list[CustomField] = []


class UnsortedLead(_Model):
    """An incoming (unsorted) lead, e.g. from a site form or a new WhatsApp chat."""

    uid: str = Field(min_length=1, max_length=128)
    source: str = ""
    pipeline_id: int | None = None
    lead_id: int | None = None
    created_at: int | None = None


class KommoWebhook(BaseModel):
    """Everything one webhook request carries, sorted by kind."""

    account: Account
    client_messages: list[ChatMessage] = []
    salesperson_messages: list[ChatMessage] = []
    lead_changes: list[LeadChange] = []
    unsorted_leads: list[UnsortedLead] = []
    ignored_events: list[str] = []

    @property
    def event_count(self) -> int:
        return (
            len(self.client_messages)
            + len(self.salesperson_messages)
            + len(self.lead_changes)
            + len(self.unsorted_leads)
        )


# Kommo events the service does not act on: accepted (200) and counted, never an error, so that a
# webhook registered with extra events is not disabled by Kommo for failing.
_IGNORED_GROUPS = {"contacts", "companies", "customers", "task", "tasks", "talk", "catalogs", "unsorted_lead"}
_IGNORED_LEAD_ACTIONS = {"update", "delete", "restore", "note"}
_KNOWN_TOP = {"account", "message", "outgoing_message", "leads", "unsorted", *_IGNORED_GROUPS}


def parse_kommo_webhook(body: str) -> KommoWebhook:
    """Parse and validate a webhook body; raises WebhookError with a reason on anything unusable."""
    try:
        form = parse_nested_form(body)
    except FormError as error:
        raise WebhookError("malformed_body", str(error)) from None
    unknown = sorted(set(form) - _KNOWN_TOP)
    if unknown:
        raise WebhookError("unknown_event", f"unknown event group(s): {', '.join(unknown)[:200]}")
    if "account" not in form:
        raise WebhookError("missing_field", "account is missing")
    webhook = KommoWebhook(account=_validated(Account, form["account"], "account"))
    _sort_messages(form, webhook)
    _sort_lead_events(form, webhook)
    webhook.ignored_events.extend(sorted(_IGNORED_GROUPS & set(form)))
    if webhook.event_count == 0 and not webhook.ignored_events:
        raise WebhookError("no_event", "the body carries no event")
    return webhook


def _sort_messages(form: dict[str, Any], webhook: KommoWebhook) -> None:
    seen_message_ids: set[str] = set()
    for group in ("message", "outgoing_message"):
        for action, entities in _actions(form, group):
            if action != "add":
                webhook.ignored_events.append(f"{group}.{action}")
                continue
            for index, entity in enumerate(_entities(entities, f"{group}[add]")):
                message = _validated(ChatMessage, entity, f"{group}[add][{index}]")
                if message.id in seen_message_ids:
                    continue  # the same salesperson message is reported under both groups
                seen_message_ids.add(message.id)
                if message.type == "incoming" and group == "message":
                    webhook.client_messages.append(message)
                else:
                    webhook.salesperson_messages.append(message)


def _sort_lead_events(form: dict[str, Any], webhook: KommoWebhook) -> None:
    for action, entities in _actions(form, "leads"):
        if action in _IGNORED_LEAD_ACTIONS:
            webhook.ignored_events.append(f"leads.{action}")
        elif action in ("add", "status", "responsible"):
            for index, entity in enumerate(_entities(entities, f"leads[{action}]")):
                where = f"leads[{action}][{index}]"
                webhook.lead_changes.append(_validated(LeadChange, {**entity, "kind": action}, where))
        else:
            raise WebhookError("unknown_event", f"unknown lead event: leads[{action[:40]}]")
    for action, entities in _actions(form, "unsorted"):
        if action != "add":
            webhook.ignored_events.append(f"unsorted.{action}")
            continue
        for index, entity in enumerate(_entities(entities, "unsorted[add]")):
            webhook.unsorted_leads.append(_validated(UnsortedLead, entity, f"unsorted[add][{index}]"))


def _actions(form: dict[str, Any], group: str) -> list[tuple[str, Any]]:
    actions = form.get(group, {})
    if not isinstance(actions, dict):
        raise WebhookError("invalid_event", f"{group} must hold actions such as {group}[add]")
    return list(actions.items())


def _entities(entities: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(entities, list) or not all(isinstance(entity, dict) for entity in entities):
        raise WebhookError("invalid_event", f"{where} must be a list of entities ({where}[0][...])")
    return entities


def _validated(model: type[_ModelT], data: Any, where: str) -> _ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = "".join(f"[{part}]" for part in first["loc"])
        more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise WebhookError("invalid_event", f"{where}{field}: {first['msg']}{more}") from None
