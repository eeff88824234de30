"""Typed Kommo account webhooks (the real bodies they are read from: events/kommo/*.form).

Real bodies vary, and Kommo disables a webhook that keeps failing, so parsing is lenient where
Kommo is known to vary (plain custom-field values, messages without a lead, outgoing messages
without `type`, chat messages without the `message` wrapper) and strict per entity: an entity that
still does not validate is parked (kept aside with the reason) while the rest of the body is used.
Only a body that cannot be decoded, has no usable account, or carries no known event is refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from sales_assistant.models import KommoId, Model
from sales_assistant.models.form import FormError, parse_nested_form

MAX_TEXT_CHARS = 10_000
REASON_CHARS = 120


def _blank_is_none(value: Any) -> Any:
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def _user_id_or_none(value: Any) -> Any:
    """Kommo writes `author[user_id]=0` (or blank) for messages no Kommo user wrote."""
    value = _blank_is_none(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    return None if value == 0 else value


OptionalKommoId = Annotated[KommoId | None, BeforeValidator(_blank_is_none)]
UnixTime = Annotated[int, Field(ge=0, lt=10**11)]

# element_type codes Kommo uses next to entity_type names
_ELEMENT_TYPES = {"1": "contact", "2": "lead", "3": "company", "12": "customer"}


class WebhookError(ValueError):
    """A webhook body that cannot be accepted; `code` is the machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Model(Model):
    model_config = ConfigDict(extra="ignore", frozen=True)


_ModelT = TypeVar("_ModelT", bound=_Model)


class Account(_Model):
    id: KommoId
    subdomain: str = Field("", max_length=63)


class Author(_Model):
    id: str = Field("", max_length=128)
    type: str = Field("", max_length=32)
    name: str = Field("", max_length=256)
    user_id: Annotated[KommoId | None, BeforeValidator(_user_id_or_none)] = None


class Attachment(_Model):
    type: str = ""
    link: str = ""
    file_name: str = ""


class ChatMessage(_Model):
    """One chat message as Kommo reports it (a client's, a salesperson's or an automation's)."""

    id: str = Field(min_length=1, max_length=128)
    chat_id: str = Field(min_length=1, max_length=128)
    talk_id: OptionalKommoId = None
    contact_id: KommoId
    text: str = ""
    created_at: UnixTime
    entity_type: Literal["lead", "contact", "company", "customer"] | None = None
    entity_id: OptionalKommoId = None
    type: Literal["incoming", "outgoing"]
    author: Author = Author()
    origin: str = ""
    message_type: str = "text"
    attachment: Attachment | None = None

    @model_validator(mode="before")
    @classmethod
    def _entity_from_element(cls, data: Any) -> Any:
        """Older bodies name the chat's entity `element_id`/`element_type` (2 = lead); some carry neither."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if not data.get("entity_id") and data.get("element_id"):
            data["entity_id"] = data["element_id"]
            data.setdefault("entity_type", _ELEMENT_TYPES.get(str(data.get("element_type", "2")), "lead"))
        if not data.get("entity_id"):
            data.pop("entity_type", None)  # a chat without a lead: the conversation is the contact's
        if isinstance(data.get("text"), str):
            data["text"] = data["text"][:MAX_TEXT_CHARS]
        return data

    @property
    def lead_id(self) -> int | None:
        """The lead the chat belongs to, if any."""
        return self.entity_id if self.entity_type == "lead" else None

    @property
    def conversation_id(self) -> str:
        """The conversation this message belongs to: its lead, else its Kommo entity, else its contact."""
        if self.entity_type and self.entity_id:
            return f"{self.entity_type}:{self.entity_id}"
        return f"contact:{self.contact_id}"

    @property
    def has_content(self) -> bool:
        """True when there is text or a usable attachment link."""
        return bool(self.text.strip() or (self.attachment and self.attachment.link))


class CustomFieldValue(_Model):
    value: str = ""
    enum: str = ""


class CustomField(_Model):
    id: KommoId
    name: str = ""
    values: list[CustomFieldValue] = []

    @field_validator("values", mode="before")
    @classmethod
    def _plain_values(cls, values: Any) -> Any:
        """Date and number fields arrive plain: `values[0]=1542067200` instead of `values[0][value]=...`."""
        if isinstance(values, str):
            values = [values]
        if isinstance(values, list):
            return [{"value": value} if isinstance(value, str) else value for value in values]
        return values


LeadChangeKind = Literal["add", "status", "responsible"]


class LeadChange(_Model):
    """A lead added, moved to another status, or given another responsible salesperson."""

    kind: LeadChangeKind
    id: KommoId
    name: str = ""
    status_id: OptionalKommoId = None
    old_status_id: OptionalKommoId = None
    pipeline_id: OptionalKommoId = None
    old_pipeline_id: OptionalKommoId = None
    responsible_user_id: OptionalKommoId = None
    old_responsible_user_id: OptionalKommoId = None
    created_at: Annotated[int | None, BeforeValidator(_blank_is_none)] = None
    updated_at: Annotated[int | None, BeforeValidator(_blank_is_none)] = None
    custom_fields: list[CustomField] = []


class UnsortedLead(_Model):
    """An incoming (unsorted) lead, e.g. from a site form or a new WhatsApp chat."""

    uid: str = Field(min_length=1, max_length=128)
    source: str = ""
    pipeline_id: OptionalKommoId = None
    lead_id: OptionalKommoId = None
    created_at: Annotated[int | None, BeforeValidator(_blank_is_none)] = None


COMMON_NOTE_TYPES = ("4", "common")  # a note typed in the feed input's "Nota" mode (4 in webhooks)


class LeadNote(_Model):
    """A note added to a lead (`leads[note][0][note][...]`, the `note_lead` event): how salespeople give the
    bot commands the client never sees. `created_by` is the Kommo user who wrote it (0: nobody)."""

    id: KommoId
    element_id: KommoId
    note_type: str = Field("", max_length=64)
    text: str = ""
    created_by: Annotated[KommoId | None, BeforeValidator(_user_id_or_none)] = None
    created_at: Annotated[int | None, BeforeValidator(_blank_is_none)] = None

    @model_validator(mode="before")
    @classmethod
    def _unwrapped(cls, data: Any) -> Any:
        """The fields come wrapped in `note`; accept them unwrapped too (as the queue stores them)."""
        if isinstance(data, dict) and isinstance(data.get("note"), dict):
            data = data["note"]
        if isinstance(data, dict) and isinstance(data.get("text"), str):
            data = {**data, "text": data["text"][:MAX_TEXT_CHARS]}
        return data

    @property
    def lead_id(self) -> int:
        return self.element_id

    @property
    def is_common(self) -> bool:
        """True for a note a person typed (not a call, an SMS or a system event)."""
        return self.note_type in COMMON_NOTE_TYPES


class ParkedEntity(Model):
    """An entity of a known event that did not validate: kept aside, never silently dropped."""

    where: str
    reason: str
    raw: Any


class KommoWebhook(Model):
    """Everything one webhook request carries, sorted by kind."""

    account: Account
    client_messages: list[ChatMessage] = []
    outgoing_messages: list[ChatMessage] = []
    lead_changes: list[LeadChange] = []
    unsorted_leads: list[UnsortedLead] = []
    lead_notes: list[LeadNote] = []
    ignored_events: list[str] = []
    parked: list[ParkedEntity] = []


# Kommo events the service does not act on: accepted (200) and counted, never an error, so that a
# webhook registered with extra events is not disabled by Kommo for failing.
_IGNORED_GROUPS = {"contacts", "companies", "customers", "task", "tasks", "talk", "catalogs", "unsorted_lead"}
_MESSAGE_GROUPS = ("message", "outgoing_message", "add")  # `add[0][...]`: a chat message without its wrapper
_KNOWN_GROUPS = {*_MESSAGE_GROUPS, "leads", "unsorted", *_IGNORED_GROUPS}


def parse_kommo_webhook(body: str) -> KommoWebhook:
    """Parse a webhook body. Raises WebhookError only for a body that cannot be decoded, has no usable
    account or carries no known event; entities that do not validate are returned as `parked`."""
    try:
        form = parse_nested_form(body)
    except FormError as error:
        raise WebhookError("malformed_body", str(error)) from None
    if not isinstance(form.get("account"), dict):
        raise WebhookError("missing_field", "account is missing")
    try:
        account = Account.model_validate(form["account"])
    except ValidationError as error:
        raise WebhookError("invalid_account", f"account{_reason(error)}") from None
    known = _KNOWN_GROUPS & set(form)
    unknown = sorted(set(form) - _KNOWN_GROUPS - {"account"})
    if not known:
        if unknown:
            raise WebhookError("unknown_event", f"unknown event group(s): {', '.join(unknown)[:200]}")
        raise WebhookError("no_event", "the body carries no event")
    webhook = KommoWebhook(account=account, ignored_events=[*sorted(_IGNORED_GROUPS & known), *unknown])
    _sort_messages(form, webhook)
    _sort_lead_events(form, webhook)
    return webhook


def _sort_messages(form: dict[str, Any], webhook: KommoWebhook) -> None:
    seen_message_ids: set[str] = set()
    for group in _MESSAGE_GROUPS:
        actions = {"add": form["add"]} if group == "add" and "add" in form else form.get(group)
        for where, entity in _entities_of(webhook, group, actions, wanted={"add"}):
            message = _validated(webhook, ChatMessage, _with_default_type(entity, group), where)
            if message is None or message.id in seen_message_ids:
                continue  # a salesperson's message is reported under both message groups
            seen_message_ids.add(message.id)
            if message.type == "incoming":
                webhook.client_messages.append(message)
            else:
                webhook.outgoing_messages.append(message)


def _with_default_type(entity: dict[str, Any], group: str) -> dict[str, Any]:
    """`outgoing_message` bodies may leave `type` out; so may wrapper-less ones (the author tells)."""
    if entity.get("type"):
        return entity
    author = entity.get("author")
    external = isinstance(author, dict) and author.get("type") == "external"
    return {**entity, "type": "incoming" if group != "outgoing_message" and external else "outgoing"}


def _sort_lead_events(form: dict[str, Any], webhook: KommoWebhook) -> None:
    lead_actions = {"add", "status", "responsible", "note"}
    for where, entity in _entities_of(webhook, "leads", form.get("leads"), wanted=lead_actions):
        kind = where.split("[")[1].rstrip("]")
        if kind == "note":
            note = _validated(webhook, LeadNote, entity, where)
            if note is not None:
                webhook.lead_notes.append(note)
            continue
        change = _validated(webhook, LeadChange, {**entity, "kind": kind}, where)
        if change is not None:
            webhook.lead_changes.append(change)
    for where, entity in _entities_of(webhook, "unsorted", form.get("unsorted"), wanted={"add"}):
        unsorted = _validated(webhook, UnsortedLead, entity, where)
        if unsorted is not None:
            webhook.unsorted_leads.append(unsorted)


def _entities_of(
    webhook: KommoWebhook, group: str, actions: Any, *, wanted: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(where, entity) for every entity of the wanted actions of a group; other actions are counted as
    ignored, and a group or action of the wrong shape is parked whole."""
    if actions is None:
        return []
    if not isinstance(actions, dict):
        webhook.parked.append(ParkedEntity(where=group, reason=f"{group} must hold actions", raw=actions))
        return []
    found = []
    for action, entities in actions.items():
        where = f"{group}[{str(action)[:40]}]"
        if action not in wanted:
            webhook.ignored_events.append(f"{group}.{str(action)[:40]}")
        elif not isinstance(entities, list):
            webhook.parked.append(ParkedEntity(where=where, reason=f"{where} must be a list", raw=entities))
        else:
            for index, entity in enumerate(entities):
                if isinstance(entity, dict):
                    found.append((f"{where}[{index}]", entity))
                else:
                    webhook.parked.append(ParkedEntity(where=f"{where}[{index}]", reason="not an entity", raw=entity))
    return found


def _validated(webhook: KommoWebhook, model: type[_ModelT], data: dict[str, Any], where: str) -> _ModelT | None:
    """The entity as `model`, or None after parking it with the reason (never its values)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        webhook.parked.append(ParkedEntity(where=where, reason=f"{where}{_reason(error)}", raw=data))
        return None


def _reason(error: ValidationError) -> str:
    """The first problem of a validation error, without the value that caused it (personal data)."""
    first = error.errors(include_input=False, include_url=False)[0]
    field = "".join(f"[{part}]" for part in first["loc"])
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{field}: {first['msg']}"[:REASON_CHARS] + more
