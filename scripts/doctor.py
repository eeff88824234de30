"""`make doctor`: a deployment's configuration checked end to end against Kommo and n8n, one line per check.

    make doctor                     # the local run (`make run` up): its defaults, config/local.toml, the environment
    make doctor STAGE=dev           # a deployed stack: config/dev.toml, plus its secrets from the environment
    python scripts/doctor.py --config config/dev.toml --webhook-url https://<api>/webhooks/kommo/<WEBHOOK_TOKEN>

Each line is green (✔), red (✘, with the fix) or yellow (!, a warning); the exit status is 0 only when no line is
red. Settings: on the local stage what `make run` uses (local/deployment_config.py: the embedded defaults, the
file over them, the environment over both; the Kommo sandbox at KOMMO_BASE_URL, else `make run`'s); on a
deployed stage the file (`load_deployment`, checked as `sam deploy` would) and, from the environment, what never
goes into the file: KOMMO_LONG_LIVED_TOKEN, N8N_SIGNING_SECRET and WEBHOOK_TOKEN (the stack's secrets: outputs
N8nSigningSecretArn and WebhookTokenSecretArn). Also from the environment: n8n's template names
(KOMMO_FIRST_TEMPLATE, KOMMO_REOPEN_TEMPLATE, when n8n has other ones than its defaults) and
USERS_WITHOUT_PROFILE (Kommo user ids knowingly left without a salesperson profile, comma-separated).

The checks:
- the token is valid and its user an admin (the salesperson sync lists the users);
- every configured lead field exists with the right type (the reply a textarea, the template variables text, the
  area a list);
- every configured Salesbot exists (`GET /api/v4/bots/{id}`);
- the webhook is subscribed to the service's URL with every event the intake handles, and not disabled;
- n8n answers the signed health ping (the canary's own call);
- every WhatsApp template the service may send has a Salesbot and a lead field for each variable;
- every active Kommo user has a profile (config/vendor-profiles.json) or is knowingly left without one;
- every value of the area field is served by a salesperson (an active one, with a profile naming it);
- the trigger rules and the assistant's statuses name pipelines and statuses that exist;
- a warning for another bot that may answer the same clients: Kommo's AI (the account's `is_helpbot_enabled`) or
  an active welcome Salesbot (`type_functionality` greeting). Kommo's API does not say which stages a bot is on:
  the warning names the trigger pipelines to look at.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

if __name__ == "__main__":  # an operator's command: the service's info logs and metrics are not for this terminal
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / folder) for folder in ("", "layers/common")]
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "KommoSalesAssistantScripts")

from pydantic import ConfigDict, ValidationError

from local.defaults import LOCAL_SECRETS, SALESPERSON_PROFILES
from local.deployment_config import ConfigError, load_deployment, local_run_deployment
from sales_assistant.adapters.kommo import KommoClient, KommoError
from sales_assistant.adapters.kommo.client import operator_client
from sales_assistant.adapters.n8n import N8nClient
from sales_assistant.config import (
    ConversationSettings,
    KommoSettings,
    N8nSettings,
    OperationsSettings,
    ProactiveSettings,
    SchedulingSettings,
    WebhookSettings,
)
from sales_assistant.models.kommo import WEBHOOK_EVENTS, KommoUser, LeadField, WebhookSubscription
from sales_assistant.models.salesperson import SalespersonProfiles
from sales_assistant.services.ports.n8n import AiFailure
from scripts.setup import (
    AREA_TYPES,
    LOCAL_KOMMO_URL,
    REPLY_FIELD,
    WEBHOOK_PATH,
    config_file,
    file_stage,
    masked,
    templates,
    variable_field,
)

N8N_PING_TIMEOUT = 10.0
# Read from the environment whatever the stage: secrets (never in the file), n8n's own template names, the users
# knowingly left without a profile.
FROM_ENVIRONMENT = (
    "KOMMO_LONG_LIVED_TOKEN",
    "N8N_SIGNING_SECRET",
    "WEBHOOK_TOKEN",
    "KOMMO_FIRST_TEMPLATE",
    "KOMMO_REOPEN_TEMPLATE",
    "USERS_WITHOUT_PROFILE",
)
COLOURS = {"ok": ("✔", "\033[32m"), "warn": ("!", "\033[33m"), "fail": ("✘", "\033[31m")}


class AccountSettings(
    KommoSettings,
    N8nSettings,
    WebhookSettings,
    ConversationSettings,
    ProactiveSettings,
    SchedulingSettings,
    OperationsSettings,
):
    """What the doctor reads: the functions' own settings groups and validators, without the stack's tables and
    queues (a deployed stack's resources are not in its configuration)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


@dataclass(frozen=True)
class Check:
    """One line: `level` ok (green), warn (yellow) or fail (red, the text says the fix); Portuguese and English."""

    name: str
    level: Literal["ok", "warn", "fail"]
    pt: str
    en: str

    def line(self, colour: bool) -> str:
        symbol, code = COLOURS[self.level]
        text = f"{symbol} {self.name}: {self.pt} / {self.en}"
        return f"{code}{text}\033[0m" if colour else text


def ok(name: str, pt: str, en: str) -> Check:
    return Check(name, "ok", pt, en)


def fail(name: str, pt: str, en: str) -> Check:
    return Check(name, "fail", pt, en)


def warn(name: str, pt: str, en: str) -> Check:
    return Check(name, "warn", pt, en)


def doctor_environment(path: Path, stage: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The settings to check (variable -> value, the empty ones left out as the functions do): the local run's, or
    the deployed file's, with the secrets. KOMMO_WEBHOOK_BASE_URL is WebhookBaseUrl (the template's other choice,
    the HTTP API's URL, is the stack's: --webhook-url gives it)."""
    if stage == "local":
        sandbox = not environ.get("KOMMO_BASE_URL")
        deployment = local_run_deployment(path if path.exists() else None, environ, kommo_sandbox=sandbox)
        local = {**LOCAL_SECRETS, "KOMMO_BASE_URL": environ.get("KOMMO_BASE_URL") or LOCAL_KOMMO_URL}
        picked = _picked(environ, (*FROM_ENVIRONMENT, "PROACTIVE_FALLBACK_TEMPLATE"))  # no parameter: the run reads it
    else:
        deployment = load_deployment(path)
        local, picked = {}, _picked(environ, ("KOMMO_BASE_URL", *FROM_ENVIRONMENT))
    webhook = {"KOMMO_WEBHOOK_BASE_URL": deployment.parameters.get("WebhookBaseUrl", "")}
    environment = {**local, **webhook, **deployment.environment(), **picked}
    return {name: value for name, value in environment.items() if value != ""}


def _picked(environ: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: environ[name] for name in names if environ.get(name)}


class Doctor:
    """The checks of one configuration, run against its Kommo account and its n8n."""

    def __init__(
        self,
        settings: AccountSettings,
        environment: Mapping[str, str],
        kommo: KommoClient,
        profiles: SalespersonProfiles,
        *,
        webhook_url: str = "",
        without_profile: frozenset[int] = frozenset(),
        n8n: N8nClient | None = None,
    ) -> None:
        self.settings = settings
        self.environment = environment
        self.kommo = kommo
        self.profiles = profiles
        self.webhook_url = webhook_url
        self.without_profile = without_profile
        secret = settings.n8n_signing_secret.get_secret_value()
        self.n8n = n8n or N8nClient(settings.n8n_base_url, secret, N8N_PING_TIMEOUT)
        self.templates = templates(environment)

    def run(self) -> Iterator[Check]:
        """Every check, in order; once Kommo refuses the token or fails, only those that need no Kommo call."""
        token = self._guarded("token", self.token)
        yield token
        fields: dict[int, LeadField] = {}
        users: list[KommoUser] = []
        kommo = token.level == "ok"
        if kommo:
            try:
                fields, users = {field.id: field for field in self.kommo.lead_fields()}, self.kommo.users()
            except KommoError as error:
                yield fail("Kommo", f"o Kommo falhou: {error}", f"Kommo failed: {error}")
                kommo = False
        if kommo:
            yield from self.fields(fields)
            yield from self._each("Salesbots", self.salesbots)
            yield self._guarded("webhook", self.webhook)
        yield self.n8n_ping()
        yield from self.template_setup()
        if kommo:
            yield self.profiles_of(users)
            yield self.areas(fields, users)
            yield from self._each("funis / pipelines", self.pipelines)
            yield self._guarded("outros bots / other bots", self.other_bots)

    # ------------------------------------------------------------------ Kommo
    def token(self) -> Check:
        user = self.kommo.token_user()
        if not user.rights.is_admin:
            return fail(
                "token",
                f"{user.name} não é administrador: gere o token de longa duração como administrador",
                f"{user.name} is not an admin: issue the long-lived token as an admin (the sync lists the users)",
            )
        return ok("token", f"válido; {user.name} é administrador", f"valid; {user.name} is an admin")

    def fields(self, fields: dict[int, LeadField]) -> Iterator[Check]:
        settings = self.settings
        yield _field(fields, "KommoReplyFieldId", settings.kommo_reply_field_id, REPLY_FIELD.types)
        for variable, field_id in sorted(settings.template_fields.items()):
            yield _field(fields, f"TemplateFields.{variable}", field_id, variable_field(variable).types)
        if settings.lead_area_field_id is not None:
            yield _field(fields, "LeadAreaFieldId", settings.lead_area_field_id, AREA_TYPES)

    def salesbots(self) -> Iterator[Check]:
        configured = [("KommoSalesbotId", self.settings.kommo_salesbot_id)]
        if self.settings.kommo_template_salesbot_id is not None:
            configured.append(("KommoTemplateSalesbotId", self.settings.kommo_template_salesbot_id))
        configured += [
            (f"TemplateSalesbots.{name}", bot) for name, bot in sorted(self.settings.template_salesbots.items())
        ]
        for parameter, bot_id in configured:
            bot = self.kommo.salesbot(bot_id)
            if bot is None:
                yield fail(
                    parameter,
                    f"o Salesbot {bot_id} não existe: crie-o (make setup mostra os passos) e ponha o id em {parameter}",
                    f"Salesbot {bot_id} does not exist: create it (make setup prints the steps), its id in {parameter}",
                )
            else:
                yield ok(parameter, f"Salesbot {bot_id} ({bot.name})", f"Salesbot {bot_id} ({bot.name})")

    def webhook(self) -> Check:
        base = self.settings.kommo_webhook_base_url.rstrip("/")
        token = self.settings.webhook_token.get_secret_value()
        wanted = self.webhook_url or (f"{base}{WEBHOOK_PATH}{token}" if base and token else "")
        if not wanted and not base:
            return fail(
                "webhook",
                "URL do serviço desconhecida: dê --webhook-url (saída KommoWebhookUrl) ou WebhookBaseUrl",
                "the service's URL is unknown: give --webhook-url (output KommoWebhookUrl) or set WebhookBaseUrl",
            )
        hooks = [WebhookSubscription.model_validate(hook) for hook in self.kommo.webhooks()]
        ours = [
            hook for hook in hooks if hook.destination == wanted or (not wanted and hook.destination.startswith(base))
        ]
        shown = masked(wanted or f"{base}{WEBHOOK_PATH}")
        if not ours:
            return fail(
                "webhook",
                f"nenhum webhook para {shown}: make setup --webhook-url <KommoWebhookUrl com o token>",
                f"no webhook to {shown}: make setup --webhook-url <KommoWebhookUrl with the token>",
            )
        hook = ours[0]
        if hook.disabled:
            return fail(
                "webhook",
                "desativado pelo Kommo: reative-o em Configurações -> Integrações -> Web hooks (docs/runbook.md)",
                "disabled by Kommo: re-enable it in Settings -> Integrations -> Web hooks (docs/runbook.md)",
            )
        missing = sorted(set(WEBHOOK_EVENTS) - set(hook.settings))
        if missing:
            return fail(
                "webhook",
                f"faltam os eventos {', '.join(missing)}: make setup --webhook-url <...> (assina todos)",
                f"events {', '.join(missing)} missing: make setup --webhook-url <...> (subscribes them all)",
            )
        unchecked = "" if wanted else " (token not checked: WEBHOOK_TOKEN not set)"
        return ok("webhook", f"inscrito e ativo: {shown}", f"subscribed and enabled: {shown}{unchecked}")

    def profiles_of(self, users: list[KommoUser]) -> Check:
        profiled = set(self.profiles.vendors) | self.without_profile
        lacking = [user for user in users if user.rights.is_active and user.id not in profiled]
        if lacking:
            named = ", ".join(f"{user.name} ({user.id})" for user in lacking)
            return fail(
                "perfis / profiles",
                f"sem perfil: {named}: descreva-os em config/vendor-profiles.json (make import-profiles), "
                "ou liste-os em USERS_WITHOUT_PROFILE se não vendem",
                f"no profile: {named}: describe them in config/vendor-profiles.json (make import-profiles), "
                "or list them in USERS_WITHOUT_PROFILE if they do not sell",
            )
        active = sum(user.rights.is_active for user in users)
        return ok(
            "perfis / profiles", f"{active} usuários ativos, todos com perfil", f"{active} active users, all known"
        )

    def areas(self, fields: dict[int, LeadField], users: list[KommoUser]) -> Check:
        field_id = self.settings.lead_area_field_id
        name = "áreas / areas"
        if field_id is None:
            return ok(
                name, "sem campo de área: todos atendem todos os leads", "no area field: everyone serves every lead"
            )
        if field_id not in fields:
            return fail(name, f"o campo {field_id} não existe (acima)", f"field {field_id} does not exist (above)")
        active = {user.id for user in users if user.rights.is_active}
        served = {
            area.casefold()
            for vendor_id, profile in self.profiles.vendors.items()
            if vendor_id in active and not profile.is_test
            for area in profile.areas
        }
        unserved = [enum.value for enum in fields[field_id].enums or [] if enum.value.casefold() not in served]
        if unserved:
            return fail(
                name,
                f"ninguém atende {', '.join(unserved)}: ponha a área no perfil de um vendedor ativo",
                f"nobody serves {', '.join(unserved)}: add the area to an active salesperson's profile",
            )
        values = ", ".join(enum.value for enum in fields[field_id].enums or [])
        return ok(name, f"todas atendidas: {values}", f"all served: {values}")

    def pipelines(self) -> Iterator[Check]:
        pipelines = {pipeline.id: pipeline for pipeline in self.kommo.pipelines()}
        every_status = {status for pipeline in pipelines.values() for status in pipeline.status_ids}
        rules = self.settings.trigger_rules
        if not rules:
            yield warn(
                "TriggerRules",
                "vazio: nenhum lead novo recebe a primeira mensagem",
                "empty: no new lead gets a first message",
            )
        for index, rule in enumerate(rules):
            name = f"TriggerRules[{index}]"
            pipeline = pipelines.get(rule.pipeline_id) if rule.pipeline_id is not None else None
            statuses = pipeline.status_ids if pipeline else every_status
            if rule.pipeline_id is not None and pipeline is None:
                yield fail(
                    name, f"o funil {rule.pipeline_id} não existe", f"pipeline {rule.pipeline_id} does not exist"
                )
            elif rule.status_id is not None and rule.status_id not in statuses:
                yield fail(
                    name, f"a etapa {rule.status_id} não existe ali", f"status {rule.status_id} does not exist there"
                )
            else:
                yield ok(name, f"{rule.kind}: funil e etapa existem", f"{rule.kind}: pipeline and status exist")
        unknown = sorted(self.settings.assistant_status_ids - every_status)
        if unknown:
            listed = ", ".join(map(str, unknown))
            yield fail("AssistantStatusIds", f"etapas inexistentes: {listed}", f"statuses that do not exist: {listed}")
        elif self.settings.assistant_status_ids:
            yield ok("AssistantStatusIds", "as etapas existem", "the statuses exist")

    def other_bots(self) -> Check:
        name = "outros bots / other bots"
        ours = {self.settings.kommo_salesbot_id, self.settings.kommo_template_salesbot_id}
        ours |= set(self.settings.template_salesbots.values())
        others = [
            bot.name
            for bot in self.kommo.salesbots()
            if bot.id not in ours and bot.settings.active and bot.type_functionality == "greeting"
        ]
        if self.kommo.account_info().is_helpbot_enabled:
            others.append("IA do Kommo / Kommo's AI")
        if others:
            bots = ", ".join(others)
            where = ", ".join(str(rule.pipeline_id) for rule in self.settings.trigger_rules if rule.pipeline_id) or "-"
            return warn(
                name,
                f"{bots} podem responder os mesmos clientes: tire-os das etapas dos funis {where}",
                f"{bots} may answer the same clients: take them off the stages of pipelines {where}",
            )
        return ok(name, "nenhum bot de boas-vindas nem IA do Kommo ativos", "no active welcome bot nor Kommo's AI")

    # ------------------------------------------------------------------ n8n and the templates
    def n8n_ping(self) -> Check:
        if not self.settings.n8n_signing_secret.get_secret_value():
            return fail(
                "n8n",
                "N8N_SIGNING_SECRET ausente: exporte-o (saída N8nSigningSecretArn)",
                "N8N_SIGNING_SECRET not set: export it (output N8nSigningSecretArn)",
            )
        try:
            self.n8n.ping(self.settings.n8n_health_path)
        except AiFailure as failure:
            return fail(
                "n8n",
                f"o ping assinado falhou ({failure.reason}): importe e ative n8n/workflows/kommo-health.json, "
                "com o mesmo N8N_SIGNING_SECRET",
                f"the signed ping failed ({failure.reason}): import and activate n8n/workflows/kommo-health.json, "
                "with the same N8N_SIGNING_SECRET",
            )
        return ok("n8n", f"respondeu ao ping assinado ({self.settings.n8n_base_url})", "answered the signed ping")

    def template_setup(self) -> Iterator[Check]:
        for template, variables in self.templates.items():
            name = f"modelo / template {template}"
            bot = self.settings.template_salesbots.get(template, self.settings.kommo_template_salesbot_id)
            missing = [variable for variable in variables if variable not in self.settings.template_fields]
            if bot is None:
                yield fail(
                    name,
                    "sem Salesbot: make setup (TemplateSalesbots ou KommoTemplateSalesbotId)",
                    "no Salesbot: make setup (TemplateSalesbots or KommoTemplateSalesbotId)",
                )
            elif missing:
                yield fail(
                    name,
                    f"sem campo para {', '.join(missing)}: make setup (TemplateFields)",
                    f"no field for {', '.join(missing)}: make setup (TemplateFields)",
                )
            else:
                yield ok(name, f"Salesbot {bot}, variáveis {', '.join(variables)}", f"Salesbot {bot}, fields set")

    # ------------------------------------------------------------------ plumbing
    def _guarded(self, name: str, check: Callable[[], Check]) -> Check:
        """A check, or a red line when its call failed."""
        try:
            return check()
        except KommoError as error:
            return fail(name, f"o Kommo falhou: {error}", f"Kommo failed: {error}")

    def _each(self, name: str, checks: Callable[[], Iterator[Check]]) -> Iterator[Check]:
        try:
            yield from list(checks())
        except KommoError as error:
            yield fail(name, f"o Kommo falhou: {error}", f"Kommo failed: {error}")


def _field(fields: dict[int, LeadField], parameter: str, field_id: int, types: tuple[str, ...]) -> Check:
    field = fields.get(field_id)
    if field is None:
        return fail(
            parameter,
            f"o campo {field_id} não existe: make setup (encontra ou cria o campo e grava o id)",
            f"field {field_id} does not exist: make setup (finds or creates the field and writes its id)",
        )
    if field.type not in types:
        return fail(
            parameter,
            f"o campo {field_id} ({field.name}) é {field.type}, deve ser {' ou '.join(types)}: make setup",
            f"field {field_id} ({field.name}) is {field.type}, must be {' or '.join(types)}: make setup",
        )
    return ok(parameter, f"{field.name} ({field_id}, {field.type})", f"{field.name} ({field_id}, {field.type})")


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", help="local, dev or prod (default: the file's Stage, else local)")
    parser.add_argument("--config", help="the configuration file (default: CONFIG, else config/<stage>.toml)")
    parser.add_argument("--webhook-url", default="", help="the webhook URL to expect (output KommoWebhookUrl)")
    parser.add_argument("--profiles", type=Path, default=SALESPERSON_PROFILES, help="the salesperson profiles file")
    parser.add_argument("--without-profile", type=int, action="append", default=[], metavar="USER_ID")
    args = parser.parse_args(argv)
    colour = sys.stdout.isatty()
    path = config_file(args.stage, args.config, environ)
    stage = file_stage(path, args.stage)
    try:
        environment = doctor_environment(path, stage, environ)
        settings = AccountSettings.model_validate(environment)
        profiles = SalespersonProfiles.model_validate_json(args.profiles.read_text(encoding="utf-8"))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg']}" for item in error.errors())
        print(fail("configuração / configuration", problems, "fix it, then run make doctor again").line(colour))
        return 1
    except (ConfigError, OSError) as error:
        print(fail("configuração / configuration", str(error), "fix it, then run make doctor again").line(colour))
        return 1
    token = settings.kommo_long_lived_token.get_secret_value()
    if not token:
        print(
            fail(
                "token",
                "KOMMO_LONG_LIVED_TOKEN ausente: exporte o token de longa duração (o doctor o usa, mesmo com OAuth2)",
                "KOMMO_LONG_LIVED_TOKEN not set: export the long-lived token (the doctor uses it, even with OAuth2)",
            ).line(colour)
        )
        return 1
    without = {int(part) for part in environment.get("USERS_WITHOUT_PROFILE", "").split(",") if part.strip().isdigit()}
    kommo = operator_client(settings.kommo_api_base, token)
    doctor = Doctor(
        settings,
        environment,
        kommo,
        profiles,
        webhook_url=args.webhook_url,
        without_profile=frozenset(without | set(args.without_profile)),
    )
    print(f"make doctor: {path} ({stage}), Kommo {settings.kommo_api_base}, n8n {settings.n8n_base_url}", flush=True)
    failed = 0
    for check in doctor.run():
        print(check.line(colour), flush=True)
        failed += check.level == "fail"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
