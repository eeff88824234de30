"""Settings of the service: the Lambda environment plus the secrets, re-read every few minutes.

Values come from the Lambda environment (every one in docs/settings.md, under the same groups as here).
`Settings` is composed of small groups (Kommo, n8n, the webhook, the bearer API, tables and queues, the
conversation, proactive outreach, scheduling, operations), each holding its fields and their validators;
a setting is still read flat (`settings.kommo_table`). In AWS the secrets are not in the environment: one
Secrets Manager secret per purpose (`SECRETS` below), each named by its own `*_SECRET_ARN` variable and
readable only by the functions that need it, holds a JSON object with its settings under the same names
(for example {"API_TOKEN": "..."}). Secrets are read through Powertools Parameters and cached
`SECRET_CACHE_SECONDS`, so a rotated token takes over on warm functions within that time; each bearer
token also has a `*_PREVIOUS` value, accepted as well while its clients move to the new one. Secret-valued
settings are optional in the model: each function names the groups it uses with `Settings.require` at
cold start, and each group declares the secrets it needs. A missing or malformed setting fails at start
with a `SettingsError` that names it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    ConfigDict,
    Field,
    PositiveInt,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from sales_assistant.models import Model

if TYPE_CHECKING:
    from sales_assistant.models.trigger import TriggerRule
    from sales_assistant.texts import Texts

SECRET_CACHE_SECONDS = 300
SECRETS: dict[str, tuple[str, ...]] = {
    # variable naming the secret -> the only settings that secret may hold (one secret per purpose)
    "WEBHOOK_SECRET_ARN": ("WEBHOOK_TOKEN",),
    "API_SECRET_ARN": ("API_TOKEN", "API_TOKEN_PREVIOUS"),  # the operator token
    "N8N_API_SECRET_ARN": ("N8N_API_TOKEN", "N8N_API_TOKEN_PREVIOUS"),  # the n8n token (the AI agent's tools)
    "N8N_SECRET_ARN": ("N8N_SIGNING_SECRET",),
    "KOMMO_SECRET_ARN": ("KOMMO_CLIENT_SECRET", "KOMMO_LONG_LIVED_TOKEN"),
}
# the groups of settings (`GROUPS` below), by the names `Settings.require` takes
Group = Literal["kommo", "n8n", "webhook", "api", "storage", "conversation", "proactive", "scheduling", "operations"]
MAX_AUTOMATION_AUTHOR_CHARS = 80
# The longest a queued message can wait for a redrive: a FIFO message 4 days in its queue, then 14 in its
# DLQ (moving it there restarts a FIFO message's clock); dedup records outlive it (a test checks template.yaml).
REDRIVE_WINDOW_SECONDS = (4 + 14) * 24 * 3600
# pt-BR defaults of OPT_OUT_PHRASES and OPT_IN_PHRASES: a client message is one when it is, whole, one of these
# (accents, case, punctuation and emoji ignored): "pare!" opts out, "não pare de me mandar ofertas" does not
OPT_OUT_PHRASES = (
    "pare,parar,para,pare por favor,chega,sair,quero sair,stop,descadastrar,me descadastre,não quero mais receber,"
    "não quero mais receber mensagens,não me mande mais mensagens,não envie mais mensagens"
)
OPT_IN_PHRASES = "voltar,quero voltar,voltar a receber,quero voltar a receber"
_NAME_TO_ID: TypeAdapter[dict[str, PositiveInt]] = TypeAdapter(dict[str, PositiveInt])
# QUALIFICATION_FIELDS: the name n8n gives a field in set_fields (at most 64 characters, as the contract's) -> its id
_QUALIFICATION_FIELDS: TypeAdapter[dict[str, PositiveInt]] = TypeAdapter(
    dict[Annotated[str, Field(min_length=1, max_length=64)], PositiveInt]
)


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


class SettingsGroup(Model):
    """A group of settings: its fields and their validators, and the secrets a function using it needs."""

    def _needed_secrets(self) -> dict[str, SecretStr]:
        """The secrets (by name) a function using this group cannot start without. Every group has its own:
        `Settings.require` calls it on the group's class (`KommoSettings._needed_secrets(settings)`)."""
        return {}


class KommoSettings(SettingsGroup):
    """The Kommo account, its credentials and its API budget."""

    kommo_subdomain: str = Field(alias="KOMMO_SUBDOMAIN", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    kommo_base_url: str = Field("", alias="KOMMO_BASE_URL", pattern=r"^(https?://\S+)?$")
    kommo_account_id: int | None = Field(None, alias="KOMMO_ACCOUNT_ID", gt=0)
    kommo_client_id: str = Field("", alias="KOMMO_CLIENT_ID")
    kommo_client_secret: SecretStr = Field(SecretStr(""), alias="KOMMO_CLIENT_SECRET")
    kommo_redirect_uri: str = Field("", alias="KOMMO_REDIRECT_URI")
    kommo_long_lived_token: SecretStr = Field(SecretStr(""), alias="KOMMO_LONG_LIVED_TOKEN")
    kommo_token_key_id: str = Field("", alias="KOMMO_TOKEN_KEY_ID", max_length=2048)  # seals the OAuth2 pair (KMS)
    kommo_salesbot_id: int = Field(alias="KOMMO_SALESBOT_ID", gt=0)
    kommo_reply_field_id: int = Field(alias="KOMMO_REPLY_FIELD_ID", gt=0)
    kommo_rate_limit_per_second: float = Field(7.0, alias="KOMMO_RATE_LIMIT_PER_SECOND", gt=0, le=7)
    salesperson_sync_min_interval_seconds: int = Field(60, alias="VENDOR_SYNC_MIN_INTERVAL_SECONDS", ge=0, le=3600)

    @model_validator(mode="after")
    def _redirect_uri_with_oauth(self) -> KommoSettings:
        if self.kommo_client_id and not self.kommo_redirect_uri:
            raise ValueError("KOMMO_REDIRECT_URI is required with KOMMO_CLIENT_ID (OAuth2 mode)")
        return self

    @property
    def kommo_api_base(self) -> str:
        """API base URL: KOMMO_BASE_URL when set, otherwise the account's Kommo address."""
        return (self.kommo_base_url or f"https://{self.kommo_subdomain}.kommo.com").rstrip("/")

    @property
    def uses_long_lived_token(self) -> bool:
        """True for private integrations (a long-lived token): KOMMO_CLIENT_ID empty; OAuth2 otherwise."""
        return not self.kommo_client_id

    def _needed_secrets(self) -> dict[str, SecretStr]:
        if self.uses_long_lived_token:
            return {"KOMMO_LONG_LIVED_TOKEN": self.kommo_long_lived_token}
        return {"KOMMO_CLIENT_SECRET": self.kommo_client_secret}


class N8nSettings(SettingsGroup):
    """The n8n instance that writes the replies: its workflows and the key signing both ways."""

    n8n_base_url: str = Field(alias="N8N_BASE_URL", pattern=r"^https?://\S+$")
    n8n_reply_path: str = Field("/webhook/kommo-reply", alias="N8N_REPLY_PATH", pattern=r"^/\S*$")
    n8n_proactive_path: str = Field("/webhook/kommo-proactive", alias="N8N_PROACTIVE_PATH", pattern=r"^/\S*$")
    n8n_scheduling_path: str = Field("/webhook/kommo-scheduling", alias="N8N_SCHEDULING_PATH", pattern=r"^/\S*$")
    n8n_health_path: str = Field("/webhook/kommo-health", alias="N8N_HEALTH_PATH", pattern=r"^/\S*$")
    n8n_follow_up_path: str = Field("/webhook/kommo-follow-up", alias="N8N_FOLLOW_UP_PATH", pattern=r"^/\S*$")
    n8n_salespeople_path: str = Field("/webhook/kommo-salespeople", alias="N8N_SALESPEOPLE_PATH", pattern=r"^/\S*$")
    n8n_erase_path: str = Field("/webhook/kommo-erase", alias="N8N_ERASE_PATH", pattern=r"^/\S*$")
    n8n_signing_secret: SecretStr = Field(SecretStr(""), alias="N8N_SIGNING_SECRET", min_length=16)
    n8n_timeout_seconds: float = Field(20.0, alias="N8N_TIMEOUT_SECONDS", gt=0, le=120)
    n8n_upgrade_from_v1: bool = Field(False, alias="N8N_UPGRADE_FROM_V1")  # docs/contracts/README.md, "Upgrade"

    def _needed_secrets(self) -> dict[str, SecretStr]:
        return {"N8N_SIGNING_SECRET": self.n8n_signing_secret}


class WebhookSettings(SettingsGroup):
    """The Kommo webhook the intake answers."""

    webhook_token: SecretStr = Field(SecretStr(""), alias="WEBHOOK_TOKEN", min_length=16)
    max_webhook_bytes: int = Field(256 * 1024, alias="MAX_WEBHOOK_BYTES", gt=1024, le=10 * 1024 * 1024)
    echo_ttl_seconds: int = Field(10800, alias="ECHO_TTL_SECONDS", ge=7200)  # Kommo retries for about 1.5 h

    def _needed_secrets(self) -> dict[str, SecretStr]:
        return {"WEBHOOK_TOKEN": self.webhook_token}


class ApiSettings(SettingsGroup):
    """The bearer tokens of the HTTP routes: the operators' and n8n's (the AI agent's tools)."""

    api_token: SecretStr = Field(SecretStr(""), alias="API_TOKEN", min_length=16)
    api_token_previous: SecretStr = Field(SecretStr(""), alias="API_TOKEN_PREVIOUS", min_length=16)
    n8n_api_token: SecretStr = Field(SecretStr(""), alias="N8N_API_TOKEN", min_length=16)
    n8n_api_token_previous: SecretStr = Field(SecretStr(""), alias="N8N_API_TOKEN_PREVIOUS", min_length=16)

    @model_validator(mode="after")
    def _tokens_of_each_scope_differ(self) -> ApiSettings:
        operator = {self.api_token.get_secret_value(), self.api_token_previous.get_secret_value()} - {""}
        n8n = {self.n8n_api_token.get_secret_value(), self.n8n_api_token_previous.get_secret_value()} - {""}
        if operator & n8n:
            raise ValueError("N8N_API_TOKEN (or its previous value) must differ from API_TOKEN and its previous value")
        return self

    def _needed_secrets(self) -> dict[str, SecretStr]:
        return {"API_TOKEN": self.api_token, "N8N_API_TOKEN": self.n8n_api_token}  # both: the other one is a 403


class StorageSettings(SettingsGroup):
    """The template's tables and queues."""

    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=3)
    kommo_table: str = Field(alias="KOMMO_TABLE", min_length=3)
    conversations_table: str = Field(alias="CONVERSATIONS_TABLE", min_length=3)
    bot_state_table: str = Field(alias="BOT_STATE_TABLE", min_length=3)
    salespeople_table: str = Field(alias="VENDORS_TABLE", min_length=3)
    triggers_table: str = Field("", alias="TRIGGERS_TABLE")
    appointments_table: str = Field("", alias="APPOINTMENTS_TABLE")
    follow_ups_table: str = Field("", alias="FOLLOW_UPS_TABLE")
    funnel_table: str = Field("", alias="FUNNEL_TABLE")  # the sales funnel's daily counts ("": not counted)

    conversations_queue_url: str = Field(alias="CONVERSATIONS_QUEUE_URL", pattern=r"^https?://\S+$")
    commands_queue_url: str = Field(alias="COMMANDS_QUEUE_URL", pattern=r"^https?://\S+\.fifo$")
    lead_events_queue_url: str = Field(alias="LEAD_EVENTS_QUEUE_URL", pattern=r"^https?://\S+\.fifo$")
    scheduling_queue_url: str = Field("", alias="SCHEDULING_QUEUE_URL", pattern=r"^(https?://\S+)?$")


class ConversationSettings(SettingsGroup):
    """How the assistant answers a conversation, and when it steps back for a salesperson."""

    conversation_quiet_seconds: int = Field(4, alias="CONVERSATION_QUIET_SECONDS", ge=0, le=60)
    salesbot_min_gap_seconds: int = Field(5, alias="SALESBOT_MIN_GAP_SECONDS", ge=0, le=300)
    history_turns: int = Field(20, alias="HISTORY_TURNS", ge=0, le=100)
    kommo_cache_seconds: int = Field(600, alias="KOMMO_CACHE_SECONDS", ge=0, le=3600)
    auto_pause_on_human_reply: bool = Field(True, alias="AUTO_PAUSE_ON_HUMAN_REPLY")
    auto_resume_hours: float = Field(12, alias="AUTO_RESUME_HOURS", ge=0, le=24 * 30)
    # a handover nobody answered within these hours of the salesperson's open hours: their manager gets a task
    handover_answer_hours: float = Field(2, alias="HANDOVER_ANSWER_HOURS", gt=0, le=24 * 7)
    automation_authors: str = Field("", alias="AUTOMATION_AUTHORS", max_length=2000)
    unattributed_outgoing: Literal["pause", "ignore"] = Field("pause", alias="UNATTRIBUTED_OUTGOING")
    assistant_status_ids_csv: str = Field("", alias="ASSISTANT_STATUS_IDS", pattern=r"^(\d{1,12}(,\d{1,12})*)?$")
    qualification_fields_json: str = Field("{}", alias="QUALIFICATION_FIELDS", max_length=4000)
    bot_texts: str = Field("", alias="BOT_TEXTS")
    conversation_ttl_days: int = Field(30, alias="CONVERSATION_TTL_DAYS", gt=0, le=3650)
    opt_out_phrases_csv: str = Field(OPT_OUT_PHRASES, alias="OPT_OUT_PHRASES", max_length=2000)
    opt_in_phrases_csv: str = Field(OPT_IN_PHRASES, alias="OPT_IN_PHRASES", max_length=2000)

    @field_validator("automation_authors")
    @classmethod
    def _short_author_names(cls, value: str) -> str:
        if any(len(entry.strip()) > MAX_AUTOMATION_AUTHOR_CHARS for entry in value.split(",")):
            raise ValueError(f"each name or user id is at most {MAX_AUTOMATION_AUTHOR_CHARS} characters")
        return value

    @field_validator("opt_out_phrases_csv", "opt_in_phrases_csv")
    @classmethod
    def _phrases_have_words(cls, value: str) -> str:
        if not all(any(char.isalnum() for char in phrase) for phrase in value.split(",")):
            raise ValueError("each comma-separated phrase needs a letter or a digit")
        return value

    @model_validator(mode="after")
    def _texts_are_valid(self) -> ConversationSettings:
        from sales_assistant.texts import load_texts

        try:
            load_texts(self.bot_texts)
        except ValueError as error:
            raise ValueError(f"BOT_TEXTS: {error}") from None
        return self

    @field_validator("qualification_fields_json")
    @classmethod
    def _qualification_fields_are_valid(cls, value: str) -> str:
        try:
            _QUALIFICATION_FIELDS.validate_json(value)
        except ValidationError as error:
            problem = error.errors()[0]
            where = f" at {'.'.join(map(str, problem['loc']))}" if problem["loc"] else ""
            raise ValueError(
                f"a JSON object of name (1-64 characters) -> lead field id; {problem['msg']}{where}"
            ) from None
        return value

    @property
    def assistant_status_ids(self) -> frozenset[int]:
        """The statuses n8n's `move_status` may move a lead to (ASSISTANT_STATUS_IDS); any other is a task."""
        return frozenset(int(part) for part in self.assistant_status_ids_csv.split(",") if part)

    @property
    def opt_out_phrases(self) -> tuple[str, ...]:
        """Whole client messages that opt out of the assistant's first messages and follow-ups (OPT_OUT_PHRASES)."""
        return tuple(self.opt_out_phrases_csv.split(","))

    @property
    def opt_in_phrases(self) -> tuple[str, ...]:
        """Whole client messages that opt back in after an opt-out (OPT_IN_PHRASES)."""
        return tuple(self.opt_in_phrases_csv.split(","))

    @property
    def qualification_fields(self) -> dict[str, int]:
        """Name -> the lead custom field n8n's `set_fields` may fill (QUALIFICATION_FIELDS, JSON); any other
        name is not written."""
        return _QUALIFICATION_FIELDS.validate_json(self.qualification_fields_json)

    @property
    def texts(self) -> Texts:
        """The texts clients and salespeople see (pt-BR defaults plus BOT_TEXTS)."""
        from sales_assistant.texts import load_texts

        return load_texts(self.bot_texts)


class ProactiveSettings(SettingsGroup):
    """First messages to new leads: which leads, through which WhatsApp templates, how often."""

    kommo_template_salesbot_id: int | None = Field(None, alias="KOMMO_TEMPLATE_SALESBOT_ID", gt=0)
    template_salesbots_json: str = Field("{}", alias="TEMPLATE_SALESBOTS")
    template_fields_json: str = Field("{}", alias="TEMPLATE_FIELDS")
    lead_area_field_id: int | None = Field(None, alias="LEAD_AREA_FIELD_ID", gt=0)
    trigger_rules_json: str = Field("[]", alias="TRIGGER_RULES")
    proactive_reassign: bool = Field(False, alias="PROACTIVE_REASSIGN")
    test_lead_tag: str = Field("teste", alias="TEST_LEAD_TAG", max_length=64)
    proactive_cooldown_hours: float = Field(24, alias="PROACTIVE_COOLDOWN_HOURS", ge=0, le=720)
    proactive_fallback_template: str = Field("", alias="PROACTIVE_FALLBACK_TEMPLATE", max_length=128)
    follow_up_offsets_json: str = Field('{"default": ["2h", "1d", "3d"]}', alias="FOLLOW_UP_OFFSETS")
    follow_up_max_per_lead: int = Field(3, alias="FOLLOW_UP_MAX_PER_LEAD", ge=0, le=20)
    follow_up_status_ids_csv: str = Field("", alias="FOLLOW_UP_STATUS_IDS", pattern=r"^(\d{1,12}(,\d{1,12})*)?$")
    follow_up_template: str = Field("", alias="FOLLOW_UP_TEMPLATE", max_length=128)

    @model_validator(mode="after")
    def _json_settings_are_valid(self) -> ProactiveSettings:
        for name, parse in (
            ("TEMPLATE_SALESBOTS", lambda: self.template_salesbots),
            ("TEMPLATE_FIELDS", lambda: self.template_fields),
            ("TRIGGER_RULES", lambda: self.trigger_rules),
            ("FOLLOW_UP_OFFSETS", lambda: self.follow_up_offsets),
        ):
            try:
                parse()
            except ValueError as error:
                raise ValueError(f"{name}: {str(error).splitlines()[0][:200]}") from None
        return self

    @property
    def template_salesbots(self) -> dict[str, int]:
        """Template name -> the Salesbot whose message step sends it (TEMPLATE_SALESBOTS, JSON)."""
        return _NAME_TO_ID.validate_json(self.template_salesbots_json)

    @property
    def template_fields(self) -> dict[str, int]:
        """Template variable -> the lead custom field it is written into (TEMPLATE_FIELDS, JSON)."""
        return _NAME_TO_ID.validate_json(self.template_fields_json)

    @property
    def trigger_rules(self) -> tuple[TriggerRule, ...]:
        """Which new Kommo leads are proactive triggers, and of which kind (TRIGGER_RULES, JSON list)."""
        from sales_assistant.models.trigger import TriggerRule

        return tuple(TypeAdapter(list[TriggerRule]).validate_json(self.trigger_rules_json))

    @property
    def follow_up_offsets(self) -> dict[str, tuple[int, ...]]:
        """Ladder kind -> seconds after the assistant's unanswered message of each follow-up (FOLLOW_UP_OFFSETS)."""
        from sales_assistant.models.follow_up import Ladders

        return Ladders.parse(self.follow_up_offsets_json)

    @property
    def follow_up_status_ids(self) -> frozenset[int]:
        """The statuses follow-ups go out in (FOLLOW_UP_STATUS_IDS; empty: any but won and lost)."""
        return frozenset(int(part) for part in self.follow_up_status_ids_csv.split(",") if part)


class SchedulingSettings(SettingsGroup):
    """Appointments: holds, bookings per lead, reminders and their templates, no-shows."""

    scheduling_queue_arn: str = Field("", alias="SCHEDULING_QUEUE_ARN", pattern=r"^(arn:\S+)?$")
    reminder_schedule_group: str = Field("", alias="REMINDER_SCHEDULE_GROUP", max_length=64)
    reminder_role_arn: str = Field("", alias="REMINDER_ROLE_ARN", pattern=r"^(arn:\S+)?$")
    reminder_minutes_before: str = Field("1440,60", alias="REMINDER_MINUTES_BEFORE", pattern=r"^(\d{1,5}(,\d{1,5})*)?$")
    hold_minutes: int = Field(5, alias="HOLD_MINUTES", ge=1, le=60)
    lead_appointments_max: int = Field(1, alias="LEAD_APPOINTMENTS_MAX", ge=1, le=20)
    appointment_confirmation_template: str = Field("", alias="APPOINTMENT_CONFIRMATION_TEMPLATE", max_length=128)
    appointment_reminder_template: str = Field("", alias="APPOINTMENT_REMINDER_TEMPLATE", max_length=128)
    no_show_template: str = Field("", alias="NO_SHOW_TEMPLATE", max_length=128)
    # how long after a meeting's end `/faltou` may come before the meeting counts held in the funnel
    no_show_grace_hours: int = Field(24, alias="NO_SHOW_GRACE_HOURS", ge=0, le=720)

    @property
    def reminder_offsets(self) -> tuple[int, ...]:
        """Minutes before an appointment at which the client is reminded (REMINDER_MINUTES_BEFORE)."""
        return tuple(sorted({int(part) for part in self.reminder_minutes_before.split(",") if part}, reverse=True))


class OperationsSettings(SettingsGroup):
    """Running the service: its stage, the operators' switches, the canary, and how long work is kept."""

    # required: a process without STAGE refuses to start rather than take the permissive local stage
    stage: Literal["local", "dev", "prod"] = Field(alias="STAGE")
    kill_switch_parameter: str = Field("", alias="KILL_SWITCH_PARAMETER", max_length=2048)
    salesperson_profiles_parameter: str = Field("", alias="VENDOR_PROFILES_PARAMETER")
    kommo_webhook_base_url: str = Field("", alias="KOMMO_WEBHOOK_BASE_URL", pattern=r"^(https?://\S+)?$")
    queue_max_age_seconds: int = Field(600, alias="QUEUE_MAX_AGE_SECONDS", ge=60, le=86400)
    watchdog_grace_seconds: int = Field(120, alias="WATCHDOG_GRACE_SECONDS", ge=0, le=3600)
    dedup_ttl_seconds: int = Field(REDRIVE_WINDOW_SECONDS, alias="DEDUP_TTL_SECONDS", ge=REDRIVE_WINDOW_SECONDS)
    outage_budget_minutes: int = Field(60, alias="OUTAGE_BUDGET_MINUTES", ge=15, le=24 * 60)
    # the account's days (the funnel's, the monthly budget's) begin and end at midnight in this IANA zone
    account_timezone: str = Field("America/Sao_Paulo", alias="ACCOUNT_TIMEZONE", max_length=64)
    # costs (docs/settings.md, "Costs"): the recipients' country in the price table, and the monthly budget in
    # USD (0: none; the kill-switch parameter's monthly_budget_usd overrides it live) with what it stops at 100 %
    whatsapp_country: str = Field("BR", alias="WHATSAPP_COUNTRY", pattern=r"^[A-Z]{2}$")
    monthly_budget_usd: float = Field(0, alias="MONTHLY_BUDGET_USD", ge=0, le=10_000_000)
    budget_stops_csv: str = Field(
        "first_messages,follow_ups",
        alias="BUDGET_STOPS",
        pattern=r"^(all|(first_messages|follow_ups|replies)(,(first_messages|follow_ups|replies))*)$",
    )

    @field_validator("account_timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(zone)
        except (ValueError, KeyError):
            raise ValueError("an IANA time zone, e.g. America/Sao_Paulo") from None
        return zone

    @property
    def budget_stops(self) -> frozenset[str]:
        """The costly paths the budget holds at 100 % (BUDGET_STOPS): first_messages, follow_ups, replies."""
        if self.budget_stops_csv == "all":
            return frozenset({"first_messages", "follow_ups", "replies"})
        return frozenset(self.budget_stops_csv.split(","))


GROUPS: dict[Group, type[SettingsGroup]] = {
    "kommo": KommoSettings,
    "n8n": N8nSettings,
    "webhook": WebhookSettings,
    "api": ApiSettings,
    "storage": StorageSettings,
    "conversation": ConversationSettings,
    "proactive": ProactiveSettings,
    "scheduling": SchedulingSettings,
    "operations": OperationsSettings,
}


class Settings(
    KommoSettings,
    N8nSettings,
    WebhookSettings,
    ApiSettings,
    StorageSettings,
    ConversationSettings,
    ProactiveSettings,
    SchedulingSettings,
    OperationsSettings,
):
    """Every setting the functions read (environment variable names, case-insensitive), composed of the
    groups in `GROUPS`; the validators here are the ones that read more than one group."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @model_validator(mode="after")
    def _safe_outside_local(self) -> Settings:
        if self.stage != "local":
            for name, url in (("N8N_BASE_URL", self.n8n_base_url), ("KOMMO_BASE_URL", self.kommo_base_url)):
                if url and not url.startswith("https://"):
                    raise ValueError(f"{name} must be an https:// URL outside the local stage (STAGE={self.stage})")
        if self.stage == "prod" and self.kommo_account_id is None:
            raise ValueError("KOMMO_ACCOUNT_ID is required in prod (webhooks of other accounts must be refused)")
        return self

    @model_validator(mode="after")
    def _qualification_leaves_the_relay_alone(self) -> Settings:
        relay = {self.kommo_reply_field_id, *self.template_fields.values()}
        if taken := sorted(relay.intersection(self.qualification_fields.values())):
            raise ValueError(
                f"QUALIFICATION_FIELDS: field {taken[0]} is the reply field or a template variable's "
                "(KOMMO_REPLY_FIELD_ID, TEMPLATE_FIELDS): n8n may not write it"
            )
        return self

    def require(self, *groups: Group) -> Settings:
        """These settings, or a SettingsError naming every secret that the `groups` need and that is not set.
        Each function calls it at cold start with the groups whose secrets it uses (webhook, api, n8n, kommo:
        the other groups need none)."""
        missing = [
            f"{name}: required by this function (in the secret named by {_secret_variable(name)})"
            for group in groups
            for name, value in GROUPS[group]._needed_secrets(self).items()
            if not value.get_secret_value()
        ]
        if missing:
            raise SettingsError("invalid settings: " + "; ".join(missing))
        return self


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from an environment mapping plus the secrets its `*_SECRET_ARN` variables name."""
    return _validated(_inputs(environ))


def get_settings() -> Settings:
    """The process-wide settings from os.environ and the secrets (cached SECRET_CACHE_SECONDS): the same
    object while nothing changed, so the services cached per Settings value in composition.py are reused,
    and new ones once a secret was rotated."""
    return load_settings(os.environ)


def reset_settings() -> None:
    """Forget the settings and the cached secrets (tests)."""
    from aws_lambda_powertools.utilities import parameters

    _validated.cache_clear()
    parameters.clear_caches()


def _inputs(environ: Mapping[str, str]) -> frozenset[tuple[str, str]]:
    """The non-empty settings of the environment (unrelated variables left out) and of its secrets."""
    environment = {key.upper(): value for key, value in environ.items()}
    values = {key: value for key, value in environment.items() if key in _NAMES}
    for variable, allowed in SECRETS.items():
        if environment.get(variable):
            for key, value in _read_secret(variable, environment[variable], allowed).items():
                values.setdefault(key, value)
    return frozenset((key, value) for key, value in values.items() if value != "")


@lru_cache(maxsize=1)
def _validated(inputs: frozenset[tuple[str, str]]) -> Settings:
    try:
        return Settings.model_validate(dict(inputs))
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def _read_secret(variable: str, arn: str, allowed: tuple[str, ...]) -> dict[str, str]:
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

    try:
        secret = parameters.get_secret(arn, transform="json", max_age=SECRET_CACHE_SECONDS)
    except (GetParameterError, TransformParameterError) as error:
        raise SettingsError(f"{variable}: cannot read secret {arn}: {str(error)[:200]}") from None
    if not isinstance(secret, dict):
        raise SettingsError(f"{variable}: secret {arn} must hold a JSON object")
    values = {str(key).upper(): str(value) for key, value in secret.items()}
    foreign = sorted(set(values) - set(allowed))
    if foreign:
        raise SettingsError(f"{variable}: the secret may hold only {', '.join(allowed)}, not {', '.join(foreign)}")
    return values


def _secret_variable(name: str) -> str:
    return next(variable for variable, names in SECRETS.items() if name in names)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        problems.append(f"{name}: {item['msg']}")
    return "invalid settings: " + "; ".join(problems)


_NAMES = frozenset(field.alias for field in Settings.model_fields.values() if field.alias)
