"""The Kommo REST client: one pooled session per process, timeouts, shared rate limit, bounded
retries (5xx and timeouts for safe calls only; 429 always, honouring Retry-After; never 403),
one token refresh on 401, pagination, and typed methods for what the flows need."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from sales_assistant import timing
from sales_assistant.adapters.aws import created_once
from sales_assistant.adapters.breaker import Breaker
from sales_assistant.adapters.kommo.bulk import Coalescer, refused_positions
from sales_assistant.adapters.kommo.errors import (
    KommoError,
    KommoForbidden,
    KommoNotFound,
    KommoReauthorizationRequired,
    KommoUnavailable,
    KommoValidationError,
    error_for,
)
from sales_assistant.adapters.kommo.rate_limit import SharedRateLimiter
from sales_assistant.adapters.kommo.tokens import DynamoTokenStore, LongLivedToken, OAuthTokens, TokenSource
from sales_assistant.config import Settings
from sales_assistant.models.kommo import (
    FieldValue,
    KommoAccountInfo,
    KommoContact,
    KommoEvent,
    KommoLead,
    KommoPipeline,
    KommoSalesbot,
    KommoUser,
    LeadField,
    TokenPair,
    WebhookSubscription,
)
from sales_assistant.observability import count, logger

TIMEOUT = (3.05, 10.0)  # connect, read (seconds)
MAX_RETRIES = 3
FORBIDDEN_COOL_DOWN_SECONDS = 30.0
PAGE_LIMIT = 50
MAX_PAGES = 200
# How many calls of a kind may share one request (Kommo's own caps: 250 leads a PATCH, 100 Salesbot runs;
# reads stay within one page of a filtered list).
SHARED_READS = PAGE_LIMIT
SHARED_PATCHES = 250
SHARED_RUNS = 100
SHARED_NOTES = 100
LEAD_FIELDS = "/api/v4/leads/custom_fields"


class KommoClient:
    """Calls Kommo's API v4 for the account at `base_url`."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        limiter: Any,
        *,
        breaker: Breaker | None = None,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = TIMEOUT,
        max_retries: int = MAX_RETRIES,
        sleep: Callable[[float], None] = timing.sleep,
        clock: Callable[[], float] = timing.monotonic,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._tokens = tokens
        self.limiter = limiter  # public: benchmarks swap in a limiter that records its waits
        self._breaker = breaker
        self._session = session or pooled_session()
        self._timeout = timeout
        self._max_retries = max_retries
        self._sleep = sleep
        self._clock = clock
        self._forbidden_until = 0.0
        self._slot_token = threading.local()  # the token a group's leader fetched before its slot
        slot = self._wait_for_slot
        self._leads = Coalescer("lead", SHARED_READS, slot, self._read_leads)
        self._contacts = Coalescer("contact", SHARED_READS, slot, self._read_contacts)
        self._patches = Coalescer("patch", SHARED_PATCHES, slot, self._patch_leads)
        self._runs = Coalescer("salesbot", SHARED_RUNS, slot, self._run_salesbots)
        self._notes = Coalescer("note", SHARED_NOTES, slot, self._add_notes)

    # ------------------------------------------------------------------ typed calls
    def users(self) -> list[KommoUser]:
        """Every user of the account (admin rights needed), across pages."""
        return [KommoUser.model_validate(user) for user in self.collection("/api/v4/users", "users")]

    def user(self, user_id: int) -> KommoUser:
        """One user (a salesperson), e.g. after a cache miss; 404 -> KommoNotFound."""
        return KommoUser.model_validate(self._json("GET", f"/api/v4/users/{user_id}"))

    def lead(self, lead_id: int) -> KommoLead:
        """A lead with its contacts (concurrent reads share one filtered list request)."""
        return KommoLead.model_validate(self._leads.call(lead_id, lead_id))

    def contact(self, contact_id: int) -> KommoContact:
        """A contact with its phones and e-mails (concurrent reads share one filtered list request)."""
        return KommoContact.model_validate(self._contacts.call(contact_id, contact_id))

    def patch_lead(
        self,
        lead_id: int,
        *,
        status_id: int | None = None,
        responsible_user_id: int | None = None,
        text_fields: dict[int, str] | None = None,
        custom_fields: dict[int, list[FieldValue]] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Change a lead's status, responsible user, custom fields (a text field by its text, any field by its
        values: `enum_id` for a list field) and add tags, keeping its other tags (`tags_to_add`, as integrators'
        libraries send it); safe to repeat; concurrent changes of other leads share one request."""
        body: dict[str, Any] = {"id": lead_id}
        if status_id is not None:
            body["status_id"] = status_id
        if responsible_user_id is not None:
            body["responsible_user_id"] = responsible_user_id
        values = {field_id: [FieldValue(value=text)] for field_id, text in (text_fields or {}).items()}
        values |= custom_fields or {}
        if values:
            body["custom_fields_values"] = [
                {"field_id": field_id, "values": [value.model_dump(exclude_none=True) for value in field_values]}
                for field_id, field_values in values.items()
            ]
        if tags:
            body["tags_to_add"] = [{"name": tag} for tag in tags]
        self._patches.call(lead_id, body)

    def add_note(self, lead_id: int, text: str, *, service: bool = False) -> int:
        """Add a note to a lead: `common`, or with `service` an `extended_service_message` (a system event,
        collapsible in the lead's feed); returns the note id (concurrent notes share one request)."""
        note = (
            {"note_type": "extended_service_message", "params": {"service": "Assistente", "text": text}}
            if service
            else {"note_type": "common", "params": {"text": text}}
        )
        return int(self._notes.call(lead_id, {"entity_id": lead_id, **note}))

    def add_task(
        self,
        lead_id: int,
        responsible_user_id: int,
        text: str,
        complete_till: int,
        task_type_id: int = 1,
        duration: int | None = None,
    ) -> int:
        """Create a task on a lead for a salesperson (type 1 follow-up, 2 meeting, with its `duration` in
        seconds); returns the task id."""
        task: dict[str, Any] = {
            "text": text,
            "complete_till": complete_till,
            "entity_id": lead_id,
            "entity_type": "leads",
            "responsible_user_id": responsible_user_id,
            "task_type_id": task_type_id,
        }
        if duration is not None:
            task["duration"] = duration
        answer = self._json("POST", "/api/v4/tasks", json=[task], safe=False)
        return int(answer["_embedded"]["tasks"][0]["id"])

    def move_task(self, task_id: int, complete_till: int, duration: int, text: str) -> None:
        """Move a task to another time, with its new text (safe to repeat); 404 -> KommoNotFound."""
        task = {"complete_till": complete_till, "duration": duration, "text": text}
        self._json("PATCH", f"/api/v4/tasks/{task_id}", json=task)

    def complete_task(self, task_id: int, result: str) -> None:
        """Complete a task with its result text (safe to repeat); 404 -> KommoNotFound."""
        self._json("PATCH", f"/api/v4/tasks/{task_id}", json={"is_completed": True, "result": {"text": result}})

    def run_salesbot(self, bot_id: int, lead_id: int) -> None:
        """Start a Salesbot on a lead (it sends the reply field to the lead's chat; concurrent runs on
        other leads share one request)."""
        self._runs.call(lead_id, {"bot_id": bot_id, "entity_id": lead_id, "entity_type": 2})

    def account(self) -> dict[str, Any]:
        """The account (id, subdomain): the cheapest authenticated call, for the health check."""
        return dict(self._json("GET", "/api/v4/account"))

    def contact_lead_ids(self, contact_id: int) -> list[int]:
        """The ids of a contact's leads (`?with=leads`), as Kommo lists them."""
        contact = self._json("GET", f"/api/v4/contacts/{contact_id}", params={"with": "leads"})
        return [int(lead["id"]) for lead in contact.get("_embedded", {}).get("leads", [])]

    def webhooks(self) -> list[dict[str, Any]]:
        """The account's webhooks (`destination`, `settings`, `disabled`: Kommo disables a hook after too
        many bad answers, until someone re-enables it in the UI)."""
        return list(self._json("GET", "/api/v4/webhooks").get("_embedded", {}).get("webhooks", []))

    # ------------------------------------------------------------------ setting the account up (setup, doctor)
    def account_info(self) -> KommoAccountInfo:
        """The account, typed (`current_user_id`: the token's user)."""
        return KommoAccountInfo.model_validate(self.account())

    def token_user(self) -> KommoUser:
        """The user the token acts as, with their rights (a long-lived token: the admin who issued it)."""
        return self.user(self.account_info().current_user_id)

    def lead_fields(self) -> list[LeadField]:
        """The account's lead custom fields, across pages."""
        return [LeadField.model_validate(field) for field in self.collection(LEAD_FIELDS, "custom_fields")]

    def add_lead_field(self, name: str, type: str, code: str) -> LeadField:  # noqa: A002
        """Create a lead custom field (admin only; never retried: a retry could create it twice)."""
        answer = self._json("POST", LEAD_FIELDS, json=[{"name": name, "type": type, "code": code}], safe=False)
        return LeadField.model_validate(answer["_embedded"]["custom_fields"][0])

    def pipelines(self) -> list[KommoPipeline]:
        """The leads pipelines with their statuses (one list: an account has at most a few dozen)."""
        answer = self._json("GET", "/api/v4/leads/pipelines")
        return [KommoPipeline.model_validate(pipeline) for pipeline in answer.get("_embedded", {}).get("pipelines", [])]

    def salesbot(self, bot_id: int) -> KommoSalesbot | None:
        """One Salesbot, or None when the id does not exist (documented: 204; a 404 is read the same)."""
        try:
            answer = self._json("GET", f"/api/v4/bots/{bot_id}")
        except KommoNotFound:
            return None
        return KommoSalesbot.model_validate(answer) if answer else None

    def salesbots(self) -> list[KommoSalesbot]:
        """Every Salesbot of the account (`_embedded.items`), across pages: the list as integrators describe it
        (Kommo's reference documents the one-bot call; this one is assumed from their code)."""
        return [KommoSalesbot.model_validate(bot) for bot in self.collection("/api/v4/bots", "items")]

    def subscribe_webhook(self, destination: str, events: list[str]) -> WebhookSubscription:
        """Subscribe `destination` to `events` (documented, admin only). Posting a destination again updates its
        hook (as integrators report it: assumed), so the call is retried like a read."""
        body = {"destination": destination, "settings": events}
        return WebhookSubscription.model_validate(self._json("POST", "/api/v4/webhooks", json=body, safe=True))

    def events_since(self, created_from: int, type: str = "incoming_chat_message") -> list[KommoEvent]:  # noqa: A002
        """The account's events of one type created from a unix time on (ids only: for chat messages,
        enough to find those a webhook never delivered), across pages."""
        params = {"filter[type][]": type, "filter[created_at][from]": created_from}
        return [KommoEvent.model_validate(event) for event in self.collection("/api/v4/events", "events", params)]

    def refresh_token_ahead(self) -> bool:
        """Refresh the OAuth2 pair now if it expires within hours (the schedule calls it); True when this
        call stored a new pair, False when there was nothing to do (or a long-lived token)."""
        return self._tokens.refresh_ahead()

    # ------------------------------------------------------------------ shared requests (adapters/kommo/bulk.py)
    def calls_waiting(self) -> int:
        """How many calls are gathered for shared requests, waiting for a rate-limit slot."""
        return sum(shared.waiting() for shared in (self._leads, self._contacts, self._patches, self._runs, self._notes))

    def _read_leads(self, lead_ids: list[int]) -> list[Any]:
        return self._shared(
            lead_ids,
            lambda lead_id, slot_taken: self._json(
                "GET", f"/api/v4/leads/{lead_id}", params={"with": "contacts"}, slot_taken=slot_taken
            ),
            lambda ids, slot_taken: self._found("leads", ids, [("with", "contacts")], slot_taken),
        )

    def _read_contacts(self, contact_ids: list[int]) -> list[Any]:
        return self._shared(
            contact_ids,
            lambda contact_id, slot_taken: self._json("GET", f"/api/v4/contacts/{contact_id}", slot_taken=slot_taken),
            lambda ids, slot_taken: self._found("contacts", ids, [], slot_taken),
        )

    def _patch_leads(self, bodies: list[dict[str, Any]]) -> list[Any]:
        def one(body: dict[str, Any], slot_taken: bool) -> None:
            patch = {key: value for key, value in body.items() if key != "id"}
            self._json("PATCH", f"/api/v4/leads/{body['id']}", json=patch, slot_taken=slot_taken)

        def many(items: list[dict[str, Any]], slot_taken: bool) -> list[Any]:
            self._json("PATCH", "/api/v4/leads", json=items, slot_taken=slot_taken)
            return [None] * len(items)

        return self._shared(bodies, one, many)

    def _run_salesbots(self, runs: list[dict[str, Any]]) -> list[Any]:
        """Salesbot runs: never sent twice. A lone run's errors are its own; a shared request that fails
        may have started some of its runs, so every caller learns that the outcome is unknown (delivery then
        waits for each run's echo, and asks a salesperson when none comes)."""
        try:
            self._json("POST", "/api/v2/salesbot/run", json=runs, safe=False, slot_taken=True)
        except KommoError as failed:
            if len(runs) == 1:
                raise
            unknown = KommoUnavailable(f"shared Salesbot run request failed: {failed}", problem=failed.problem)
            return [unknown] * len(runs)
        return [None] * len(runs)

    def _add_notes(self, notes: list[dict[str, Any]]) -> list[Any]:
        def one(note: dict[str, Any], slot_taken: bool) -> int:
            body = [{key: value for key, value in note.items() if key != "entity_id"}]
            path = f"/api/v4/leads/{note['entity_id']}/notes"
            answer = self._json("POST", path, json=body, safe=False, slot_taken=slot_taken)
            return int(answer["_embedded"]["notes"][0]["id"])

        def many(items: list[dict[str, Any]], slot_taken: bool) -> list[Any]:
            answer = self._json("POST", "/api/v4/leads/notes", json=items, safe=False, slot_taken=slot_taken)
            written = {str(note.get("request_id")): int(note["id"]) for note in answer["_embedded"]["notes"]}
            return [written.get(str(index), 0) for index in range(len(items))]  # written: never sent again

        return self._shared(notes, one, many)

    def _found(self, entity: str, ids: list[int], params: list[tuple[str, Any]], slot_taken: bool) -> list[Any]:
        """`GET /api/v4/{entity}?filter[id][]=...`: each id's entity, or KommoNotFound for an id not listed."""
        query = [*params, ("limit", len(ids)), *(("filter[id][]", entity_id) for entity_id in ids)]
        answer = self._json("GET", f"/api/v4/{entity}", params=query, slot_taken=slot_taken)
        listed = {int(found["id"]): found for found in answer.get("_embedded", {}).get(entity, [])}
        return [
            listed.get(entity_id)
            or KommoNotFound(f"Kommo GET /api/v4/{entity}: {entity_id} not found", kommo_status=404)
            for entity_id in ids
        ]

    def _shared(
        self,
        items: list[Any],
        one: Callable[[Any, bool], Any],
        many: Callable[[list[Any], bool], list[Any]],
        slot_taken: bool = True,
    ) -> list[Any]:
        """One outcome per item (its answer or its error): a lone item as its single call, several as one
        bulk request. A 400 naming positions fails those items and sends the rest again; a 400 naming none,
        or a 404, is retried one call per item. Other errors are raised for the whole group."""
        if len(items) == 1:
            return [_outcome(one, items[0], slot_taken)]
        try:
            return many(items, slot_taken)
        except KommoValidationError as refused:
            positions = refused_positions(refused.problem, len(items))
            if positions:
                rest = [item for index, item in enumerate(items) if index not in positions]
                again = iter(self._shared(rest, one, many, slot_taken=False) if rest else [])
                return [refused if index in positions else next(again) for index in range(len(items))]
        except KommoNotFound:
            pass
        count("KommoSharedRequestsSplit")
        return [_outcome(one, item, False) for item in items]

    def _wait_for_slot(self) -> None:
        """The token first (a DynamoDB read, a refresh at worst), then the slot: nothing slow between the
        slot and the send."""
        self._slot_token.value = self._tokens.access_token()
        self.limiter.acquire()

    # ------------------------------------------------------------------ plumbing
    def collection(self, path: str, key: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every entity of a paginated list: follows `_links.next.href`; 204 or no next link ends it. A next
        link off the account's own Kommo origin (another host, port or scheme) ends it too, logged: the
        bearer token goes to Kommo only."""
        url: str | None = path
        query: dict[str, Any] | None = {"limit": PAGE_LIMIT, "page": 1, **(params or {})}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            page = self._json("GET", url, params=query)
            yield from page.get("_embedded", {}).get(key, [])
            href = page.get("_links", {}).get("next", {}).get("href")
            url = self._on_own_origin(path, href) if href else None
            query = None  # the next link carries its own query
        raise KommoError(f"Kommo {path}: more than {MAX_PAGES} pages")

    def _on_own_origin(self, path: str, href: str) -> str | None:
        """The link `href` (absolute or relative) as an absolute URL, if it is on the client's own origin."""
        url = urljoin(f"{self._base_url}/", href)
        if urlsplit(url)[:2] == urlsplit(self._base_url)[:2]:  # scheme and host:port
            return url
        logger.warning("kommo next page link off the account's origin: listing stopped", extra={"path": path})
        return None

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        safe: bool | None = None,
        slot_taken: bool = False,
    ) -> Any:
        response = self.request(
            method,
            path,
            params=params,
            json=json,
            safe=method in ("GET", "PATCH") if safe is None else safe,
            slot_taken=slot_taken,
        )
        if response.status_code == 204 or not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise KommoUnavailable(
                f"Kommo {method} {path}: answer is not JSON", kommo_status=response.status_code
            ) from None

    def request(
        self, method: str, path: str, *, params: Any = None, json: Any = None, safe: bool, slot_taken: bool = False
    ) -> requests.Response:
        """One logical call: rate-limited, authenticated, retried within bounds; raises a KommoError.
        `slot_taken`: the caller already waited for the first try's rate-limit slot."""
        if self._clock() < self._forbidden_until:
            raise KommoForbidden("Kommo answered 403 moments ago: not calling again yet", kommo_status=403)
        if self._breaker is not None:
            self._breaker.check()  # Kommo down: DependencyDown at once, no slot burnt, no time-out waited on
        url = path if path.startswith("http") else f"{self._base_url}{path}"
        what = f"{method} {path.split('?')[0]}"
        refreshed = False
        for attempt in range(self._max_retries + 1):
            last_try = attempt == self._max_retries
            if attempt == 0 and slot_taken:
                token = self._slot_token.value  # fetched before the slot was taken
            else:
                token = self._tokens.access_token()  # before the slot: nothing slow between slot and send
                self.limiter.acquire()
            started = time.perf_counter()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    timeout=self._timeout,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                )
            except requests.RequestException as error:
                count("KommoNetworkErrors")
                self._dependency_answered(False)
                if safe and not last_try:
                    self._backoff(attempt)
                    continue
                raise KommoUnavailable(f"Kommo {what}: {type(error).__name__}") from None
            count("KommoCalls")
            self._dependency_answered(response.status_code < 500)
            logger.debug(
                "kommo call",
                extra={
                    "call": what,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - started) * 1000),
                },
            )
            status = response.status_code
            if status == 401 and not refreshed:
                refreshed = True
                self._tokens.after_unauthorized(token)
                continue
            if status == 429 and not last_try:
                count("KommoThrottled")
                self._backoff(attempt, retry_after=response.headers.get("Retry-After"))
                continue
            if status >= 500 and safe and not last_try:
                self._backoff(attempt)
                continue
            if status == 403:
                self._forbidden_until = self._clock() + FORBIDDEN_COOL_DOWN_SECONDS
            if status >= 400:
                raise error_for(status, _problem(response), what)
            return response
        raise KommoUnavailable(f"Kommo {what}: retries exhausted")

    def _dependency_answered(self, up: bool) -> None:
        """Tell the breaker whether Kommo answered (any status below 500) or is down."""
        if self._breaker is not None:
            self._breaker.succeeded() if up else self._breaker.failed()

    def _backoff(self, attempt: int, retry_after: str | None = None) -> None:
        delay = min(8.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        self._sleep(delay)


def _outcome(call: Callable[[Any, bool], Any], item: Any, slot_taken: bool) -> Any:
    """The call's answer, or the error it raised (handed to the caller it belongs to)."""
    try:
        return call(item, slot_taken)
    except Exception as error:
        return error


def _problem(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:200]}
    return body if isinstance(body, dict) else {"detail": str(body)[:200]}


def pooled_session() -> requests.Session:
    """A requests session with a connection pool (reused across invocations of a process)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def exchange_token(base_url: str, settings: Settings, grant: dict[str, str], session: requests.Session) -> TokenPair:
    """POST /oauth2/access_token; a refused grant means a person must re-authorise."""
    body = {
        "client_id": settings.kommo_client_id,
        "client_secret": settings.kommo_client_secret.get_secret_value(),
        "redirect_uri": settings.kommo_redirect_uri,
        **grant,
    }
    try:
        response = session.post(f"{base_url}/oauth2/access_token", json=body, timeout=TIMEOUT)
    except requests.RequestException as error:
        raise KommoUnavailable(f"Kommo token endpoint: {type(error).__name__}") from None
    if response.status_code in (400, 401):
        count("KommoReauthorizationRequired")
        logger.error("kommo refused the grant: re-authorise the integration", extra={"status": response.status_code})
        raise KommoReauthorizationRequired(
            "Kommo refused the grant (invalid_grant): re-authorise the integration (scripts/kommo_authorize.py)",
            kommo_status=response.status_code,
            problem=_problem(response),
        )
    if response.status_code != 200:
        raise error_for(response.status_code, _problem(response), "token endpoint")
    answer = response.json()
    return TokenPair(
        access_token=answer["access_token"],
        refresh_token=answer["refresh_token"],
        expires_at=int(time.time()) + int(answer.get("expires_in", 86400)),
    )


def store_authorization(settings: Settings, code: str, session: requests.Session | None = None) -> int:
    """Exchange an OAuth2 authorization code and store the pair, encrypted (bootstrap); returns its version."""
    store = DynamoTokenStore(settings.kommo_table, settings.kommo_token_key_id)  # no key: refused before the exchange
    pair = exchange_token(
        settings.kommo_api_base,
        settings,
        {"grant_type": "authorization_code", "code": code},
        session or pooled_session(),
    )
    return store.save_next(pair)


def token_source(settings: Settings, session: requests.Session) -> TokenSource:
    """The long-lived token, or the OAuth2 pair in the Kommo table."""
    if settings.uses_long_lived_token:
        return LongLivedToken(settings.kommo_long_lived_token.get_secret_value())
    base_url = settings.kommo_api_base
    return OAuthTokens(
        DynamoTokenStore(settings.kommo_table, settings.kommo_token_key_id),
        lambda refresh_token: exchange_token(
            base_url, settings, {"grant_type": "refresh_token", "refresh_token": refresh_token}, session
        ),
    )


class PacedLimiter:
    """One process's own pace (an operator's script): at most `per_second` requests a second, no shared store."""

    def __init__(self, per_second: float, clock: Callable[[], float] = timing.monotonic) -> None:
        self._interval = 1.0 / per_second
        self._clock = clock
        self._next_at = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_at)
            self._next_at = slot + self._interval
        if slot > now:
            timing.sleep(slot - now)


def operator_client(base_url: str, long_lived_token: str, per_second: float = 5.0) -> KommoClient:
    """A Kommo client for an operator's script (make setup, make doctor): a long-lived token, its own pace
    (below Kommo's 7 requests/s, leaving room for a running service), no DynamoDB."""
    return KommoClient(base_url, LongLivedToken(long_lived_token), PacedLimiter(per_second))


@created_once
def kommo_client(settings: Settings) -> KommoClient:
    """The process-wide Kommo client for these settings (created on first use)."""
    session = pooled_session()
    limiter = SharedRateLimiter(settings.kommo_table, settings.kommo_rate_limit_per_second)
    return KommoClient(
        settings.kommo_api_base,
        token_source(settings, session),
        limiter,
        breaker=Breaker(settings.kommo_table, "kommo"),
        session=session,
        timeout=TIMEOUT,  # looked up now, not at import: the fault suite shortens it to test timeouts
    )


__all__ = [
    "KommoClient",
    "PacedLimiter",
    "exchange_token",
    "kommo_client",
    "operator_client",
    "store_authorization",
    "token_source",
]
