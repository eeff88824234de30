"""The n8n contract, version 2 (docs/contracts/ holds it as JSON Schema, with examples).

The service POSTs an N8nRequest to {N8N_BASE_URL}{path}, signed (X-Timestamp, X-Request-Id,
X-Signature-V2: adapters/n8n.py); n8n answers an N8nResponse, signed too. A response that is not
signed or does not validate is treated like no response: fallback. Version 2 changed the signature
(v1 signed timestamp and body only, and not the answer); the bodies are as in version 1.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from sales_assistant.models import Model
from sales_assistant.models.kommo import KommoContact, KommoLead
from sales_assistant.models.salesperson import Salesperson

CONTRACT_VERSION: Literal["2"] = "2"
MAX_ACTIONS = 5  # an answer's actions: each is one Kommo call or more, from a 7 req/s budget all leads share
MAX_TEXT = 1000  # an action's reason, a template parameter: what a salesperson's task or a lead field holds
MAX_TEMPLATE_PARAMS = 20
MAX_FIELDS = 20  # a set_fields action's fields, a multiselect value's items
MAX_TAGS, MAX_TAG = 5, 50  # an add_tags action's tags, and each one's length
MAX_PLAYBOOK_IDS = 10  # the playbook entries an answer names
MAX_TOKENS = 10_000_000  # an answer's tokens of one kind: far above any chat model's context


class _Model(Model):
    model_config = ConfigDict(extra="forbid")


class LeadInfo(_Model):
    id: int
    name: str = ""
    status_id: int | None = None
    pipeline_id: int | None = None
    area: str = ""
    custom_fields: dict[str, str] = Field(default_factory=dict, description="field name -> first value")

    @classmethod
    def of(cls, lead: KommoLead, *, area: str, hidden_field_ids: set[int]) -> LeadInfo:
        """What n8n sees of a Kommo lead (never the fields the service writes itself)."""
        fields = {
            field.field_name: field.first_value()
            for field in lead.custom_fields_values or []
            if field.field_id not in hidden_field_ids and field.field_name
        }
        return cls(
            id=lead.id,
            name=lead.name,
            status_id=lead.status_id,
            pipeline_id=lead.pipeline_id,
            area=area,
            custom_fields=fields,
        )


class ContactInfo(_Model):
    id: int
    name: str = ""
    phone: str = ""

    @classmethod
    def of(cls, contact: KommoContact) -> ContactInfo:
        return cls(id=contact.id, name=contact.name, phone=contact.phone)


class SalespersonInfo(_Model):
    id: int
    name: str = ""
    areas: list[str] = []

    @classmethod
    def of(cls, salesperson: Salesperson) -> SalespersonInfo:
        return cls(id=salesperson.vendor_id, name=salesperson.name, areas=salesperson.profile.areas)


class AttachmentInfo(_Model):
    type: str = ""
    link: str = ""
    file_name: str = ""


class ClientMessage(_Model):
    """One client message of the batch; `type` is Kommo's message_type (text, voice, picture, ...)."""

    id: str
    text: str = ""
    type: str = "text"
    attachment: AttachmentInfo | None = None
    created_at: int
    readable: bool = Field(True, description="False when there is neither text nor an attachment link")


class Turn(_Model):
    role: Literal["client", "assistant", "salesperson"]
    text: str
    at: int
    delivered: bool = Field(True, description="False for an assistant reply dropped because a human took over")


class TriggerInfo(Model):
    """What made the assistant write first (kind proactive), kept with the conversation afterwards so
    that n8n knows it when the client answers."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["form", "material", "meeting_request"]
    data: dict[str, Any] = Field(default_factory=dict, description="what the lead sent (form fields, material)")
    routing: str = Field("", description="why this salesperson: responsible, area_mismatch, ...")
    sent_at: int | None = Field(None, description="when the first message went out (unix time)")


class QualificationField(_Model):
    """A lead field the AI may fill with a `set_fields` action (QUALIFICATION_FIELDS), typed as in Kommo."""

    name: str = Field(description="the name to give in set_fields")
    type: Literal["select", "multiselect", "numeric", "date", "text", "textarea"]
    values: list[str] = Field([], description="select, multiselect: the allowed values (any other is refused)")
    max_length: int | None = Field(None, description="text, textarea: the longest text written")


class N8nRequest(_Model):
    """What the service sends to n8n."""

    version: Literal["2"] = CONTRACT_VERSION
    kind: Literal["reply", "proactive", "scheduling", "follow_up"]
    conversation_id: str
    lead: LeadInfo
    contact: ContactInfo
    vendor: SalespersonInfo | None = None
    messages: list[ClientMessage] = []
    history: list[Turn] = []
    trigger: TriggerInfo | None = None
    window_open: bool
    qualification: list[QualificationField] = Field(
        [], description="kind reply: the lead fields the AI may fill with a set_fields action (empty: none)"
    )


class TemplateReply(_Model):
    name: str = Field(min_length=1, max_length=128)
    params: dict[str, Annotated[str, Field(max_length=MAX_TEXT)]] = Field({}, max_length=MAX_TEMPLATE_PARAMS)


FieldText = Annotated[str, Field(max_length=MAX_TEXT)]
# A value n8n gives a lead field: checked against the field's type in Kommo before it is written, and noted
# on the lead when it does not fit (a value of any of these shapes never makes the whole answer invalid)
FieldInput = FieldText | StrictBool | StrictInt | StrictFloat | Annotated[list[FieldText], Field(max_length=MAX_FIELDS)]


class Action(_Model):
    """Something the AI asks the service to do. Known types: handover, schedule, move_status (only to a
    status of ASSISTANT_STATUS_IDS), set_fields (only fields of QUALIFICATION_FIELDS, with a value their type
    takes), add_tags; any other type, or another status, becomes a task for the salesperson."""

    type: str = Field(min_length=1, max_length=64)
    reason: str = Field("", max_length=MAX_TEXT)
    status_id: int | None = Field(None, gt=0)
    slot: str | None = Field(None, max_length=64, description="ISO 8601 with offset")
    fields: dict[Annotated[str, Field(min_length=1, max_length=64)], FieldInput | None] | None = Field(
        None, max_length=MAX_FIELDS, description="set_fields: field name (of the request's qualification) -> value"
    )
    tags: list[Annotated[str, Field(min_length=1, max_length=MAX_TAG)]] | None = Field(
        None, max_length=MAX_TAGS, description="add_tags: tags added to the lead (its other tags stay)"
    )

    def details(self) -> str:
        extra = {key: value for key, value in self.model_dump().items() if key != "type" and value}
        return ", ".join(f"{key}: {value}" for key, value in extra.items()) or "sem detalhes"


class Usage(_Model):
    """What the chat model used to write the answer, as its provider reported it (the cost counters price it)."""

    model: str = Field(min_length=1, max_length=200, description="the chat model's name, e.g. gpt-4.1-mini")
    input_tokens: int = Field(ge=0, le=MAX_TOKENS)
    output_tokens: int = Field(ge=0, le=MAX_TOKENS)


class N8nResponse(Model):
    """What n8n answers: a reply text, or a template when the 24-hour window is closed, and actions; `usage`
    (optional) says what the chat model used for it, `playbook_ids` (optional) which playbook entries it used."""

    model_config = ConfigDict(extra="ignore")

    reply: str | None = Field(None, max_length=4096)
    template: TemplateReply | None = None
    actions: list[Action] = Field([], max_length=MAX_ACTIONS, description="each one is a Kommo call or more")
    usage: Usage | None = Field(
        None, description="the chat model's tokens for this answer; one that does not fit is dropped, not the answer"
    )
    playbook_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None,
        max_length=MAX_PLAYBOOK_IDS,
        description="the ids of the playbook entries the reply used (its prices, terms and conditions come from "
        "them); a list that does not fit is dropped, not the answer",
    )

    @field_validator("usage", "playbook_ids", mode="wrap")
    @classmethod
    def _metadata_or_none(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Metadata that does not fit (usage, playbook_ids) costs the answer nothing: it is dropped (a usage's
        cost goes uncounted)."""
        try:
            return handler(value)
        except ValidationError:
            return None

    @model_validator(mode="after")
    def _says_something(self) -> N8nResponse:
        if not (self.reply and self.reply.strip()) and self.template is None and not self.actions:
            raise ValueError("the response needs a reply, a template or an action")
        return self


class AppointmentInfo(_Model):
    """The appointment a `scheduling` request carries (n8n's kommo-scheduling workflow stores it in the
    salesperson's agenda table)."""

    id: str
    vendor_id: int
    lead_id: int
    contact: ContactInfo | None = None
    start: str = Field(description="ISO 8601 with the salesperson's offset")
    end: str
    status: Literal["booked", "cancelled", "rescheduled"]
    agenda_table: str = Field(pattern=r"^agenda_[a-z0-9_]{1,56}$")


class SchedulingRequest(N8nRequest):
    """Kind `scheduling`: an appointment was booked, rescheduled or cancelled
    (docs/contracts/n8n-scheduling.v1.schema.json). Any 2xx answer means stored."""

    kind: Literal["scheduling"] = "scheduling"
    appointment: AppointmentInfo


class FollowUpInfo(_Model):
    """Which follow-up n8n writes (kind `follow_up`)."""

    attempt: int = Field(ge=1, description="1 for the first follow-up after the assistant's unanswered message")
    of: int = Field(ge=1, description="how many follow-ups the lead's ladder has")
    last_message_at: int = Field(description="when the assistant's message the client has not answered went out")


class FollowUpRequest(N8nRequest):
    """Kind `follow_up`: the client has not answered the assistant's last message; write follow-up `attempt`
    (docs/contracts/n8n-follow-up.v2.schema.json). Asked only inside the 24-hour window; the answer is an
    N8nResponse (its reply is sent; an answer with actions only sends nothing and ends the ladder)."""

    kind: Literal["follow_up"] = "follow_up"
    follow_up: FollowUpInfo


class ListedSalesperson(SalespersonInfo):
    """One salesperson of a `salespeople` request; `active` is False for one who left Kommo or was deactivated."""

    active: bool


class SalespeopleRequest(_Model):
    """Kind `salespeople`: every cached salesperson, sent by the sync when the list changed
    (docs/contracts/n8n-salespeople.v2.schema.json; n8n keeps it in Supabase's `vendedores`). Any 2xx
    answer means stored."""

    version: Literal["2"] = CONTRACT_VERSION
    kind: Literal["salespeople"] = "salespeople"
    salespeople: list[ListedSalesperson]
