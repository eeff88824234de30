"""A Kommo sandbox: the subset of Kommo's API the service uses, on loopback, recording every request.

OAuth2 with rotating single-use refresh tokens, users with pagination and 204, leads with contacts,
contacts, lead PATCH, notes, tasks, Salesbot run, and Kommo's 7 requests/s limit answered with 429.
One implementation for the tests, the benchmarks and the local run. Seeded with a fixture account.
Tests steer it in process (`fail_next`, `users`, ...); `GET /_sandbox/requests` shows the record.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.kommo_seed import (
    CLIENT_ID,
    CLIENT_SECRET,
    LEAD_FIELD_IDS,
    LONG_LIVED_TOKEN,
    seed_contacts,
    seed_leads,
    seed_users,
)
from local.loopback import LoopbackServer, ServedOnLoopback

AUTHORIZATION_CODE = "local-authorization-code"
TOKEN_LIFETIME = 86400


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float
    status: int = 0


@dataclass
class KommoSandbox(ServedOnLoopback):
    """The sandbox's state and HTTP server. `start()` it, use `url`, `stop()` it."""

    port: int = 0
    rate_limit_per_second: int = 7
    users: list[dict[str, Any]] = field(default_factory=seed_users)
    leads: dict[int, dict[str, Any]] = field(default_factory=seed_leads)
    contacts: dict[int, dict[str, Any]] = field(default_factory=seed_contacts)
    requests: list[RecordedRequest] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    salesbot_runs: list[dict[str, Any]] = field(default_factory=list)
    access_tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    refresh_calls: int = 0
    _failures: deque[tuple[str, int, dict[str, str]]] = field(default_factory=deque)
    _recent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LoopbackServer | None = None

    # ------------------------------------------------------------------ control
    def _http(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        status, extra, answer = self.handle(method, target, headers, raw)
        content_type = "application/hal+json" if status < 400 else "application/problem+json"
        return status, {"content-type": content_type, **extra}, b"" if answer is None else json.dumps(answer).encode()

    def fail_next(self, path_prefix: str, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` with `status`."""
        with self._lock:
            self._failures.extend([(path_prefix, status, headers or {})] * times)

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
            for collection in (self.requests, self.notes, self.tasks, self.salesbot_runs):
                collection.clear()
            self.access_tokens.clear()
            self.refresh_tokens.clear()
            self._failures.clear()
            self._recent.clear()
            self.refresh_calls = 0

    # ------------------------------------------------------------------ behaviour
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        url = urlsplit(target)
        query = dict(parse_qsl(url.query))
        body = json.loads(raw) if raw else None
        record = RecordedRequest(method, url.path, query, body, time.time())
        if url.path.startswith("/_sandbox/"):
            return 200, {}, [vars(r) for r in self.requests]
        with self._lock:
            self.requests.append(record)
            status, extra, answer = self._answer(method, url.path, query, headers, body)
            record.status = status
        return status, extra, answer

    def _answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any) -> Any:
        now = time.time()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit_per_second:
            return 429, {"Retry-After": "1"}, _problem(429, "Too Many Requests")
        self._recent.append(now)
        for index, (prefix, status, extra) in enumerate(self._failures):
            if path.startswith(prefix):
                del self._failures[index]
                return status, extra, _problem(status, "Injected failure")
        if path == "/oauth2/access_token":
            return self._token(body or {})
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token != LONG_LIVED_TOKEN and self.access_tokens.get(token, 0) < now:
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
            return self._users_page(int(query.get("page", 1)), min(int(query.get("limit", 50)), 250))
        if parts[:3] == ["api", "v4", "leads"] and len(parts) >= 4 and parts[3].isdigit():
            lead = self.leads.get(int(parts[3]))
            if lead is None:
                return 404, {}, _problem(404, "Not Found")
            if method == "GET" and len(parts) == 4:
                return 200, {}, lead
            if method == "PATCH" and len(parts) == 4:
                return self._patch_lead(lead, body)
            if method == "POST" and parts[4:] == ["notes"]:
                note_id = 70000 + len(self.notes)
                self.notes.append({"id": note_id, "lead_id": lead["id"], **body[0]})
                return 200, {}, {"_embedded": {"notes": [{"id": note_id, "entity_id": lead["id"]}]}}
        if method == "GET" and parts[:3] == ["api", "v4", "contacts"] and len(parts) == 4 and parts[3].isdigit():
            contact = self.contacts.get(int(parts[3]))
            return (200, {}, contact) if contact else (404, {}, _problem(404, "Not Found"))
        if method == "POST" and path == "/api/v4/tasks":
            task_id = 80000 + len(self.tasks)
            self.tasks.append({"id": task_id, **body[0]})
            return 200, {}, {"_embedded": {"tasks": [{"id": task_id}]}}
        if method == "POST" and path == "/api/v2/salesbot/run":
            run = body[0]
            lead = self.leads.get(int(run["entity_id"]))
            self.salesbot_runs.append({**run, "lead_fields": list((lead or {}).get("custom_fields_values") or [])})
            return 202, {}, {"success": True}
        return 404, {}, _problem(404, "Not Found")

    def _users_page(self, page: int, limit: int) -> Any:
        chunk = self.users[(page - 1) * limit : page * limit]
        if not chunk:
            return 204, {}, None
        links: dict[str, Any] = {"self": {"href": f"{self.url}/api/v4/users?page={page}&limit={limit}"}}
        if len(chunk) == limit:  # like Kommo: a full page links to the next, which may answer 204
            links["next"] = {"href": f"{self.url}/api/v4/users?page={page + 1}&limit={limit}"}
        return 200, {}, {"_page": page, "_links": links, "_embedded": {"users": chunk}}

    def _patch_lead(self, lead: dict[str, Any], body: dict[str, Any]) -> Any:
        for index, value in enumerate(body.get("custom_fields_values", [])):
            if value.get("field_id") not in LEAD_FIELD_IDS:
                error = {
                    "code": "NotSupportedChoice",
                    "path": f"custom_fields_values.{index}.field_id",
                    "detail": "The value you have provided is not supported",
                }
                problem = {**_problem(400, "Bad Request"), "detail": "Request validation failed"}
                return 400, {}, {**problem, "validation-errors": [{"request_id": "0", "errors": [error]}]}
        for key in ("status_id", "responsible_user_id", "pipeline_id"):
            if key in body:
                lead[key] = body[key]
        for value in body.get("custom_fields_values", []):
            fields = [f for f in (lead.get("custom_fields_values") or []) if f["field_id"] != value["field_id"]]
            lead["custom_fields_values"] = [*fields, {"field_id": value["field_id"], "values": value["values"]}]
        return 200, {}, {"id": lead["id"], "updated_at": int(time.time())}


def _problem(status: int, title: str) -> dict[str, Any]:
    return {"title": title, "type": "https://httpstatus.es/" + str(status), "status": status, "detail": title}
