"""`make setup`: a team's own Kommo account made ready for the service, checked step by step.

    make setup STAGE=dev                 # config/dev.toml; asks for what it does not find
    KOMMO_SUBDOMAIN=minhaempresa KOMMO_LONG_LIVED_TOKEN=... make setup STAGE=dev
    python scripts/setup.py --config config/dev.toml --salesbot-id 4512 \\
        --template-salesbot boas_vindas=4513 --template-salesbot retomada_contato=4514 --no-input
    python scripts/setup.py --config config/dev.toml --webhook-url https://<api>/webhooks/kommo/<WEBHOOK_TOKEN>

With a subdomain and a long-lived token (arguments, else KOMMO_SUBDOMAIN / KOMMO_LONG_LIVED_TOKEN, else asked),
through the service's own Kommo client, it
1. checks the token and that its user is an admin (creating fields and webhooks, and the salesperson sync's
   user list, need one);
2. finds or creates the lead fields the service writes: the reply (a textarea) and one text field per variable
   of the WhatsApp templates it may send (`POST /api/v4/leads/custom_fields`, each with a code of ours, so a
   second run finds them), and lists the account's select fields for the area field;
3. writes their ids, the subdomain and the account id into the configuration file;
4. prints, in Portuguese and English, the Kommo steps the API cannot do (the Salesbots), then waits for their
   ids (asked, or `--salesbot-id` / `--template-salesbot NAME=ID`) and checks each one (`GET /api/v4/bots/{id}`);
5. after a deploy (`--webhook-url`, the stack's KommoWebhookUrl with the token), subscribes the webhook to the
   events the intake handles (`POST /api/v4/webhooks`).
Running it again changes nothing that is already right: found fields and Salesbots are kept, the file is not
rewritten, the webhook is not posted again. The exit status is 1 while something is left to do.

The configuration file (local/deployment_config.py reads it; its keys are template.yaml's parameter names):
`--config`, else CONFIG, else config/<stage>.toml (the local stage: config/local.toml, which `make run` reads).
On the local stage the Kommo account is the one at KOMMO_BASE_URL, else `make run`'s Kommo sandbox. The file
is updated line by line (a key's line replaced, its comment kept, or the key added at the end): the loader has
no writer, and the team's comments stay.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # an operator's command: the service's info logs and metrics are not for this terminal
    sys.path[:0] = [str(Path(__file__).resolve().parents[1] / folder) for folder in ("", "layers/common")]
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "KommoSalesAssistantScripts")

from local.defaults import LOCAL_PARAMETERS, LOCAL_SECRETS, PSEUDO_PARAMETERS
from local.deployment_config import Deployment, read_parameters
from local.stack import ROOT, load_template, parameter_defaults
from sales_assistant.adapters.kommo import KommoClient, KommoError
from sales_assistant.adapters.kommo.client import operator_client
from sales_assistant.models.kommo import WEBHOOK_EVENTS, LeadField, WebhookSubscription

TEMPLATE = cache(load_template)  # template.yaml, read once (about a second of YAML parsing)
LOCAL_KOMMO_URL = "http://127.0.0.1:8088"  # `make run`'s Kommo sandbox (local/run.py, --kommo-port)
# The templates n8n answers with when the 24-hour window is closed: its settings and their defaults
# (n8n/src/template-proactive.js and template-reply.js); each has the variable `nome`.
N8N_TEMPLATES = {"KOMMO_FIRST_TEMPLATE": "boas_vindas", "KOMMO_REOPEN_TEMPLATE": "retomada_contato"}
APPOINTMENT_TEMPLATES = (  # nome, data, hora
    "APPOINTMENT_CONFIRMATION_TEMPLATE",
    "APPOINTMENT_REMINDER_TEMPLATE",
    "NO_SHOW_TEMPLATE",
)
WEBHOOK_PATH = "/webhooks/kommo/"


@dataclass(frozen=True)
class NeededField:
    """A lead field the service writes: found by its code (ours), else by its name, else created."""

    name: str
    code: str
    types: tuple[str, ...]  # the types it may have; the first is the one created

    def fits(self, field: LeadField) -> bool:
        return field.type in self.types


REPLY_FIELD = NeededField("Resposta do assistente", "ASSISTENTE_RESPOSTA", ("textarea",))
AREA_TYPES = ("select",)


def variable_field(variable: str) -> NeededField:
    """The lead field of a WhatsApp template variable (a short text: a name, a date, a time)."""
    return NeededField(f"Modelo WhatsApp: {variable}", f"ASSISTENTE_MODELO_{variable.upper()}", ("text", "textarea"))


def templates(environment: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Template name -> its variables: every WhatsApp template the service may send (n8n's two, the first
    message's fallback, the appointment confirmation and reminder when set)."""
    found: dict[str, tuple[str, ...]] = {}
    for variable, default in N8N_TEMPLATES.items():
        found[environment.get(variable) or default] = ("nome",)
    if environment.get("PROACTIVE_FALLBACK_TEMPLATE"):
        found.setdefault(environment["PROACTIVE_FALLBACK_TEMPLATE"], ("nome",))
    for variable in APPOINTMENT_TEMPLATES:
        if environment.get(variable):
            found[environment[variable]] = ("nome", "data", "hora")
    return found


def say(pt: str, en: str) -> None:
    """A line for the person at the terminal: Portuguese, then English."""
    print(f"{pt}\n    {en}", flush=True)


# ---------------------------------------------------------------------- the configuration file and the account
def config_file(stage: str | None, given: str | None, environ: Mapping[str, str]) -> Path:
    """`--config`, else CONFIG, else config/<stage>.toml (config/local.toml without a stage)."""
    return Path(given or environ.get("CONFIG") or ROOT / "config" / f"{stage or 'local'}.toml")


def file_stage(path: Path, stage: str | None) -> str:
    """The stage asked for, else the file's `Stage`, else local."""
    if stage:
        return stage
    written = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return str(written.get("Stage") or "local")


def parameters_of(path: Path, stage: str) -> dict[str, str]:
    """The template parameters as the file leaves them: its values over the defaults (the local run's on the
    local stage, template.yaml's otherwise)."""
    template = TEMPLATE()
    base = {**parameter_defaults(template), **(LOCAL_PARAMETERS if stage == "local" else {"Stage": stage})}
    return {**base, **(read_parameters(path, template) if path.exists() else {})}


def environment_of(parameters: Mapping[str, str]) -> dict[str, str]:
    """The settings these parameters give the functions (variable -> value), through template.yaml."""
    return Deployment(dict(parameters), {}, dict(PSEUDO_PARAMETERS), TEMPLATE()).environment()


def kommo_for(stage: str, subdomain: str, token: str, environ: Mapping[str, str]) -> KommoClient:
    """The account's Kommo: KOMMO_BASE_URL when set (the sandbox in tests), `make run`'s sandbox on the local
    stage, else https://<subdomain>.kommo.com."""
    base_url = environ.get("KOMMO_BASE_URL") or (LOCAL_KOMMO_URL if stage == "local" else "")
    return operator_client(base_url or f"https://{subdomain}.kommo.com", token)


def update_file(path: Path, values: Mapping[str, Any]) -> list[str]:
    """Write these keys into the TOML file, each on its own line (replaced, its comment kept, or added at the
    end); the keys whose value changed. A key written as a [table] cannot be replaced: ValueError naming it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    current = tomllib.loads(text)
    changed = [key for key, value in values.items() if current.get(key) != value]
    for key in changed:
        line = f"{key} = {_toml(values[key])}"
        found = re.search(rf"^{key}\s*=\s*(.*?)(\s+#.*)?$", text, re.MULTILINE)
        if found:
            text = text[: found.start()] + line + (found.group(2) or "") + text[found.end() :]
        else:
            text += ("" if text.endswith("\n") or not text else "\n") + line + "\n"
    if not changed:
        return []
    written = tomllib.loads(text)
    wrong = [key for key in changed if written.get(key) != values[key]]
    if wrong:
        raise ValueError(f"{path}: write {', '.join(wrong)} on one line (key = value) for make setup to update it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return changed


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(key)} = {_toml(item)}" for key, item in value.items())
        return f"{{ {items} }}" if items else "{}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    return str(value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def json_ids(value: str | None) -> dict[str, int]:
    """A `name -> id` parameter (TemplateFields, TemplateSalesbots) as a dict ({} when unset)."""
    return {str(name): int(item) for name, item in json.loads(value or "{}").items()}


def webhook_base(url: str) -> str:
    """The part of a webhook URL before /webhooks/kommo/ (what WebhookBaseUrl holds)."""
    return url.split(WEBHOOK_PATH, 1)[0]


def masked(url: str) -> str:
    """A webhook URL without its token (a secret)."""
    return webhook_base(url) + WEBHOOK_PATH + "<WEBHOOK_TOKEN>"


# ---------------------------------------------------------------------- the steps
class Setup:
    """One run of `make setup`: what it found, created and still needs."""

    def __init__(
        self,
        kommo: KommoClient,
        parameters: dict[str, str],
        ask: Callable[[str, str], str] | None,
        n8n_templates: Mapping[str, str] | None = None,
    ) -> None:
        self.kommo = kommo
        self.parameters = parameters
        self.n8n_templates = n8n_templates or {}  # n8n's template names, when not its defaults
        self.ask = ask  # None: nobody to ask (non-interactive)
        self.values: dict[str, Any] = {}  # what goes into the configuration file
        self.pending = 0  # things left to do

    def check_token(self) -> bool:
        try:
            account = self.kommo.account_info()
            user = self.kommo.user(account.current_user_id)
        except KommoError as error:
            say(f"✘ O Kommo recusou o token: {error}", f"✘ Kommo refused the token: {error}")
            return False
        if not user.rights.is_admin:
            say(
                f"✘ {user.name} (o usuário do token) não é administrador: gere o token como administrador "
                "(Configurações -> Integrações -> sua integração privada).",
                f"✘ {user.name} (the token's user) is not an admin: issue the token as an admin "
                "(Settings -> Integrations -> your private integration).",
            )
            return False
        say(f"✔ Token válido; {user.name} é administrador.", f"✔ Token valid; {user.name} is an admin.")
        self.values.update(KommoSubdomain=account.subdomain, KommoAccountId=str(account.id))
        return True

    def fields(self) -> None:
        """The reply field, one field per template variable, and the area field."""
        fields = self.kommo.lead_fields()
        reply = self._field(fields, REPLY_FIELD, int_or_none(self.parameters.get("KommoReplyFieldId")))
        self.values["KommoReplyFieldId"] = reply.id
        configured = json_ids(self.parameters.get("TemplateFields"))
        variables = sorted({name for names in self._templates().values() for name in names})
        template_fields = dict(configured)
        for variable in variables:
            template_fields[variable] = self._field(fields, variable_field(variable), configured.get(variable)).id
        self.values["TemplateFields"] = template_fields
        self._area(fields)

    def _field(self, fields: list[LeadField], needed: NeededField, configured: int | None) -> LeadField:
        by_id = {field.id: field for field in fields}
        if configured in by_id and needed.fits(by_id[configured]):
            return by_id[configured]
        found = next((f for f in fields if f.code == needed.code and needed.fits(f)), None) or next(
            (f for f in fields if f.name.casefold() == needed.name.casefold() and needed.fits(f)), None
        )
        if found is None:
            found = self.kommo.add_lead_field(needed.name, needed.types[0], needed.code)
            fields.append(found)
            say(f"+ Campo criado: {found.name} ({found.id})", f"+ Field created: {found.name} ({found.id})")
        else:
            say(f"✔ Campo encontrado: {found.name} ({found.id})", f"✔ Field found: {found.name} ({found.id})")
        return found

    def _area(self, fields: list[LeadField]) -> None:
        lists = {field.id: field for field in fields if field.type in AREA_TYPES}
        configured = int_or_none(self.parameters.get("LeadAreaFieldId"))
        if configured in lists:
            say(
                f"✔ Campo de área: {lists[configured].name} ({configured})",
                f"✔ Area field: {lists[configured].name} ({configured})",
            )
            return
        if configured is not None:
            say(
                f"✘ O campo {configured} não é uma lista do lead.",
                f"✘ Field {configured} is no list field of the lead.",
            )
        say("Campos de lista (select) do lead, para o campo de área:", "The lead's list (select) fields, for the area:")
        for field in lists.values():
            print(f"    {field.id}: {field.name} [{', '.join(e.value for e in field.enums or [])}]")
        if not lists:
            print("    -")
        chosen = self._asked_id(
            "Id do campo de área (Enter: nenhum, cada vendedor atende todas as áreas)",
            "Area field id (Enter: none, every salesperson serves every area)",
            set(lists),
        )
        self.values["LeadAreaFieldId"] = "" if chosen is None else chosen

    def salesbots(self, given_reply: int | None, given_templates: dict[str, int]) -> None:
        """The reply Salesbot and a Salesbot for every template: the given id, else the configured one, else (for
        a template) the default template Salesbot, each checked in Kommo; asked for when none exists."""
        needs = self._templates()
        configured = {**json_ids(self.parameters.get("TemplateSalesbots")), **given_templates}
        fallback = self._existing(int_or_none(self.parameters.get("KommoTemplateSalesbotId")))
        reply = self._existing(given_reply) or self._existing(int_or_none(self.parameters.get("KommoSalesbotId")))
        own = {name: bot for name, bot in configured.items() if self._exists(bot)}
        missing = [name for name in {**needs, **configured} if name not in own and (name in configured or not fallback)]
        if reply is None or missing:
            self._guide(needs)
        wrong = [configured[name] for name in missing if name in configured]
        if given_reply is not None and reply != given_reply:
            wrong.insert(0, given_reply)
        for bot_id in wrong:
            say(f"✘ O Salesbot {bot_id} não existe no Kommo.", f"✘ Salesbot {bot_id} does not exist in Kommo.")
        reply = reply or self._asked_salesbot("de resposta", "reply")
        if reply is not None:
            self.values["KommoSalesbotId"] = reply
        for name in missing:
            bot = self._asked_salesbot(f"do modelo {name}", f"of the template {name}")
            if bot is not None:
                own[name] = bot
        self.values["TemplateSalesbots"] = own
        if self.parameters.get("KommoTemplateSalesbotId") and fallback is None:
            self.values["KommoTemplateSalesbotId"] = ""  # a Salesbot that no longer exists serves no template
        for name in needs:
            bot = own.get(name, fallback)
            if bot is not None:
                say(f"✔ Salesbot do modelo {name}: {bot}", f"✔ Salesbot of the template {name}: {bot}")
        if reply is not None:
            say(f"✔ Salesbot de resposta: {reply}", f"✔ Reply Salesbot: {reply}")

    def _templates(self) -> dict[str, tuple[str, ...]]:
        return templates({**environment_of(self.parameters), **self.n8n_templates})

    def _asked_salesbot(self, pt: str, en: str) -> int | None:
        """A Salesbot id asked until one exists; None (one more thing to do) when nobody answers."""
        bot = self._asked_id(f"Id do Salesbot {pt} (Enter: depois)", f"Salesbot id {en} (Enter: later)", None)
        if bot is None:
            self.pending += 1
            say(f"… Falta o Salesbot {pt}.", f"… The Salesbot {en} is still missing.")
        return bot

    def _asked_id(self, pt: str, en: str, allowed: set[int] | None) -> int | None:
        """An id asked until it is one of `allowed` (or an existing Salesbot when None); None: left empty."""
        while self.ask is not None:
            answer = self.ask(pt, en).strip()
            if not answer:
                return None
            if answer.isdigit() and (int(answer) in allowed if allowed is not None else self._exists(int(answer))):
                return int(answer)
            say(f"✘ {answer}: não encontrado no Kommo.", f"✘ {answer}: not found in Kommo.")
        return None

    def _exists(self, bot_id: int) -> bool:
        return self.kommo.salesbot(bot_id) is not None

    def _existing(self, bot_id: int | None) -> int | None:
        return bot_id if bot_id is not None and self._exists(bot_id) else None

    def _guide(self, needs: dict[str, tuple[str, ...]]) -> None:
        """The Kommo UI steps for the Salesbots (no documented API creates one), with this account's field ids."""
        reply = self.values["KommoReplyFieldId"]
        fields = self.values["TemplateFields"]
        lines = {
            name: ", ".join(f"{v} = {{{{lead.cf.{fields[v]}}}}}" for v in variables)
            for name, variables in needs.items()
        }
        print(
            "\n".join(
                [
                    "",
                    "No Kommo (a API não cria Salesbots): Configurações -> Ferramentas de comunicação -> Salesbots.",
                    "1. Salesbot de resposta: um único passo Mensagem com o texto {{lead.cf." + f"{reply}" + "}}",
                    "   e nada mais. Sem gatilho: não o coloque em nenhuma etapa do funil (o serviço o inicia pela",
                    "   API).",
                    "2. Um Salesbot por modelo de WhatsApp aprovado, cada um com um único passo Mensagem que envia o",
                    "   modelo (em Mensagem, escolha o modelo na lista), sem gatilho. Variáveis do modelo:",
                    *(f"   - {name}: {variables}" for name, variables in lines.items()),
                    "3. O id de um Salesbot: abra a lista de Salesbots, abra as ferramentas do desenvolvedor (F12),",
                    '   inspecione o bot na lista: o id está em data-id="36143" (ou id="list_item_36143").',
                    "",
                    "In Kommo (the API cannot create Salesbots): Settings -> Communication tools -> Salesbots.",
                    "1. The reply Salesbot: one Message step whose text is {{lead.cf." + f"{reply}" + "}}",
                    "   and nothing else. No trigger: put it on no pipeline stage (the service starts it through the",
                    "   API).",
                    "2. One Salesbot per approved WhatsApp template, each with one Message step sending the template",
                    "   (in Message, pick the template from the list), no trigger. The template's variables:",
                    *(f"   - {name}: {variables}" for name, variables in lines.items()),
                    "3. A Salesbot's id: open the Salesbots list, open the browser's developer tools (F12), inspect",
                    '   the bot in the list: its id is in data-id="36143" (or id="list_item_36143").',
                    "",
                ]
            ),
            flush=True,
        )

    def webhook(self, url: str) -> None:
        """Subscribe the service's webhook URL to the events the intake handles, unless it already is."""
        hooks = [WebhookSubscription.model_validate(hook) for hook in self.kommo.webhooks()]
        hook = next((hook for hook in hooks if hook.destination == url), None)
        if hook is None or not set(WEBHOOK_EVENTS) <= set(hook.settings):
            events = sorted(set(WEBHOOK_EVENTS) | set(hook.settings if hook else []))  # the team's extra events stay
            hook = self.kommo.subscribe_webhook(url, events)
            say(f"+ Webhook inscrito: {masked(url)}", f"+ Webhook subscribed: {masked(url)}")
        else:
            say(f"✔ Webhook já inscrito: {masked(url)}", f"✔ Webhook already subscribed: {masked(url)}")
        if hook.disabled:
            self.pending += 1
            say(
                "✘ O Kommo desativou este webhook: reative-o em Configurações -> Integrações -> Web hooks.",
                "✘ Kommo disabled this webhook: re-enable it in Settings -> Integrations -> Web hooks.",
            )
        self.values["WebhookBaseUrl"] = webhook_base(url)


def _template_salesbot(text: str) -> tuple[str, int]:
    name, _, bot = text.partition("=")
    if not name or not bot.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: write NAME=ID, e.g. boas_vindas=4513")
    return name, int(bot)


def _asker(pt: str, en: str) -> str:
    return input(f"{pt} / {en}: ")


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", help="local, dev or prod (default: the file's Stage, else local)")
    parser.add_argument("--config", help="the configuration file (default: CONFIG, else config/<stage>.toml)")
    parser.add_argument("--subdomain", help="the Kommo subdomain (default: KOMMO_SUBDOMAIN)")
    parser.add_argument("--token", help="the long-lived token (default: KOMMO_LONG_LIVED_TOKEN; never stored)")
    parser.add_argument("--salesbot-id", type=int, help="the reply Salesbot's id")
    parser.add_argument("--template-salesbot", type=_template_salesbot, action="append", default=[], metavar="NAME=ID")
    parser.add_argument("--area-field-id", type=int, help="the area field (a select field of the lead)")
    parser.add_argument("--webhook-url", help="after the deploy: the stack's KommoWebhookUrl, with the token")
    parser.add_argument("--no-input", action="store_true", help="ask nothing (what is missing stays to do)")
    args = parser.parse_args(argv)

    path = config_file(args.stage, args.config, environ)
    stage = file_stage(path, args.stage)
    parameters = parameters_of(path, stage)
    if args.area_field_id is not None:
        parameters["LeadAreaFieldId"] = str(args.area_field_id)
    interactive = not args.no_input and sys.stdin.isatty()
    subdomain = args.subdomain or environ.get("KOMMO_SUBDOMAIN") or parameters.get("KommoSubdomain", "")
    token = (
        args.token
        or environ.get("KOMMO_LONG_LIVED_TOKEN")
        or (LOCAL_SECRETS["KOMMO_LONG_LIVED_TOKEN"] if stage == "local" else "")
    )
    if not token and interactive:
        token = getpass.getpass("Token de longa duração do Kommo / Kommo long-lived token: ")
    if not subdomain or not token:
        say(
            "✘ Informe o subdomínio e o token (--subdomain/--token ou KOMMO_SUBDOMAIN/KOMMO_LONG_LIVED_TOKEN).",
            "✘ Give the subdomain and the token (--subdomain/--token or KOMMO_SUBDOMAIN/KOMMO_LONG_LIVED_TOKEN).",
        )
        return 1
    n8n_templates = {name: environ[name] for name in N8N_TEMPLATES if environ.get(name)}
    setup = Setup(
        kommo_for(stage, subdomain, token, environ), parameters, _asker if interactive else None, n8n_templates
    )
    if not setup.check_token():
        return 1
    setup.fields()
    setup.salesbots(args.salesbot_id, dict(args.template_salesbot))
    if args.webhook_url:
        setup.webhook(args.webhook_url)
    changed = update_file(path, setup.values)
    if changed:
        say(f"✔ {path} atualizado: {', '.join(changed)}", f"✔ {path} updated: {', '.join(changed)}")
    else:
        say(f"✔ {path}: nada a mudar.", f"✔ {path}: nothing to change.")
    if setup.pending:
        say(
            f"… {setup.pending} pendência(s): rode make setup de novo quando estiverem prontas.",
            f"… {setup.pending} thing(s) left to do: run make setup again once they are ready.",
        )
        return 1
    if not args.webhook_url:
        say(
            "Depois do deploy: make setup com --webhook-url (a saída KommoWebhookUrl, com o token); e make doctor.",
            "After the deploy: make setup with --webhook-url (output KommoWebhookUrl, with the token); make doctor.",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
