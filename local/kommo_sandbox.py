"""A Kommo sandbox: the subset of Kommo's API the service uses, on loopback, recording every request.

OAuth2 with rotating single-use refresh tokens, users (paginated, and one by id), leads with
contacts, contacts, lead PATCH, notes (`common`, `service_message`, `extended_service_message`;
recorded in `notes` with `lead_id`, `note_type`, `params` and `created_by`, the token's user, so tests read
`params["text"]`; each one posts Kommo's `leads[note]` webhook, the `note_lead` event, once the request is answered),
tasks (added open; moved, or completed with a `result`, by `PATCH /api/v4/tasks/<id>`), Salesbot run
(recorded in `salesbot_runs`), the account, a contact's leads (`?with=leads`), the bulk forms
(`GET /api/v4/leads|contacts?filter[id][]=...`, `PATCH /api/v4/leads`, `POST /api/v4/leads/notes`,
several Salesbot runs in one POST: all or none, a 400 naming each refused
position; `refused_leads` makes Kommo refuse changes to some leads),
webhooks (listed with their `disabled` flag; `POST /api/v4/webhooks` subscribes a destination, or updates
its hook), the events feed (`events`; `add_chat_message` adds one), and Kommo's 7 requests/s limit answered
with 429. Empty lists answer 204, like Kommo. One implementation for the tests, the benchmarks and the local run.
Seeded with a fixture account. Tests steer it in process (`users`, `leads`, `webhooks`, ...).

What `make setup` and `make doctor` read and write: the account with `current_user_id` (the token's user,
`token_user_id`, an admin unless a test says otherwise) and `is_helpbot_enabled`; lead custom fields
(`lead_fields`: listed, created by `POST /api/v4/leads/custom_fields`, deleted by
`DELETE /api/v4/leads/custom_fields/<id>`; a lead PATCH may write only fields that exist); the pipelines
with their statuses; Salesbots (`salesbots`: one by id, 204 when absent, and the list). `empty_account()`
is an account before `make setup`: no lead fields, no Salesbots, no webhook; `add_salesbot` and
`add_lead_field` are what a person makes in Kommo's UI (ids apart from the seeded ones).

What the people see, and Kommo's side of a conversation (`/_sandbox/...`, outside the rate limit):
- `GET /_sandbox/requests`: every request, in order;
- `GET /_sandbox/leads`: per lead with activity, the chat as the client sees it (the client's and the
  salespeople's messages, and the assistant's: each Salesbot run shows the text it sends), the notes and
  the tasks; `GET /_sandbox/leads/<id>` one lead; `GET /_sandbox/` the same as a plain HTML page;
- `POST /_sandbox/leads` `{"name", "phone", "area", "responsible_user_id"}`: a lead arrives (a new lead
  and contact, and Kommo's `leads[add]` webhook to `webhook_target`);
- `POST /_sandbox/chat` `{"lead_id", "text", "from": "client" | <salesperson's user id>}`: someone writes
  in the lead's chat (recorded, listed in the events feed, and Kommo's `message[add]` webhook posted); what a
  salesperson types there reaches the client's WhatsApp, so the chat shows it, `/assumir` included;
- `POST /_sandbox/notes` `{"lead_id", "text", "from": <salesperson's user id>}`: a salesperson adds a note on
  the lead (the feed input's "Nota" mode: the client never sees it; Kommo's `leads[note]` webhook posted);
- `POST /_sandbox/faults` `{"status": 503, "seconds": 240, "path_prefix": "/api/"}`: an outage, `fail_for`
  from outside the process (`path_prefix` defaults to "/": every call); 201 with the outage's `until`
  (unix s), 400 naming what is wrong; `DELETE /_sandbox/faults`: `recover()`, Kommo answers again.
- what a person (or Kommo) breaks, for `make doctor` to find: `DELETE /_sandbox/lead_fields/<id>` (a field
  deleted in Kommo's settings), `DELETE /_sandbox/salesbots/<id>` (a Salesbot deleted), `POST
  /_sandbox/webhooks/disabled` (Kommo disabled the webhooks after too many bad answers); 204, or 404.

Faults, for the fault suite (each for requests whose path starts with a prefix):
- `fail_next(prefix, status, times)`: the next `times` requests answer `status` and change nothing;
  with `after_effect=True` Kommo applies each first (the run starts, the note is written, recorded
  as usual) and only then answers `status`: a 5xx for something that happened.
- `hang_next(prefix, seconds, times)`: the next `times` requests are applied, then their answer
  waits `seconds`: past the client's read timeout, the client sees a timeout for a request Kommo
  applied. Other requests are served meanwhile.
- `fail_for(seconds, status=429, prefix="/")`: every matching request answers `status` for
  `seconds` (a 429 storm with Retry-After: 1, or a path's 5xx outage).
`reset()` clears them all, with the record. A recorded request answered by an injected fault has
`injected` true (a fault with a status: not a hang alone), so a checker tells those from Kommo's own
answers, such as its rate limit's 429s.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from local import sandbox_views
from local.kommo_seed import (
    ACCOUNT_ID,
    ADMIN_USER_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    LONG_LIVED_TOKEN,
    REPLY_FIELD_ID,
    REPLY_SALESBOT_ID,
    SUBDOMAIN,
    TEMPLATE_NAME_FIELD_ID,
    chat_message_event,
    lead_field,
    new_contact,
    new_lead,
    salesbot,
    seed_contacts,
    seed_lead_fields,
    seed_leads,
    seed_pipelines,
    seed_salesbots,
    seed_users,
    seed_webhooks,
)
from local.kommo_webhooks import CLIENT_AUTHOR, chat_body, lead_added_body, note_body, salesperson_author
from local.loopback import LoopbackServer, ServedOnLoopback

AUTHORIZATION_CODE = "local-authorization-code"
TOKEN_LIFETIME = 86400
# Ids Kommo gives what is made after the seed, apart from the seeded ones (an empty account's new field is not
# mistaken for the local defaults' reply field)
UI_SALESBOT_IDS, API_FIELD_IDS = 4500, 910000
FIELD_TYPES = {"text", "numeric", "checkbox", "select", "multiselect", "date", "url", "textarea", "radiobutton"}
NOTE_PARAMS = {
    "common": {"text"},
    "service_message": {"service", "text"},
    "extended_service_message": {"service", "text"},
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float
    status: int = 0
    injected: bool = False  # the answer came from an injected fault, not from Kommo's own rules


@dataclass
class Fault:
    """An injected answer for requests whose path starts with `path_prefix`: `status` (0: Kommo's own
    answer), before or after the request takes effect, held `hang_seconds`; for the next request only,
    or for every one until `until` (a unix time)."""

    path_prefix: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    after_effect: bool = False
    hang_seconds: float = 0.0
    until: float = 0.0


@dataclass
class KommoSandbox(ServedOnLoopback):
    """The sandbox's state and HTTP server. `start()` it, use `url`, `stop()` it."""

    port: int = 0
    rate_limit_per_second: int = 7
    users: list[dict[str, Any]] = field(default_factory=seed_users)
    leads: dict[int, dict[str, Any]] = field(default_factory=seed_leads)
    contacts: dict[int, dict[str, Any]] = field(default_factory=seed_contacts)
    webhooks: list[dict[str, Any]] = field(default_factory=seed_webhooks)
    lead_fields: list[dict[str, Any]] = field(default_factory=seed_lead_fields)
    salesbots: dict[int, dict[str, Any]] = field(default_factory=seed_salesbots)
    pipelines: list[dict[str, Any]] = field(default_factory=seed_pipelines)
    token_user_id: int = ADMIN_USER_ID  # the user the long-lived token acts as
    helpbot_enabled: bool = False  # Kommo's own AI (the account's `is_helpbot_enabled`)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    salesbot_runs: list[dict[str, Any]] = field(default_factory=list)
    chat: list[dict[str, Any]] = field(default_factory=list)
    webhook_target: str = ""  # where Kommo's webhooks go (the local run's intake URL); "": nowhere
    refused_leads: set[int] = field(default_factory=set)  # leads whose changes Kommo refuses (400 naming them)
    access_tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    refresh_calls: int = 0
    _faults: list[Fault] = field(default_factory=list)
    _outbox: list[str] = field(default_factory=list)  # webhooks of the request being answered, posted after it
    _recent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LoopbackServer | None = None

    # ------------------------------------------------------------------ control
    def _http(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        status, extra, answer = self.handle(method, target, headers, raw)
        if isinstance(answer, str):
            return status, {"content-type": "text/html; charset=utf-8", **extra}, answer.encode()
        content_type = "application/hal+json" if status < 400 else "application/problem+json"
        return status, {"content-type": content_type, **extra}, b"" if answer is None else json.dumps(answer).encode()

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        *,
        after_effect: bool = False,
    ) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` with `status`; with
        `after_effect`, each request takes effect first."""
        self._inject([Fault(path_prefix, status, headers or {}, after_effect) for _ in range(times)])

    def hang_next(self, path_prefix: str, seconds: float, times: int = 1) -> None:
        """Apply the next `times` matching requests, then hold each answer `seconds`."""
        self._inject([Fault(path_prefix, after_effect=True, hang_seconds=seconds) for _ in range(times)])

    def fail_for(
        self, seconds: float, status: int = 429, path_prefix: str = "/", headers: dict[str, str] | None = None
    ) -> None:
        """Answer every matching request with `status` for `seconds` (429s carry Retry-After: 1)."""
        default = {"Retry-After": "1"} if status == 429 else {}
        self._inject([Fault(path_prefix, status, headers or default, until=time.time() + seconds)])

    def recover(self) -> None:
        """Kommo answers again: every injected fault is dropped."""
        with self._lock:
            self._faults.clear()

    def add_chat_message(self, contact_id: int, message_id: str, created_at: int | None = None) -> None:
        """An incoming chat message in the events feed (whether or not its webhook is delivered)."""
        with self._lock:
            self.events.append(chat_message_event(contact_id, message_id, created_at or int(time.time())))

    def empty_account(self) -> None:
        """The account before `make setup`: no lead fields, no Salesbots, no webhook (users, leads and
        pipelines stay)."""
        with self._lock:
            self.lead_fields, self.salesbots, self.webhooks = [], {}, []

    def add_salesbot(self, name: str, type_functionality: str = "regular") -> int:
        """A Salesbot made in Kommo's UI (the API cannot make one); returns its id."""
        with self._lock:
            bot_id = max([*self.salesbots, UI_SALESBOT_IDS]) + 1
            self.salesbots[bot_id] = salesbot(bot_id, name, type_functionality)
        return bot_id

    def add_lead_field(self, name: str, field_type: str, values: list[str] | None = None) -> int:
        """A lead field made in Kommo's settings (a list field with its `values`); returns its id."""
        with self._lock:
            _, _, answer = self._add_lead_fields(
                [{"name": name, "type": field_type, "enums": [{"value": value} for value in values or []]}]
            )
        return int(answer["_embedded"]["custom_fields"][0]["id"])

    def delete_lead_field(self, field_id: int) -> bool:
        """A lead field deleted in Kommo's settings; False when there was none."""
        with self._lock:
            return self._delete_field(field_id)

    def remove_salesbot(self, bot_id: int) -> bool:
        """A Salesbot deleted in Kommo's UI; False when there was none."""
        with self._lock:
            return self.salesbots.pop(bot_id, None) is not None

    def disable_webhooks(self) -> None:
        """Kommo disables the account's webhooks (after too many bad answers, until re-enabled in the UI)."""
        with self._lock:
            for hook in self.webhooks:
                hook["disabled"] = True

    def _inject(self, faults: list[Fault]) -> None:
        with self._lock:
            self._faults.extend(faults)

    def issue_pair(self, *, expires_in: int = TOKEN_LIFETIME) -> dict[str, Any]:
        """A fresh access/refresh pair, as the token endpoint gives it."""
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.access_tokens[access] = time.time() + expires_in
        self.refresh_tokens.add(refresh)
        return {"token_type": "Bearer", "expires_in": expires_in, "access_token": access, "refresh_token": refresh}

    def calls(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        """Recorded requests of one kind, in arrival order."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    def reset(self) -> None:
        """Back to the seeded account, no record, no tokens."""
        with self._lock:
            self.users, self.leads, self.contacts = seed_users(), seed_leads(), seed_contacts()
            self.webhooks = seed_webhooks()
            self.lead_fields, self.salesbots, self.pipelines = seed_lead_fields(), seed_salesbots(), seed_pipelines()
            self.token_user_id, self.helpbot_enabled = ADMIN_USER_ID, False
            collections = (
                self.requests,
                self.notes,
                self.tasks,
                self.salesbot_runs,
                self.chat,
                self.events,
                self._faults,
                self._outbox,
            )
            for collection in collections:
                collection.clear()
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            self._recent.clear()
            self.refresh_calls = 0

    # ------------------------------------------------------------------ behaviour
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        url = urlsplit(target)
        query = _query(url.query)
        body = json.loads(raw) if raw else None
        record = RecordedRequest(method, url.path, query, body, time.time())
        if url.path.startswith("/_sandbox/"):
            return self._control(method, url.path.removeprefix("/_sandbox/").strip("/"), body)
        with self._lock:
            self.requests.append(record)
            status, extra, answer, hang_seconds = self._answer(record, headers)
            record.status = status
            webhooks, self._outbox = self._outbox, []
        for body in webhooks:  # outside the lock: the service may call Kommo while it takes them
            self._post_webhook(body)
        time.sleep(hang_seconds)  # outside the lock: other requests are served meanwhile
        return status, extra, answer

    def _answer(self, record: RecordedRequest, headers: dict[str, str]) -> tuple[int, dict[str, str], Any, float]:
        method, path, query, body = record.method, record.path, record.query, record.body
        now = time.time()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit_per_second:
            return 429, {"Retry-After": "1"}, _problem(429, "Too Many Requests"), 0.0
        self._recent.append(now)
        fault = self._take_fault(path, now)
        record.injected = bool(fault and fault.status)
        if fault and not fault.after_effect:
            return fault.status, fault.headers, _problem(fault.status, "Injected failure"), 0.0
        status, extra, answer = self._apply(method, path, query, headers, body)
        if fault and fault.status:
            return fault.status, fault.headers, _problem(fault.status, "Injected failure"), fault.hang_seconds
        return status, extra, answer, fault.hang_seconds if fault else 0.0

    def _take_fault(self, path: str, now: float) -> Fault | None:
        self._faults[:] = [fault for fault in self._faults if not fault.until or fault.until > now]
        fault = next((fault for fault in self._faults if path.startswith(fault.path_prefix)), None)
        if fault and not fault.until:
            self._faults.remove(fault)  # a one-off: the next request only
        return fault

    def _apply(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Any:
        if path == "/oauth2/access_token":
            return self._token(body or {})
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token != LONG_LIVED_TOKEN and self.access_tokens.get(token, 0) < time.time():
            return 401, {}, _problem(401, "Unauthorized")
        return self._api(method, path, query, body)

    def _token(self, body: dict[str, Any]) -> Any:
        if body.get("client_id") != CLIENT_ID or body.get("client_secret") != CLIENT_SECRET:
            return 400, {}, {"hint": "Client authentication failed", **_problem(400, "invalid_client")}
        grant = body.get("grant_type")
        if grant == "authorization_code" and body.get("code") == AUTHORIZATION_CODE:
            return 200, {}, self.issue_pair()
        if grant == "refresh_token" and body.get("refresh_token") in self.refresh_tokens:
            self.refresh_calls += 1
            self.refresh_tokens.discard(body["refresh_token"])  # single use
            return 200, {}, self.issue_pair()
        return 400, {}, {"hint": "Token has been revoked", **_problem(400, "invalid_grant")}

    def _api(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/api/v4/users":
            return self._page(path, "users", self.users, query)
        if method == "GET" and parts[:3] == ["api", "v4", "users"] and len(parts) == 4 and parts[3].isdigit():
            user = next((user for user in self.users if user["id"] == int(parts[3])), None)
            return (200, {}, user) if user else (404, {}, _problem(404, "Not Found"))
        if method == "GET" and path == "/api/v4/webhooks":
            if not self.webhooks:
                return 204, {}, None
            return 200, {}, {"_total_items": len(self.webhooks), "_embedded": {"webhooks": self.webhooks}}
        if method == "GET" and path == "/api/v4/events":
            return self._page(path, "events", self._events(query), query)
        if method == "GET" and path in ("/api/v4/leads", "/api/v4/contacts"):
            return self._listed(path, query)
        if method == "PATCH" and path == "/api/v4/leads":
            return self._patch_leads(body)
        if method == "POST" and path == "/api/v4/leads/notes":
            return self._add_notes(body)
        if parts[:3] == ["api", "v4", "leads"] and len(parts) >= 4 and parts[3].isdigit():
            lead = self.leads.get(int(parts[3]))
            if lead is None:
                return 404, {}, _problem(404, "Not Found")
            if method == "GET" and len(parts) == 4:
                return 200, {}, lead
            if method == "PATCH" and len(parts) == 4:
                return self._patch_leads([{**body, "id": lead["id"]}], one=True)
            if method == "POST" and parts[4:] == ["notes"]:
                return self._add_notes([{**body[0], "entity_id": lead["id"]}])
        if method == "GET" and path == "/api/v4/account":
            return 200, {}, self._account()
        if parts[:3] in (["api", "v4", "bots"], ["api", "v4", "webhooks"], ["api", "v4", "leads"]):
            answer = self._setup_api(method, path, query, body)
            if answer is not None:
                return answer
        if method == "GET" and parts[:3] == ["api", "v4", "contacts"] and len(parts) == 4 and parts[3].isdigit():
            contact = self.contacts.get(int(parts[3]))
            if contact and query.get("with") == "leads":
                return 200, {}, {**contact, "_embedded": {"leads": self._leads_of(contact["id"])}}
            return (200, {}, contact) if contact else (404, {}, _problem(404, "Not Found"))
        if method == "POST" and path == "/api/v4/tasks":
            task_id = 80000 + len(self.tasks)
            self.tasks.append({"id": task_id, "is_completed": False, **body[0]})
            return 200, {}, {"_embedded": {"tasks": [{"id": task_id}]}}
        if method == "PATCH" and parts[:3] == ["api", "v4", "tasks"] and len(parts) == 4 and parts[3].isdigit():
            task = next((task for task in self.tasks if task["id"] == int(parts[3])), None)
            if task is None:
                return 404, {}, _problem(404, "Not Found")
            task.update(body)  # e.g. `complete_till`, or `is_completed` with its `result`
            return 200, {}, {"id": task["id"], "updated_at": int(time.time())}
        if method == "POST" and path == "/api/v2/salesbot/run":
            unknown = {index: "entity_id" for index, run in enumerate(body) if int(run["entity_id"]) not in self.leads}
            if unknown:
                return _invalid(unknown)
            for run in body:
                lead = self.leads.get(int(run["entity_id"]))
                fields = list((lead or {}).get("custom_fields_values") or [])
                self.salesbot_runs.append({**run, "lead_fields": fields})
                if lead:
                    self._say(lead, "assistant", _salesbot_text(int(run["bot_id"]), fields))
            return 202, {}, {"success": True}
        return 404, {}, _problem(404, "Not Found")

    def _account(self) -> dict[str, Any]:
        return {
            "id": ACCOUNT_ID,
            "name": "Vendas Demo",
            "subdomain": SUBDOMAIN,
            "current_user_id": self.token_user_id,
            "is_helpbot_enabled": self.helpbot_enabled,
        }

    def _setup_api(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        """What `make setup` and `make doctor` call: lead fields, pipelines, Salesbots, webhook subscription.
        None: not one of these."""
        parts = path.strip("/").split("/")
        if path == "/api/v4/leads/custom_fields" and method == "GET":
            return self._page(path, "custom_fields", self.lead_fields, query)
        if path == "/api/v4/leads/custom_fields" and method == "POST":
            return self._add_lead_fields(body)
        if parts[:4] == ["api", "v4", "leads", "custom_fields"] and len(parts) == 5 and method == "DELETE":
            return (204, {}, None) if self._delete_field(int(parts[4])) else (404, {}, _problem(404, "Not Found"))
        if path == "/api/v4/leads/pipelines" and method == "GET":
            return 200, {}, {"_total_items": len(self.pipelines), "_embedded": {"pipelines": self.pipelines}}
        if path == "/api/v4/bots" and method == "GET":
            return self._page(path, "items", list(self.salesbots.values()), query)
        if parts[:3] == ["api", "v4", "bots"] and len(parts) == 4 and parts[3].isdigit() and method == "GET":
            bot = self.salesbots.get(int(parts[3]))
            return (200, {}, bot) if bot else (204, {}, None)  # Kommo: 204 when the Salesbot does not exist
        if path == "/api/v4/webhooks" and method == "POST":
            return self._subscribe(body)
        return None

    def _add_lead_fields(self, fields: Any) -> Any:
        """New lead fields, all or none: a field without a name, of an unknown type, or with a code already
        taken refuses the request."""
        problems = {}
        codes = {lead_field.get("code") for lead_field in self.lead_fields} - {None}
        for index, new in enumerate(fields if isinstance(fields, list) else [None]):
            if not isinstance(new, dict) or not new.get("name"):
                problems[index] = "name"
            elif new.get("type") not in FIELD_TYPES:
                problems[index] = "type"
            elif new.get("code") in codes:
                problems[index] = "code"
        if problems:
            return _invalid(problems)
        added = []
        for new in fields:
            field_id = max([*(lead_field["id"] for lead_field in self.lead_fields), API_FIELD_IDS]) + 1
            enums = [
                {"id": field_id * 10 + i, "value": e["value"], "sort": i} for i, e in enumerate(new.get("enums", []))
            ]
            self.lead_fields.append(lead_field(field_id, new["name"], new["type"], new.get("code"), enums or None))
            added.append(self.lead_fields[-1])
        return 200, {}, {"_total_items": len(added), "_embedded": {"custom_fields": added}}

    def _delete_field(self, field_id: int) -> bool:
        kept = [lead_field for lead_field in self.lead_fields if lead_field["id"] != field_id]
        deleted, self.lead_fields = len(kept) < len(self.lead_fields), kept
        return deleted

    def _subscribe(self, body: Any) -> Any:
        """`{"destination", "settings"}`: a new hook, or the destination's hook updated (its `disabled` flag
        stays: a disabled hook is re-enabled in Kommo's UI)."""
        destination = body.get("destination") if isinstance(body, dict) else None
        events = body.get("settings") if isinstance(body, dict) else None
        if not isinstance(destination, str) or not destination.startswith(("http://", "https://")):
            return _invalid({0: "destination"})
        if not isinstance(events, list) or not events or not all(isinstance(event, str) for event in events):
            return _invalid({0: "settings"})
        hook = next((hook for hook in self.webhooks if hook["destination"] == destination), None)
        if hook is None:
            hook = {"id": 100500 + len(self.webhooks), "destination": destination, "disabled": False, "sort": 1}
            hook.update(account_id=ACCOUNT_ID, created_by=self.token_user_id, created_at=int(time.time()))
            self.webhooks.append(hook)
        hook.update(settings=list(events), updated_at=int(time.time()))
        return 200, {}, hook

    # ------------------------------------------------------------------ people and views
    def _control(self, method: str, path: str, body: Any) -> tuple[int, dict[str, str], Any]:
        if method == "GET" and path == "requests":
            return 200, {}, [vars(r) for r in self.requests]
        if method == "GET" and path in ("", "leads"):
            with self._lock:
                views = sandbox_views.lead_views(self)
            return 200, {}, sandbox_views.html_page(views) if path == "" else views
        if method == "GET" and path.startswith("leads/") and path[6:].isdigit():
            with self._lock:
                view = next((v for v in sandbox_views.lead_views(self) if v["lead_id"] == int(path[6:])), None)
            return (200, {}, view) if view else (404, {}, _problem(404, "Not Found"))
        broken = self._break(method, path)
        if broken is not None:
            return broken
        fields = body if isinstance(body, dict) else {}
        if method == "POST" and path == "faults":
            return self._outage(fields)
        if method == "DELETE" and path == "faults":
            self.recover()
            return 204, {}, None
        try:
            if method == "POST" and path == "leads":
                return self.lead_arrives(
                    str(fields["name"]), str(fields["phone"]), str(fields["area"]), int(fields["responsible_user_id"])
                )
            if method == "POST" and path == "chat":
                return self.someone_writes(
                    int(fields.get("lead_id", 0)), str(fields.get("text", "")), fields.get("from")
                )
            if method == "POST" and path == "notes":
                return self.someone_notes(
                    int(fields.get("lead_id", 0)), str(fields.get("text", "")), fields.get("from")
                )
        except (KeyError, TypeError, ValueError):
            return 400, {}, _problem(400, "name, phone, area and responsible_user_id are required")
        return 404, {}, _problem(404, "Not Found")

    def _break(self, method: str, path: str) -> tuple[int, dict[str, str], Any] | None:
        """`DELETE /_sandbox/lead_fields/<id>`, `DELETE /_sandbox/salesbots/<id>`, `POST /_sandbox/webhooks/disabled`:
        None for another path."""
        kind, _, item = path.partition("/")
        if method == "DELETE" and kind in ("lead_fields", "salesbots") and item.isdigit():
            removed = self.delete_lead_field(int(item)) if kind == "lead_fields" else self.remove_salesbot(int(item))
            return (204, {}, None) if removed else (404, {}, _problem(404, "Not Found"))
        if method == "POST" and path == "webhooks/disabled":
            self.disable_webhooks()
            return 204, {}, None
        return None

    def _outage(self, fields: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """`POST /_sandbox/faults`: every call under `path_prefix` answers `status` for `seconds`."""
        status, seconds, prefix = fields.get("status"), fields.get("seconds"), fields.get("path_prefix", "/")
        if type(status) is not int or not 400 <= status <= 599:
            return 400, {}, _problem(400, "status must be an HTTP error status (400-599)")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= 86400:
            return 400, {}, _problem(400, "seconds must be a number of seconds, more than 0 and at most 86400")
        if not isinstance(prefix, str) or not prefix.startswith("/"):
            return 400, {}, _problem(400, "path_prefix must be a path starting with /")
        self.fail_for(seconds, status, prefix)
        return 201, {}, {"status": status, "path_prefix": prefix, "until": time.time() + seconds}

    def lead_arrives(self, name: str, phone: str, area: str, responsible_user_id: int) -> Any:
        """A new lead with its contact, as a site form creates it; Kommo posts `leads[add]`."""
        with self._lock:
            lead_id = max(self.leads) + 1
            contact_id = max(self.contacts) + 1
            self.contacts[contact_id] = new_contact(contact_id, name, phone)
            self.leads[lead_id] = lead = new_lead(lead_id, contact_id, name, area, int(responsible_user_id))
        status = self._post_webhook(lead_added_body(lead))
        return 201, {}, {"lead_id": lead_id, "contact_id": contact_id, "webhook_status": status}

    def someone_writes(self, lead_id: int, text: str, author: Any) -> Any:
        """The client (`author` "client") or a salesperson (a user id) writes in the lead's chat; Kommo
        posts `message[add]` (incoming or outgoing) and lists a client's message in the events feed."""
        lead = self.leads.get(lead_id)
        user = next((u for u in self.users if str(u["id"]) == str(author)), None)
        if lead is None or not text or (author != "client" and user is None):
            return 400, {}, _problem(400, "lead_id, text and from (client or a user id) are required")
        contact_id = lead["_embedded"]["contacts"][0]["id"]
        message_id = secrets.token_hex(8)
        with self._lock:
            if author == "client":
                self.events.append(chat_message_event(contact_id, message_id, int(time.time())))
            self._say(lead, "client" if user is None else user["name"], text)
        direction, who = (
            ("incoming", CLIENT_AUTHOR) if user is None else ("outgoing", salesperson_author(user["id"], user["name"]))
        )
        status = self._post_webhook(chat_body(message_id, text, direction, who, lead=lead_id, contact=contact_id))
        return 201, {}, {"message_id": message_id, "webhook_status": status}

    def someone_notes(self, lead_id: int, text: str, author: Any) -> Any:
        """A salesperson (a user id) adds a note on the lead: recorded, and Kommo posts `leads[note]`."""
        user = next((u for u in self.users if str(u["id"]) == str(author)), None)
        if lead_id not in self.leads or not text or user is None:
            return 400, {}, _problem(400, "lead_id, text and from (a user id) are required")
        with self._lock:
            note = self._note(lead_id, {"note_type": "common", "params": {"text": text}}, user["id"])
        status = self._post_webhook(_note_webhook(note))
        return 201, {}, {"note_id": note["id"], "webhook_status": status}

    def _say(self, lead: dict[str, Any], who: str, text: str) -> None:
        self.chat.append({"lead_id": lead["id"], "at": time.time(), "from": who, "text": text})

    def _post_webhook(self, body: str) -> int:
        """Post a Kommo webhook body to `webhook_target`, like Kommo (form-urlencoded); its status, 0 if none."""
        if not self.webhook_target:
            return 0
        import requests

        headers = {"content-type": "application/x-www-form-urlencoded", "user-agent": "amoCRM-Webhooks/3.0"}
        return requests.post(self.webhook_target, data=body.encode(), headers=headers, timeout=5).status_code

    def _page(self, path: str, key: str, items: list[dict[str, Any]], query: dict[str, str]) -> Any:
        """One page of a list, like Kommo: a full page links to the next, which may answer 204."""
        page, limit = int(query.get("page", 1)), min(int(query.get("limit", 50)), 250)
        chunk = items[(page - 1) * limit : page * limit]
        if not chunk:
            return 204, {}, None
        href = f"{self.url}{path}?{urlencode({**query, 'limit': limit, 'page': page})}"
        links: dict[str, Any] = {"self": {"href": href}}
        if len(chunk) == limit:
            links["next"] = {"href": f"{self.url}{path}?{urlencode({**query, 'limit': limit, 'page': page + 1})}"}
        return 200, {}, {"_page": page, "_links": links, "_embedded": {key: chunk}}

    def _leads_of(self, contact_id: int) -> list[dict[str, int]]:
        return [
            {"id": lead_id}
            for lead_id, lead in self.leads.items()
            if any(c["id"] == contact_id for c in lead.get("_embedded", {}).get("contacts", []))
        ]

    def _events(self, query: dict[str, str]) -> list[dict[str, Any]]:
        kind, since = query.get("filter[type][]"), int(query.get("filter[created_at][from]", 0))
        return [e for e in self.events if e["created_at"] >= since and kind in (None, e["type"])]

    def _listed(self, path: str, query: dict[str, str]) -> Any:
        """`GET /api/v4/leads|contacts?filter[id][]=...`: the entities found (204 when none)."""
        ids = [int(value) for value in query.get("filter[id][]", "").split(",") if value.isdigit()]
        store = self.leads if path.endswith("leads") else self.contacts
        found = [store[entity_id] for entity_id in ids if entity_id in store]
        if not found:
            return 204, {}, None
        return 200, {}, {"_embedded": {path.rsplit("/", 1)[-1]: found}}

    def _add_notes(self, notes: list[dict[str, Any]]) -> Any:
        """Notes on leads (`entity_id`), all or none: a note that fails validation refuses the request."""
        problems = {}
        for index, note in enumerate(notes):
            wanted = NOTE_PARAMS.get(note.get("note_type", ""))
            if wanted is None:
                problems[index] = "note_type"
            elif not wanted <= {key for key, value in (note.get("params") or {}).items() if value}:
                problems[index] = "params"
            elif int(note.get("entity_id", 0)) not in self.leads:
                problems[index] = "entity_id"
        if problems:
            return _invalid(problems)
        answer = []
        for index, note in enumerate(notes):
            added = self._note(int(note["entity_id"]), note, self.token_user_id)
            self._outbox.append(_note_webhook(added))
            answer.append({"id": added["id"], "entity_id": added["lead_id"], "request_id": str(index)})
        return 200, {}, {"_embedded": {"notes": answer}}

    def _note(self, lead_id: int, note: dict[str, Any], created_by: int) -> dict[str, Any]:
        """A note recorded on a lead (under the lock)."""
        note_id, now = 70000 + len(self.notes), int(time.time())
        self.notes.append({"id": note_id, "lead_id": lead_id, "created_at": now, "created_by": created_by, **note})
        return self.notes[-1]

    def _patch_leads(self, bodies: list[dict[str, Any]], one: bool = False) -> Any:
        """Lead changes (`id`), all or none: a lead that fails validation refuses the request."""
        problems = {}
        for index, body in enumerate(bodies):
            if int(body.get("id", 0)) not in self.leads or int(body["id"]) in self.refused_leads:
                problems[index] = "id"
            for position, value in enumerate(body.get("custom_fields_values", [])):
                if value.get("field_id") not in {lead_field["id"] for lead_field in self.lead_fields}:
                    problems[index] = f"custom_fields_values.{position}.field_id"
        if problems:
            return _invalid(problems)
        for body in bodies:
            lead = self.leads[int(body["id"])]
            for key in ("status_id", "responsible_user_id", "pipeline_id"):
                if key in body:
                    lead[key] = body[key]
            for value in body.get("custom_fields_values", []):
                fields = [f for f in (lead.get("custom_fields_values") or []) if f["field_id"] != value["field_id"]]
                lead["custom_fields_values"] = [*fields, {"field_id": value["field_id"], "values": value["values"]}]
        changed = [{"id": int(body["id"]), "updated_at": int(time.time())} for body in bodies]
        return 200, {}, changed[0] if one else {"_embedded": {"leads": changed}}


def _note_webhook(note: dict[str, Any]) -> str:
    return note_body(
        note["id"],
        note["params"]["text"],
        lead=note["lead_id"],
        created_by=note["created_by"],
        note_type=note["note_type"],
        created_at=note["created_at"],
    )


def _salesbot_text(bot_id: int, fields: list[dict[str, Any]]) -> str:
    """What the client receives from a Salesbot run: the reply field's text, or a template and its values."""
    values = {f["field_id"]: str(f["values"][0]["value"]) for f in fields if f.get("values")}
    if bot_id == REPLY_SALESBOT_ID:
        return values.get(REPLY_FIELD_ID, "")
    return f"[modelo de WhatsApp (Salesbot {bot_id}), nome: {values.get(TEMPLATE_NAME_FIELD_ID, '')}]"


def _invalid(problems: dict[int, str]) -> tuple[int, dict[str, str], Any]:
    """Kommo's 400 for a request that fails validation: per refused item, its position and field."""
    detail = "The value you have provided is not supported"
    errors = [
        {"request_id": str(index), "errors": [{"code": "NotSupportedChoice", "path": path, "detail": detail}]}
        for index, path in sorted(problems.items())
    ]
    problem = {**_problem(400, "Bad Request"), "detail": "Request validation failed"}
    return 400, {}, {**problem, "validation-errors": errors}


def _query(raw: str) -> dict[str, str]:
    """A request's query; a repeated key (`filter[id][]`) keeps all its values, joined by commas."""
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw):
        query[key] = f"{query[key]},{value}" if key in query else value
    return query


def _problem(status: int, title: str) -> dict[str, Any]:
    return {"title": title, "type": "https://httpstatus.es/" + str(status), "status": status, "detail": title}
